"""Second-stage combiner: one learned score per (affiliation, candidate) from the evidence.

The first stage (retrieval) and the reranker each give a score; neither alone knows that a
gold label names the university rather than its department, that a name covering the whole
string beats an alias covering one word, or that a candidate whose parent is also listed is
often the wrong level. The combiner is a small scikit-learn classifier over features of each
candidate (``FEATURES``): retrieval score, rank and margin to the best, the reranker's score and
rank (missing when it was not reranked or no reranker is loaded), the name type that matched,
how much of the string and of the name the match covers, city/country agreement, status, type,
and parent/child links among the listed candidates. Its output is the probability that the
candidate is right (0-1); candidates are ranked by it and the top one is accepted when it
clears the combiner's own calibrated threshold.

Fitted on the train side of the gold sets by ``python -m affiliation_curator model
fit-combiner`` (combiner_fit.py; ``bench/bench_combiner.py`` holds the error analysis and
cross-validation); stored as JSON (combiner_json.py: trees or a linear model and a calibration
curve, never a pickle) as ``combiner.json`` in the reranker's model folder or, for the lexical
fallback, ``lexical-combiner.json`` in ``config.models_dir()``. Without one of its own, the
lexical fallback uses the combiner that ships with the project (``artifacts/lexical-combiner.json``,
with its card ``artifacts/lexical-combiner.md``). When no file applies the Matcher scores as before.

Features beyond the first-stage evidence come from evidence.py (abbreviations, every name of
the candidate, places that contradict, what kind of string it is: ``EXTRA_FEATURES``).
"""

from __future__ import annotations

import logging
from functools import lru_cache
import math
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TYPE_CHECKING

import numpy as np

from affiliation_curator.engine.evidence import EXTRA_FEATURES, StringEvidence, city_table_for, extra_features
from affiliation_curator.institution import Institution
from affiliation_curator.text import (STOPWORDS, acronym_key, acronym_tokens, clean, institution_groups, normalize, parts,
                                      segments)

if TYPE_CHECKING:
    from affiliation_curator.engine.reranker import Scorer

log = logging.getLogger(__name__)

FORMAT = 2
MAX_NAMES = 12  # names of one institution compared with the string
MISSING = -1.0  # value of a feature that does not apply (every feature is >= 0 otherwise)
COMBINER_FILE = "combiner.json"
LEXICAL_COMBINER_FILE = "lexical-combiner.json"
# learned artefacts that ship with the project: affiliation_curator/artifacts
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "artifacts"
SHIPPED_LEXICAL = SHIPPED_DIR / LEXICAL_COMBINER_FILE

NAME_TYPES = ("ror_display", "label", "alias", "acronym", "related")
INST_TYPES = ("education", "healthcare", "facility", "company", "government", "nonprofit", "funder", "archive")

FEATURES: tuple[str, ...] = (
    "retrieval",
    "retrieval_gap",  # best retrieval score of the string minus this one
    "retrieval_rank",  # log(1 + rank), rank from 0
    "retrieval_next_gap",  # this score minus the next candidate's (0 for the last)
    "rerank",  # reranker score; MISSING when not reranked
    "rerank_gap",  # best reranker score minus this one; MISSING when not reranked
    "rerank_rank",  # log(1 + rank among the reranked); MISSING when not reranked
    *(f"name_{t}" for t in NAME_TYPES),
    "city_match",  # 1 agrees, 0 differs, MISSING: no city named
    "country_match",
    "inactive",
    *(f"type_{t}" for t in INST_TYPES),
    "parent_in_list",  # one of this candidate's parents is listed
    "child_in_list",  # one of its children is listed
    "parent_of_top",  # it is a parent of the best retrieval candidate
    "child_of_top",  # it is a child of the best retrieval candidate
    "n_children",  # log(1 + children in the registry)
    "name_covered",  # share of the matched name's words found in the string
    "part_covered",  # best share of one comma part's words found in the matched name
    "string_covered",  # share of the string's words found in the matched name
    "name_words",
    "string_words",
    "n_groups",  # institution groups in the string ("A; B")
    "n_candidates",
    "display_covered",  # share of the display name's words found in the string
    # priors: how established the institution is (the string often does not say which of two
    # same-named ones it means; the bigger one is the likelier)
    "n_relationships",  # log(1 + relationships)
    "n_names",  # log(1 + names)
    "n_external_ids",  # kinds of external ids (GRID, ISNI, Wikidata, FundRef)
    "n_links",
    "country_size",  # log(1 + the registry's institutions in its country)
    # order-aware similarity (the word shares above ignore order: "Washington University" vs
    # "University of Washington")
    "seg_ratio",  # best rapidfuzz ratio of the matched name against one search unit of the string
    "name_partial",  # rapidfuzz partial_ratio of the matched name inside the whole string
    "display_seg_ratio",  # best ratio of the display name against one search unit
    "best_name_seg_ratio",  # best ratio of any of its names against one search unit
    "acronym_hit",  # one of its acronyms is written in the string
    "withdrawn",
    "successor_in_list",  # a successor of this (inactive) record is listed
    "predecessor_in_list",  # it succeeded a listed record
    *EXTRA_FEATURES,  # evidence.py
)
N_BASE_FEATURES = len(FEATURES) - len(EXTRA_FEATURES)


@lru_cache(maxsize=200_000)
def _normal(text: str) -> str:
    return normalize(text)


def _words(text: str) -> list[str]:
    return [w for w in _normal(text).split() if w not in STOPWORDS]


def _share(words: Sequence[str], pool: set[str]) -> float:
    return sum(w in pool for w in words) / len(words) if words else 0.0


@dataclass
class StringView:
    """What the features need of an affiliation string, computed once."""

    words: list[str]
    word_set: set[str]
    parts: list[list[str]]
    n_groups: int
    normal: str = ""
    units: list[str] = field(default_factory=list)  # normalised search units (segments)
    acronyms: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, text: str) -> "StringView":
        cleaned = clean(text) or text
        words = _words(cleaned)
        groups = institution_groups(cleaned)
        ps = [w for w in (_words(p) for g in groups for p in parts(g)) if w]
        units = list(dict.fromkeys(u for u in (normalize(x) for x in segments(cleaned)) if u))
        return cls(words, set(words), ps, max(1, len(groups)), normalize(cleaned), units,
                   set(acronym_tokens(cleaned)))

    def best_ratios(self, names: Sequence[str]) -> dict[str, float]:
        """Each name's best rapidfuzz ratio (0-1) against one search unit of the string."""
        from rapidfuzz import fuzz, process

        forms = [_normal(n) for n in names]
        if not names or not self.units:
            return {n: 0.0 for n in names}
        best = process.cdist(forms, self.units, scorer=fuzz.ratio, dtype=np.float32).max(axis=1)
        return {n: (float(b) / 100.0 if f else 0.0) for n, f, b in zip(names, forms, best)}

    def partial(self, name: str) -> float:
        from rapidfuzz import fuzz

        form = _normal(name)
        return fuzz.partial_ratio(form, self.normal) / 100.0 if form and self.normal else 0.0


def candidate_features(
    text: str,
    found: Sequence[Any],
    rerank: Sequence[float | None],
    by_id: dict[str, Institution],
    view: StringView | None = None,
    country_sizes: dict[str, int] | None = None,
) -> np.ndarray:
    """Feature rows (``FEATURES``) for the retrieved candidates ``found`` (retrieval order; objects
    with institution_id, score, matched_name, name_type, city_match, country_match) of one string;
    ``rerank[i]`` is the reranker's score of ``found[i]`` or None; ``country_sizes``: institutions
    of the registry per country code (``country_sizes(institutions)``)."""
    n = len(found)
    out = np.full((n, len(FEATURES)), MISSING, dtype=np.float64)
    if not n:
        return out
    view = view or StringView.of(text)
    ids = [c.institution_id for c in found]
    listed = set(ids)
    insts = [by_id.get(i) for i in ids]
    parents = [{r.id for r in inst.relationships if r.type == "parent"} if inst else set() for inst in insts]
    children = [{r.id for r in inst.relationships if r.type == "child"} if inst else set() for inst in insts]
    # either record may carry the link
    for a in range(n):
        for b in range(n):
            if a != b and ids[b] in parents[a]:
                children[b].add(ids[a])
            if a != b and ids[b] in children[a]:
                parents[b].add(ids[a])
    best = max(c.score for c in found)
    scored = [s for s in rerank if s is not None]
    best_rr = max(scored) if scored else None
    rr_order = sorted((i for i in range(n) if rerank[i] is not None), key=lambda i: -float(rerank[i]))  # type: ignore[arg-type]
    rr_rank = {i: r for r, i in enumerate(rr_order)}
    top = ids[0]
    col = {name: k for k, name in enumerate(FEATURES)}
    wanted = {c.matched_name or "" for c in found}
    for inst in insts:
        if inst is not None:
            wanted.add(inst.name)
            wanted.update(_comparable_names(inst))
    ratios = view.best_ratios(sorted(wanted))
    for i, c in enumerate(found):
        row = out[i]
        inst = insts[i]
        row[col["retrieval"]] = c.score
        row[col["retrieval_gap"]] = best - c.score
        row[col["retrieval_rank"]] = math.log1p(i)
        row[col["retrieval_next_gap"]] = c.score - found[i + 1].score if i + 1 < n else 0.0
        if rerank[i] is not None:
            row[col["rerank"]] = float(rerank[i])  # type: ignore[arg-type]
            row[col["rerank_gap"]] = float(best_rr) - float(rerank[i])  # type: ignore[arg-type]
            row[col["rerank_rank"]] = math.log1p(rr_rank[i])
        for t in NAME_TYPES:
            row[col[f"name_{t}"]] = float(c.name_type == t)
        if c.city_match is not None:
            row[col["city_match"]] = float(bool(c.city_match))
        if c.country_match is not None:
            row[col["country_match"]] = float(bool(c.country_match))
        row[col["inactive"]] = float(bool(inst and inst.status != "active"))
        row[col["withdrawn"]] = float(bool(inst and inst.status == "withdrawn"))
        if inst is not None:
            row[col["successor_in_list"]] = float(any(r.type == "successor" and r.id in listed for r in inst.relationships))
            row[col["predecessor_in_list"]] = float(any(r.type == "predecessor" and r.id in listed for r in inst.relationships))
        for t in INST_TYPES:
            row[col[f"type_{t}"]] = float(bool(inst and t in inst.types))
        row[col["parent_in_list"]] = float(bool(parents[i] & listed))
        row[col["child_in_list"]] = float(bool(children[i] & listed))
        row[col["parent_of_top"]] = float(i != 0 and top in children[i])
        row[col["child_of_top"]] = float(i != 0 and top in parents[i])
        row[col["n_children"]] = math.log1p(sum(1 for r in inst.relationships if r.type == "child")) if inst else 0.0
        name_words = _words(c.matched_name or "")
        name_set = set(name_words)
        row[col["name_covered"]] = _share(name_words, view.word_set)
        row[col["part_covered"]] = max((_share(p, name_set) for p in view.parts), default=0.0)
        row[col["string_covered"]] = _share(view.words, name_set)
        row[col["name_words"]] = len(name_words)
        row[col["string_words"]] = len(view.words)
        row[col["n_groups"]] = view.n_groups
        row[col["n_candidates"]] = n
        row[col["display_covered"]] = _share(_words(inst.name), view.word_set) if inst else 0.0
        if inst is not None:
            row[col["n_relationships"]] = math.log1p(len(inst.relationships))
            row[col["n_names"]] = math.log1p(len(inst.names))
            row[col["n_external_ids"]] = len(inst.external_ids or {})
            row[col["n_links"]] = len(inst.links or [])
            if country_sizes is not None:
                row[col["country_size"]] = math.log1p(country_sizes.get(inst.country_code or "", 0))
            row[col["display_seg_ratio"]] = ratios[inst.name]
            others = _comparable_names(inst)
            row[col["best_name_seg_ratio"]] = max([ratios[v] for v in others] + [row[col["display_seg_ratio"]]])
            acr = {acronym_key(n.value) for n in inst.names if "acronym" in n.types}
            row[col["acronym_hit"]] = float(bool(acr & view.acronyms))
        row[col["seg_ratio"]] = ratios[c.matched_name or ""]
        row[col["name_partial"]] = view.partial(c.matched_name or "")
    evidence = StringEvidence.of(text, city_table_for(by_id))
    out[:, N_BASE_FEATURES:] = extra_features(evidence, insts, [c.matched_name or "" for c in found])
    return out


def _comparable_names(inst: Institution) -> list[str]:
    """The names of an institution compared with the string: its first ``MAX_NAMES`` non-acronyms."""
    return [n.value for n in inst.names if "acronym" not in n.types][:MAX_NAMES]


def country_sizes(institutions: Iterable[Institution]) -> dict[str, int]:
    out: dict[str, int] = {}
    for inst in institutions:
        key = inst.country_code or ""
        out[key] = out.get(key, 0) + 1
    return out


RERANK_COLUMNS = tuple(FEATURES.index(f) for f in ("rerank", "rerank_gap", "rerank_rank"))


def without_rerank(x: np.ndarray) -> np.ndarray:
    """The features as the lexical fallback sees them (no reranker scores)."""
    x = np.array(x, dtype=np.float64, copy=True)
    if len(x):
        x[:, list(RERANK_COLUMNS)] = MISSING
    return x


@dataclass
class Combiner:
    """A fitted classifier over ``FEATURES`` and its calibrated accept threshold.

    With ``base`` (a combiner fitted without reranker scores, on more rows) the base's score is
    one more input column of ``model`` (stacking)."""

    model: Any  # scikit-learn classifier with predict_proba
    threshold: float = 0.5
    uses_reranker: bool = True  # fitted with reranker scores (False: the lexical fallback's)
    features: tuple[str, ...] = FEATURES
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    base: "Combiner | None" = None

    def inputs(self, x: np.ndarray) -> np.ndarray:
        if self.base is None:
            return x
        return np.hstack([x, self.base.predict(without_rerank(x))[:, None]])

    def predict(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros(0)
        p = self.model.predict_proba(self.inputs(x))[:, 1]
        return np.clip(p, 0.0, 1.0)

    def _data(self) -> dict[str, Any]:
        from affiliation_curator.engine.combiner_json import to_json

        return {"format": FORMAT, "model": to_json(self.model), "threshold": self.threshold,
                "uses_reranker": self.uses_reranker, "features": list(self.features), "meta": self.meta,
                "base": self.base._data() if self.base is not None else None}

    def save(self, path: Path | str) -> Path:
        """Write the combiner as JSON (plain data: reading it runs no code)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self._data(), separators=(",", ":"), allow_nan=False), encoding="utf-8")
        tmp.replace(path)
        path.chmod(0o644)
        return path

    @classmethod
    def _from_data(cls, data: dict[str, Any], path: str) -> "Combiner | None":
        from affiliation_curator.engine.combiner_json import from_json

        if not isinstance(data, dict) or data.get("format") != FORMAT or tuple(data.get("features", ())) != FEATURES:
            log.warning("combiner %s was made for other features; not used", path)
            return None
        threshold = float(data["threshold"])
        if not 0.0 <= threshold <= 1.0:
            return None
        base = None
        if data.get("base") is not None:
            base = cls._from_data(data["base"], path)
            if base is None:
                return None
        model = from_json(data["model"])
        width = len(FEATURES) + (1 if base is not None else 0)
        if getattr(model, "n_features", width) != width and not hasattr(model, "x"):
            raise ValueError(f"model expects {model.n_features} inputs, not {width}")
        return cls(model, threshold, bool(data.get("uses_reranker", True)), FEATURES,
                   dict(data.get("meta") or {}), path, base)

    @classmethod
    def load(cls, path: Path | str) -> "Combiner | None":
        """The combiner stored at ``path`` (JSON); None (logged) when absent, unreadable or of another layout."""
        path = Path(path)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls._from_data(data, str(path))
        except Exception as err:  # noqa: BLE001 - a broken file only costs the combiner
            log.warning("combiner %s could not be read (%s); not used", path, err)
            return None


MIN_REGISTRY_SHARE = 0.5  # a registry under half the size of the one fitted on gets no combiner


def fitted_registry_size(comb: Combiner) -> int:
    """Institutions of the registry the combiner was fitted on (0: unknown)."""
    try:
        return int((comb.meta.get("registry") or {}).get("institutions") or 0)
    except (TypeError, ValueError, AttributeError):
        return 0


def load_for(scorer: Scorer, lexical: bool, registry_size: int | None = None) -> Combiner | None:
    """The combiner stored for this scorer, if any and if it was fitted on this very model (the card's
    ``created`` time must match: a model retrained into the same folder makes the old file stale).

    Some features depend on the registry (its look-alikes, institutions per country): a combiner
    fitted on a ROR-sized registry is used for a much smaller one (``registry_size``, e.g. the
    104-record demo or a team's own list) only when a small-registry curve was fitted on it
    (score_scale.py: the Matcher rescales the country sizes and maps its scores through that curve);
    else the registry is scored as without a combiner.
    """
    path = combiner_path(scorer, lexical)
    comb = Combiner.load(path) if path is not None else None
    if comb is None:
        return None
    fitted_size = fitted_registry_size(comb)
    if registry_size is not None and fitted_size and registry_size < MIN_REGISTRY_SHARE * fitted_size:
        from affiliation_curator.engine.score_scale import load_small_registry_curve

        if not (lexical and load_small_registry_curve(comb) is not None):
            log.info("combiner %s was fitted on a registry of %d institutions; not used for one of %d "
                     "(no small-registry curve fitted on it)", path, fitted_size, registry_size)
            return None
    if lexical:
        return comb
    made_for = comb.meta.get("scorer_created")
    created = (getattr(scorer, "card", None) or {}).get("created")
    if made_for and created and made_for != created:
        log.warning("combiner %s was fitted on another version of the model (%s, now %s); not used",
                    path, made_for, created)
        return None
    return comb


def old_pickle(scorer: Scorer, lexical: bool) -> Path | None:
    """A combiner saved by an earlier version (``.pkl``) where no JSON one is: it is not read any
    more (a pickle runs code when loaded), so the engine says so and how to refit it."""
    if lexical:
        from affiliation_curator import config

        own = config.models_dir() / LEXICAL_COMBINER_FILE
    else:
        own = combiner_path(scorer, lexical)
    if own is None or own.is_file():
        return None
    old = own.with_suffix(".pkl")
    return old if old.is_file() else None


def combiner_path(scorer: Scorer, lexical: bool) -> Path | None:
    """Where the combiner for this scorer lives: in its model folder; the lexical one in the models dir
    when refitted there, else the one that ships with the project."""
    if lexical:
        from affiliation_curator import config

        own = config.models_dir() / LEXICAL_COMBINER_FILE
        return own if own.is_file() else SHIPPED_LEXICAL
    model_id = str(getattr(scorer, "model_id", "") or "")
    folder = Path(model_id).expanduser()
    if model_id and folder.is_absolute() and folder.is_dir():
        return folder / COMBINER_FILE
    return None


def make_model(kind: str = "hgb", seed: int = 0) -> Any:
    """A fresh classifier: histogram gradient boosting (default) or logistic regression."""
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                          min_samples_leaf=30, l2_regularization=1.0, random_state=seed)


@dataclass
class LabelledList:
    """One gold row's candidate features and labels (1: a gold id), for fitting."""

    x: np.ndarray
    y: np.ndarray
    source: str = ""
    no_match: bool = False


def fit(lists: Sequence[LabelledList], kind: str = "hgb", seed: int = 0) -> Any:
    x = np.concatenate([ll.x for ll in lists if len(ll.x)])
    y = np.concatenate([ll.y for ll in lists if len(ll.x)])
    # each source weighs the same in total, so one big gold set does not decide alone
    counts: dict[str, int] = {}
    for ll in lists:
        counts[ll.source] = counts.get(ll.source, 0) + 1
    w = np.concatenate([np.full(len(ll.x), len(lists) / (len(counts) * counts[ll.source])) for ll in lists if len(ll.x)])
    model = make_model(kind, seed)
    if kind == "logreg":
        model.fit(x, y, logisticregression__sample_weight=w)
    else:
        model.fit(x, y, sample_weight=w)
    return model


def out_of_fold(lists: Sequence[LabelledList], folds: int = 5, kind: str = "hgb", seed: int = 0) -> list[np.ndarray]:
    """Each list's scores from a model fitted without it (k folds over the lists)."""
    rng = np.random.default_rng(seed)
    fold_of = rng.integers(0, folds, size=len(lists))
    scores: list[np.ndarray] = [np.zeros(0)] * len(lists)
    for k in range(folds):
        train = [ll for ll, f in zip(lists, fold_of) if f != k]
        if not train:
            continue
        model = fit(train, kind, seed)
        for i, (ll, f) in enumerate(zip(lists, fold_of)):
            if f == k and len(ll.x):
                scores[i] = model.predict_proba(ll.x)[:, 1]
    return scores

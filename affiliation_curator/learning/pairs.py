"""Labelled pairs (affiliation, institution document, label 1/0) in memory, from three sources.

- **the registry**: ``registry_pairs`` turns synthetic queries (``synthetic``) into a positive
  (the institution's document) and hard negatives (the retriever's look-alikes);
- **labelled gold files**: ``gold_pairs`` on the train side of ``gold.split`` only (the test side
  stays for evaluation): the right institutions are positives, the retriever's other top
  candidates negatives, "no match" rows give negatives only;
- **labelled rows** (curators' decisions as ``export`` writes them, or a pairs file read by
  ``read_pairs_file``): ``pairs_from_records`` takes them as they are.

A share of the labelled strings is held out (``LabelledQuery``) to calibrate the new model."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from affiliation_curator.curation.formats import read_records
from affiliation_curator.curation.gold import GoldRow, in_share
from affiliation_curator.engine.documents import DocumentFn
from affiliation_curator.errors import InputError
from affiliation_curator.institution import Institution, normalize_ror_id
from affiliation_curator.learning.synthetic import synth_no_match, synth_query_named

Progress = Callable[[str], None]
CALIBRATION_SHARE = 0.15  # share of the labelled train rows held out to calibrate the threshold
N_CANDIDATES = 20  # candidates the matcher reranks per string (Matcher n_retrieve); negatives come from these


# --------------------------------------------------------------------------- pairs


@dataclass(slots=True)
class TrainingPair:
    affiliation: str
    document: str
    label: float
    kind: str = ""  # synthetic, synthetic-no-match, gold:<file>, pairs-file


@dataclass(slots=True)
class LabelledQuery:
    """A held-out string with its right institutions (empty: "no match") for calibration."""

    affiliation: str
    ids: list[str]
    source: str
    exclude: str | None = None  # an id hidden from retrieval (a synthetic "no match")


@dataclass
class PairSet:
    pairs: list[TrainingPair] = field(default_factory=list)
    heldout: list[LabelledQuery] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, pair: TrainingPair) -> None:
        self.pairs.append(pair)
        key = f"{pair.kind} {'positive' if pair.label >= 0.5 else 'negative'}"
        self.counts[key] = self.counts.get(key, 0) + 1


def institutions_of(registry: Any) -> list[Institution]:
    items = getattr(registry, "institutions", None)
    return list(items if items is not None else registry)


def retriever_for(registry: Any, institutions: list[Institution]) -> Any:
    from affiliation_curator.engine.retrieval import Retriever

    if isinstance(registry, (list, tuple)):
        return Retriever(list(institutions))
    return Retriever.for_registry(registry)


def _search(retriever: Any, texts: list[str], k: int, chunk: int = 256) -> list[list[Any]]:
    out: list[list[Any]] = []
    for start in range(0, len(texts), chunk):
        out.extend(retriever.search_many(texts[start : start + chunk], k))
    return out


def is_heldout(text: str, share: float) -> bool:
    return in_share(text, share, salt="calibration|")


def registry_pairs(
    institutions: list[Institution],
    retriever: Any,
    document: DocumentFn,
    *,
    n_queries: int = 3000,
    n_no_match: int = 600,
    negatives: int = 3,
    n_heldout: int = 300,
    seed: int = 13,
    progress: Progress | None = None,
    out: PairSet | None = None,
) -> PairSet:
    """Synthetic pairs from the registry (see the module docstring); some queries held out."""
    rng = random.Random(seed)
    out = out if out is not None else PairSet()
    by_id = {inst.id: inst for inst in institutions}
    pool = [i for i in institutions if i.status == "active" and i.name] or [i for i in institutions if i.name]
    if not pool:
        raise InputError("the registry has no institutions to make training pairs from")
    weights = [2.0 if ({"education", "healthcare"} & set(i.types)) else 1.0 for i in pool]
    chosen = rng.choices(pool, weights=weights, k=n_queries + n_heldout)
    named = [synth_query_named(inst, rng) for inst in chosen]
    queries = [q for q, _ in named]
    known = {n.value.strip().lower() for inst in institutions for n in inst.names} | {i.name.lower() for i in institutions}
    made_up = [q for q in (synth_no_match(pool, known, rng) for _ in range(n_no_match + n_heldout // 3)) if q]
    if progress:
        progress(f"registry: {len(queries)} queries from {len(set(i.id for i in chosen))} institutions, {len(made_up)} 'no match' queries; retrieving look-alikes")
    found = _search(retriever, queries + made_up, k=N_CANDIDATES)
    train_n, nm_train_n = n_queries, len(made_up) - n_heldout // 3
    for idx, (inst, query, cands) in enumerate(zip(chosen, queries, found)):
        if idx >= train_n:  # held out for calibration: half matchable, half with the institution hidden
            hide = (idx - train_n) % 2 == 1
            out.heldout.append(LabelledQuery(query, [] if hide else [inst.id], "synthetic", inst.id if hide else None))
            continue
        matched = next((c.matched_name for c in cands if c.institution_id == inst.id), named[idx][1])
        out.add(TrainingPair(query, document(inst, matched), 1.0, "synthetic"))
        others = [c for c in cands if c.institution_id != inst.id and c.institution_id in by_id]
        picks = others[: negatives - 1] + (rng.sample(others[negatives - 1 :], 1) if len(others) >= negatives else [])
        for c in picks:
            out.add(TrainingPair(query, document(by_id[c.institution_id], c.matched_name), 0.0, "synthetic"))
        if not picks:
            other = rng.choice(pool)
            if other.id != inst.id:
                out.add(TrainingPair(query, document(other, None), 0.0, "synthetic"))
    for j, (query, cands) in enumerate(zip(made_up, found[len(queries) :])):
        if j >= nm_train_n:
            out.heldout.append(LabelledQuery(query, [], "synthetic"))
            continue
        for c in cands[:negatives]:
            if c.institution_id in by_id:
                out.add(TrainingPair(query, document(by_id[c.institution_id], c.matched_name), 0.0, "synthetic-no-match"))
    return out


def gold_pairs(
    rows: Sequence[GoldRow],
    retriever: Any,
    by_id: dict[str, Institution],
    document: DocumentFn,
    *,
    kind: str,
    negatives: int = 3,
    max_rows: int | None = None,
    heldout_share: float = CALIBRATION_SHARE,
    seed: int = 13,
    out: PairSet | None = None,
) -> PairSet:
    """Pairs from labelled rows (pass the TRAIN side only); ``heldout_share`` of them kept for calibration.

    Rows whose right institutions are not all in the registry are skipped (their look-alikes
    may be right answers under another record).
    """
    rng = random.Random(seed)
    out = out if out is not None else PairSet()
    usable = [r for r in rows if r.answerable_in(by_id)]
    held = [r for r in usable if is_heldout(r.affiliation, heldout_share)]
    train = [r for r in usable if not is_heldout(r.affiliation, heldout_share)]
    if max_rows is not None and len(train) > max_rows:
        train = rng.sample(train, max_rows)
        held = rng.sample(held, min(len(held), max(1, int(max_rows * heldout_share))))
    out.heldout.extend(LabelledQuery(r.affiliation, list(r.ror_ids), kind) for r in held)
    found = _search(retriever, [r.affiliation for r in train], k=N_CANDIDATES)
    for row, cands in zip(train, found):
        right = set(row.ror_ids)
        matched = {c.institution_id: c.matched_name for c in cands}
        for inst_id in row.ror_ids:
            out.add(TrainingPair(row.affiliation, document(by_id[inst_id], matched.get(inst_id)), 1.0, kind))
        others = [c for c in cands if c.institution_id not in right and c.institution_id in by_id]
        n_neg = negatives + 1 if row.is_no_match else negatives  # no-match rows: only negatives to learn from
        picks = others[: n_neg - 1] + (rng.sample(others[n_neg - 1 :], 1) if len(others) >= n_neg else [])
        for c in picks:
            out.add(TrainingPair(row.affiliation, document(by_id[c.institution_id], c.matched_name), 0.0, kind))
    return out


def read_pairs_file(path: Path, by_id: dict[str, Institution], document: DocumentFn) -> tuple[list[TrainingPair], list[GoldRow]]:
    """Labelled pairs, and gold-shaped rows, from a JSON Lines / CSV / Parquet file (``pairs_from_records``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pairs file not found: {path}")
    return pairs_from_records(read_records(path.read_bytes(), path.name), by_id, document, source=path.name)


def pairs_from_records(
    records: Iterable[tuple[int, Any]] | Sequence[dict[str, Any]],
    by_id: dict[str, Institution],
    document: DocumentFn,
    source: str = "labelled rows",
) -> tuple[list[TrainingPair], list[GoldRow]]:
    """Labelled pairs, and gold-shaped rows, from records in memory (curators' decisions as
    ``export`` writes them) or ``(line number, record)`` tuples read from a file.

    A pair has ``query`` (or ``affiliation``), ``label`` (1/0) and ``document`` (as ``export``
    writes them) or ``institution_id`` / ``ror_id``; a row with ``ror_ids`` and no label is a gold row.
    """
    pairs: list[TrainingPair] = []
    gold: list[GoldRow] = []
    for index, item in enumerate(records, 1):
        number, obj = item if isinstance(item, tuple) else (index, item)
        aff = obj.get("query", obj.get("affiliation")) if isinstance(obj, dict) else None
        if not isinstance(aff, str):
            raise InputError(f"{source} line {number}: expected 'query' (or 'affiliation') text")
        if "ror_ids" in obj and "label" not in obj:
            ids = obj.get("ror_ids") or []
            if not isinstance(ids, list):
                raise InputError(f"{source} line {number}: 'ror_ids' must be a list")
            gold.append(GoldRow(aff, [normalize_ror_id(str(i)) or str(i) for i in ids], str(obj.get("source", source))))
            continue
        label = obj.get("label")
        if isinstance(label, bool):
            label = float(label)
        try:
            label = float(label)
        except (TypeError, ValueError):
            label = -1.0
        if not 0 <= label <= 1:
            raise InputError(f"{source} line {number}: 'label' must be 0 or 1 (or give 'ror_ids')")
        doc = obj.get("document")
        if not isinstance(doc, str) or not doc.strip():
            inst_id = obj.get("institution_id") or obj.get("ror_id")
            inst = by_id.get(normalize_ror_id(str(inst_id)) or str(inst_id)) if inst_id else None
            if inst is None:
                continue  # an institution this registry does not hold
            doc = document(inst, None)
        if aff.strip():
            pairs.append(TrainingPair(aff, doc, label, "pairs-file"))
    return pairs, gold

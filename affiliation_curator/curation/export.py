"""Exports: labelled (affiliation, institution) pairs for training, and the affiliation -> ROR mapping.

**Pairs** are the seed reranker's training format: columns ``query`` (the affiliation),
``document`` (the institution text exactly as the reranker saw it) and ``label`` (1 or 0),
nothing else, so ``datasets.load_dataset`` + ``CrossEncoderTrainer`` + ``BinaryCrossEntropyLoss``
take the file unchanged. Labels come from the current decisions:

- every accepted institution: 1 (``positive``; a string naming several has several, and an
  accepted institution is never a negative of its string);
- a rejected candidate: 0 (``rejected``); "none of these": every shown candidate 0 (``none``);
- hard negatives (``hard``): up to K shown-but-not-accepted candidates of an accepted item;
- easy negatives (``easy``): K random registry institutions per accepted item (needs the registry).

Explicit labels (positive, rejected, none) win over implied ones (hard, easy) when pairs
repeat; between explicit labels the latest decision wins. The validation split is by
affiliation string (a stable hash, ``gold.is_validation_string``), so one
affiliation is never on both sides; it is hashed apart from the benchmarks' gold test split.

**Mapping**: one row per decided affiliation: ROR id(s), institution name(s), decision, score,
model, registry version, curator, time: what downstream metadata work consumes.

Formats follow the file ending (.csv, .jsonl, .parquet), one small writer class each. JSON
Lines and Parquet keep text unchanged: they are the training formats. CSV follows one rule
that a reader undoes exactly (``neutralise`` / ``unneutralise``): a text cell that begins with
``=``, ``+``, ``-``, ``@``, a tab, a carriage return *or a single quote* gets one more single
quote (``'``) in front, so spreadsheets never run it as a formula; a reader removes one leading
quote from every text cell that has one, and gets back the true string, a string that really
begins with ``'`` included. A dataset card (``<name>.card.md``) is written beside each export.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from affiliation_curator import __version__
from affiliation_curator.errors import InputError
from affiliation_curator.curation.gold import is_validation_string
from affiliation_curator.curation.store import BatchInfo, DecisionView, ItemView, Store
from affiliation_curator.curation.formats import CSV_RULE, Writer, writer_for
from affiliation_curator.engine.documents import document_text

if TYPE_CHECKING:  # the registry is optional here (easy negatives, documents of searched institutions)
    from affiliation_curator.registry import Registry
    import pandas as pd

PAIR_COLUMNS = ["query", "document", "label"]
MAPPING_BASE_COLUMNS = [  # every mapping export has these (the decisions import recognises them)
    "affiliation", "ror_id", "institution_name", "decision", "score", "count", "model_id",
    "registry_name", "registry_version", "curator", "decided_at", "batch",
]
# provenance (team curation): every curator with a label on the item, how each decided
# (curator:key|search|bulk|import), agreement (single, agreed, conflict, resolved), the lead who resolved it
MAPPING_COLUMNS = [*MAPPING_BASE_COLUMNS, "curators", "methods", "agreement", "resolved_by"]
EXPLICIT = ("positive", "rejected", "none")
MULTI_ID_SEPARATOR = "; "  # between the institutions of one string in a mapping cell


# ----------------------------------------------------------------------------- selection


@dataclass
class ExportOptions:
    """Which decisions an export takes, and how pairs are built."""

    batches: list[str | int] | None = None  # batch names or ids; None: every batch
    curators: list[str] | None = None  # None: every curator
    since: datetime | date | None = None  # decisions made on or after
    until: datetime | date | None = None  # decisions made on or before (a date: that whole day)
    hard_negatives: int | None = 3  # per accepted item, shown candidates not accepted; None: all
    easy_negatives: int = 0  # per accepted item, random registry institutions
    dedupe: bool = True
    validation_share: float = 0.0  # > 0: a train/validation split by affiliation string
    seed: int = 13
    include_undecided: bool = False  # mapping only: also list items without a decision
    # where curators disagree and no lead resolved it: "leave_out" the item, or take the "majority" label
    conflict_rule: str = "leave_out"


def resolve_batches(store: Store, wanted: list[str | int] | None) -> list[BatchInfo]:
    """The batches named (by name or number), in the order given; none named: every batch."""
    infos = store.batches()
    if not wanted:
        return sorted(infos, key=lambda b: b.id)
    by_name = {b.name: b for b in infos}
    by_id = {b.id: b for b in infos}
    chosen: list[BatchInfo] = []
    for w in wanted:
        info = by_name.get(str(w)) or (by_id.get(int(w)) if str(w).isdigit() else None)
        if info is None:
            names = ", ".join(repr(b.name) for b in infos) or "(none yet)"
            raise InputError(f"no batch {w!r}; batches: {names}")
        if info not in chosen:
            chosen.append(info)
    return chosen


def _as_datetime(value: datetime | date | None, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    t = datetime.max.time() if end else datetime.min.time()
    return datetime.combine(value, t, tzinfo=timezone.utc)


class _Filter:
    def __init__(self, options: ExportOptions) -> None:
        self.curators = {c.strip() for c in options.curators or [] if c.strip()} or None
        self.since = _as_datetime(options.since, end=False)
        self.until = _as_datetime(options.until, end=True)

    def __call__(self, d: DecisionView | None) -> bool:
        if d is None:
            return False
        if self.curators is not None and d.curator not in self.curators:
            return False
        if self.since is not None and d.at < self.since:
            return False
        return not (self.until is not None and d.at > self.until)


# ----------------------------------------------------------------------------- pairs


@dataclass(slots=True)
class Pair:
    """One labelled pair with where it came from (only query/document/label are written)."""

    query: str
    document: str
    label: int
    kind: str  # positive, rejected, none, hard, easy
    institution_id: str
    batch: str
    curator: str
    decided_at: datetime | None
    split: str = "train"


@dataclass
class PairSet:
    """Pairs built from the store, with figures for the dataset card."""

    pairs: list[Pair]
    options: ExportOptions
    batches: list[BatchInfo]
    duplicates_dropped: int = 0
    conflicts_resolved: int = 0
    warnings: list[str] = field(default_factory=list)

    def rows(self, split: str | None = None) -> list[dict[str, Any]]:
        return [
            {"query": p.query, "document": p.document, "label": p.label}
            for p in self.pairs
            if split is None or p.split == split
        ]

    def frame(self, split: str | None = None) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(self.rows(split), columns=PAIR_COLUMNS).astype({"label": "int64"})

    @property
    def splits(self) -> list[str]:
        return ["train", "validation"] if self.options.validation_share > 0 else ["train"]

    def stats(self) -> dict[str, Any]:
        kinds = Counter(p.kind for p in self.pairs)
        out: dict[str, Any] = {
            "pairs": len(self.pairs),
            "positives": sum(p.label for p in self.pairs),
            "negatives": sum(1 for p in self.pairs if not p.label),
            "affiliations": len({p.query for p in self.pairs}),
            "by_kind": {k: kinds.get(k, 0) for k in ("positive", "rejected", "none", "hard", "easy")},
            "curators": sorted({p.curator for p in self.pairs if p.curator}),
            "duplicates_dropped": self.duplicates_dropped,
            "conflicts_resolved": self.conflicts_resolved,
        }
        for split in self.splits:
            part = [p for p in self.pairs if p.split == split]
            out[split] = {
                "pairs": len(part),
                "positives": sum(p.label for p in part),
                "affiliations": len({p.query for p in part}),
            }
        return out


def build_pairs(store: Store, options: ExportOptions | None = None, registry: Registry | None = None) -> PairSet:
    """Labelled pairs from the store's current decisions (see the module docstring for the rules)."""
    options = options or ExportOptions()
    if options.hard_negatives is not None and options.hard_negatives < 0:
        raise InputError("the number of hard negatives cannot be negative")
    if options.easy_negatives < 0:
        raise InputError("the number of easy negatives cannot be negative")
    if not 0.0 <= options.validation_share < 1.0:
        raise InputError("the validation share must be at least 0 and below 1")
    if options.easy_negatives and registry is None:
        raise InputError("easy negatives are random registry institutions: give a registry")
    batches = resolve_batches(store, options.batches)
    keep = _Filter(options)
    rng = random.Random(options.seed)
    pool = _InstitutionPool(registry) if registry is not None else None
    pairs: list[Pair] = []
    missing_docs = 0
    for info, views in store.labelled_items([b.id for b in batches], rule=_rule(options)):
        rejections = store.rejections([v.id for v in views])
        for view in views:
            made, missing = _item_pairs(view, info, rejections.get(view.id, []), keep, options, rng, pool)
            pairs.extend(made)
            missing_docs += missing
    result = PairSet(pairs, options, batches)
    if missing_docs:
        result.warnings.append(
            f"{missing_docs:,} labelled institutions had no document text (not among the shown candidates "
            "and not in the registry given); their pairs were left out: give a registry that holds them "
            "(--registry NAME on the command line)"
        )
    if options.dedupe:
        _dedupe(result)
    for p in result.pairs:
        p.split = "validation" if options.validation_share > 0 and is_validation_string(p.query, options.validation_share) else "train"
    return result


class _InstitutionPool:
    """Registry access for documents and easy negatives."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._all: list[Any] | None = None

    def document(self, institution_id: str) -> str | None:
        inst = self.registry.get(institution_id)
        return document_text(inst) if inst is not None else None

    def sample(self, rng: random.Random, k: int, exclude: set[str]) -> list[tuple[str, str]]:
        if self._all is None:
            self._all = list(self.registry.institutions if hasattr(self.registry, "institutions") else self.registry)
        population = self._all
        if not population or k <= 0:
            return []
        out: list[tuple[str, str]] = []
        seen = set(exclude)
        tries = 0
        while len(out) < k and tries < k * 20:
            tries += 1
            inst = population[rng.randrange(len(population))]
            if inst.id in seen:
                continue
            seen.add(inst.id)
            out.append((inst.id, document_text(inst)))
        return out


def _item_pairs(
    view: ItemView,
    info: BatchInfo,
    rejections: list[DecisionView],
    keep: _Filter,
    options: ExportOptions,
    rng: random.Random,
    pool: _InstitutionPool | None,
) -> tuple[list[Pair], int]:
    query = view.affiliation
    shown = {c.id: c for c in view.candidates}
    pairs: list[Pair] = []
    missing = 0

    def document(institution_id: str, fallback: str | None) -> str | None:
        cand = shown.get(institution_id)
        if cand is not None and cand.document:
            return cand.document
        if fallback:
            return fallback
        return pool.document(institution_id) if pool is not None else None

    decision = view.decision if keep(view.decision) else None
    # every institution the curator accepted (a string may name several): each a positive, none a negative
    accepted = set(view.decision.institution_ids) if view.decision is not None else set()
    if decision is not None and decision.action == "accept" and accepted:
        fallbacks = {decision.institution_id: decision.document, **{a.id: a.document for a in decision.also}}
        positives = 0
        for inst_id in decision.institution_ids:
            doc = document(inst_id, fallbacks.get(inst_id))
            if doc:
                positives += 1
                pairs.append(Pair(query, doc, 1, "positive", inst_id, info.name, decision.curator, decision.at))
            else:
                missing += 1
        if positives:
            rejected_ids = {r.institution_id for r in rejections}
            hard = [c for c in view.candidates if c.id not in accepted and c.id not in rejected_ids and c.document]
            if options.hard_negatives is not None:
                hard = hard[: options.hard_negatives]
            pairs.extend(Pair(query, c.document, 0, "hard", c.id, info.name, decision.curator, decision.at) for c in hard)
            if pool is not None and options.easy_negatives:
                exclude = set(shown) | accepted
                for inst_id, text in pool.sample(rng, options.easy_negatives, exclude):
                    pairs.append(Pair(query, text, 0, "easy", inst_id, info.name, decision.curator, decision.at))
    elif decision is not None and decision.action == "none":
        for c in view.candidates:
            doc = document(c.id, None)
            if doc:
                pairs.append(Pair(query, doc, 0, "none", c.id, info.name, decision.curator, decision.at))
    for r in rejections:
        if not keep(r) or not r.institution_id or r.institution_id in accepted:
            continue
        doc = document(r.institution_id, r.document)
        if doc:
            pairs.append(Pair(query, doc, 0, "rejected", r.institution_id, info.name, r.curator, r.at))
        else:
            missing += 1
    return pairs, missing


def _dedupe(result: PairSet) -> None:
    """One pair per (query, document): explicit labels beat implied ones, then the latest decision wins."""
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    best: dict[tuple[str, str], Pair] = {}
    labels: dict[tuple[str, str], set[int]] = {}
    order: list[tuple[str, str]] = []
    for p in result.pairs:
        key = (p.query, p.document)
        labels.setdefault(key, set()).add(p.label)
        old = best.get(key)
        if old is None:
            best[key] = p
            order.append(key)
            continue
        rank_new = (p.kind in EXPLICIT, p.decided_at or epoch)
        rank_old = (old.kind in EXPLICIT, old.decided_at or epoch)
        if rank_new > rank_old:
            best[key] = p
    result.duplicates_dropped = len(result.pairs) - len(order)
    result.conflicts_resolved = sum(1 for key in order if len(labels[key]) > 1)
    result.pairs = [best[key] for key in order]


# ----------------------------------------------------------------------------- mapping


def build_mapping(store: Store, options: ExportOptions | None = None) -> list[dict[str, Any]]:
    """One row per decided affiliation (accepted or none of these; every item with include_undecided)."""
    options = options or ExportOptions()
    keep = _Filter(options)
    rows: list[dict[str, Any]] = []
    for info in resolve_batches(store, options.batches):
        for row in store.table(info.id, rule=_rule(options)):
            decided = row["decision"] in ("accept", "none")
            if decided:
                view_decision = DecisionView(0, row["decision"], row["institution_id"] or None, row["institution_name"],
                                             row["curator"], row["decided_at"])
                decided = keep(view_decision)
            if not decided and not options.include_undecided:
                continue
            accepted = decided and row["decision"] == "accept"
            rows.append({
                "affiliation": row["affiliation"],
                # several accepted institutions (a string naming several) share the cell, "; "-separated
                # as decisions import reads it back
                "ror_id": MULTI_ID_SEPARATOR.join(row["institution_ids"] or [row["institution_id"]]) if accepted else "",
                "institution_name": MULTI_ID_SEPARATOR.join(row["institution_names"] or [row["institution_name"]])
                if accepted else "",
                "decision": row["decision"] if decided else (row["decision"] or "undecided"),
                "score": row["score"] if decided else None,
                "count": row["count"],
                "model_id": row["model_id"],
                "registry_name": row["registry_name"],
                "registry_version": row["registry_version"],
                "curator": row["curator"] if decided else "",
                "decided_at": row["decided_at"] if decided else None,
                "batch": info.name,
                "curators": row.get("curators", ""),
                "methods": row.get("methods", ""),
                "agreement": row.get("agreement", ""),
                "resolved_by": row.get("resolved_by", ""),
            })
    return rows


def mapping_frame(store: Store, options: ExportOptions | None = None) -> "pd.DataFrame":
    """The mapping as a DataFrame (for a table on a page)."""
    import pandas as pd

    return pd.DataFrame(build_mapping(store, options), columns=MAPPING_COLUMNS)


# ----------------------------------------------------------------------------- files and cards


@dataclass
class ExportResult:
    """The files of one export (name -> bytes), its card, and its figures."""

    files: dict[str, bytes]
    card_name: str
    card: str
    stats: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    mime: str = "application/octet-stream"  # of the data files (for a download button)

    @property
    def single(self) -> tuple[str, bytes] | None:
        """(name, bytes) when the export is one data file (no split), else None."""
        return next(iter(self.files.items())) if len(self.files) == 1 else None

    def zip_bytes(self) -> bytes:
        """Every file and the card in one zip (one download for a split export)."""
        import zipfile

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.files.items():
                archive.writestr(name, data)
            archive.writestr(self.card_name, self.card)
        return buffer.getvalue()

    @property
    def data_files(self) -> dict[str, str]:
        """Split name -> file name, as ``datasets.load_dataset(..., data_files=...)`` takes them."""
        out = {}
        for name in self.files:
            parts = name.split(".")
            out[parts[-2] if len(parts) > 2 and parts[-2] in ("train", "validation") else "train"] = name
        return out

    def write(self, folder: Path) -> list[Path]:
        """Write every file (and the card) into ``folder``; each file is replaced atomically."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in [*self.files.items(), (self.card_name, self.card.encode("utf-8"))]:
            path = folder / name
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
            paths.append(path)
        self.written = paths
        return paths


def _names(output: str | Path) -> tuple[str, Writer]:
    """(stem, writer) of an output name like ``pairs.csv`` or a bare format like ``csv``."""
    text = str(output)
    writer = writer_for(text)
    path = Path(text)
    stem = path.stem if path.suffix else "export"
    return stem, writer


def export_pairs(
    store: Store,
    output: str | Path,
    options: ExportOptions | None = None,
    registry: Registry | None = None,
    write: bool | None = None,
) -> ExportResult:
    """Build pairs and render the files: ``output`` is a path (written there) or a format name.

    With a validation share the files are ``<stem>.train<ext>`` and ``<stem>.validation<ext>``;
    the card is ``<stem>.card.md``. ``write`` defaults to True when ``output`` names a file.
    """
    options = options or ExportOptions()
    stem, writer = _names(output)
    pair_set = build_pairs(store, options, registry)
    if not pair_set.pairs:
        raise InputError("nothing to export: the chosen batches have no labelled pairs yet (accept, reject or "
                         "mark \"none of these\" first)")
    for split in pair_set.splits:
        if not any(p.split == split for p in pair_set.pairs):
            pair_set.warnings.append(f"the {split} split is empty (too few affiliations for a split)")
    files: dict[str, bytes] = {}
    if options.validation_share > 0:
        for split in pair_set.splits:
            files[f"{stem}.{split}{writer.suffix}"] = writer.write(pair_set.rows(split), PAIR_COLUMNS)
    else:
        files[f"{stem}{writer.suffix}"] = writer.write(pair_set.rows(), PAIR_COLUMNS)
    stats = pair_set.stats()
    card = _pairs_card(pair_set, stats, writer, files) + _agreement_card(store, pair_set.batches, options)
    result = ExportResult(files, f"{stem}.card.md", card, stats, pair_set.warnings, mime=writer.mime)
    if write if write is not None else bool(Path(str(output)).suffix):
        result.write(Path(str(output)).parent)
    return result


def export_mapping(
    store: Store, output: str | Path, options: ExportOptions | None = None, write: bool | None = None
) -> ExportResult:
    """The affiliation -> ROR id mapping as CSV / JSON Lines / Parquet (``output`` as in export_pairs)."""
    options = options or ExportOptions()
    stem, writer = _names(output)
    rows = build_mapping(store, options)
    if not rows:
        raise InputError("nothing to export: the chosen batches have no decided affiliations yet")
    files = {f"{stem}{writer.suffix}": writer.write(rows, MAPPING_COLUMNS)}
    decisions = Counter(r["decision"] for r in rows)
    stats = {
        "rows": len(rows),
        "by_decision": dict(decisions),
        "batches": sorted({r["batch"] for r in rows}),
        "curators": sorted({r["curator"] for r in rows if r["curator"]}),
    }
    card = _mapping_card(rows, stats, writer, options, files) + _agreement_card(
        store, resolve_batches(store, options.batches), options)
    result = ExportResult(files, f"{stem}.card.md", card, stats, mime=writer.mime)
    if write if write is not None else bool(Path(str(output)).suffix):
        result.write(Path(str(output)).parent)
    return result


def _rule(options: ExportOptions) -> str:
    from affiliation_curator.team.resolve import RULES

    if options.conflict_rule not in RULES:
        raise InputError(f"unknown conflict rule {options.conflict_rule!r}; use one of: {', '.join(RULES)}")
    return options.conflict_rule


def _agreement_card(store: Store, batches: list[BatchInfo], options: ExportOptions) -> str:
    """The card's agreement section: per batch, how the labels came about and how curators agree."""
    from affiliation_curator.team.report import batch_agreement, format_kappa

    lines = [
        "", "## Agreement", "",
        "Each item's label is the agreed one, else a lead's resolution, else "
        + ("the majority label (more than half of the curators)" if options.conflict_rule == "majority"
           else "left out (curators disagree)") + ".",
        "",
        "| batch | labelled once | agreed | conflicts | resolved | curator pair | double-labelled | agree | Cohen's kappa |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for info in batches:
        report = batch_agreement(store, info.id, options.conflict_rule)
        s = report.statuses
        head = f"| {_md(info.name)} | {s['single']} | {s['agreed']} | {s['conflict']} | {s['resolved']} |"
        if not report.pairs:
            lines.append(f"{head} - | 0 | - | n/a |")
        for p in report.pairs:
            share = "-" if p.share is None else f"{100 * p.share:.1f} %"
            lines.append(f"{head} {_md(p.a)} / {_md(p.b)} | {p.overlap} | {share} | {format_kappa(p.kappa)} |")
        if report.fleiss is not None:
            lines.append(f"| {_md(info.name)} | | | | | Fleiss' kappa, all curators | | | {format_kappa(report.fleiss)} |")
    lines.append("")
    return "\n".join(lines)


def _md(text: Any) -> str:
    """Text for a markdown table cell: pipes and line breaks cannot break the table."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _stamp() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _source_table(batches: list[BatchInfo]) -> list[str]:
    lines = ["| batch | items | decided | registry | registry version | model |", "|---|---|---|---|---|---|"]
    for b in batches:
        lines.append(
            f"| {_md(b.name)} | {b.total} | {b.decided} | {_md(b.registry_name)} | {_md(b.registry_version)} | {_md(b.model_id)} |"
        )
    return lines


def _options_lines(options: ExportOptions) -> list[str]:
    return [
        f"- curator filter: {', '.join(_md(c) for c in options.curators) if options.curators else 'all curators'}",
        f"- decision dates: from {options.since or 'the start'} to {options.until or 'now'}",
    ]


def _pairs_card(pair_set: PairSet, stats: dict[str, Any], writer: Writer, files: dict[str, bytes]) -> str:
    o = pair_set.options
    total = stats["pairs"] or 1
    fmt = {"CSV": "csv", "JSON Lines": "json", "Parquet": "parquet"}[writer.label]
    data_files = ", ".join(
        f'"{n.split(".")[-2] if len(files) > 1 else "train"}": "{n}"' for n in files
    )
    lines = [
        "# Labelled affiliation pairs",
        "",
        f"Exported {_stamp()} by Affiliation Curator {__version__}.",
        "",
        f"Format: {writer.label}, columns `query` (affiliation string), `document` (institution text exactly as "
        "the reranker saw it), `label` (1 = the right institution, 0 = a wrong one). Files: "
        + ", ".join(f"`{n}`" for n in files) + ".",
        "",
        "## Counts",
        "",
        f"- pairs: {stats['pairs']:,} ({stats['positives']:,} positive = {100 * stats['positives'] / total:.1f} %, "
        f"{stats['negatives']:,} negative)",
        f"- affiliations: {stats['affiliations']:,}",
        "- pairs by origin: " + ", ".join(f"{k} {v:,}" for k, v in stats["by_kind"].items()),
        f"- duplicate pairs dropped: {stats['duplicates_dropped']:,}; pairs with conflicting labels resolved: "
        f"{stats['conflicts_resolved']:,}",
    ]
    for split in pair_set.splits:
        s = stats[split]
        lines.append(f"- {split}: {s['pairs']:,} pairs, {s['positives']:,} positive, {s['affiliations']:,} affiliations")
    lines += [
        "",
        "## How the pairs were made",
        "",
        "- accepted institution: label 1 (every one, where a string names several; an accepted institution is "
        "never a negative); candidates a curator rejected: label 0; \"none of these\": every shown "
        "candidate label 0",
        f"- hard negatives: {'all' if o.hard_negatives is None else o.hard_negatives} shown but not accepted "
        "candidates per accepted affiliation",
        f"- easy negatives: {o.easy_negatives} random registry institutions per accepted affiliation (seed {o.seed})",
        f"- de-duplicated: {'yes (explicit labels beat implied ones; then the latest decision wins)' if o.dedupe else 'no'}",
        (
            f"- split: {o.validation_share:g} of the affiliation strings go to validation by a stable hash of the "
            "string (`gold.is_validation_string`), so no affiliation is on both sides"
            if o.validation_share > 0 else "- split: none"
        ),
        *_options_lines(o),
        "- curators in the data: " + (", ".join(_md(c) for c in stats["curators"]) or "none"),
    ]
    if writer.label == "CSV":
        lines.append(f"- {CSV_RULE} (the loading recipe below does)")
    lines += ["", "## Sources", "", *_source_table(pair_set.batches)]
    if pair_set.warnings:
        lines += ["", "## Warnings", "", *[f"- {w}" for w in pair_set.warnings]]
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        f'data = load_dataset("{fmt}", data_files={{{data_files}}})',
        *(_CSV_UNDO if writer.label == "CSV" else []),
        "```",
        "",
        (
            "Train with sentence-transformers `CrossEncoderTrainer` and `BinaryCrossEntropyLoss` unchanged."
            if writer.label != "CSV" else
            "For training, export JSON Lines or Parquet: they keep every string as it is and load unchanged. "
            "This CSV is for spreadsheets; the `map` above gives back the true text."
        ),
        "",
    ]
    return "\n".join(lines)


_CSV_UNDO = [
    "# undo the CSV rule: one leading ' off every text cell that has one",
    'data = data.map(lambda row: {k: v[1:] if isinstance(v, str) and v.startswith("\'") else v for k, v in row.items()})',
]


def _mapping_card(
    rows: list[dict[str, Any]], stats: dict[str, Any], writer: Writer, options: ExportOptions, files: dict[str, bytes]
) -> str:
    lines = [
        "# Affiliation to ROR mapping",
        "",
        f"Exported {_stamp()} by Affiliation Curator {__version__}.",
        "",
        f"Format: {writer.label}; files: " + ", ".join(f"`{n}`" for n in files) + ".",
        "Columns: " + ", ".join(f"`{c}`" for c in MAPPING_COLUMNS) + ".",
        "`decision` is `accept` (the `ror_id` is the institution; a string naming several institutions has "
        "each accepted one in `ror_id`, separated by `; `, their names likewise) or `none` (no institution of the "
        "registry is right)"
        + ("; `skip`/`undecided` rows have no answer yet" if options.include_undecided else "") + ".",
        "",
        "## Counts",
        "",
        f"- rows: {stats['rows']:,}",
        "- by decision: " + (", ".join(f"{k} {v:,}" for k, v in sorted(stats["by_decision"].items())) or "none"),
        "- batches: " + (", ".join(_md(b) for b in stats["batches"]) or "none"),
        "- curators: " + (", ".join(_md(c) for c in stats["curators"]) or "none"),
        *_options_lines(options),
    ]
    if writer.label == "CSV":
        lines.append(f"- {CSV_RULE}")
    lines.append("")
    return "\n".join(lines)

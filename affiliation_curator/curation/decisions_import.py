"""Bring existing labelled mappings in: a team's earlier curation feeds the same exports and training.

Two inputs: the gold JSON Lines format (``affiliation``, ``ror_ids``; see ``gold.py``) and a
CSV with the columns ``affiliation,ror_id`` (an empty ``ror_id`` means no institution is
right; several ids in one cell may be separated by ``;`` or ``|``). A row with several ids
(a string naming several institutions) accepts every one of them, as the mapping export writes
them.

Other column names are named with ``affiliation_column`` / ``id_column``, or found: an OpenRefine
project reconciled against ``serve`` and exported as CSV has the original column under its
own name and an identifiers column of bare ROR ids; a column whose every non-blank cell is a
ROR id is taken as the ids, and then, of two columns, the other one as the affiliations.

The strings become a new batch; each is ranked by the matcher, so its candidates are
stored exactly as a curator would have seen them, and the known answer is recorded as a
decision: an accept of that institution (even when it is not among the candidates) or
"none of these". All decisions of one import form a single undo step.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from affiliation_curator import config
from affiliation_curator.errors import InputError
from affiliation_curator.curation.export import MAPPING_BASE_COLUMNS
from affiliation_curator.curation.formats import unneutralise
from affiliation_curator.curation.gold import read_gold
from affiliation_curator.engine.documents import document_text
from affiliation_curator.institution import normalize_ror_id
from affiliation_curator.curation.intake import IntakeResult, clean, decode
from affiliation_curator.curation.ranking_jobs import rank_batch
from affiliation_curator.curation.store import AcceptedInstitution, Store, affiliation_hash

if TYPE_CHECKING:
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.registry import Registry

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)

AFFILIATION_COLUMNS = ("affiliation", "affiliation_string", "raw_affiliation")
ID_COLUMNS = ("ror_id", "ror_ids", "ror", "id", "institution_id")


@dataclass(slots=True)
class KnownAnswer:
    """One labelled affiliation from a file: ``ror_id`` None means "none of these"."""

    affiliation: str
    ror_id: str | None
    other_ids: list[str] = field(default_factory=list)
    line: int = 0


@dataclass
class ImportReport:
    """What an import did."""

    batch_id: int
    batch_name: str
    rows: int  # answers read (after folding repeated strings)
    accepted: int = 0
    none: int = 0
    ranked: int = 0
    answer_in_candidates: int = 0  # accepted answers the matcher also listed
    answer_on_top: int = 0  # ... listed first
    not_in_registry: list[str] = field(default_factory=list)  # ids the registry does not know
    multi_id_rows: int = 0
    conflicts: int = 0  # the same string with different answers (the first was kept)
    duplicates: int = 0
    truncated: int = 0
    messages: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        lines = [
            f"Batch {self.batch_name!r}: {self.rows:,} affiliations, {self.accepted:,} accepted, "
            f"{self.none:,} none of these; {self.ranked:,} ranked"
        ]
        if self.accepted and self.ranked:
            lines.append(
                f"The matcher listed the known answer for {self.answer_in_candidates:,} of {self.accepted:,} "
                f"accepted strings ({self.answer_on_top:,} first)"
            )
        if self.multi_id_rows:
            lines.append(f"{self.multi_id_rows:,} rows named several institutions: each of them was accepted")
        if self.conflicts:
            lines.append(f"{self.conflicts:,} strings appeared with different answers: the first answer was kept")
        if self.duplicates:
            lines.append(f"{self.duplicates:,} repeated rows were folded")
        if self.truncated:
            lines.append(f"{self.truncated:,} strings longer than {config.MAX_AFFILIATION_CHARS:,} characters were cut")
        if self.not_in_registry:
            shown = ", ".join(self.not_in_registry[:5]) + (" ..." if len(self.not_in_registry) > 5 else "")
            lines.append(
                f"{len(self.not_in_registry):,} ids are not in the registry (recorded anyway; exports need a registry "
                f"that holds them for their document text): {shown}"
            )
        return lines + self.messages


# ----------------------------------------------------------------------------- reading


def read_known_answers(
    path: Path | str, affiliation_column: str | None = None, id_column: str | None = None
) -> list[KnownAnswer]:
    """Gold JSON Lines (.jsonl) or CSV/TSV (affiliation,ror_id); raises InputError naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        answers = []
        for number, row in enumerate(read_gold(path), 1):
            ids = [i for i in row.ror_ids if i]
            answers.append(KnownAnswer(row.affiliation, ids[0] if ids else None, ids[1:], number))
        return answers
    if suffix in (".csv", ".tsv"):
        return _read_csv(path, "\t" if suffix == ".tsv" else None, affiliation_column, id_column)
    raise InputError(f"{path.name}: use gold JSON Lines (.jsonl) or a CSV with the columns affiliation,ror_id")


def _read_csv(
    path: Path, delimiter: str | None, affiliation_column: str | None = None, id_column: str | None = None
) -> list[KnownAnswer]:
    data = path.read_bytes()
    if not data.strip():
        raise InputError(f"{path.name} is empty")
    text = decode(data, path.name)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = delimiter or max((",", ";", "\t"), key=first.count)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    while rows and not any(c.strip() for c in rows[0]):
        rows.pop(0)
    if not rows:
        raise InputError(f"{path.name} has no rows")
    aff, rid = _columns(path.name, rows, affiliation_column, id_column)
    # a mapping CSV this project exported: its cells follow export's reversible CSV rule, undone here
    header = [h.strip().casefold() for h in rows[0]]
    ours = {c.casefold() for c in MAPPING_BASE_COLUMNS} <= set(header)
    answers = []
    for number, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        affiliation = row[aff] if aff < len(row) else ""
        if ours:
            affiliation = unneutralise(affiliation)
        cell = row[rid].strip() if rid < len(row) else ""
        ids = [normalize_ror_id(p) or p.strip() for p in cell.replace("|", ";").split(";") if p.strip()]
        answers.append(KnownAnswer(affiliation, ids[0] if ids else None, ids[1:], number))
    if not answers:
        raise InputError(f"{path.name} has a header row but no data rows")
    return answers


def _columns(name: str, rows: list[list[str]], affiliation_column: str | None,
             id_column: str | None) -> tuple[int, int]:
    """Positions of the affiliation and id columns: as named, by their usual names, or found."""
    header = [h.strip().casefold() for h in rows[0]]
    found = ", ".join(rows[0]) or "(none)"

    def named(column: str, option: str) -> int:
        key = column.strip().casefold()
        if key not in header:
            raise InputError(f"{name} has no column {column!r} ({option}); columns found: {found}")
        return header.index(key)

    aff = named(affiliation_column, "--affiliation-column") if affiliation_column else next(
        (header.index(c) for c in AFFILIATION_COLUMNS if c in header), None)
    rid = named(id_column, "--id-column") if id_column else next(
        (header.index(c) for c in ID_COLUMNS if c in header), None)
    if rid is None:  # an OpenRefine identifiers column: every non-blank cell a ROR id
        rid = next((n for n in range(len(header)) if n != aff and _all_ror_ids(rows[1:], n)), None)
        if aff is None and rid is not None and len(header) == 2:
            aff = 1 - rid
    if aff is None or rid is None:
        raise InputError(
            f"{name} needs the columns affiliation and ror_id; columns found: {found} (name others with "
            "--affiliation-column and --id-column)"
        )
    return aff, rid


def _all_ror_ids(rows: list[list[str]], n: int) -> bool:
    cells = [row[n].strip() for row in rows if n < len(row) and row[n].strip()]
    return bool(cells) and all(normalize_ror_id(p) for c in cells for p in c.replace("|", ";").split(";") if p.strip())


# ----------------------------------------------------------------------------- importing


def import_decisions(
    store: Store,
    answers: list[KnownAnswer],
    batch_name: str,
    curator: str,
    matcher: Matcher | None = None,
    registry: Registry | None = None,
    model_id: str = "",
    source: str = "",
    progress: ProgressFn | None = None,
    add_to_batch: bool = False,
) -> ImportReport:
    """Create a batch from known answers, rank it (when a matcher is given), record the answers.

    ``registry`` (optional) names the accepted institutions and gives their document text
    when the matcher did not list them; ``matcher`` None skips ranking (no candidates stored).
    The answers are ``curator``'s own decisions: nobody else's change. ``add_to_batch``: record
    them in the existing batch of that name (its strings matched, new ones added), so several
    curators' answers on the same affiliations stand side by side for the agreement figures.
    """
    if not curator or not curator.strip():
        raise InputError("give the curator the decisions are recorded for")
    intake, kept, stats = _fold(answers)
    if len(intake.strings) > config.MAX_BATCH_ROWS:
        raise InputError(f"too many affiliations: more than {config.MAX_BATCH_ROWS:,} in one batch; split the file")
    meta = getattr(registry, "meta", None)
    existing = store.batch_by_name(batch_name) if add_to_batch else None
    if add_to_batch and existing is None:
        raise InputError(f"no batch {batch_name!r} to add to; leave out --add-to-batch to create it")
    if existing is not None:
        batch_id = existing.id
        store.add_items(batch_id, intake)
    else:
        batch_id = store.create_batch(
            batch_name, intake,
            registry_name=getattr(registry, "name", "") or "",
            registry_version=str(getattr(meta, "version", "") or ""),
            model_id=model_id or str(getattr(matcher, "model_id", "") or getattr(getattr(matcher, "scorer", None), "model_id", "") or ""),
            source=source,
        )
    info = store.batch(batch_id)
    report = ImportReport(batch_id, info.name, len(intake.strings), **stats)
    total = len(intake.strings)
    if matcher is not None:
        report.ranked = rank_batch(
            store, matcher, batch_id,
            progress=(lambda n: progress("ranking", n, total)) if progress else None,
        )
    views = {affiliation_hash(v.affiliation): v for v in store.items(batch_id)}
    decisions = []
    missing: list[str] = []
    for text in intake.strings:
        view = views[affiliation_hash(text)]
        answer = kept[text]
        if answer.ror_id is None:
            decisions.append((view.id, "none", None, None))
            report.none += 1
            continue
        inst_id = answer.ror_id
        shown = [c.id for c in view.candidates]
        if inst_id in shown:
            report.answer_in_candidates += 1
            report.answer_on_top += shown[0] == inst_id
        inst = registry.get(inst_id) if registry is not None else None
        if registry is not None and inst is None and inst_id not in missing:
            missing.append(inst_id)
        if inst is not None:
            inst_id = inst.id  # the registry's spelling of the id
        also = []
        for other in answer.other_ids:
            extra = registry.get(other) if registry is not None else None
            if registry is not None and extra is None and other not in missing:
                missing.append(other)
            also.append(AcceptedInstitution(extra.id if extra else other, extra.name if extra else None,
                                            document_text(extra) if extra and document_text else None))
        decisions.append(
            (view.id, "accept", inst_id, inst.name if inst else None, document_text(inst) if inst else None, also)
        )
        report.accepted += 1
    report.not_in_registry = missing
    store.record_decisions(
        batch_id, decisions, curator, kind="import",
        description=f"import of {len(decisions):,} known answers" + (f" from {source}" if source else ""),
    )
    if progress:
        progress("recording", len(decisions), len(decisions))
    return report


def _fold(answers: list[KnownAnswer]) -> tuple[IntakeResult, dict[str, KnownAnswer], dict[str, int]]:
    """Clean strings like intake does and fold repeats (the first answer wins)."""
    intake = IntakeResult()
    kept: dict[str, KnownAnswer] = {}
    by_hash: dict[str, str] = {}
    stats = {"multi_id_rows": 0, "conflicts": 0, "duplicates": 0, "truncated": 0}
    for answer in answers:
        text = clean(answer.affiliation or "")
        if not text:
            intake.dropped_blank += 1
            continue
        if len(text) > config.MAX_AFFILIATION_CHARS:
            text = text[: config.MAX_AFFILIATION_CHARS].rstrip()
            stats["truncated"] += 1
        stats["multi_id_rows"] += bool(answer.other_ids)
        h = affiliation_hash(text)
        if h in by_hash:
            first = kept[by_hash[h]]
            stats["duplicates"] += 1
            stats["conflicts"] += {first.ror_id, *first.other_ids} != {answer.ror_id, *answer.other_ids}
            intake.counts[by_hash[h]] += 1
            continue
        by_hash[h] = text
        kept[text] = KnownAnswer(text, answer.ror_id, answer.other_ids, answer.line)
        intake.strings.append(text)
        intake.counts[text] = 1
    if not intake.strings:
        raise InputError("no affiliations to import (every row is blank)")
    return intake, kept, stats



"""``parse_registry_file``: any supported registry file -> institutions, version, warnings.

Accepted files (see :mod:`.sources` for the limits):
- an official ROR data dump zip (``vX.Y-YYYY-MM-DD-ror-data.zip``): its schema-2 ``.json``
  (the ``_schema_v2`` one where a dump holds both schemas), else its ``.csv``;
- a ``.json`` or ``.json.gz`` array of ROR schema-2 records;
- the official ROR CSV (found by its ``names.types.*`` columns), plain or gzipped;
- a CSV of one's own institutions (columns ``id,name[,aliases,acronyms,city,country]``).

Records without an id or a name are skipped, duplicate ids keep the first record; both are
counted in the warnings. A file with no usable record, or one where most records repeat an
id, is refused. The dump version comes from the file name (``vX.Y-YYYY-MM-DD``) or else the
newest ``admin.last_modified.date`` of its records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from affiliation_curator.errors import CuratorError, RegistryImportError
from affiliation_curator.institution import Institution
from affiliation_curator.registry.parse_csv import CsvRows, own_row_to_institution
from affiliation_curator.registry.parse_ror import (
    csv_row_modified,
    csv_row_to_institution,
    iter_json_array,
    record_modified,
    record_to_institution,
)
from affiliation_curator.registry.storage import gc_paused
from affiliation_curator.registry.sources import ProgressFn, decode_utf8, open_registry_file, version_from_name

PROGRESS_EVERY = 2000  # records between progress calls


@dataclass
class ParsedRegistry:
    """What a registry file holds, ready to be stored."""

    institutions: list[Institution]
    version: str
    source_format: str  # "ror-json", "ror-csv" or "csv" (own institutions)
    warnings: list[str] = field(default_factory=list)
    member: str | None = None  # the zip member that was read


class _Collector:
    """Keeps the first record of each id and counts what was skipped and why."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.institutions: list[Institution] = []
        self.seen: set[str] = set()
        self.total = 0
        self.problems: Counter[str] = Counter()
        self.examples: dict[str, list[int]] = {}
        self.duplicates = 0
        self.duplicate_examples: list[str] = []
        self.newest: str | None = None

    def add(self, inst: Institution | None, problem: str | None, modified: str | None = None) -> None:
        self.total += 1
        if inst is None:
            reason = problem or "unreadable"
            self.problems[reason] += 1
            examples = self.examples.setdefault(reason, [])
            if len(examples) < 5:
                examples.append(self.total)
            return
        if inst.id in self.seen:
            self.duplicates += 1
            if len(self.duplicate_examples) < 5 and inst.id not in self.duplicate_examples:
                self.duplicate_examples.append(inst.id)  # an id repeated three times is named once
            return
        self.seen.add(inst.id)
        self.institutions.append(inst)
        if modified and (self.newest is None or modified > self.newest):
            self.newest = modified

    def finish(self, source_format: str) -> list[str]:
        """Warnings; raises when nothing usable is left."""
        kept = len(self.institutions)
        if self.total == 0:
            raise RegistryImportError(f"{self.label}: the file holds zero records; nothing to import")
        if kept == 0:
            if self.problems.get("ROR schema 1 record") == self.total:
                raise RegistryImportError(
                    f"{self.label}: these are ROR schema 1 records; this app reads schema 2 "
                    "(ROR data dumps from v1.45 on, the file ending in _schema_v2.json, or any dump since v2.0)"
                )
            reasons = "; ".join(f"{n} {reason}" for reason, n in self.problems.most_common())
            raise RegistryImportError(
                f"{self.label}: none of its {self.total} records is usable ({reasons}); "
                + (
                    "expected ROR schema-2 records with an id and names"
                    if source_format != "csv"
                    else "every row needs an id and a name"
                )
            )
        if self.duplicates and self.duplicates >= kept:
            raise RegistryImportError(
                f"{self.label}: {self.duplicates} of {self.total} records repeat an id already seen "
                f"(e.g. {', '.join(self.duplicate_examples[:3])}); is the id column right?"
            )
        unit = "row" if source_format != "ror-json" else "record"
        warnings = []
        for reason, n in self.problems.most_common():
            where = ", ".join(str(i) for i in self.examples.get(reason, []))
            warnings.append(f"skipped {n} {unit}{'s' if n != 1 else ''} ({reason}; {unit} {where}{', ...' if n > 5 else ''})")
        if self.duplicates:
            warnings.append(
                f"skipped {self.duplicates} duplicate id{'s' if self.duplicates != 1 else ''} "
                f"(kept the first record of each; e.g. {', '.join(self.duplicate_examples[:3])})"
            )
        return warnings


def _fill_relationship_labels(institutions: list[Institution]) -> None:
    """Relationships without a label (the ROR CSV has none) get the related record's name."""
    by_id = None
    for inst in institutions:
        if any(not rel.label for rel in inst.relationships):
            if by_id is None:
                by_id = {i.id: i.name for i in institutions}
            inst.relationships = [
                type(rel)(rel.type, rel.id, rel.label or by_id.get(rel.id, "")) for rel in inst.relationships
            ]


def parse_registry_file(path: Path | str, progress: ProgressFn | None = None) -> ParsedRegistry:
    """Read a registry file (see the module docstring); raises RegistryImportError with one clear message."""
    path = Path(path)
    try:
        return _parse(path, progress)
    except CuratorError:
        raise
    except MemoryError:
        raise RegistryImportError(f"{path.name}: not enough memory to read this file") from None
    except OSError as err:
        raise RegistryImportError(f"{path.name}: cannot be read ({err.strerror or err})") from None
    except Exception as err:  # garbage must give a message, never a traceback
        raise RegistryImportError(f"{path.name}: cannot be read as a registry ({type(err).__name__}: {err})") from None


def _parse(path: Path, progress: ProgressFn | None) -> ParsedRegistry:
    # Millions of small objects are created and kept: the cyclic GC would rescan them over and over.
    with gc_paused():
        return _parse_file(path, progress)


def _parse_file(path: Path, progress: ProgressFn | None) -> ParsedRegistry:
    opened = open_registry_file(path)
    label = opened.label
    collector = _Collector(label)
    texts = decode_utf8(opened.chunks, label)

    def tick(force: bool = False) -> None:
        if progress and (force or collector.total % PROGRESS_EVERY == 0):
            progress(opened.position(), f"read {collector.total:,} records")

    if opened.kind == "json":
        source_format = "ror-json"
        for rec in iter_json_array(texts, label):
            inst, problem = record_to_institution(rec)
            collector.add(inst, problem, record_modified(rec) if inst is not None else None)
            tick()
    else:
        rows = CsvRows(texts, label)
        source_format = rows.kind
        convert = csv_row_to_institution if rows.kind == "ror-csv" else own_row_to_institution
        for row in rows:
            inst, problem = convert(row)
            collector.add(inst, problem, csv_row_modified(row) if inst is not None and rows.kind == "ror-csv" else None)
            tick()
    warnings = collector.finish(source_format)
    if source_format == "csv" and rows.ignored:
        warnings.append(f"ignored column(s): {', '.join(rows.ignored[:10])}")
    _fill_relationship_labels(collector.institutions)
    version = version_from_name(opened.member, path.name) or collector.newest or ""
    tick(force=True)
    return ParsedRegistry(collector.institutions, version, source_format, warnings, opened.member)

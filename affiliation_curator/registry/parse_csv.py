"""CSV registries: the official ROR dump CSV, or a CSV of one's own institutions.

Own CSV columns (header row required, names case-insensitive, in any order):

========  ========  =====================================================================
column    required  content
========  ========  =====================================================================
id        yes       the institution's id (any string; ROR ids in any spelling are normalised)
name      yes       the display name
aliases   no        other names, separated by ``;`` or ``|``
acronyms  no        acronyms, separated by ``;`` or ``|``
city      no        city
country   no        ISO 3166 alpha-2 code ("DE") or an English name ("Germany")
========  ========  =====================================================================

The delimiter may be ``,``, ``;`` or a tab. Files must be UTF-8 (a BOM is fine). Other
columns are ignored (and named in a warning).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from affiliation_curator.errors import RegistryImportError
from affiliation_curator.institution import Institution, Name, normalize_ror_id
from affiliation_curator.registry.countries import resolve_country
from affiliation_curator.registry.parse_ror import (
    ROR_CSV_MARKERS,
    intern_str,
    intern_types,
)

OWN_COLUMNS = ("id", "name", "aliases", "acronyms", "city", "country")
OWN_REQUIRED = ("id", "name")

csv.field_size_limit(1 << 24)


def _lines(texts: Iterator[str], label: str) -> Iterator[str]:
    """Split text chunks into lines that keep their ``\\n`` (what csv.reader wants); refuse NUL bytes."""
    carry = ""
    number = 0
    for text in texts:
        text = carry + text
        parts = text.split("\n")
        carry = parts.pop()
        for part in parts:
            number += 1
            if "\x00" in part:
                raise RegistryImportError(f"{label}: binary data (a NUL byte) on line {number}; not a CSV text file")
            yield part + "\n"
    if carry:
        if "\x00" in carry:
            raise RegistryImportError(f"{label}: binary data (a NUL byte) on line {number + 1}; not a CSV text file")
        yield carry


def _pick_delimiter(header_line: str) -> str:
    best, best_count = ",", -1
    for delim in (",", ";", "\t"):
        cols = [c.strip().strip('"').lower() for c in header_line.split(delim)]
        score = sum(1 for c in cols if c in OWN_COLUMNS or c == "id" or c.startswith("names.types."))
        if score > best_count:
            best, best_count = delim, score
    return best


class CsvRows:
    """Rows of a CSV as dicts keyed by the (lower-cased, stripped) header; knows its kind."""

    def __init__(self, texts: Iterator[str], label: str) -> None:
        self.label = label
        lines = _lines(texts, label)
        first = next(lines, None)
        while first is not None and not first.strip():
            first = next(lines, None)
        if first is None:
            raise RegistryImportError(f"{label}: the CSV is empty (no header row); no records to import")
        delimiter = _pick_delimiter(first)

        def all_lines() -> Iterator[str]:
            yield first
            yield from lines

        self._reader = csv.reader(all_lines(), delimiter=delimiter)
        try:
            header = next(self._reader)
        except csv.Error as err:
            raise RegistryImportError(f"{label}: not a readable CSV header ({err})") from None
        self.header = [h.strip().lower() for h in header]
        if any(marker in self.header for marker in ROR_CSV_MARKERS) and "id" in self.header:
            self.kind = "ror-csv"
        else:
            self.kind = "csv"
            missing = [c for c in OWN_REQUIRED if c not in self.header]
            if missing:
                found = ", ".join(h for h in header if h.strip()) or "none"
                raise RegistryImportError(
                    f"{label}: missing required column(s): {', '.join(missing)} "
                    f"(found: {found[:300]}). A CSV of one's own institutions needs the columns "
                    "id and name; aliases, acronyms, city and country are optional"
                )
        self.ignored = [h for h in self.header if h and self.kind == "csv" and h not in OWN_COLUMNS]
        self.line = 1

    def __iter__(self) -> Iterator[dict[str, str]]:
        header = self.header
        width = len(header)
        while True:
            try:
                values = next(self._reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise RegistryImportError(f"{self.label}: unreadable CSV near line {self._reader.line_num}: {err}") from None
            self.line = self._reader.line_num
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) < width:
                values = values + [""] * (width - len(values))
            yield dict(zip(header, values))


_SPLIT = re.compile(r"[;|]")


def own_row_to_institution(row: dict[str, str]) -> tuple[Institution | None, str | None]:
    """One row of an own-institutions CSV."""
    raw_id = (row.get("id") or "").strip()
    name = " ".join((row.get("name") or "").split())
    if not raw_id:
        return None, "missing id"
    if not name:
        return None, "missing name"
    inst_id = normalize_ror_id(raw_id) or raw_id
    names = [Name(name, intern_types(("ror_display", "label")), None)]
    seen = {name}
    for column, name_type in (("aliases", "alias"), ("acronyms", "acronym")):
        for value in _SPLIT.split(row.get(column) or ""):
            value = " ".join(value.split())
            if value and value not in seen:
                seen.add(value)
                names.append(Name(value, intern_types((name_type,)), None))
    code, cname = resolve_country(row.get("country"))
    return (
        Institution(
            id=inst_id,
            name=name,
            names=names,
            city=" ".join((row.get("city") or "").split()) or None,
            country_code=intern_str(code),
            country_name=intern_str(cname),
        ),
        None,
    )

"""The file formats of labelled rows (CSV, JSON Lines, Parquet): each writer beside its reader.

Exports write pairs and mappings with ``writer_for(name).write``; training, fine-tuning and
``decisions import`` read them back with ``read_records``. CSV cells that a spreadsheet would run
as a formula get one more leading ``'`` on the way out (``neutralise``) and lose exactly one on
the way in (``unneutralise``), so a round trip gives back the text that was written.
"""

from __future__ import annotations

import csv
import io
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from affiliation_curator.errors import InputError

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_RULE = (
    "CSV text cells starting with = + - @, a tab, a carriage return or a single quote (') get one more single "
    "quote in front; remove one leading ' from every cell that has one to get the true text back"
)

Record = tuple[int, dict[str, Any]]  # (line number, row)


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, or one starting with ``'``, gets a leading ``'``.

    Quoting the quote too is what makes the rule reversible: ``unneutralise`` gives back exactly
    the string that was written, whatever it was.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES + ("'",)):
        return "'" + value
    return value


def unneutralise(value: Any) -> Any:
    """The true text of a cell of a CSV this project wrote: one leading ``'`` removed, if there is one."""
    if isinstance(value, str) and value.startswith("'"):
        return value[1:]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name} is not UTF-8 text") from None


class Writer(ABC):
    """One file format: rows (dicts) to the bytes of a file, and the bytes back to rows."""

    suffix: str = ""
    label: str = ""
    mime: str = "application/octet-stream"

    @abstractmethod
    def write(self, rows: list[dict[str, Any]], columns: list[str]) -> bytes: ...

    @abstractmethod
    def read(self, data: bytes, name: str) -> Iterator[Record]: ...


class CsvWriter(Writer):
    """UTF-8 CSV with a header row; formula-like cells neutralised by the reversible rule (``CSV_RULE``)."""

    suffix, label, mime = ".csv", "CSV", "text/csv"
    delimiter = ","

    def write(self, rows: list[dict[str, Any]], columns: list[str]) -> bytes:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL, delimiter=self.delimiter)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutralise(_plain(row.get(c))) for c in columns])
        return buffer.getvalue().encode("utf-8")

    def read(self, data: bytes, name: str) -> Iterator[Record]:
        """Rows with the rule undone on the text columns of labelled rows (line numbers count the header)."""
        reader = csv.DictReader(io.StringIO(_text(data, name)), delimiter=self.delimiter)
        for number, row in enumerate(reader, 2):
            for key in ("query", "affiliation", "document"):  # undo the CSV rule, exactly
                if key in row:
                    row[key] = unneutralise(row[key])
            if "label" in row and row["label"] not in (None, ""):
                try:
                    row["label"] = float(row["label"])
                except ValueError:
                    pass
            yield number, row


class TsvWriter(CsvWriter):
    """Tab-separated values: read for labelled rows made elsewhere (exports write CSV)."""

    suffix, label, mime = ".tsv", "TSV", "text/tab-separated-values"
    delimiter = "\t"


class JsonlWriter(Writer):
    """JSON Lines: one object a line, UTF-8, text unchanged."""

    suffix, label, mime = ".jsonl", "JSON Lines", "application/jsonl"

    def write(self, rows: list[dict[str, Any]], columns: list[str]) -> bytes:
        lines = [json.dumps({c: _plain(row.get(c)) for c in columns}, ensure_ascii=False) for row in rows]
        return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")

    def read(self, data: bytes, name: str) -> Iterator[Record]:
        for number, line in enumerate(_text(data, name).splitlines(), 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except ValueError:
                raise InputError(f"{name} line {number}: not JSON") from None


class ParquetWriter(Writer):
    """Apache Parquet (pyarrow), text unchanged."""

    suffix, label, mime = ".parquet", "Parquet", "application/vnd.apache.parquet"

    def write(self, rows: list[dict[str, Any]], columns: list[str]) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        data = {c: [_plain(row.get(c)) for row in rows] for c in columns}
        types = {c: _arrow_type(pa, c, data[c]) for c in columns}
        table = pa.table({c: pa.array(data[c], type=types[c]) for c in columns})
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return buffer.getvalue()

    def read(self, data: bytes, name: str) -> Iterator[Record]:
        import pandas as pd

        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds
            raise InputError(f"{name} is not a readable Parquet file ({type(err).__name__})") from None
        yield from enumerate(frame.to_dict("records"), 1)


def _arrow_type(pa: Any, column: str, values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if column in ("label", "count"):
        return pa.int64()
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()


WRITERS: dict[str, Writer] = {w.suffix: w for w in (CsvWriter(), JsonlWriter(), ParquetWriter())}
READERS: dict[str, Writer] = {**WRITERS, ".tsv": TsvWriter()}


def suffixes_text() -> str:
    """The file endings exports can write, for messages: ".csv, .jsonl or .parquet"."""
    *first, last = WRITERS
    return f"{', '.join(first)} or {last}" if first else last


def writer_for(name: str | Path) -> Writer:
    """The writer for a file name or a format name (csv, jsonl, parquet)."""
    text = str(name).strip().lower()
    suffix = Path(text).suffix or ("." + text.lstrip("."))
    if suffix == ".json":
        raise InputError("use .jsonl (JSON Lines) for JSON output")
    try:
        return WRITERS[suffix]
    except KeyError:
        raise InputError(f"unknown export format {suffix!r}; use one of: {', '.join(WRITERS)}") from None


def read_records(data: bytes, name: str) -> Iterator[Record]:
    """(line number, row) of labelled rows in any of the formats, chosen by the file name's
    suffix (anything but .csv, .tsv and .parquet is read as JSON Lines)."""
    return READERS.get(Path(name).suffix.lower(), READERS[".jsonl"]).read(data, name)

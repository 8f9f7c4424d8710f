"""Reading a corpus: which files, and each file's lines turned into affiliation rows.

A corpus is a file, a folder (every supported file below it) or a glob. Text formats
(``.txt``, ``.csv``/``.tsv``, ``.jsonl``) are parsed here line by line, so one bad line
never sinks a file of millions: blank lines, binary lines (NUL bytes or invalid UTF-8) and
unreadable JSON lines are counted and dropped. Each string is cleaned exactly as the
single-process ``match`` cleans it (``intake.clean``, then cut to
``config.MAX_AFFILIATION_CHARS``), so both runs match the same text. Parquet files are read
by Ray Data's own reader (one column).

Every parser yields rows ``{"affiliation": str, "problem": str}``: ``problem`` is "" for a
kept string, "cut" for a kept string that was shortened, and "blank", "binary" or
"unreadable" for a dropped line (``affiliation`` "").
"""

from __future__ import annotations

import csv
import glob
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

from affiliation_curator import config
from affiliation_curator.errors import InputError
from affiliation_curator.curation.intake import COLUMN_ALIASES, DEFAULT_COLUMN, clean

TEXT_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl")
CORPUS_SUFFIXES = TEXT_SUFFIXES + (".parquet",)
PROBLEMS = ("cut", "blank", "binary", "unreadable")  # "" is a kept string
_LINE_END = re.compile(rb"\r\n|\r|\n")


def corpus_files(spec: str) -> list[Path]:
    """The files a corpus argument names (sorted); InputError when none can be read."""
    path = Path(spec).expanduser()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in CORPUS_SUFFIXES)
        if not files:
            raise InputError(f"{spec}: no {', '.join(CORPUS_SUFFIXES)} files in this folder")
    elif glob.has_magic(spec):
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not files:
            raise InputError(f"{spec}: no file matches this pattern")
    else:
        raise InputError(f"file not found: {spec}")
    bad = [p for p in files if p.suffix.lower() not in CORPUS_SUFFIXES]
    if bad:
        raise InputError(f"{bad[0]}: unsupported file type {bad[0].suffix!r} for a corpus run; "
                         f"use {', '.join(CORPUS_SUFFIXES)}")
    return files


def kept(raw: object) -> dict[str, str]:
    """One value as a row: cleaned and cut like ``intake`` does, or a dropped blank."""
    if raw is None:
        return {"affiliation": "", "problem": "blank"}
    text = clean(raw if isinstance(raw, str) else str(raw))
    if not text:
        return {"affiliation": "", "problem": "blank"}
    if len(text) > config.MAX_AFFILIATION_CHARS:
        return {"affiliation": text[: config.MAX_AFFILIATION_CHARS].rstrip(), "problem": "cut"}
    return {"affiliation": text, "problem": ""}


def dropped(problem: str) -> dict[str, str]:
    return {"affiliation": "", "problem": problem}


def _lines(data: bytes) -> Iterator[bytes | None]:
    """The file's lines as bytes; None for a binary one (a NUL byte). A UTF-8 BOM is dropped."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    parts = _LINE_END.split(data)
    if parts and parts[-1] == b"":
        parts.pop()
    for raw in parts:
        yield None if b"\x00" in raw else raw


def _decoded(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def parse_text_file(data: bytes, name: str, column: str | None = None) -> Iterator[dict[str, str]]:
    """Rows of one text file, by its ending (.txt, .csv/.tsv, .jsonl); see the module docstring."""
    suffix = Path(name).suffix.lower()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{name} is UTF-16 text; a corpus file must be UTF-8")
    if suffix == ".txt":
        if column:
            raise InputError(f"{name} is plain text (one affiliation a line); it has no columns to choose from")
        for raw in _lines(data):
            text = _decoded(raw)
            yield dropped("binary") if text is None else kept(text)
    elif suffix == ".jsonl":
        yield from _jsonl_rows(data, name, column)
    elif suffix in (".csv", ".tsv"):
        yield from _delimited_rows(data, name, column, "\t" if suffix == ".tsv" else None)
    else:
        raise InputError(f"{name}: not a text file of a corpus ({', '.join(TEXT_SUFFIXES)})")


def _jsonl_rows(data: bytes, name: str, column: str | None) -> Iterator[dict[str, str]]:
    wanted = {w.casefold() for w in ([column] if column else COLUMN_ALIASES)}
    for raw in _lines(data):
        text = _decoded(raw)
        if text is None:
            yield dropped("binary")
            continue
        if not text.strip():
            yield dropped("blank")
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            yield dropped("unreadable")
            continue
        if isinstance(obj, str) and not column:
            yield kept(obj)
            continue
        value = next((v for k, v in obj.items() if str(k).strip().casefold() in wanted), None) if isinstance(obj, dict) else None
        yield kept(value) if value is None or isinstance(value, (str, int, float)) else dropped("unreadable")


def _delimited_rows(data: bytes, name: str, column: str | None, delimiter: str | None) -> Iterator[dict[str, str]]:
    """CSV/TSV with a header row: the column ``column``, else one named like ``affiliation``."""
    good: list[str] = []
    binary = 0
    for raw in _lines(data):
        text = _decoded(raw)
        if text is None:
            binary += 1
        else:
            good.append(text)
    first = next((line for line in good if line.strip()), None)
    if first is None:
        yield from (dropped("binary") for _ in range(binary))
        return
    if delimiter is None:
        counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO("\n".join(good), newline=""), delimiter=delimiter, strict=False)
    header = [h.strip().casefold() for h in next(reader)]
    while not any(header):
        header = [h.strip().casefold() for h in next(reader)]
    wanted = [column.strip().casefold()] if column else list(COLUMN_ALIASES)
    index = next((header.index(w) for w in wanted if w in header), None)
    if index is None and not column and len(header) == 1:
        index = 0
    if index is None:
        listed = ", ".join(repr(h) for h in header)
        raise InputError(f"{name} has no column {column or DEFAULT_COLUMN!r}; columns found: {listed} "
                         "(choose one with --column)")
    yield from (dropped("binary") for _ in range(binary))
    try:
        for row in reader:
            yield kept(row[index] if index < len(row) else None)
    except csv.Error:
        yield dropped("unreadable")


def parquet_column(files: list[Path], column: str | None) -> str:
    """The column of the Parquet files holding the affiliations (the first file's schema decides)."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(files[0]).names
    except Exception as err:  # noqa: BLE001 - pyarrow raises several kinds for a broken file
        raise InputError(f"{files[0]} is not a readable Parquet file ({err})") from None
    folded = {n.strip().casefold(): n for n in names}
    for want in [column] if column else COLUMN_ALIASES:
        if want.strip().casefold() in folded:
            return folded[want.strip().casefold()]
    raise InputError(f"{files[0]} has no column {column or DEFAULT_COLUMN!r}; columns found: "
                     f"{', '.join(repr(n) for n in names)} (choose one with --column)")

"""Reading affiliation strings in: pasted text and uploaded files (.txt .csv .tsv .xlsx .jsonl .json).

Every reader ends in the same place, :class:`IntakeResult`: the unique strings in input
order, how often each occurred, and plain sentences saying what was kept, folded, dropped
or cut. Whatever a file holds, the reader either returns that or raises
:class:`~affiliation_curator.errors.InputError` with a message naming the problem.

Cleaning is deliberately light, so a string stays the text its author wrote: surrounding
whitespace is trimmed, line breaks and tabs inside a string become one space, other control
characters are removed, and strings longer than ``config.MAX_AFFILIATION_CHARS`` are cut.
Markup such as ``<script>`` is ordinary text here; the UI shows it as text.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from affiliation_curator import config
from affiliation_curator.errors import ColumnChoiceNeeded, InputError

SUPPORTED_SUFFIXES = (".txt", ".csv", ".tsv", ".xlsx", ".jsonl", ".json")
DEFAULT_COLUMN = "affiliation"
# Header names taken for the affiliation column when no column is chosen (compared case-insensitively).
COLUMN_ALIASES = ("affiliation", "affiliations", "affiliation_string", "raw_affiliation", "raw_affiliation_string")

_BREAKS = re.compile(r"\s*[\r\n\t\v\f\u2028\u2029\x85]+\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class IntakeResult:
    """Affiliations ready for a batch: unique strings in input order with their counts."""

    strings: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    dropped_blank: int = 0  # blank lines / empty cells skipped
    duplicates: int = 0  # repeated strings folded into the first occurrence
    truncated: int = 0  # strings cut to config.MAX_AFFILIATION_CHARS
    column: str | None = None  # the column read (tables and JSON objects)
    columns: list[str] = field(default_factory=list)  # every column found
    messages: list[str] = field(default_factory=list)  # plain sentences for the user

    def __len__(self) -> int:
        return len(self.strings)

    @property
    def rows(self) -> int:
        """Non-blank rows read (unique strings plus folded duplicates)."""
        return len(self.strings) + self.duplicates


def clean(text: str) -> str:
    """Trim, turn internal line breaks/tabs into one space, drop other control characters."""
    text = _BREAKS.sub(" ", text.strip())
    return _CONTROL.sub("", text).strip()


class _Collector:
    """Folds raw values into an IntakeResult, enforcing the row and length limits."""

    def __init__(self) -> None:
        self.result = IntakeResult()

    def add(self, value: object) -> None:
        if value is None:
            self.result.dropped_blank += 1
            return
        text = clean(value if isinstance(value, str) else _cell_text(value))
        if not text:
            self.result.dropped_blank += 1
            return
        if len(text) > config.MAX_AFFILIATION_CHARS:
            text = text[: config.MAX_AFFILIATION_CHARS].rstrip()
            self.result.truncated += 1
        counts = self.result.counts
        if text in counts:
            counts[text] += 1
            self.result.duplicates += 1
            return
        if len(self.result.strings) >= config.MAX_BATCH_ROWS:
            raise InputError(
                f"too many affiliations: more than {config.MAX_BATCH_ROWS:,} different strings in one batch; "
                "split the input into smaller files"
            )
        counts[text] = 1
        self.result.strings.append(text)

    def finish(self, what: str) -> IntakeResult:
        result = self.result
        if not result.strings:
            blank = f" ({_plural(result.dropped_blank, 'blank line')} only)" if result.dropped_blank else ""
            raise InputError(f"no affiliations found in {what}{blank}")
        parts = [f"Kept {_plural(len(result.strings), 'affiliation')}"]
        if result.duplicates:
            parts.append(f"folded {_plural(result.duplicates, 'duplicate')}")
        if result.dropped_blank:
            parts.append(f"dropped {_plural(result.dropped_blank, 'blank line' if result.column is None else 'blank cell')}")
        if result.truncated:
            parts.append(
                f"cut {_plural(result.truncated, 'string')} longer than {config.MAX_AFFILIATION_CHARS:,} characters"
            )
        result.messages.insert(0, "; ".join(parts))
        return result


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _cut_cell(value: object) -> object:
    """A cell as read, long text cut at once (one past the limit, so the collector still notes the cut)."""
    if isinstance(value, str) and len(value) > config.MAX_AFFILIATION_CHARS + 1:
        return value[: config.MAX_AFFILIATION_CHARS + 1]
    return value


def _cell_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- decoding


def decode(data: bytes, name: str = "the input") -> str:
    """Bytes to text: UTF-8 (with or without BOM) or UTF-16 with a BOM; else InputError."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as err:
            raise InputError(f"{name} starts like UTF-16 text but is not valid UTF-16 ({err.reason})") from None
        if "\x00" in text:
            raise InputError(f"{name} starts like UTF-16 text but contains NUL characters; it looks binary")
        return text
    if data.startswith(b"PK\x03\x04"):
        raise InputError(f"{name} is a zip or Office file, not text; upload spreadsheets as .xlsx")
    if b"\x00" in data[:65536]:
        raise InputError(f"{name} looks like a binary file (it contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{name} is not UTF-8 text (byte 0x{data[err.start]:02x} at position {err.start:,} is invalid); "
            "save it as UTF-8 and try again"
        ) from None


def _text_lines(text: str) -> list[str]:
    # str.splitlines also splits on \x1c-\x1e and \x0b/\x0c; stick to real line ends.
    return re.split(r"\r\n|\r|\n", text)


# --------------------------------------------------------------------------- public API


def parse_paste(text: str) -> IntakeResult:
    """Pasted text: one affiliation a line."""
    if not isinstance(text, str):
        raise InputError("expected text to paste")
    if not text.strip():
        raise InputError("nothing to match: the pasted text is empty")
    if "\x00" in text:
        raise InputError("the pasted text contains NUL characters; it looks like binary data")
    collector = _Collector()
    lines = _text_lines(text)
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        collector.add(line)
    return collector.finish("the pasted text")


def read_affiliations(source: Path | str | bytes, filename: str | None = None, column: str | None = None) -> IntakeResult:
    """Read an uploaded or local file; the format follows ``filename``'s ending.

    ``source`` is a path or the file's bytes (an upload). ``column`` picks the column of a
    table or the field of JSON objects; by default ``affiliation``, else the only text column.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        filename = filename or path.name
        if not path.is_file():
            raise InputError(f"file not found: {path}")
        try:
            data = path.read_bytes()
        except OSError as err:
            raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        raise InputError("expected a file path or the bytes of an uploaded file")
    filename = filename or "upload.txt"
    suffix = Path(filename).suffix.lower() or ".txt"
    name = Path(filename).name or "the file"
    if not data or not data.strip():
        raise InputError(f"{name} is empty")
    if suffix in (".xls", ".xlsm", ".ods", ".numbers"):
        raise InputError(f"{name}: {suffix} files are not supported; save the sheet as .xlsx or .csv")
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(f"{name}: unsupported file type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    if suffix == ".xlsx":
        return _read_xlsx(data, name, column)
    text = decode(data, name)
    if suffix == ".txt":
        if column:
            raise InputError(f"{name} is plain text (one affiliation a line); it has no columns to choose from")
        collector = _Collector()
        lines = _text_lines(text)
        if lines and lines[-1] == "":
            lines.pop()
        for line in lines:
            collector.add(line)
        return collector.finish(name)
    if suffix in (".csv", ".tsv"):
        return _read_delimited(text, name, column, "\t" if suffix == ".tsv" else None)
    if suffix == ".jsonl":
        return _read_jsonl(text, name, column)
    return _read_json(text, name, column)


# --------------------------------------------------------------------------- tables


def _pick_column(header: list[str], rows: list[list[object]], column: str | None, name: str) -> int:
    """Index of the affiliation column; InputError listing the columns when unclear."""
    listed = ", ".join(repr(h) for h in header) or "(none)"
    folded = [h.strip().casefold() for h in header]
    if column:
        want = column.strip().casefold()
        if want in folded:
            return folded.index(want)
        raise InputError(f"{name} has no column {column!r}; columns found: {listed}")
    for alias in COLUMN_ALIASES:
        if alias in folded:
            return folded.index(alias)
    text_columns = [i for i in range(len(header)) if _is_text_column([r[i] if i < len(r) else None for r in rows])]
    if len(text_columns) == 1:
        return text_columns[0]
    error = ColumnChoiceNeeded if text_columns else InputError
    raise error(
        f"{name} has no 'affiliation' column and "
        + ("no column of text" if not text_columns else "several text columns")
        + f" (the first row is read as the header); choose one of: {listed}"
    )


def _is_text_column(values: list[object]) -> bool:
    present = [v for v in values[:1000] if v is not None and str(v).strip()]
    if not present:
        return False
    texty = sum(1 for v in present if isinstance(v, str) and not _looks_numeric(v))
    return texty >= max(1, len(present) // 2)


def _looks_numeric(value: str) -> bool:
    try:
        float(value.strip().replace(",", ""))
    except ValueError:
        return False
    return True


def _collect_table(header: list[str], rows: list[list[object]], column: str | None, name: str) -> IntakeResult:
    header = [_cell_text(h).strip() if h is not None else "" for h in header]
    index = _pick_column(header, rows, column, name)
    collector = _Collector()
    collector.result.column = header[index]
    collector.result.columns = header
    for row in rows:
        collector.add(row[index] if index < len(row) else None)
    result = collector.finish(f"column {header[index]!r} of {name}")
    if len(header) > 1:
        result.messages.append(f"Read column {header[index]!r} (columns: {', '.join(header)})")
    return result


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_delimited(text: str, name: str, column: str | None, delimiter: str | None) -> IntakeResult:
    lines = _text_lines(text)
    first = next((line for line in lines if line.strip()), "")
    delimiter = delimiter or _sniff_delimiter(first)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
        table = [row for row in reader]
    except csv.Error as err:
        raise InputError(f"{name} is not a readable {'TSV' if delimiter == chr(9) else 'CSV'} file ({err})") from None
    while table and not any(cell.strip() for cell in table[0]):
        table.pop(0)
    if not table:
        raise InputError(f"{name} has no rows")
    header, rows = table[0], table[1:]
    if len(header) == 1 and any(len(row) > 1 for row in rows):
        # A one-column file with unquoted delimiters inside strings: take each line whole.
        rows = [[_whole_line(line, delimiter)] for line in _data_lines(text, first)]
    if not rows:
        raise InputError(f"{name} has a header row ({', '.join(header)}) but no data rows")
    return _collect_table(header, rows, column, name)


def _data_lines(text: str, first: str) -> list[str]:
    lines = _text_lines(text)
    out = lines[lines.index(first) + 1 :]
    if out and out[-1] == "":
        out.pop()
    return out


def _whole_line(line: str, delimiter: str) -> str:
    parsed = next(csv.reader([line], delimiter=delimiter), [])
    return parsed[0] if len(parsed) == 1 else line


def check_xlsx_budget(data: bytes, name: str) -> None:
    """Refuse a workbook that would unpack to more than ``config.MAX_XLSX_UNPACKED_BYTES``.

    Checked from the zip's own member sizes before anything is decompressed or parsed, so a
    small file that unpacks to hundreds of megabytes of sheet XML costs nothing.
    """
    if not data.startswith(b"PK"):
        raise InputError(f"{name} is not an Excel .xlsx file (it is not a zip archive)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(max(0, info.file_size) for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise InputError(f"{name} is not a readable .xlsx file ({type(err).__name__}: {err})") from None
    if unpacked > config.MAX_XLSX_UNPACKED_BYTES:
        raise InputError(
            f"{name} unpacks to {unpacked / 1024**2:,.0f} MB, more than the "
            f"{config.MAX_XLSX_UNPACKED_BYTES / 1024**2:,.0f} MB a workbook may hold here; "
            "save the sheet with the affiliation column alone, or as .csv"
        )


def open_xlsx(data: bytes, name: str):  # noqa: ANN201 - an openpyxl read-only workbook
    """The workbook of an .xlsx upload, read-only (streamed) and within the unpacked-size budget."""
    import openpyxl

    check_xlsx_budget(data, name)
    return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)


def _read_xlsx(data: bytes, name: str, column: str | None) -> IntakeResult:
    check_xlsx_budget(data, name)
    try:
        workbook = open_xlsx(data, name)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError, IndexError) as err:
        raise InputError(f"{name} is not a readable .xlsx file ({type(err).__name__}: {err})") from None
    except Exception as err:  # openpyxl raises a zoo of errors on corrupt workbooks
        raise InputError(f"{name} is not a readable .xlsx file ({type(err).__name__})") from None
    try:
        if not workbook.worksheets:
            raise InputError(f"{name} has no sheets")
        sheet = workbook.worksheets[0]
        table: list[list[object]] = []
        try:
            for row in sheet.iter_rows(max_col=config.MAX_XLSX_COLUMNS, values_only=True):
                values = [_cut_cell(v) for v in row]
                if not table and not any(v is not None and str(v).strip() for v in values):
                    continue  # leading empty rows
                table.append(values)
                if len(table) > config.MAX_BATCH_ROWS * 4:
                    raise InputError(
                        f"too many rows in {name}: more than {config.MAX_BATCH_ROWS:,} affiliations in one batch; "
                        "split the sheet into smaller files"
                    )
        except InputError:
            raise
        except Exception as err:
            raise InputError(f"{name}: the first sheet could not be read ({type(err).__name__})") from None
    finally:
        workbook.close()
    if not table:
        raise InputError(f"{name}: the first sheet ({sheet.title!r}) has no rows")
    header, rows = table[0], table[1:]
    while header and (header[-1] is None or not str(header[-1]).strip()):
        header = header[:-1]
    if not rows:
        raise InputError(f"{name}: the first sheet has a header row but no data rows")
    header = [h if h is not None and str(h).strip() else f"column {i + 1}" for i, h in enumerate(header)]
    return _collect_table([_cell_text(h) for h in header], rows, column, name)


# --------------------------------------------------------------------------- JSON


def _json_value(obj: object, column: str | None, where: str, keys_seen: set[str]) -> object:
    if isinstance(obj, str) and not column:
        return obj
    if isinstance(obj, dict):
        keys_seen.update(str(k) for k in obj)
        wanted = [column] if column else list(COLUMN_ALIASES)
        for key in obj:
            if str(key).strip().casefold() in (w.strip().casefold() for w in wanted):
                value = obj[key]
                if value is None or isinstance(value, (str, int, float)):
                    return value
                raise InputError(f"{where}: field {key!r} holds {type(value).__name__}, not text")
        fields = ", ".join(repr(k) for k in obj) or "(none)"
        raise InputError(f"{where}: no field {column or DEFAULT_COLUMN!r}; fields found: {fields}")
    raise InputError(
        f"{where}: expected a JSON object with an {column or DEFAULT_COLUMN!r} field"
        + ("" if column else " or a JSON string")
        + f", found {type(obj).__name__}"
    )


def _read_jsonl(text: str, name: str, column: str | None) -> IntakeResult:
    collector = _Collector()
    keys: set[str] = set()
    chosen = column or DEFAULT_COLUMN
    lines = _text_lines(text)
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            collector.result.dropped_blank += 1
            continue
        try:
            obj = json.loads(line)
        except ValueError as err:
            raise InputError(f"{name} line {number} is not valid JSON ({err.msg} at column {err.colno})") from None
        collector.add(_json_value(obj, column, f"{name} line {number}", keys))
    collector.result.column = chosen if keys else None
    collector.result.columns = sorted(keys)
    return collector.finish(name)


def _read_json(text: str, name: str, column: str | None) -> IntakeResult:
    try:
        data = json.loads(text)
    except ValueError as err:
        raise InputError(f"{name} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InputError(f"{name}: expected a JSON array of strings or of objects with an 'affiliation' field")
        data = lists[0]
    if not isinstance(data, list):
        raise InputError(f"{name}: expected a JSON array, found {type(data).__name__}")
    collector = _Collector()
    keys: set[str] = set()
    for number, obj in enumerate(data, 1):
        collector.add(_json_value(obj, column, f"{name} item {number}", keys))
    collector.result.column = (column or DEFAULT_COLUMN) if keys else None
    collector.result.columns = sorted(keys)
    return collector.finish(name)

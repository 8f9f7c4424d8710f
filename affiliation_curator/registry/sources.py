"""Opening a registry file: format sniffing, zip/gzip unpacking, size limits, UTF-8 decoding.

Everything here streams: a file is read in chunks of :data:`CHUNK_BYTES`, so a full ROR dump
(~1 GB of JSON unpacked) never sits in memory as one string.

Limits (checked before and while reading):
- the file itself may be at most ``config.MAX_REGISTRY_FILE_BYTES`` (2 GiB);
- what it unpacks to (zip member or gzip stream) may be at most the same number of bytes,
  whatever the archive declares (zip-bomb protection: reading stops at the limit).
"""

from __future__ import annotations

import codecs
import gzip
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from affiliation_curator import config
from affiliation_curator.errors import RegistryImportError

CHUNK_BYTES = 1 << 20

ProgressFn = Callable[[float, str], None]
"""``progress(fraction, message)``: fraction of the file read so far (0-1) and what is going on."""


def human_bytes(size: int) -> str:
    """``1.5 MB``-style size for messages."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


@dataclass
class Opened:
    """A registry file opened for reading: its content kind and a chunk iterator over its bytes."""

    label: str  # what messages call it: "x.zip" or "x.zip:member.json"
    kind: str  # "json" or "csv"
    container: str  # "zip", "gzip" or "plain"
    member: str | None  # the zip member read, if any
    chunks: Iterator[bytes]
    position: Callable[[], float]  # fraction of the file consumed so far


_VERSION = re.compile(r"v(\d+(?:\.\d+)+)-(\d{4}-\d{2}-\d{2})")


def version_from_name(*names: str | None) -> str | None:
    """``v2.9-2026-06-23`` from a ROR dump file name such as ``v2.9-2026-06-23-ror-data.zip``."""
    for name in names:
        if name:
            match = _VERSION.search(Path(name).name)
            if match:
                return f"v{match.group(1)}-{match.group(2)}"
    return None


def _limit() -> int:
    return int(config.MAX_REGISTRY_FILE_BYTES)


def _check_file(path: Path) -> int:
    if not path.exists():
        raise RegistryImportError(f"{path}: no such file")
    if not path.is_file():
        raise RegistryImportError(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise RegistryImportError(f"{path.name}: the file is empty (0 bytes); no records to import")
    limit = _limit()
    if size > limit:
        raise RegistryImportError(
            f"{path.name}: the file is too large ({human_bytes(size)}; the limit is {human_bytes(limit)})"
        )
    return size


def _text_kind(head: bytes, label: str, suffixes: list[str]) -> str:
    """``json`` or ``csv`` for the first bytes of a text file; rejects binary data."""
    sample = head[:8192]
    nul = sample.find(b"\x00")
    if nul >= 0:
        raise RegistryImportError(f"{label}: binary data (a NUL byte at byte offset {nul}), not JSON or CSV text")
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    if sample and controls > len(sample) * 0.05:
        raise RegistryImportError(f"{label}: binary data, not JSON or CSV text")
    if suffixes and suffixes[-1] in ("json", "csv"):
        return suffixes[-1]
    stripped = sample.lstrip(b"\xef\xbb\xbf").lstrip()
    return "json" if stripped[:1] in (b"[", b"{") else "csv"


def _counted(chunks: Iterator[bytes], label: str, limit: int) -> Iterator[bytes]:
    """Pass chunks through, stopping with a clear message once more than ``limit`` bytes came out."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise RegistryImportError(
                f"{label}: unpacks to more than {human_bytes(limit)} (the limit); "
                "refusing it (corrupt or a zip bomb?)"
            )
        yield chunk


def _read_chunks(stream: IO[bytes], label: str, on_close: Callable[[], None]) -> Iterator[bytes]:
    try:
        while True:
            try:
                chunk = stream.read(CHUNK_BYTES)
            except (zipfile.BadZipFile, zlib.error, EOFError, gzip.BadGzipFile) as err:
                raise RegistryImportError(f"{label}: corrupt or truncated compressed data ({err})") from None
            except NotImplementedError as err:
                raise RegistryImportError(f"{label}: unsupported compression ({err})") from None
            if not chunk:
                return
            yield chunk
    finally:
        on_close()


def _pick_member(archive: zipfile.ZipFile, label: str) -> tuple[zipfile.ZipInfo, str]:
    infos = [
        info
        for info in archive.infolist()
        if not info.is_dir() and not info.filename.startswith("__MACOSX/") and not Path(info.filename).name.startswith("._")
    ]

    def best(suffix: str) -> zipfile.ZipInfo | None:
        found = [i for i in infos if i.filename.lower().endswith(suffix)]
        if not found:
            return None
        # ROR dumps v1.45-v1.74 hold schema-1 and schema-2 files; the schema-2 ones end in _schema_v2.
        v2 = [i for i in found if "schema_v2" in i.filename.lower()]
        return max(v2 or found, key=lambda i: i.file_size)

    info = best(".json")
    kind = "json"
    if info is None:
        info, kind = best(".csv"), "csv"
    if info is None:
        listing = ", ".join(i.filename for i in infos[:10]) or "nothing"
        raise RegistryImportError(f"{label}: the zip holds no .json or .csv file (found: {listing})")
    if info.flag_bits & 0x1:
        raise RegistryImportError(f"{label}: {info.filename} is encrypted; unpack it and import the file itself")
    if info.file_size == 0:
        raise RegistryImportError(f"{label}: {info.filename} is empty (0 bytes); no records to import")
    if info.file_size > _limit():
        raise RegistryImportError(
            f"{label}: {info.filename} unpacks to {human_bytes(info.file_size)}, over the limit of "
            f"{human_bytes(_limit())}"
        )
    return info, kind


def open_registry_file(path: Path) -> Opened:
    """Open ``path`` (zip, gzip or plain JSON/CSV) for streaming; raises RegistryImportError."""
    size = _check_file(path)
    limit = _limit()
    with open(path, "rb") as fh:
        head = fh.read(8192)
    suffixes = [s.lower().lstrip(".") for s in path.suffixes]
    label = path.name

    if head.startswith(b"PK"):
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as err:
            raise RegistryImportError(f"{label}: not a valid zip archive (corrupt or truncated: {err})") from None
        try:
            info, kind = _pick_member(archive, label)
            try:
                stream = archive.open(info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, zlib.error) as err:
                raise RegistryImportError(f"{label}: cannot read {info.filename} ({err})") from None
        except BaseException:
            archive.close()
            raise
        member_label = f"{label}:{info.filename}"
        total = max(info.file_size, 1)
        read = [0]

        def close() -> None:
            stream.close()
            archive.close()

        def counting() -> Iterator[bytes]:
            for chunk in _read_chunks(stream, member_label, close):
                read[0] += len(chunk)
                yield chunk

        return Opened(
            member_label, kind, "zip", info.filename, _counted(counting(), member_label, limit),
            lambda: min(read[0] / total, 1.0),
        )
    if suffixes and suffixes[-1] == "zip":
        raise RegistryImportError(f"{label}: not a valid zip archive (it does not start like one: corrupt or misnamed)")

    if head.startswith(b"\x1f\x8b"):
        raw = open(path, "rb")  # noqa: SIM115 - closed by the chunk iterator
        gz = gzip.GzipFile(fileobj=raw, mode="rb")
        try:
            inner_head = gz.read(8192)
        except (OSError, EOFError, zlib.error) as err:
            gz.close()
            raw.close()
            raise RegistryImportError(f"{label}: corrupt gzip data ({err})") from None
        inner_suffixes = suffixes[:-1] if suffixes and suffixes[-1] == "gz" else suffixes
        kind = _text_kind(inner_head, label, inner_suffixes)

        def close_gz() -> None:
            gz.close()
            raw.close()

        def gz_chunks() -> Iterator[bytes]:
            yield inner_head
            yield from _read_chunks(gz, label, close_gz)

        return Opened(
            label, kind, "gzip", None, _counted(gz_chunks(), label, limit),
            lambda: min(raw.tell() / size, 1.0) if not raw.closed else 1.0,
        )
    if suffixes and suffixes[-1] == "gz":
        raise RegistryImportError(f"{label}: not valid gzip data (corrupt or misnamed)")

    kind = _text_kind(head, label, suffixes)
    fh = open(path, "rb")  # noqa: SIM115 - closed by the chunk iterator
    return Opened(
        label, kind, "plain", None, _read_chunks(fh, label, fh.close),
        lambda: min(fh.tell() / size, 1.0) if not fh.closed else 1.0,
    )


def decode_utf8(chunks: Iterator[bytes], label: str) -> Iterator[str]:
    """UTF-8 text (a leading BOM dropped) from byte chunks; non-UTF-8 bytes raise with their position."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    consumed = 0
    first = True
    for chunk in chunks:
        if first:
            first = False
            if chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
                consumed = len(codecs.BOM_UTF8)
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as err:
            offset = consumed - pending + err.start
            bad = err.object[err.start : err.start + 1].hex().upper()
            raise RegistryImportError(
                f"{label}: not UTF-8 text (byte 0x{bad} at byte offset {offset}); save the file as UTF-8"
            ) from None
        consumed += len(chunk)
        if text:
            yield text
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise RegistryImportError(f"{label}: not UTF-8 text (the file ends inside a character)") from None
    if tail:
        yield tail

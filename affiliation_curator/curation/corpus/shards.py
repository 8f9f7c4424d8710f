"""Result shards of a corpus run: names, atomic writes, reading back.

The unique strings of a corpus are split into ``n`` shards by a stable hash of the string
(``shard_of``), so the same input always puts the same string in the same shard, and a
shard's file name (``part-00007-of-00032.parquet``) says all of it. A shard is written to a
temporary file beside its final name and renamed when complete (``write_shard``), so a
file under its final name is always whole: a resumed run skips it, and a retried task
(a worker killed mid-shard) simply writes the same file again.

Rows, in the order of the strings (sorted), in both formats: ``affiliation``, ``count``
(occurrences in the corpus), ``candidates`` ([{id, name, score}], best first), ``match``
(id or null), ``top_score`` and ``second_score`` (null without candidates): the fields of
the single-process ``match`` line plus what ranking a review batch needs.
"""

from __future__ import annotations

import json
import os
import re
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMATS = ("parquet", "jsonl")
_NAME = re.compile(r"^part-(\d{5,})-of-(\d{5,})\.(parquet|jsonl)$")


def shard_of(text: str, n_shards: int) -> int:
    """The shard of a string: CRC-32 of its UTF-8 bytes modulo ``n_shards`` (stable across runs and machines)."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass")) % max(1, n_shards)


def shard_name(shard: int, n_shards: int, fmt: str) -> str:
    return f"part-{shard:05d}-of-{n_shards:05d}.{fmt}"


def finished_shards(folder: Path, n_shards: int, fmt: str) -> set[int]:
    """Shards of this layout already complete in ``folder`` (only whole files carry the final name)."""
    if not folder.is_dir():
        return set()
    done = set()
    for path in folder.iterdir():
        m = _NAME.match(path.name)
        if m and int(m.group(2)) == n_shards and m.group(3) == fmt:
            done.add(int(m.group(1)))
    return done


def shard_files(folder: Path) -> list[Path]:
    """Every complete shard file in ``folder``, in shard order."""
    return sorted(p for p in folder.iterdir() if _NAME.match(p.name)) if folder.is_dir() else []


def write_shard(folder: Path, shard: int, n_shards: int, fmt: str, rows: list[dict[str, Any]]) -> Path:
    """Write a shard atomically (temporary file, fsync, rename); returns its path."""
    final = folder / shard_name(shard, n_shards, fmt)
    tmp = folder / f".{final.name}.{uuid.uuid4().hex}.tmp"
    try:
        if fmt == "parquet":
            _write_parquet(tmp, rows)
        else:
            with tmp.open("w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    candidate = pa.struct([("id", pa.string()), ("name", pa.string()), ("score", pa.float64())])
    schema = pa.schema([
        ("affiliation", pa.string()), ("count", pa.int64()), ("candidates", pa.list_(candidate)),
        ("match", pa.string()), ("top_score", pa.float64()), ("second_score", pa.float64()),
    ])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def read_shard(path: Path, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The rows of one shard file (all fields, or ``columns``)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        yield from pq.read_table(path, columns=columns).to_pylist()
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            yield {k: row.get(k) for k in columns} if columns else row


def shard_rows(path: Path) -> int:
    """How many strings a shard holds (Parquet metadata, or its lines)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as fh:
        return sum(1 for _ in fh)

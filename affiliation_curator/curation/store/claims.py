"""Who ranks a batch: one claim per batch across every process that shares the database.

Two app processes (or an app and the CLI) ranking one batch would both write candidates for
the same items. A claim makes one of them the ranker; the other waits and takes over only when
the claim is let go, which a dying process does too:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a connection of
  its own; the server drops it when that connection closes, a crashed process included.
- SQLite file: an ``flock`` on a small lock file per batch beside the database (SQLite is a
  file on this machine, so every process using it sees the same lock); the kernel drops it
  when the process ends.
- SQLite in memory: one process only, so a lock within the process.

No schema change is needed and no claim can go stale.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

_PG_NAMESPACE = 0x41_43  # "AC": the first key of the two-key advisory lock; the batch id is the second
_LOCAL: set[tuple[str, int]] = set()  # claims held in this process (in-memory SQLite)
_LOCAL_LOCK = threading.Lock()


@contextmanager
def ranking_claim(engine: Engine, batch_id: int) -> Iterator[bool]:
    """Try to claim the ranking of ``batch_id``; yields True when held (released on exit), else False."""
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        with _pg_claim(engine, batch_id) as held:
            yield held
    elif backend == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with _file_claim(Path(engine.url.database), batch_id) as held:
            yield held
    else:
        with _local_claim(str(engine.url), batch_id) as held:
            yield held


@contextmanager
def _pg_claim(engine: Engine, batch_id: int) -> Iterator[bool]:
    conn = engine.connect()
    try:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:ns, :id)"), {"ns": _PG_NAMESPACE, "id": batch_id}).scalar())
        conn.commit()  # the lock is the session's, not the transaction's: no transaction stays open
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:ns, :id)"), {"ns": _PG_NAMESPACE, "id": batch_id})
                conn.commit()
    finally:
        conn.close()


@contextmanager
def _file_claim(database: Path, batch_id: int) -> Iterator[bool]:
    folder = database.expanduser().parent / f"{database.name}.ranking-locks"
    folder.mkdir(parents=True, exist_ok=True)
    # the file is never removed: removing a lock file while others may hold it open breaks flock
    fd = os.open(folder / f"batch-{int(batch_id)}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _local_claim(url: str, batch_id: int) -> Iterator[bool]:
    key = (url, batch_id)
    with _LOCAL_LOCK:
        held = key not in _LOCAL
        if held:
            _LOCAL.add(key)
    try:
        yield held
    finally:
        if held:
            with _LOCAL_LOCK:
                _LOCAL.discard(key)

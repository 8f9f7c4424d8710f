"""One SQLAlchemy Engine per database URL for the whole process (Streamlit reruns reuse it).

SQLite gets WAL mode (readers never block the writer), foreign keys, a generous busy
timeout, and explicit ``BEGIN`` statements so that transactions (DDL included) behave as on
other databases; write transactions start with ``BEGIN IMMEDIATE`` (execution option
``sqlite_immediate``) so two writers queue instead of failing halfway.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from affiliation_curator.errors import CuratorError

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


def get_engine(url: str) -> Engine:
    """The process-wide Engine for ``url`` (created on first use)."""
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = _create(url)
        return engine


def forget_engine(url: str) -> None:
    """Drop one cached Engine (after it failed to open its database)."""
    with _LOCK:
        engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


def dispose_engines() -> None:
    """Close every pooled connection (tests; a process about to exit)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def _create(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CuratorError(f"not a database URL: {url!r} (e.g. sqlite:///path/curator.db or postgresql://...)") from None
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(parsed, pool_pre_ping=True)
        except Exception as err:  # missing driver and the like
            raise CuratorError(f"cannot use database {parsed.render_as_string(hide_password=True)}: {err}") from None
    memory = parsed.database in (None, "", ":memory:")
    if not memory:
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        parsed,
        connect_args={"check_same_thread": False, "timeout": 30},
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # noqa: ANN001
        immediate = connection.get_execution_options().get("sqlite_immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine

"""Schema migrations: an ordered list of steps keyed by schema version, applied on open.

Each step runs in its own transaction together with the row recording it in
``schema_version``, so a failed step leaves the database at the previous version. Migration 1
is the baseline schema, frozen here as it was first released (it must never change); later
steps change it. To change the schema: add a step with the next number and update
``models.py`` to match (``tests/curation/test_store.py`` checks that they agree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    inspect,
    text,
)

from affiliation_curator.errors import CuratorError
from affiliation_curator.curation.store.models import SchemaVersion, UTCDateTime


class StoreError(CuratorError):
    """The store cannot do what was asked (unknown item, bad action, database too new...)."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _baseline(conn: Connection) -> None:
    """Version 1: batches, items, candidates, undo groups, decisions (frozen; never edit)."""
    md = MetaData()
    Table(
        "schema_version", md,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("applied_at", UTCDateTime),
        Column("description", Text),
    )
    Table(
        "batches", md,
        Column("id", Integer, primary_key=True),
        Column("name", String(200), nullable=False, unique=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("source", Text),
        Column("registry_name", String(200)),
        Column("registry_version", String(200)),
        Column("model_id", String(500)),
    )
    Table(
        "items", md,
        Column("id", Integer, primary_key=True),
        Column("batch_id", Integer, ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
        Column("position", Integer, nullable=False),
        Column("affiliation", Text, nullable=False),
        Column("affiliation_hash", String(40), nullable=False),
        Column("count", Integer, nullable=False),
        Column("ranked_at", UTCDateTime),
        Column("model_id", String(500)),
        Column("registry_version", String(200)),
        Column("threshold", Float),
        Column("top_score", Float),
        Column("second_score", Float),
        Column("notes", JSON),
        UniqueConstraint("batch_id", "affiliation_hash", name="uq_items_batch_hash"),
    )
    Table(
        "candidates", md,
        Column("id", Integer, primary_key=True),
        Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        Column("rank", Integer, nullable=False),
        Column("institution_id", String(200), nullable=False),
        Column("name", Text, nullable=False),
        Column("score", Float, nullable=False),
        Column("retrieval_score", Float),
        Column("document", Text),
        Column("city", Text),
        Column("country_code", String(8)),
        Column("country_name", Text),
        Column("types", JSON),
        Column("status", String(20)),
        Column("evidence", JSON),
        Column("model_id", String(500)),
        Column("registry_version", String(200)),
        UniqueConstraint("item_id", "rank", name="uq_candidates_item_rank"),
    )
    Table(
        "undo_groups", md,
        Column("id", Integer, primary_key=True),
        Column("batch_id", Integer, ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
        Column("kind", String(20), nullable=False),
        Column("description", Text),
        Column("curator", String(200)),
        Column("created_at", UTCDateTime, nullable=False),
        Column("undone_at", UTCDateTime),
    )
    Table(
        "decisions", md,
        Column("id", Integer, primary_key=True),
        Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        Column("action", String(10), nullable=False),
        Column("institution_id", String(200)),
        Column("institution_name", Text),
        Column("document", Text),
        Column("score", Float),
        Column("curator", String(200), nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("undo_group", Integer, ForeignKey("undo_groups.id", ondelete="SET NULL")),
        Column("undone_at", UTCDateTime),
    )
    md.create_all(conn)


def _seconds_spent(conn: Connection) -> None:
    """Version 2: how long the curator looked at an item before deciding (for throughput)."""
    conn.execute(text("ALTER TABLE decisions ADD COLUMN seconds_spent FLOAT"))


def _indexes(conn: Connection) -> None:
    """Version 3: indexes for the review queue, current-decision look-ups and undo."""
    for statement in (
        "CREATE INDEX IF NOT EXISTS ix_items_batch_position ON items (batch_id, position)",
        "CREATE INDEX IF NOT EXISTS ix_decisions_item ON decisions (item_id, id)",
        "CREATE INDEX IF NOT EXISTS ix_decisions_group ON decisions (undo_group)",
        "CREATE INDEX IF NOT EXISTS ix_undo_groups_batch ON undo_groups (batch_id, id)",
    ):
        conn.execute(text(statement))


def _team(conn: Connection) -> None:
    """Version 4: team curation. Every decision stays; each curator's decisions are their own.

    - ``decisions.method``: how a decision was made (key, search, bulk, import, resolution),
      filled in for existing decisions from their undo group's kind;
    - index on (item, curator) for each curator's current decision;
    - ``users``: the app's own user list (name, role, salted password hash, disabled);
    - ``batch_sharing``: how a lead shares a batch (everyone sees all, or split between named
      curators with a share labelled twice); ``item_coverage``: how many curators an item needs;
    - ``item_claims``: who is looking at an item now (claims expire).
    """
    conn.execute(text("ALTER TABLE decisions ADD COLUMN method VARCHAR(20)"))
    conn.execute(text(
        "UPDATE decisions SET method = COALESCE((SELECT CASE undo_groups.kind WHEN 'decision' THEN 'key' "
        "WHEN 'bulk_accept' THEN 'bulk' ELSE undo_groups.kind END FROM undo_groups "
        "WHERE undo_groups.id = decisions.undo_group), 'key')"
    ))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_decisions_item_curator ON decisions (item_id, curator, id)"))
    md = MetaData()
    Table("batches", md, Column("id", Integer, primary_key=True))  # referenced only (they exist)
    Table("items", md, Column("id", Integer, primary_key=True))
    new = [Table(
        "users", md,
        Column("id", Integer, primary_key=True),
        Column("name", String(200), nullable=False, unique=True),
        Column("role", String(20), nullable=False),
        Column("password_hash", Text),
        Column("email", String(320)),
        Column("disabled", Integer, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
    ), Table(
        "batch_sharing", md,
        Column("batch_id", Integer, ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
        Column("mode", String(20), nullable=False),
        Column("double_share", Float, nullable=False),
        Column("curators", JSON),
        Column("claim_minutes", Float, nullable=False),
        Column("updated_by", String(200)),
        Column("updated_at", UTCDateTime, nullable=False),
    ), Table(
        "item_coverage", md,
        Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
        Column("batch_id", Integer, ForeignKey("batches.id", ondelete="CASCADE"), nullable=False),
        Column("needed", Integer, nullable=False),
    ), Table(
        "item_claims", md,
        Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
        Column("curator", String(200), primary_key=True),
        Column("expires_at", UTCDateTime, nullable=False),
    )]
    md.create_all(conn, tables=new)
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_item_coverage_batch ON item_coverage (batch_id)"))


def _also_accepted(conn: Connection) -> None:
    """Version 5: an accept may name several institutions (a string naming two of them): the
    ones beyond ``institution_id``, as a JSON list of {id, name, document, score}. Every existing
    decision is kept as it is (NULL: one institution, as before)."""
    conn.execute(text("ALTER TABLE decisions ADD COLUMN also_accepted JSON"))


def _sign_in_failures(conn: Connection) -> None:
    """Version 6: failed sign-ins (the name typed, lower-cased, and the browser session they came
    from), so that repeated wrong passwords lock further tries for a while on every app server
    sharing the database. Nothing existing changes."""
    md = MetaData()
    Table(
        "sign_in_failures", md,
        Column("id", Integer, primary_key=True),
        Column("name", String(200), nullable=False),
        Column("source", String(200), nullable=False),
        Column("failed_at", UTCDateTime, nullable=False),
    ).create(conn)
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_sign_in_failures_name ON sign_in_failures (name, failed_at)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_sign_in_failures_source ON sign_in_failures (source, failed_at)"))


def _sign_in_sessions(conn: Connection) -> None:
    """Version 7: sign-in sessions of the app's own user list, so a sign-in survives a page
    reload: the SHA-256 hash of a random token (the browser's cookie holds the token; the store
    never does), whose user, when it started, expires and was last used, and when it was ended.
    Nothing existing changes."""
    md = MetaData()
    Table(
        "sign_in_sessions", md,
        Column("id", Integer, primary_key=True),
        Column("token_hash", String(64), nullable=False, unique=True),
        Column("user_name", String(200), nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("expires_at", UTCDateTime, nullable=False),
        Column("last_seen_at", UTCDateTime, nullable=False),
        Column("revoked_at", UTCDateTime),
    ).create(conn)
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_sign_in_sessions_user ON sign_in_sessions (user_name)"))


MIGRATIONS: list[Migration] = [
    Migration(1, "baseline: batches, items, candidates, undo groups, decisions", _baseline),
    Migration(2, "decisions.seconds_spent", _seconds_spent),
    Migration(3, "indexes for the review queue and undo", _indexes),
    Migration(4, "team curation: decisions.method, users, batch sharing, coverage, claims", _team),
    Migration(5, "decisions.also_accepted: several accepted institutions per item", _also_accepted),
    Migration(6, "sign_in_failures: failed sign-ins, for the sign-in rate limit", _sign_in_failures),
    Migration(7, "sign_in_sessions: sign-ins that survive a page reload (token hashes only)", _sign_in_sessions),
]
LATEST_VERSION = MIGRATIONS[-1].version


def current_version(conn: Connection) -> int:
    """Schema version of a database (0: empty)."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(text("SELECT max(version) FROM schema_version")).scalar() or 0)


def migrate(engine: Engine, target: int | None = None) -> list[int]:
    """Apply the missing migrations up to ``target`` (default: all); returns the versions applied."""
    target = LATEST_VERSION if target is None else target
    applied: list[int] = []
    with engine.connect() as probe:
        version = current_version(probe)
        probe.rollback()
    if version > LATEST_VERSION:
        raise StoreError(
            f"the database {engine.url.render_as_string(hide_password=True)} has schema version {version}, "
            f"newer than this app knows ({LATEST_VERSION}); upgrade Affiliation Curator"
        )
    for migration in MIGRATIONS:
        if migration.version <= version or migration.version > target:
            continue
        with engine.connect().execution_options(sqlite_immediate=True) as conn:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(4711001)"))
                if current_version(conn) >= migration.version:
                    continue  # another process got there first
                migration.apply(conn)
                conn.execute(
                    insert(SchemaVersion.__table__).values(
                        version=migration.version, applied_at=datetime.now(timezone.utc), description=migration.description
                    )
                )
        applied.append(migration.version)
    return applied

"""ORM models of the store: the schema as it stands after the last migration.

The tables are created by the migrations (``migrations.py``), never by ``create_all`` on
these models; a test checks that a migrated database and these models agree.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ACTIONS = ("accept", "none", "skip", "reject")
METHODS = ("key", "search", "bulk", "import", "resolution")  # how a decision was made (migration 4)
ROLES = ("curator", "lead")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive text)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    description: Mapped[str] = mapped_column(Text, default="")


class Batch(Base):
    """A set of affiliation strings curated together."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(Text, default="")
    registry_name: Mapped[str] = mapped_column(String(200), default="")
    registry_version: Mapped[str] = mapped_column(String(200), default="")
    model_id: Mapped[str] = mapped_column(String(500), default="")


class Item(Base):
    """One unique affiliation string of a batch (``count``: how often it occurred in the input)."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    affiliation: Mapped[str] = mapped_column(Text)
    affiliation_hash: Mapped[str] = mapped_column(String(40))
    count: Mapped[int] = mapped_column(Integer, default=1)
    ranked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(500), nullable=True)
    registry_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    top_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    second_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    notes: Mapped[Any] = mapped_column(JSON, nullable=True)


class CandidateRow(Base):
    """A ranked candidate exactly as the curator was shown it."""

    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    institution_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    retrieval_score: Mapped[float] = mapped_column(Float, default=0.0)
    document: Mapped[str] = mapped_column(Text, default="")
    city: Mapped[str | None] = mapped_column(Text, nullable=True)
    country_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    country_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    types: Mapped[Any] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    evidence: Mapped[Any] = mapped_column(JSON, nullable=True)
    model_id: Mapped[str | None] = mapped_column(String(500), nullable=True)
    registry_version: Mapped[str | None] = mapped_column(String(200), nullable=True)


class UndoGroup(Base):
    """What one undo step takes back: a single decision, a bulk accept, an import."""

    __tablename__ = "undo_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # decision, bulk_accept, import
    description: Mapped[str] = mapped_column(Text, default="")
    curator: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Decision(Base):
    """A curator's decision on an item; the latest one not undone (rejects aside) is current."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(10))
    institution_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    institution_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    document: Mapped[str | None] = mapped_column(Text, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    curator: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seconds_spent: Mapped[float | None] = mapped_column(Float, nullable=True)  # migration 2
    undo_group: Mapped[int | None] = mapped_column(ForeignKey("undo_groups.id", ondelete="SET NULL"), nullable=True)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    method: Mapped[str | None] = mapped_column(String(20), nullable=True)  # migration 4: METHODS
    # migration 5: accepted institutions beyond institution_id ([{id, name, document, score}])
    also_accepted: Mapped[Any] = mapped_column(JSON, nullable=True)


class User(Base):
    """A user of the app's own sign-in (migration 4); OIDC users are matched by email or name."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    disabled: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BatchSharing(Base):
    """How a lead shares a batch: mode "all" (everyone labels every item) or "split"."""

    __tablename__ = "batch_sharing"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    mode: Mapped[str] = mapped_column(String(20))
    double_share: Mapped[float] = mapped_column(Float, default=0.0)
    curators: Mapped[Any] = mapped_column(JSON, nullable=True)
    claim_minutes: Mapped[float] = mapped_column(Float, default=15.0)
    updated_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ItemCoverage(Base):
    """How many curators an item of a split batch needs (1, or 2 for the double-labelled share)."""

    __tablename__ = "item_coverage"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    needed: Mapped[int] = mapped_column(Integer, default=1)


class ItemClaim(Base):
    """A curator is looking at an item until ``expires_at``; others are not given it meanwhile."""

    __tablename__ = "item_claims"

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    curator: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignInFailure(Base):
    """A failed sign-in (migration 6): the name typed (lower-cased) and the browser session it came from."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignInSession(Base):
    """A sign-in that survives a page reload (migration 7): the SHA-256 hash of the browser's
    token (never the token), whose it is, and until when it holds (``team.sessions``)."""

    __tablename__ = "sign_in_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

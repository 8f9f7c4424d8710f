"""Sign-in sessions of the app's own user list: a sign-in that survives a page reload.

After a successful sign-in the browser gets a random token (a cookie, set by
``components.signin``); the store keeps only the token's SHA-256 hash (``sign_in_sessions``,
migration 7), so a copy of the database signs nobody in. A session lasts
``AFFILIATION_CURATOR_SESSION_HOURS`` (default 12) and slides: a look-up more than
``SLIDE_AFTER`` after the last recorded use extends it (not every run writes). Sign-out ends
one session; disabling a user or changing their password ends all of theirs
(``team.users.update_user``). A look-up reads the role fresh from the user list.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from affiliation_curator.curation.store import Store
from affiliation_curator.curation.store.models import SignInSession, User
from affiliation_curator.errors import CuratorError
from affiliation_curator.team.users import Identity

HOURS_ENV = "AFFILIATION_CURATOR_SESSION_HOURS"
DEFAULT_HOURS = 12.0
MAX_HOURS = 24.0 * 366
SLIDE_AFTER = timedelta(minutes=5)
KEEP_ENDED = timedelta(days=30)  # sessions expired longer ago are deleted when a new one starts
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{20,100}")  # what secrets.token_urlsafe gives


def session_hours() -> float:
    """How long a sign-in lasts without use: ``AFFILIATION_CURATOR_SESSION_HOURS`` (default 12)."""
    raw = os.environ.get(HOURS_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_HOURS
    try:
        hours = float(raw)
    except ValueError:
        hours = math.nan
    if not math.isfinite(hours) or not 0 < hours <= MAX_HOURS:
        raise CuratorError(f"{HOURS_ENV}={raw[:40]!r} is not a number of hours between 0 and {MAX_HOURS:.0f} "
                           f"(how long a sign-in lasts; default {DEFAULT_HOURS:.0f})")
    return hours


def is_token(token: object) -> bool:
    """Whether ``token`` has the shape of a token this module hands out (safe to put in a script)."""
    return isinstance(token, str) and TOKEN_PATTERN.fullmatch(token) is not None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def start(store: Store, who: Identity) -> str:
    """A new session for ``who`` (just signed in); returns the token for the browser."""
    token = secrets.token_urlsafe(32)
    now = store.clock()
    with store._write() as session:
        session.execute(delete(SignInSession).where(SignInSession.expires_at < now - KEEP_ENDED))
        session.add(SignInSession(token_hash=_hash(token), user_name=who.name, created_at=now,
                                  expires_at=now + timedelta(hours=session_hours()), last_seen_at=now))
    return token


def lookup(store: Store, token: object) -> Identity | None:
    """The identity a token signs in; None when it is malformed, unknown, expired or ended, or
    its user is disabled or gone. The role is the user list's now."""
    if not is_token(token):
        return None
    now = store.clock()
    with store._read() as session:
        row = session.execute(
            select(SignInSession.id, SignInSession.expires_at, SignInSession.last_seen_at, User.name, User.role)
            .join(User, func.lower(User.name) == func.lower(SignInSession.user_name))
            .where(SignInSession.token_hash == _hash(token), SignInSession.revoked_at.is_(None), User.disabled == 0)
        ).first()
    if row is None or row.expires_at <= now:
        return None
    if now - row.last_seen_at > SLIDE_AFTER:
        with store._write() as session:
            session.execute(update(SignInSession).where(SignInSession.id == row.id).values(
                last_seen_at=now, expires_at=max(row.expires_at, now + timedelta(hours=session_hours()))))
    return Identity(row.name, row.role)


def ended_reason(store: Store, token: object) -> str | None:
    """Why a token that named a session signs nobody in any more (its user disabled or gone, the
    session ended or expired), for the sign-in page; None for a token that never named one (a
    forged cookie learns nothing)."""
    if not is_token(token):
        return None
    with store._read() as session:
        row = session.execute(
            select(SignInSession.user_name, User.disabled)
            .outerjoin(User, func.lower(User.name) == func.lower(SignInSession.user_name))
            .where(SignInSession.token_hash == _hash(token))
        ).first()
    if row is None:
        return None
    if row.disabled is None or row.disabled:
        return f"{row.user_name} can no longer sign in; ask a lead"
    return "Your sign-in has ended (signed out, or unused too long); sign in again"


@dataclass(frozen=True)
class OpenSession:
    """A session that still signs someone in (what ``team sessions list`` prints; never a token)."""

    id: int
    user_name: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def open_sessions(store: Store, name: str | None = None) -> list[OpenSession]:
    """Sessions neither ended nor expired, of one user (any case) or of everyone, newest use first."""
    now = store.clock()
    query = select(SignInSession).where(SignInSession.revoked_at.is_(None), SignInSession.expires_at > now)
    if name is not None:
        query = query.where(func.lower(SignInSession.user_name) == name.lower())
    with store._read() as session:
        rows = session.scalars(query.order_by(SignInSession.last_seen_at.desc(), SignInSession.id.desc())).all()
        return [OpenSession(r.id, r.user_name, r.created_at, r.last_seen_at, r.expires_at) for r in rows]


def end(store: Store, token: object) -> None:
    """Sign-out: the session of this token ends (nothing happens for an unknown one)."""
    if not is_token(token):
        return
    with store._write() as session:
        session.execute(update(SignInSession).where(
            SignInSession.token_hash == _hash(token), SignInSession.revoked_at.is_(None)
        ).values(revoked_at=store.clock()))


def end_all(store: Store, name: str) -> int:
    """Every session of a user ends (on every browser); returns how many were open."""
    with store._write() as session:
        return end_all_in(session, name, store.clock())


def end_all_in(session: Session, name: str, now: datetime) -> int:
    """``end_all`` inside an open write transaction (``team.users.update_user``)."""
    result = session.execute(update(SignInSession).where(
        func.lower(SignInSession.user_name) == name.lower(), SignInSession.revoked_at.is_(None)
    ).values(revoked_at=now))
    return int(result.rowcount or 0)

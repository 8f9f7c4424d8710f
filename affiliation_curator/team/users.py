"""The team: users with a role (curator or lead), and who may do what.

Sign-in is off unless the settings turn it on (``sign_in``: ``users`` for the app's own user
list, ``oidc`` for an OpenID Connect provider through Streamlit's ``st.login``); off, the app
is a one-person tool whose one user may do everything a lead may. The app's own user list
keeps salted Argon2id hashes (``argon2-cffi``), never passwords. OIDC users are matched to this
list by email (else by name) for their role; an identity the list does not hold is refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from affiliation_curator.config import Settings
from affiliation_curator.errors import CuratorError
from affiliation_curator.curation.store import Store
from affiliation_curator.curation.store.models import ROLES, User

SIGN_IN_MODES = ("off", "users", "oidc")
MIN_PASSWORD = 8
_HASHER = PasswordHasher()
# verified against when the name is unknown, so a wrong name takes as long as a wrong password
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class AccessError(CuratorError):
    """Not signed in, a wrong password, a disabled user, or an action for leads only."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is acting: the name decisions are stored under, and the role."""

    name: str
    role: str = "curator"

    @property
    def is_lead(self) -> bool:
        return self.role == "lead"


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    role: str
    email: str | None
    disabled: bool
    has_password: bool
    created_at: datetime


def sign_in_mode() -> str:
    """off, users or oidc: ``AFFILIATION_CURATOR_SIGN_IN``, else the settings' ``sign_in``, else off."""
    raw = (os.environ.get("AFFILIATION_CURATOR_SIGN_IN") or Settings.load().sign_in or "off")
    mode = str(raw).strip().lower()
    if mode not in SIGN_IN_MODES:
        raise CuratorError(f"unknown sign-in mode {raw!r} (setting sign_in); use one of: {', '.join(SIGN_IN_MODES)}")
    return mode


def set_sign_in_mode(mode: str) -> None:
    mode = (mode or "").strip().lower()
    if mode not in SIGN_IN_MODES:
        raise CuratorError(f"unknown sign-in mode {mode!r}; use one of: {', '.join(SIGN_IN_MODES)}")
    settings = Settings.load()
    settings.sign_in = mode
    settings.save()


def clean_name(name: str) -> str:
    name = re.sub(r"\s+", " ", str(name or "")).strip()
    if not name:
        raise CuratorError("a user needs a name")
    if len(name) > 80:
        raise CuratorError("a user name has at most 80 characters")
    return name


def _role(role: str) -> str:
    role = (role or "").strip().lower()
    if role not in ROLES:
        raise CuratorError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    return role


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise CuratorError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def add_user(store: Store, name: str, role: str = "curator", password: str | None = None,
             email: str | None = None) -> UserInfo:
    """Add a user (a password for the app's own sign-in; an email for OIDC)."""
    name, role = clean_name(name), _role(role)
    hashed = _HASHER.hash(_check_password(password)) if password is not None else None
    email = (email or "").strip().lower() or None
    try:
        with store._write() as session:
            session.add(User(name=name, role=role, password_hash=hashed, email=email, disabled=0,
                             created_at=datetime.now(timezone.utc)))
    except IntegrityError:
        raise CuratorError(f"a user named {name!r} exists already") from None
    return user(store, name)


def _row(session, name: str) -> User:  # noqa: ANN001
    row = session.scalars(select(User).where(func.lower(User.name) == clean_name(name).lower())).first()
    if row is None:
        raise CuratorError(f"no user named {name!r}")
    return row


def _info(row: User) -> UserInfo:
    return UserInfo(row.name, row.role, row.email, bool(row.disabled), bool(row.password_hash), row.created_at)


def user(store: Store, name: str) -> UserInfo:
    with store._read() as session:
        return _info(_row(session, name))


def users(store: Store) -> list[UserInfo]:
    with store._read() as session:
        return [_info(r) for r in session.scalars(select(User).order_by(User.name))]


def update_user(store: Store, name: str, *, role: str | None = None, password: str | None = None,
                disabled: bool | None = None, email: str | None = None) -> UserInfo:
    """Change a user. Disabling them or changing their password ends every sign-in session of
    theirs (``team.sessions``): each browser of theirs meets the sign-in page on its next run."""
    from affiliation_curator.team import sessions

    with store._write() as session:
        row = _row(session, name)
        if role is not None:
            row.role = _role(role)
        if password is not None:
            row.password_hash = _HASHER.hash(_check_password(password))
        if disabled is not None:
            row.disabled = int(bool(disabled))
        if email is not None:
            row.email = email.strip().lower() or None
        if disabled or password is not None:
            sessions.end_all_in(session, row.name, store.clock())
        return _info(row)


def manage_user(store: Store, actor: Identity | None, name: str, *, role: str | None = None,
                password: str | None = None, disabled: bool | None = None) -> UserInfo:
    """A lead changes a user (the Team page): role, password, disabled. A lead cannot disable
    themselves or give up their own lead role (another lead can), so a team never locks its last
    lead out from the page."""
    actor = require_lead(actor)
    target = user(store, name)
    if target.name.lower() == actor.name.lower() and (disabled or (role is not None and _role(role) != "lead")):
        raise CuratorError("you cannot disable yourself or give up your own lead role; another lead can")
    return update_user(store, target.name, role=role, password=password, disabled=disabled)


def authenticate(store: Store, name: str, password: str, source: str | None = None) -> Identity:
    """The identity of a user of the app's own list; AccessError (one message for an unknown name
    and a wrong password) otherwise, or when the user is disabled, or while repeated failures for
    this name or from this ``source`` (a browser session) lock further tries
    (``team.signin_limit``: counted in the store, so every app server shares the count)."""
    from affiliation_curator.team import signin_limit

    wrong = AccessError("wrong name or password")
    try:
        name = clean_name(name)
    except CuratorError:
        raise wrong from None
    locked = signin_limit.locked_for(store, name, source)
    if locked is not None:
        raise AccessError(signin_limit.refusal(name, *locked))
    with store._read() as session:
        row = session.scalars(select(User).where(func.lower(User.name) == name.lower())).first()
        stored = row.password_hash if row is not None and row.password_hash else _DUMMY_HASH
    try:
        _HASHER.verify(stored, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        signin_limit.record_failure(store, name, source)
        raise wrong from None
    if row is None or not row.password_hash:
        signin_limit.record_failure(store, name, source)
        raise wrong
    if row.disabled:
        raise AccessError(f"the user {row.name!r} is disabled; ask a lead")
    signin_limit.clear(store, name)
    if _HASHER.check_needs_rehash(row.password_hash):  # the same password: their other sessions stay
        with store._write() as session:
            _row(session, row.name).password_hash = _HASHER.hash(password)
    return Identity(row.name, row.role)


def oidc_identity(store: Store, email: str | None, name: str | None) -> Identity:
    """The identity of someone the OpenID provider signed in: matched by email, else by name."""
    with store._read() as session:
        row = None
        if email:
            row = session.scalars(select(User).where(User.email == email.strip().lower())).first()
        if row is None and name:
            row = session.scalars(select(User).where(func.lower(User.name) == str(name).strip().lower())).first()
    if row is None:
        raise AccessError(
            f"{email or name or 'this account'} is not on the team's user list; ask a lead to add you "
            "(python -m affiliation_curator team users add NAME --role curator --email ADDRESS)"
        )
    if row.disabled:
        raise AccessError(f"the user {row.name!r} is disabled; ask a lead")
    return Identity(row.name, row.role)


def require_lead(actor: Identity | None) -> Identity:
    """The actor when a lead; AccessError otherwise."""
    if actor is None:
        raise AccessError("sign in first")
    if not actor.is_lead:
        raise AccessError(f"{actor.name} is a curator: only a lead may do this")
    return actor

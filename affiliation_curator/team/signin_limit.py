"""The sign-in rate limit: repeated wrong passwords lock further tries for a while.

Failed sign-ins are rows in the store (``sign_in_failures``, migration 6), so every app server
sharing the database counts the same ones. Two counts, each over the last ``WINDOW_SECONDS``:

- per name typed (lower-cased; unknown names count too, so a refusal says nothing about whether
  the name exists): ``MAX_PER_NAME`` failures lock that name;
- per source (the browser session): ``MAX_PER_SOURCE`` failures, whatever names were typed,
  lock that session.

A locked try is refused before the password is checked, with the seconds left; the lock ends
when the oldest of the failures that caused it leaves the window. A successful sign-in clears
the name's failures.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from affiliation_curator.curation.store import Store
from affiliation_curator.curation.store.models import SignInFailure

MAX_PER_NAME = 5
MAX_PER_SOURCE = 10
WINDOW_SECONDS = 300.0


def _key(name: str) -> str:
    return " ".join(str(name or "").split()).lower()[:200]


def _wait(times: list[datetime], most: int, now: datetime) -> float:
    """Seconds until fewer than ``most`` of these failure times lie in the window (0: not locked)."""
    if len(times) < most:
        return 0.0
    times = sorted(times, reverse=True)
    ends = times[most - 1] + timedelta(seconds=WINDOW_SECONDS)
    return max(0.0, (ends - now).total_seconds())


def locked_for(store: Store, name: str, source: str | None = None) -> tuple[str, float] | None:
    """("name" or "source", seconds left) when tries for this name or from this source are locked."""
    now = store.clock()
    since = now - timedelta(seconds=WINDOW_SECONDS)
    with store._read() as session:
        by_name = list(session.scalars(
            select(SignInFailure.failed_at).where(SignInFailure.name == _key(name), SignInFailure.failed_at > since)
        ))
        by_source = list(session.scalars(
            select(SignInFailure.failed_at).where(SignInFailure.source == source, SignInFailure.failed_at > since)
        )) if source else []
    wait = _wait(by_name, MAX_PER_NAME, now)
    if wait > 0:
        return "name", wait
    wait = _wait(by_source, MAX_PER_SOURCE, now)
    if wait > 0:
        return "source", wait
    return None


def refusal(name: str, which: str, seconds: float) -> str:
    n = max(1, math.ceil(seconds))
    if which == "source":
        return f"Too many failed sign-ins from this browser; try again in {n} s"
    return f"Too many failed sign-ins for {' '.join(str(name).split())[:80]}; try again in {n} s"


def record_failure(store: Store, name: str, source: str | None = None) -> None:
    now = store.clock()
    with store._write() as session:
        session.execute(delete(SignInFailure).where(
            SignInFailure.failed_at < now - timedelta(seconds=2 * WINDOW_SECONDS)
        ))  # old rows count for nothing
        session.add(SignInFailure(name=_key(name), source=(source or "")[:200], failed_at=now))


def clear(store: Store, name: str) -> None:
    with store._write() as session:
        session.execute(delete(SignInFailure).where(SignInFailure.name == _key(name)))

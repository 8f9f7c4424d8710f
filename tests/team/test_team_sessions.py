"""Sign-in sessions in the store (``team.sessions``): a token signs its user in until it
expires, is ended, or its user is disabled or gets a new password; the store holds only the
token's hash; garbage tokens sign nobody in. SQLite always, PostgreSQL when its URL is set."""

from __future__ import annotations

import hashlib
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select

from affiliation_curator.curation.store import Store
from affiliation_curator.curation.store.models import SignInSession, User
from affiliation_curator.errors import CuratorError
from affiliation_curator.team import sessions
from affiliation_curator.team.users import AccessError, Identity, add_user, authenticate, manage_user, update_user

PG_URL = os.environ.get("AFFILIATION_CURATOR_TEST_PG_URL")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="set AFFILIATION_CURATOR_TEST_PG_URL to test PostgreSQL"))])
def team(request, tmp_path, monkeypatch):
    """Two stores on one database (two app servers), a clock, and users unique to this run."""
    monkeypatch.delenv(sessions.HOURS_ENV, raising=False)
    url = PG_URL if request.param == "postgresql" else f"sqlite:///{tmp_path / 'sessions.db'}"
    clock = Clock()
    one, two = Store(url, clock=clock), Store(url, clock=clock)
    tag = uuid.uuid4().hex[:8]
    ann, lea = f"ann{tag}", f"lea{tag}"
    add_user(one, ann, "curator", password="ann-password")
    add_user(one, lea, "lead", password="lea-password")
    return one, two, clock, ann, lea


def _row(store: Store, token: str) -> SignInSession | None:
    with store._read() as session:
        return session.scalars(select(SignInSession).where(
            SignInSession.token_hash == hashlib.sha256(token.encode()).hexdigest())).first()


def test_a_token_signs_its_user_in_on_every_server_and_the_store_keeps_only_its_hash(team):
    one, two, clock, ann, _ = team
    token = sessions.start(one, Identity(ann, "curator"))
    assert sessions.is_token(token) and len(token) >= 43
    assert sessions.lookup(two, token) == Identity(ann, "curator")
    row = _row(one, token)
    assert row.user_name == ann and row.created_at == row.last_seen_at == T0
    assert row.expires_at == T0 + timedelta(hours=12) and row.revoked_at is None
    with one._read() as session:
        stored = [(s.token_hash, s.user_name) for s in session.scalars(select(SignInSession))]
    assert all(token not in h for h, _ in stored)  # never the token itself
    assert sessions.lookup(one, sessions.start(one, Identity(ann, "curator"))) is not None  # a second browser
    assert sessions.lookup(one, token) is not None  # the first one still holds


def test_the_role_is_read_fresh_and_a_removed_user_is_signed_out(team):
    one, two, _, ann, _ = team
    token = sessions.start(one, Identity(ann, "curator"))
    update_user(one, ann, role="lead")
    assert sessions.lookup(two, token) == Identity(ann, "lead")
    with one._write() as session:
        session.execute(delete(User).where(User.name == ann))
    assert sessions.lookup(two, token) is None


def test_a_session_expires_and_slides_with_use_without_writing_on_every_run(team):
    one, two, clock, ann, _ = team
    token = sessions.start(one, Identity(ann, "curator"))
    clock.now = T0 + timedelta(minutes=2)  # within the slide step: nothing written
    assert sessions.lookup(one, token) is not None
    assert _row(one, token).last_seen_at == T0 and _row(one, token).expires_at == T0 + timedelta(hours=12)
    clock.now = T0 + timedelta(hours=11)  # used again late: it now lasts 12 h from here
    assert sessions.lookup(two, token) is not None
    assert _row(one, token).last_seen_at == clock.now
    assert _row(one, token).expires_at == T0 + timedelta(hours=23)
    clock.now = T0 + timedelta(hours=22, minutes=59)
    assert sessions.lookup(one, token) == Identity(ann, "curator")
    unused = sessions.start(one, Identity(ann, "curator"))  # started at 22:59, never used again
    clock.now = T0 + timedelta(hours=22, minutes=59) + timedelta(hours=12)
    assert sessions.lookup(one, unused) is None  # expired exactly at its end
    assert sessions.lookup(one, token) is None  # 12 h unused since 22:59 too


def test_the_setting_sets_the_length_and_garbage_is_refused_clearly(team, monkeypatch):
    one, _, clock, ann, _ = team
    monkeypatch.setenv(sessions.HOURS_ENV, "0.5")
    token = sessions.start(one, Identity(ann, "curator"))
    clock.now = T0 + timedelta(minutes=29)
    assert sessions.lookup(one, token) is not None
    clock.now = T0 + timedelta(minutes=29 + 31)
    assert sessions.lookup(one, token) is None
    for garbage in ("twelve", "-1", "0", "nan", "inf", "1e9", "12h"):
        monkeypatch.setenv(sessions.HOURS_ENV, garbage)
        with pytest.raises(CuratorError, match=r"^AFFILIATION_CURATOR_SESSION_HOURS=.* is not a number of hours"):
            sessions.start(one, Identity(ann, "curator"))
    monkeypatch.setenv(sessions.HOURS_ENV, " 24 ")
    assert sessions.session_hours() == 24.0


def test_sign_out_ends_one_session_and_end_all_ends_every_one(team):
    one, two, _, ann, lea = team
    first, second = (sessions.start(one, Identity(ann, "curator")) for _ in range(2))
    leas = sessions.start(one, Identity(lea, "lead"))
    sessions.end(two, first)
    assert sessions.lookup(one, first) is None and sessions.lookup(one, second) is not None
    assert _row(one, first).revoked_at == T0
    sessions.end(one, first)  # twice: nothing more happens
    sessions.end(one, "no-such-token-" + "x" * 30)
    assert sessions.end_all(two, ann.upper()) == 1  # names match as the user list's do, case aside
    assert sessions.lookup(one, second) is None
    assert sessions.lookup(one, leas) == Identity(lea, "lead")  # another user's session stays


def test_disabling_a_user_or_changing_their_password_ends_their_sessions(team):
    one, two, _, ann, lea = team
    token = sessions.start(one, Identity(ann, "curator"))
    leas = sessions.start(one, Identity(lea, "lead"))
    manage_user(one, Identity(lea, "lead"), ann, disabled=True)  # a lead disables her on the Team page
    assert sessions.lookup(two, token) is None
    manage_user(one, Identity(lea, "lead"), ann, disabled=False)
    assert sessions.lookup(two, token) is None  # re-enabling does not bring an ended session back
    token = sessions.start(one, Identity(ann, "curator"))
    update_user(one, ann, role="lead")  # a role change alone ends nothing
    assert sessions.lookup(one, token) == Identity(ann, "lead")
    update_user(one, ann, password="a-new-password")
    assert sessions.lookup(one, token) is None
    with pytest.raises(AccessError):
        authenticate(one, ann, "ann-password")
    assert authenticate(one, ann, "a-new-password").name == ann
    assert sessions.lookup(one, leas) == Identity(lea, "lead")


def test_the_sign_in_page_is_told_why_a_session_that_existed_signs_nobody_in(team):
    one, two, clock, ann, lea = team
    token = sessions.start(one, Identity(ann, "curator"))
    assert sessions.ended_reason(one, token) == "Your sign-in has ended (signed out, or unused too long); sign in again"
    assert sessions.ended_reason(one, "A" * 43) is None  # a token that never named a session learns nothing
    manage_user(one, Identity(lea, "lead"), ann, disabled=True)
    assert sessions.ended_reason(two, token) == f"{ann} can no longer sign in; ask a lead"
    leas = sessions.start(one, Identity(lea, "lead"))
    sessions.end(one, leas)
    assert sessions.ended_reason(one, leas).startswith("Your sign-in has ended")


def test_a_disabled_users_session_is_refused_even_if_not_ended(team):
    """A user disabled by a direct database change (no update_user): the look-up still refuses."""
    one, _, _, ann, _ = team
    token = sessions.start(one, Identity(ann, "curator"))
    with one._write() as session:
        session.scalars(select(User).where(User.name == ann)).one().disabled = 1
    assert sessions.lookup(one, token) is None


def test_sessions_long_expired_are_deleted_when_a_new_one_starts(team):
    one, _, clock, ann, lea = team
    old = sessions.start(one, Identity(ann, "curator"))
    ended = sessions.start(one, Identity(lea, "lead"))
    sessions.end(one, ended)
    clock.now = T0 + timedelta(hours=12) + sessions.KEEP_ENDED - timedelta(minutes=1)
    sessions.start(one, Identity(ann, "curator"))
    assert _row(one, old) is not None and _row(one, ended) is not None  # expired, but not long enough
    clock.now = T0 + timedelta(hours=12) + sessions.KEEP_ENDED + timedelta(minutes=1)
    fresh = sessions.start(one, Identity(ann, "curator"))
    assert _row(one, old) is None and _row(one, ended) is None
    assert sessions.lookup(one, fresh) == Identity(ann, "curator")


def test_the_command_line_disabling_a_user_or_setting_a_password_ends_their_sessions(monkeypatch, capsys):
    import io

    from affiliation_curator.cli import main

    store = Store()  # the data directory's store, which the command line uses
    add_user(store, "Olli", "curator", password="olli-password")
    token = sessions.start(store, Identity("Olli", "curator"))
    assert main(["team", "users", "set", "olli", "--disable"]) == 0
    assert sessions.lookup(store, token) is None
    assert main(["team", "users", "set", "Olli", "--enable"]) == 0
    token = sessions.start(store, Identity("Olli", "curator"))
    monkeypatch.setattr("sys.stdin", io.StringIO("another-password\n"))
    assert main(["team", "users", "set", "Olli", "--password-stdin"]) == 0
    assert sessions.lookup(store, token) is None
    assert "password set" in capsys.readouterr().out


@pytest.mark.parametrize("garbage", [
    "", " ", "x", "a" * 10_000, "ünïcödé-token-ünïcödé-token-ünïcödé-token", "token with spaces and more than twenty",
    "'; DROP TABLE sign_in_sessions; --", "\x00" * 50, None, 42, b"bytes-token-bytes-token-bytes-token",
])
def test_garbage_tokens_sign_nobody_in(team, garbage):
    one, _, _, ann, _ = team
    sessions.start(one, Identity(ann, "curator"))
    assert sessions.lookup(one, garbage) is None
    assert sessions.ended_reason(one, garbage) is None
    sessions.end(one, garbage)  # nothing happens, no error
    assert not sessions.is_token(garbage)


def test_a_version_6_database_migrates_to_7_keeping_every_row(tmp_path):
    from sqlalchemy import create_engine, inspect, text

    from affiliation_curator.curation.store import LATEST_VERSION, current_version, migrate

    url = f"sqlite:///{tmp_path / 'v6.db'}"
    engine = create_engine(url)
    assert migrate(engine, target=6) == [1, 2, 3, 4, 5, 6]
    with engine.begin() as conn:
        assert not inspect(conn).has_table("sign_in_sessions")
        conn.execute(text("INSERT INTO batches (id, name, created_at) VALUES (1, 'old', '2026-01-01 10:00:00')"))
        conn.execute(text("INSERT INTO items (id, batch_id, position, affiliation, affiliation_hash, count) "
                          "VALUES (1, 1, 0, 'Old Univ', 'h1', 2)"))
        conn.execute(text("INSERT INTO decisions (item_id, action, curator, created_at, method) "
                          "VALUES (1, 'none', 'ann', '2026-01-01 10:01:00', 'key')"))
        conn.execute(text("INSERT INTO users (name, role, password_hash, disabled, created_at) VALUES "
                          "('ann', 'curator', 'not-a-hash', 0, '2026-01-01 09:00:00')"))
        conn.execute(text("INSERT INTO sign_in_failures (name, source, failed_at) VALUES ('bob', 's1', '2026-01-01 09:30:00')"))
    engine.dispose()
    store = Store(url, clock=Clock())
    with store.engine.connect() as conn:
        assert current_version(conn) == LATEST_VERSION == 7
        assert conn.execute(text("SELECT name, source FROM sign_in_failures")).all() == [("bob", "s1")]
        assert conn.execute(text("SELECT name, role FROM users")).all() == [("ann", "curator")]
        indexes = {i["name"] for i in inspect(conn).get_indexes("sign_in_sessions")}
    assert "ix_sign_in_sessions_user" in indexes
    (item,) = store.items(1)
    assert (item.affiliation, item.count, item.decision.action, item.decision.curator) == ("Old Univ", 2, "none", "ann")
    token = sessions.start(store, Identity("ann", "curator"))  # the new table works
    assert sessions.lookup(store, token) == Identity("ann", "curator")


def test_open_sessions_are_listed_without_tokens_and_a_users_can_be_ended(team):
    one, two, clock, ann, lea = team
    first = sessions.start(one, Identity(ann, "curator"))
    clock.now += timedelta(minutes=10)
    second = sessions.start(two, Identity(ann, "curator"))
    lead = sessions.start(one, Identity(lea, "lead"))
    sessions.end(one, lead)  # signed out: not open
    mine = sessions.open_sessions(one, ann.upper())
    assert [s.user_name for s in mine] == [ann, ann] and mine[0].created_at == T0 + timedelta(minutes=10)
    assert all(first not in repr(s) and second not in repr(s) for s in mine)  # never a token
    assert sessions.open_sessions(one, lea) == []
    clock.now = T0 + timedelta(hours=sessions.DEFAULT_HOURS, minutes=5)  # the first has expired, the second not yet
    assert [s.created_at for s in sessions.open_sessions(two, ann)] == [T0 + timedelta(minutes=10)]
    assert sessions.end_all(one, ann) == 2  # ended counts the expired one too: both had no end yet
    assert sessions.open_sessions(one, ann) == [] and sessions.lookup(two, second) is None


def test_the_command_line_lists_sessions_and_ends_a_users(capsys):
    from affiliation_curator.cli import main

    store = Store()
    add_user(store, "Pia", "curator", password="pia-password")
    token = sessions.start(store, Identity("Pia", "curator"))
    assert main(["team", "sessions", "list"]) == 0
    out = capsys.readouterr().out
    assert "Pia" in out and "expires" in out and token not in out
    assert main(["team", "sessions", "end", "pia"]) == 0
    assert "ended 1 session of pia" in capsys.readouterr().out
    assert sessions.lookup(store, token) is None and authenticate(store, "Pia", "pia-password").name == "Pia"
    assert main(["team", "sessions", "list", "--user", "Pia"]) == 0
    assert "no open sessions of Pia" in capsys.readouterr().out
    assert main(["team", "sessions", "end", "nobody"]) == 2
    assert "no user named 'nobody'" in capsys.readouterr().err

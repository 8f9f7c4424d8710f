"""Users, sign-in and who may do what; sharing a batch and claims; the ``team`` commands."""

from __future__ import annotations

import io
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from affiliation_curator.cli import main
from affiliation_curator.config import Settings
from affiliation_curator.errors import CuratorError
from affiliation_curator.curation.store import Store
from affiliation_curator.team import sharing
from affiliation_curator.team.users import (
    AccessError,
    Identity,
    add_user,
    authenticate,
    oidc_identity,
    require_lead,
    set_sign_in_mode,
    sign_in_mode,
    update_user,
)

LEAD = Identity("lea", "lead")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


# ----------------------------------------------------------------------------- users


def test_passwords_are_salted_argon2_hashes_and_checked():
    store = Store()
    add_user(store, "ann", "curator", password="correct horse")
    add_user(store, "bob", "curator", password="correct horse")
    with store.engine.connect() as conn:
        hashes = [h for (h,) in conn.exec_driver_sql("SELECT password_hash FROM users ORDER BY name")]
    assert all(h.startswith("$argon2id$") and "correct horse" not in h for h in hashes)
    assert hashes[0] != hashes[1]  # same password, different salt
    assert authenticate(store, "ann", "correct horse") == Identity("ann", "curator")
    assert authenticate(store, "  ANN ", "correct horse").name == "ann"  # names are not case-sensitive
    with pytest.raises(AccessError, match="^wrong name or password$"):
        authenticate(store, "ann", "wrong horse")
    with pytest.raises(AccessError, match="^wrong name or password$"):
        authenticate(store, "nobody", "correct horse")  # the same message: names are not revealed
    update_user(store, "ann", disabled=True)
    with pytest.raises(AccessError, match="disabled"):
        authenticate(store, "ann", "correct horse")
    with pytest.raises(CuratorError, match="at least 8"):
        add_user(store, "cy", "curator", password="short")
    with pytest.raises(CuratorError, match="exists already"):
        add_user(store, "bob", "lead", password="another one!")
    with pytest.raises(CuratorError, match="unknown role"):
        add_user(store, "dan", "admin", password="long enough")


def test_oidc_users_are_matched_by_email_and_must_be_on_the_list():
    store = Store()
    add_user(store, "Lea Lead", "lead", email="Lea@Example.org")
    assert oidc_identity(store, "lea@example.org", "whatever") == Identity("Lea Lead", "lead")
    with pytest.raises(AccessError, match="not on the team's user list"):
        oidc_identity(store, "eve@example.org", "Eve")
    update_user(store, "Lea Lead", disabled=True)
    with pytest.raises(AccessError, match="disabled"):
        oidc_identity(store, "lea@example.org", None)


def test_only_a_lead_acts_as_a_lead():
    assert require_lead(LEAD) is LEAD
    with pytest.raises(AccessError, match="only a lead"):
        require_lead(Identity("ann", "curator"))
    with pytest.raises(AccessError, match="sign in"):
        require_lead(None)
    store = Store()
    batch = store.create_batch("b", ["A", "B"])
    with pytest.raises(AccessError, match="only a lead"):
        sharing.set_sharing(store, Identity("ann", "curator"), batch, "split", ["ann", "bob"])


def test_sign_in_mode_is_off_by_default_and_set_in_the_settings(monkeypatch):
    assert sign_in_mode() == "off"
    set_sign_in_mode("users")
    assert sign_in_mode() == "users" and Settings.load().sign_in == "users"
    monkeypatch.setenv("AFFILIATION_CURATOR_SIGN_IN", "bogus")
    with pytest.raises(CuratorError, match="unknown sign-in mode"):
        sign_in_mode()


# ----------------------------------------------------------------------------- sharing and claims


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_split_batch_hands_each_single_item_to_one_curator_at_a_time():
    clock = Clock()
    store = Store(clock=clock)
    batch = store.create_batch("split", [f"Univ {i}" for i in range(10)])
    shared = sharing.set_sharing(store, LEAD, batch, "split", ["ann", "bob"], double_share=0.2, claim_minutes=10)
    assert (shared.mode, shared.curators, shared.double_items) == ("split", ["ann", "bob"], 2)
    doubles = sharing.double_item_ids(store, batch)

    ann_first = sharing.next_item(store, batch, "ann", now=T0)
    bob_first = sharing.next_item(store, batch, "bob", now=T0)
    assert ann_first.id != bob_first.id or ann_first.id in doubles
    # nobody named gets nothing
    assert store.items(batch, status="undecided", curator="eve") == [] and sharing.claim(store, ann_first.id, "eve", T0) is False
    # a single-coverage item ann has on screen is not bob's meanwhile
    single = next(v.id for v in store.items(batch) if v.id not in doubles and v.id != bob_first.id)
    assert sharing.claim(store, single, "ann", T0)
    clock.now = T0 + timedelta(minutes=5)
    assert not sharing.claim(store, single, "bob")
    assert single not in [v.id for v in store.items(batch, status="undecided", curator="bob")]
    # ... until her claim runs out (she walked away)
    clock.now = T0 + timedelta(minutes=11)
    assert single in [v.id for v in store.items(batch, status="undecided", curator="bob")]
    assert sharing.claim(store, single, "bob")
    # a double item is given to two curators, not three
    sharing.set_sharing(store, LEAD, batch, "split", ["ann", "bob", "cy"], double_share=0.2)
    double = next(iter(sharing.double_item_ids(store, batch)))
    assert sharing.claim(store, double, "ann", T0) and sharing.claim(store, double, "bob", T0)
    assert not sharing.claim(store, double, "cy", T0)
    store.decide(double, "none", "ann")  # a decision covers it like a claim does
    assert not sharing.claim(store, double, "cy", T0)


def test_every_item_of_a_split_batch_is_decided_once_when_curators_take_turns():
    store = Store()
    batch = store.create_batch("turns", [f"Univ {i}" for i in range(12)])
    sharing.set_sharing(store, LEAD, batch, "split", ["ann", "bob", "cy"], double_share=0.25)
    doubles = sharing.double_item_ids(store, batch)
    names = ["ann", "bob", "cy"]
    for turn in range(100):
        who = names[turn % 3]
        item = sharing.next_item(store, batch, who)
        if item is not None:
            store.decide(item.id, "none", who)
    per_item: dict[int, set[str]] = {}
    for d in store.decisions(batch):
        per_item.setdefault(d["item_id"], set()).add(d["curator"])
    assert len(per_item) == 12
    assert all(len(c) == (2 if i in doubles else 1) for i, c in per_item.items())


def test_mode_all_gives_everyone_everything():
    store = Store()
    batch = store.create_batch("all", ["A", "B"])
    assert sharing.sharing(store, batch).mode == "all"
    assert sharing.claim(store, store.items(batch)[0].id, "anyone")
    assert len(store.items(batch, status="undecided", curator="ann")) == 2
    with pytest.raises(CuratorError, match="between 0 and 1"):
        sharing.set_sharing(store, LEAD, batch, "split", ["a", "b"], double_share=1.5)
    with pytest.raises(CuratorError, match="at least two curators"):
        sharing.set_sharing(store, LEAD, batch, "split", ["a"], double_share=0.1)


# ----------------------------------------------------------------------------- the command line


def test_team_commands(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    assert main(["team", "users", "add", "Lea", "--role", "lead", "--password-stdin"]) == 0
    assert main(["team", "users", "add", "Olli", "--role", "curator", "--email", "olli@example.org", "--no-password"]) == 0
    capsys.readouterr()
    assert main(["team", "users", "list"]) == 0
    out = capsys.readouterr().out
    assert "sign-in: off" in out and "Lea" in out and "lead" in out and "olli@example.org" in out
    assert "s3cret" not in out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["team", "users", "add", "Nopass", "--role", "curator"]) == 2
    assert "--password-stdin" in capsys.readouterr().err
    assert main(["team", "users", "set", "Olli", "--disable"]) == 0
    assert "disabled" in capsys.readouterr().out
    assert main(["team", "sign-in", "users"]) == 0 and sign_in_mode() == "users"

    # two curators' earlier answers on the same affiliations, imported as their own
    ann = tmp_path / "ann.csv"
    ann.write_text("affiliation,ror_id\nMIT,https://ror.org/042nb2s44\nETH Zurich,https://ror.org/05a28rw58\nNowhere,\n")
    bob = tmp_path / "bob.csv"
    bob.write_text("affiliation,ror_id\nMIT,https://ror.org/042nb2s44\nETH Zurich,\nNowhere,\n")
    assert main(["decisions", "import", str(ann), "--batch", "old", "--curator", "ann", "--no-rank"]) == 0
    assert main(["decisions", "import", str(bob), "--batch", "old", "--curator", "bob", "--no-rank", "--add-to-batch"]) == 0
    capsys.readouterr()
    assert main(["team", "agreement", "--batch", "old"]) == 0
    out = capsys.readouterr().out
    # 3 double-labelled, 2 agree; ann: MIT, ETH, none; bob: MIT, none, none
    # p_o = 2/3; p_e = (1/3)(1/3) + (1/3)(0) + (1/3)(2/3) = 1/3; kappa = (2/3 - 1/3) / (2/3) = 0.5
    assert "ann / bob" in out and " 3 " in out and "66.7 %" in out and "0.500" in out
    assert "conflicts: 1" in out and "'ETH Zurich'" in out
    store = Store()
    eth = next(v.id for v in store.items(store.batch_by_name("old").id) if v.affiliation == "ETH Zurich")
    assert main(["team", "resolve", "--batch", "old", "--item", str(eth), "--label", "none", "--as", "Lea"]) == 0
    capsys.readouterr()
    assert main(["team", "agreement", "--batch", "old"]) == 0
    assert "conflicts: 0" in capsys.readouterr().out
    assert main(["team", "unresolve", "--batch", "old", "--as", "Lea"]) == 0  # the Team page's undo
    assert "undone: resolution: none of these for 'ETH Zurich'" in capsys.readouterr().out
    assert main(["team", "agreement", "--batch", "old"]) == 0
    assert "conflicts: 1" in capsys.readouterr().out
    assert main(["team", "unresolve", "--batch", "old", "--as", "Lea"]) == 0
    assert "no resolution of yours to undo" in capsys.readouterr().out
    assert main(["team", "resolve", "--batch", "old", "--item", str(eth), "--label", "none", "--as", "Lea"]) == 0
    capsys.readouterr()
    assert main(["team", "resolve", "--batch", "old", "--item", str(eth), "--label", "none", "--as", "Olli"]) == 2
    assert "only a lead" in capsys.readouterr().err
    assert main(["team", "share", "--batch", "old", "--mode", "split", "--curators", "ann,bob", "--double", "0.5"]) == 0
    assert "2 items labelled twice" in capsys.readouterr().out


# ----------------------------------------------------------------------------- who sees what


def test_a_curator_sees_only_the_batches_and_items_that_are_theirs():
    from affiliation_curator.team import access

    clock = Clock()
    store = Store(clock=clock)
    everyone = store.create_batch("everyone", ["A", "B"])
    ours = store.create_batch("ann and bob", [f"Univ {i}" for i in range(6)])
    theirs = store.create_batch("bob and cy", ["C", "D"])
    sharing.set_sharing(store, LEAD, ours, "split", ["ann", "bob"])
    sharing.set_sharing(store, LEAD, theirs, "split", ["bob", "cy"])
    ann, bob = Identity("ann", "curator"), Identity("bob", "curator")
    assert [b.id for b in access.visible_batches(store, ann)] == [ours, everyone]
    assert [b.id for b in access.visible_batches(store, bob)] == [theirs, ours, everyone]
    assert len(access.visible_batches(store, LEAD)) == len(access.visible_batches(store, None)) == 3
    with pytest.raises(AccessError, match=rf"^batch #{theirs} is not shared with ann$"):
        access.check_batch(store, ann, theirs)
    with pytest.raises(AccessError, match=r"^batch #9999 is not shared with ann$"):  # unknown: the same refusal
        access.check_batch(store, ann, 9999)
    access.check_batch(store, LEAD, theirs)

    # a split batch: an item ann has on screen (claimed) or decided is hers, not bob's
    decided = sharing.next_item(store, ours, "ann", now=T0).id
    store.decide(decided, "none", "ann")
    claimed = sharing.next_item(store, ours, "ann", now=T0).id
    assert claimed != decided
    for item in (claimed, decided):
        assert access.check_item(store, ann, item) == ours and access.check_item(store, LEAD, item) == ours
        with pytest.raises(AccessError, match=rf"^item {item} is not one of bob's items$"):
            access.check_item(store, bob, item)
    open_item = next(v.id for v in store.items(ours) if v.id not in (claimed, decided))
    assert access.check_item(store, bob, open_item) == ours  # still open: anyone named may take it
    other = store.items(theirs)[0].id
    with pytest.raises(AccessError, match="not one of ann's items"):
        access.check_item(store, ann, other)
    with pytest.raises(AccessError, match="not one of ann's items"):
        access.check_item(store, ann, 123456)
    with pytest.raises(CuratorError, match="^no item 123456$"):
        access.check_item(store, LEAD, 123456)
    assert access.check_item(store, ann, store.items(everyone)[0].id) == everyone
    # her claim runs out: the item she never decided is open to bob again
    clock.now = T0 + timedelta(minutes=16)
    assert access.check_item(store, bob, claimed) == ours
    with pytest.raises(AccessError):
        access.check_item(store, bob, decided)


def test_own_progress_counts_the_curators_queue_in_a_split_batch():
    store = Store()
    batch = store.create_batch("progress", [f"Univ {i}" for i in range(10)])
    assert sharing.own_progress(store, batch, "ann") is None  # not split: the whole batch counts
    sharing.set_sharing(store, LEAD, batch, "split", ["ann", "bob"])
    assert sharing.own_progress(store, batch, "eve") is None
    start = sharing.own_progress(store, batch, "ann")
    assert (start["total"], start["decided"], start["to_go"]) == (10, 0, 10)
    for who, n in (("ann", 3), ("bob", 4)):
        for _ in range(n):
            store.decide(sharing.next_item(store, batch, who).id, "none", who)
    store.decide(sharing.next_item(store, batch, "ann").id, "skip", "ann")
    ann = sharing.own_progress(store, batch, "ann")
    # bob's 4 decided items are not hers; she decided 3, skipped 1, and 2 are left open
    assert (ann["total"], ann["decided"], ann["skipped"], ann["to_go"]) == (6, 3, 1, 2)
    bob = sharing.own_progress(store, batch, "bob")
    assert (bob["total"], bob["decided"], bob["to_go"]) == (6, 4, 2)  # ann's skipped one stays hers


# ----------------------------------------------------------------------------- the sign-in rate limit


PG_URL = os.environ.get("AFFILIATION_CURATOR_TEST_PG_URL")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="set AFFILIATION_CURATOR_TEST_PG_URL to test PostgreSQL"))])
def two_servers(request, tmp_path):
    """Two stores on one database, as two app servers have (and a tag: PostgreSQL is shared by runs)."""
    url = PG_URL if request.param == "postgresql" else f"sqlite:///{tmp_path / 'shared.db'}"
    clock = Clock()
    return Store(url, clock=clock), Store(url, clock=clock), clock, uuid.uuid4().hex[:8]


def test_repeated_wrong_passwords_lock_the_name_for_a_while_on_every_server(two_servers):
    from affiliation_curator.team import signin_limit

    one, two, clock, tag = two_servers
    ann = f"ann{tag}"
    add_user(one, ann, "curator", password="ann-password")
    for n in range(signin_limit.MAX_PER_NAME):
        clock.now = T0 + timedelta(seconds=n)
        with pytest.raises(AccessError, match="^wrong name or password$"):
            authenticate(one if n % 2 else two, ann.capitalize(), "guess", source=f"{tag}s{n}")
    clock.now = T0 + timedelta(seconds=10)
    # locked on both servers, the right password included, with the seconds left (the first failure + 300 s)
    for store in (one, two):
        with pytest.raises(AccessError, match=rf"^Too many failed sign-ins for {ann}; try again in 290 s$"):
            authenticate(store, ann, "ann-password", source=f"{tag}fresh")
    with pytest.raises(AccessError, match=f"Too many failed sign-ins for {ann.upper()};"):
        authenticate(one, f"  {ann.upper()} ", "ann-password")  # the name as typed, case and spaces aside
    clock.now = T0 + timedelta(seconds=signin_limit.WINDOW_SECONDS + 1)  # the oldest failure left the window
    assert authenticate(two, ann, "ann-password") == Identity(ann, "curator")
    # success cleared her count: one more failure does not lock her again
    with pytest.raises(AccessError, match="^wrong name or password$"):
        authenticate(one, ann, "guess")
    assert authenticate(one, ann, "ann-password").name == ann


def test_one_browser_trying_many_names_is_locked_and_a_disabled_user_is_told(two_servers):
    from affiliation_curator.team import signin_limit

    one, two, clock, tag = two_servers
    bob, cy, evil = f"bob{tag}", f"cy{tag}", f"session:evil{tag}"
    add_user(one, bob, "curator", password="bob-password")
    add_user(one, cy, "curator", password="cy-password")
    update_user(one, cy, disabled=True)
    for n in range(signin_limit.MAX_PER_SOURCE):
        with pytest.raises(AccessError, match="^wrong name or password$"):
            authenticate(one if n % 2 else two, f"name{n}{tag}", "guess", source=evil)
    with pytest.raises(AccessError, match=r"^Too many failed sign-ins from this browser; try again in 300 s$"):
        authenticate(two, bob, "bob-password", source=evil)
    assert authenticate(two, bob, "bob-password", source=f"session:bob{tag}").name == bob  # another browser
    with pytest.raises(AccessError, match=f"^the user '{cy}' is disabled; ask a lead$"):
        authenticate(one, cy, "cy-password", source=f"session:cy{tag}")
    with pytest.raises(AccessError, match="^wrong name or password$"):
        authenticate(one, cy, "wrong password", source=f"session:cy{tag}")  # a wrong password says nothing more


# ----------------------------------------------------------------------------- a lead manages users, undoes resolutions


def test_a_lead_manages_users_but_cannot_lock_themselves_out():
    from affiliation_curator.team.users import manage_user

    store = Store()
    add_user(store, "lea", "lead", password="lea-password")
    add_user(store, "ann", "curator", password="ann-password")
    assert manage_user(store, LEAD, "ann", role="lead").role == "lead"
    assert manage_user(store, LEAD, "ANN", disabled=True).disabled
    with pytest.raises(AccessError, match="disabled"):
        authenticate(store, "ann", "ann-password")
    manage_user(store, LEAD, "ann", disabled=False, password="new-password")
    assert authenticate(store, "ann", "new-password").role == "lead"
    for change in ({"disabled": True}, {"role": "curator"}):
        with pytest.raises(CuratorError, match="another lead can"):
            manage_user(store, Identity("lea", "lead"), "lea", **change)
    with pytest.raises(AccessError, match="only a lead"):
        manage_user(store, Identity("bob", "curator"), "ann", disabled=True)
    with pytest.raises(CuratorError, match="no user named"):
        manage_user(store, LEAD, "nobody", disabled=True)


def test_undoing_a_resolution_takes_back_only_the_leads_resolution():
    from affiliation_curator.team.report import batch_agreement, resolve_conflict, undo_resolution

    store = Store()
    batch = store.create_batch("conflicts", ["A", "B"])
    a, b = (v.id for v in store.items(batch))
    store.decide(a, "none", "ann")
    store.decide(a, "accept", "bob", "https://ror.org/05a28rw58")
    assert len(batch_agreement(store, batch).conflicts) == 1
    resolve_conflict(store, LEAD, a, "none")
    store.decide(b, "none", "lea")  # the lead curates too: a decision of her own, after the resolution
    assert batch_agreement(store, batch).conflicts == []
    with pytest.raises(AccessError, match="only a lead"):
        undo_resolution(store, Identity("ann", "curator"), batch)
    result = undo_resolution(store, LEAD, batch)
    assert result.kind == "resolution" and result.item_ids == [a]
    assert [c.item_id for c in batch_agreement(store, batch).conflicts] == [a]  # open again
    assert store.item(b, curator="lea").decision.action == "none"  # her curation stays
    assert undo_resolution(store, LEAD, batch) is None

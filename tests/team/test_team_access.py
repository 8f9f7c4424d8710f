"""Users, sign-in and who may do what; sharing a batch and claims; the ``team`` commands."""

from __future__ import annotations

import io
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
    users,
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
    assert main(["team", "resolve", "--batch", "old", "--item", str(eth), "--label", "none", "--as", "Olli"]) == 2
    assert "only a lead" in capsys.readouterr().err
    assert main(["team", "share", "--batch", "old", "--mode", "split", "--curators", "ann,bob", "--double", "0.5"]) == 0
    assert "2 items labelled twice" in capsys.readouterr().out

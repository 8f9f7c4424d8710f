"""Sign-in and roles in the app (AppTest): signed-out visitors reach only the sign-in page,
curators never the Team page, the name on a decision is the signed-in user's, a lead resolves
a conflict with one key press."""

from __future__ import annotations

import pytest

from affiliation_curator.engine.results import MatchResult
from affiliation_curator.curation.store import Store
from affiliation_curator.team.users import add_user, update_user
from tests.app.test_page_review import ETH, EPFL, button, click

PAGES_OF = {"curator": {"Review", "Export", "Evaluate"}}


@pytest.fixture
def team(monkeypatch):
    monkeypatch.setenv("AFFILIATION_CURATOR_SIGN_IN", "users")
    store = Store()
    add_user(store, "ann", "curator", password="ann-password")
    add_user(store, "bob", "curator", password="bob-password")
    add_user(store, "lea", "lead", password="lea-password")
    batch = store.create_batch("team batch", ["ETH / EPFL joint lab", "EPFL Lausanne"], registry_name="demo")
    for item in store.items(batch):
        store.save_result(item.id, MatchResult(item.affiliation, [ETH, EPFL], None, model="m", threshold=0.5))
    return store, batch


def sign_in(at, name: str, password: str):
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception, at.exception
    return at


def known_pages(at) -> str:
    with pytest.raises(ValueError) as refused:
        at.switch_page("components/state.py")  # a file that is never a page: the error lists the known ones
    return str(refused.value)


def test_signed_out_visitors_reach_only_the_sign_in_page(team, navigation_apptest):  # noqa: F811
    at = navigation_apptest()
    at.query_params["curator"] = "ann"  # a name in the URL signs nobody in
    at.run()
    assert [h.value for h in at.header] == ["Sign in"]
    pages = known_pages(at)
    assert "Known pages: ['Sign in'" in pages and "app_pages/" not in pages  # no page file is registered
    for page in ("app_pages/review.py", "app_pages/team.py", "app_pages/export.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)
    assert not at.sidebar.text_input  # no name box either
    sign_in(at, "ann", "wrong password")
    assert [e.value for e in at.error] == ["wrong name or password"] and [h.value for h in at.header] == ["Sign in"]
    sign_in(at, "nobody", "ann-password")
    assert [e.value for e in at.error] == ["wrong name or password"]


def test_a_curator_signs_in_decides_as_themselves_and_never_sees_the_team_page(team, navigation_apptest):  # noqa: F811
    store, batch = team
    at = navigation_apptest()
    at.query_params["batch"] = str(batch)
    at.query_params["curator"] = "lea"  # ignored with sign-in on
    at.run()
    sign_in(at, "ann", "ann-password")
    assert [h.value for h in at.header] == ["Review"]  # a curator's first page
    assert any("Signed in as **ann** (curator)" in m.value for m in at.sidebar.markdown)
    pages = known_pages(at)
    assert "app_pages/review.py" in pages and "app_pages/team.py" not in pages and "app_pages/match.py" not in pages
    with pytest.raises(ValueError):
        at.switch_page("app_pages/team.py")
    click(at, "cand_accept_1")
    (d,) = store.decisions(batch)
    assert (d["curator"], d["institution_id"]) == ("ann", ETH.id)
    update_user(store, "ann", disabled=True)  # a lead disables her: her next action meets the sign-in
    at.run()
    assert [h.value for h in at.header] == ["Sign in"] and any("no longer sign in" in e.value for e in at.error)
    sign_in(at, "ann", "ann-password")
    assert any("disabled" in e.value for e in at.error)


def test_a_lead_resolves_a_conflict_with_one_key(team, navigation_apptest):  # noqa: F811
    store, batch = team
    first = store.items(batch)[0]
    store.decide(first.id, "accept", "ann", ETH.id)
    store.decide(first.id, "accept", "bob", EPFL.id)
    at = navigation_apptest()
    at.query_params["batch"] = str(batch)
    at.run()
    sign_in(at, "lea", "lea-password")
    assert "app_pages/team.py" in known_pages(at)
    at.switch_page("app_pages/team.py").run()
    assert not at.exception, at.exception
    assert [h.value for h in at.header] == ["Team"]
    take = [b for b in at.button if (b.key or "").startswith(f"resolve_{first.id}_")]
    assert [b.proto.shortcut for b in take] == ["1", "2"]
    take[1].click().run()
    assert not at.exception, at.exception
    resolution = [d for d in store.decisions(batch) if d["method"] == "resolution"]
    assert len(resolution) == 1 and resolution[0]["curator"] == "lea"
    assert resolution[0]["institution_id"] in (ETH.id, EPFL.id)
    rows = {r["affiliation"]: r for r in store.table(batch)}
    assert rows[first.affiliation]["agreement"] == "resolved" and rows[first.affiliation]["resolved_by"] == "lea"
    assert any("No open conflicts" in s.value for s in at.success)

"""Sign-in and roles in the app (AppTest): signed-out visitors reach only the sign-in page,
curators never the Team page, the name on a decision is the signed-in user's, a lead resolves
a conflict with one key press."""

from __future__ import annotations

import re

import pytest

from affiliation_curator.engine.results import MatchResult
from affiliation_curator.curation.store import Store
from affiliation_curator.team.users import add_user, update_user
from tests.app.test_page_review import ETH, EPFL, click


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
    assert not at.header and at.code[0].value  # a curator's first page: Review (no title), the item's string
    assert any("Signed in as **ann** (curator)" in m.value for m in at.sidebar.markdown)
    pages = known_pages(at)
    assert "app_pages/review.py" in pages
    for lead_page in ("team", "match", "export", "evaluate", "registry", "train"):  # every label but their own
        assert f"app_pages/{lead_page}.py" not in pages
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


# ----------------------------------------------------------------------------- nobody sees what is not theirs


def plain(text: str) -> str:
    """A message as the user reads it (the app escapes markdown in it)."""
    return re.sub(r"\\(.)", r"\1", text)


def errors(at) -> list[str]:
    return [plain(e.value) for e in at.error]


def successes(at) -> list[str]:
    return [plain(s.value) for s in at.success]


def ranked_batch(store: Store, name: str, strings: list[str]) -> int:
    batch = store.create_batch(name, strings, registry_name="demo")
    for item in store.items(batch):
        store.save_result(item.id, MatchResult(item.affiliation, [ETH, EPFL], None, model="m", threshold=0.5))
    return batch


def signed_in(navigation_apptest, name: str, **params):  # noqa: ANN003
    at = navigation_apptest()
    for key, value in params.items():
        at.query_params[key] = str(value)
    at.run()
    return sign_in(at, name, f"{name}-password")


def shown_code(at) -> list[str]:
    return [c.value for c in at.code]


def everything_shown(at) -> str:
    parts = [c.value for c in at.code] + [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [str(d.value) for d in at.dataframe] + [str(o) for s in at.selectbox for o in s.options]
    return "\n".join(parts)


def test_a_curator_asking_for_a_batch_or_item_not_theirs_by_url_gets_a_refusal(team, navigation_apptest):  # noqa: F811
    from affiliation_curator.team import sharing
    from affiliation_curator.team.users import Identity

    store, open_batch = team
    add_user(store, "cy", "curator", password="cy-password")
    secret = ranked_batch(store, "bob and cy only", ["Secret Institute of Bob", "Hidden Lab of Cy"])
    sharing.set_sharing(store, Identity("lea", "lead"), secret, "split", ["bob", "cy"])
    bobs = store.items(secret)[0]
    store.decide(bobs.id, "accept", "bob", ETH.id)

    at = signed_in(navigation_apptest, "ann", batch=secret)
    assert not at.exception, at.exception
    assert errors(at) == [f"batch #{secret} is not shared with ann"]
    shown = everything_shown(at)
    assert "Secret Institute" not in shown and "Hidden Lab" not in shown and "bob and cy only" not in shown
    assert "ETH / EPFL joint lab" not in shown  # nothing opened instead: she chooses a batch of hers
    assert [i.value for i in at.info] == ["No batch is open: choose one above."]

    at = signed_in(navigation_apptest, "ann", item=bobs.id)
    assert errors(at) == [f"item {bobs.id} is not one of ann's items"]
    assert "Secret Institute" not in everything_shown(at)
    at = signed_in(navigation_apptest, "ann", item="'; DROP TABLE items; --")
    assert errors(at) == ["Not an item number: '; DROP TABLE items; --"]

    # cy is named in the split: the item bob decided is his, not hers; the open one is
    at = signed_in(navigation_apptest, "cy", item=bobs.id)
    assert errors(at) == [f"item {bobs.id} is not one of cy's items"]
    hers = store.items(secret)[1]
    at = signed_in(navigation_apptest, "cy", item=hers.id)
    assert not at.error and at.code[0].value == hers.affiliation  # her item, opened on the card
    from affiliation_curator.team import access
    from affiliation_curator.team.users import AccessError

    with pytest.raises(AccessError):  # ... and claimed: bob is not given it while she has it on screen
        access.check_item(store, Identity("bob", "curator"), hers.id)
    # a curator's table of a batch shared with everyone shows her own decisions, never another's
    second = store.items(open_batch)[1]
    store.decide(second.id, "accept", "bob", EPFL.id)
    at = signed_in(navigation_apptest, "ann", batch=open_batch)
    at.segmented_control(key="review_view").set_value("Table").run()
    (table,) = at.dataframe
    assert set(table.value["affiliation"]) == {"ETH / EPFL joint lab", "EPFL Lausanne"}
    assert set(table.value["curator"]) == {""} and set(table.value["decision"]) == {""}

    # the lead sees it all, and opens any item by its number
    at = signed_in(navigation_apptest, "lea")  # a lead's first page is Match: the link goes to Review
    at.query_params["item"] = str(bobs.id)
    at.switch_page("app_pages/review.py").run()
    assert not at.error and at.code[0].value == bobs.affiliation


def test_a_split_batch_shows_the_curators_own_progress(team, navigation_apptest):  # noqa: F811
    from affiliation_curator.team import sharing
    from affiliation_curator.team.users import Identity

    store, _ = team
    batch = ranked_batch(store, "split six", [f"Institute {i}, ETH Zurich" for i in range(6)])
    sharing.set_sharing(store, Identity("lea", "lead"), batch, "split", ["ann", "bob"])
    for _ in range(3):
        store.decide(sharing.next_item(store, batch, "bob").id, "none", "bob")
    at = signed_in(navigation_apptest, "ann", batch=batch)
    assert any(p.proto.text.startswith("0 of 3 of your items decided") for p in at.get("progress")), \
        [p.proto.text for p in at.get("progress")]
    click(at, "cand_accept_1")
    assert any(p.proto.text.startswith("1 of 3 of your items decided · 0 skipped · 2 to go")
               for p in at.get("progress")), [p.proto.text for p in at.get("progress")]
    click(at, "cand_accept_1")
    click(at, "cand_accept_1")
    assert [s.value for s in at.success] == [
        "Every item of this batch has a decision or is another curator's. Undo (U) takes back the last one."]
    views = at.segmented_control(key="review_view").options
    assert "Bulk accept" not in views  # bulk accept in a split batch would take other curators' items
    lead = signed_in(navigation_apptest, "lea", batch=batch)  # the lead who split it is not one of its curators
    lead.switch_page("app_pages/review.py").run()
    assert shown_code(lead) == [] and any(
        "split between ann, bob; you are not one of its curators" in i.value for i in lead.info), \
        [i.value for i in lead.info]


def test_repeated_wrong_passwords_lock_the_sign_in_with_a_clear_message(team, navigation_apptest):  # noqa: F811
    from affiliation_curator.team.signin_limit import MAX_PER_NAME

    at = navigation_apptest()
    at.run()
    for _ in range(MAX_PER_NAME):
        sign_in(at, "ann", "wrong password")
        assert errors(at) == ["wrong name or password"]
    sign_in(at, "ann", "ann-password")
    (error,) = errors(at)
    assert error.startswith("Too many failed sign-ins for ann; try again in ") and error.endswith(" s")
    assert [h.value for h in at.header] == ["Sign in"]


def test_a_sign_in_is_a_store_session_that_sign_out_ends_in_every_tab(team, navigation_apptest):  # noqa: F811
    """Each sign-in starts a session in the store; sign-out ends it (and the cookie script clears
    the cookie); a session ended elsewhere signs that tab out on its next run, with a reason."""
    from sqlalchemy import select

    from affiliation_curator.curation.store.models import SignInSession
    from affiliation_curator.team import sessions

    store, _ = team
    one = signed_in(navigation_apptest, "ann")
    two = signed_in(navigation_apptest, "ann")  # another browser: its own session
    tokens = [at.session_state["signin_token"] for at in (one, two)]
    assert all(sessions.lookup(store, t).name == "ann" for t in tokens) and tokens[0] != tokens[1]
    # the browser is told to keep the token (the cookie script holds only the token and the hours)
    (script,) = [e.proto.body for e in one.get("html")]
    assert script.replace(tokens[0], "TOKEN") == (  # nothing but the token and the hours goes in
        "<script>(function(){var secure = location.protocol === 'https:' ? '; Secure' : '';"
        "document.cookie = 'curator_session=TOKEN; Path=/; SameSite=Strict; Max-Age=43200' + secure;})();</script>")
    one.run()
    assert not one.get("html")  # written once, not on every run...
    one.session_state["signin_cookie_written_at"] -= 3600
    one.run()  # ... but again after a while in use, so the cookie's lifetime slides with the session's
    (script,) = [e.proto.body for e in one.get("html")]
    assert f"'curator_session={tokens[0]}; Path=/; SameSite=Strict; Max-Age=43200'" in script
    next(b for b in one.sidebar.button if b.label == "Sign out").click().run()
    assert not one.exception, one.exception
    assert [h.value for h in one.header] == ["Sign in"] and not errors(one)
    (script,) = [e.proto.body for e in one.get("html")]
    assert "'curator_session=; Path=/; SameSite=Strict; Max-Age=0' + secure" in script  # the cookie is cleared
    assert sessions.lookup(store, tokens[0]) is None and sessions.lookup(store, tokens[1]) is not None
    with store._read() as session:
        assert [s.revoked_at is not None for s in session.scalars(select(SignInSession).order_by(SignInSession.id))] == [True, False]
    sessions.end_all(store, "ann")  # e.g. signed out on another tab of the second browser
    two.run()
    assert [h.value for h in two.header] == ["Sign in"]
    assert errors(two) == ["Your sign-in has ended (signed out in another tab, or unused too long); sign in again"]



def test_a_garbage_session_length_setting_is_named_not_a_traceback(team, navigation_apptest, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AFFILIATION_CURATOR_SESSION_HOURS", "twelve")
    at = navigation_apptest()
    at.run()
    assert not at.exception, at.exception
    (error,) = errors(at)
    assert error.startswith("AFFILIATION_CURATOR_SESSION_HOURS='twelve' is not a number of hours")


# ----------------------------------------------------------------------------- the lead's Team page


def team_page(navigation_apptest):
    at = signed_in(navigation_apptest, "lea")
    at.switch_page("app_pages/team.py").run()
    assert not at.exception, at.exception
    return at


def test_the_lead_adds_disables_and_promotes_users_on_the_team_page(team, navigation_apptest):  # noqa: F811
    from affiliation_curator.team.users import authenticate, user

    store, _ = team
    at = team_page(navigation_apptest)
    at.text_input(key="user_add_name").input("dan")
    at.text_input(key="user_add_password").input("short")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert any("at least 8" in e for e in errors(at))
    at.text_input(key="user_add_name").input("dan")
    at.text_input(key="user_add_password").input("dan-password")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception, at.exception
    assert any("Added dan (curator)" in s for s in successes(at))
    assert authenticate(store, "dan", "dan-password").role == "curator"

    at.selectbox(key="user_change_name").set_value("dan").run()
    at.button(key="user_disable").click().run()
    assert user(store, "dan").disabled and any("dan: curator, disabled" in s for s in successes(at))
    at.button(key="user_disable").click().run()
    at.button(key="user_role").click().run()
    assert (user(store, "dan").role, user(store, "dan").disabled) == ("lead", False)
    at.text_input(key="user_new_password").input("dan-new-password")
    next(b for b in at.button if b.label == "Set password").click().run()
    assert authenticate(store, "dan", "dan-new-password").name == "dan"

    at.selectbox(key="user_change_name").set_value("lea").run()
    at.button(key="user_disable").click().run()  # not herself
    assert any("another lead can" in e for e in errors(at)) and not user(store, "lea").disabled


def test_the_lead_undoes_a_resolution_on_the_team_page(team, navigation_apptest):  # noqa: F811
    store, batch = team
    first = store.items(batch)[0]
    store.decide(first.id, "accept", "ann", ETH.id)
    store.decide(first.id, "accept", "bob", EPFL.id)
    at = team_page(navigation_apptest)
    assert at.button(key="resolution_undo").disabled  # nothing of hers to undo yet
    next(b for b in at.button if (b.key or "").startswith(f"resolve_{first.id}_")).click().run()
    assert [d["method"] for d in store.decisions(batch)].count("resolution") == 1
    undo = at.button(key="resolution_undo")
    assert not undo.disabled and undo.proto.shortcut == "u"
    undo.click().run()
    assert not at.exception, at.exception
    assert any(s.startswith("Undone: resolution:") for s in successes(at))
    assert [d for d in store.decisions(batch) if d["method"] == "resolution"] == []  # undone ones are not listed
    assert any(t.label == "Conflicts (1)" for t in at.tabs)  # the conflict is open again

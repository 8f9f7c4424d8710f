"""Sign-in with the app's own user list, in Chromium against ``streamlit run``: a signed-out tab
sees only the sign-in, a wrong password and a disabled user are refused, two curators signed in
in two browser contexts decide the same item and both decisions are kept as their own, a
curator has no Team page, a lead resolves the conflict with one key press."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from affiliation_curator.engine.results import Candidate, MatchResult
from affiliation_curator.curation.store import Store
from affiliation_curator.team import sharing
from affiliation_curator.team.users import Identity, add_user, update_user, users
from browser_support import CONNECTED, free_port, open_app, sign_in, start_server, stop_server, tab, wait_idle, wait_keys

ETH = Candidate("https://ror.org/05a28rw58", "ETH Zurich", 0.81, city="Zurich", country_name="Switzerland")
EPFL = Candidate("https://ror.org/02s376052", "EPFL", 0.79, city="Lausanne", country_name="Switzerland")
ITEMS = ["ETH / EPFL joint lab, Switzerland", "Swiss Federal Institute, Lausanne"]
SECRET = "Bob's own institute, Basel"


@pytest.fixture(scope="module")
def team_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, int]]:
    home = tmp_path_factory.mktemp("team-home")
    store = Store(f"sqlite:///{home / 'curator.db'}")
    add_user(store, "ann", "curator", password="ann-password")
    add_user(store, "bob", "curator", password="bob-password")
    add_user(store, "cy", "curator", password="cy-password")
    update_user(store, "cy", disabled=True)
    add_user(store, "lea", "lead", password="lea-password")
    batch = store.create_batch("team", ITEMS, registry_name="demo")
    secret = store.create_batch("bob only", [SECRET], registry_name="demo")
    for item in [*store.items(batch), *store.items(secret)]:
        store.save_result(item.id, MatchResult(item.affiliation, [ETH, EPFL], None, model="m", threshold=0.5))
    sharing.set_sharing(store, Identity("lea", "lead"), secret, "split", ["bob"])
    port = free_port()
    proc = start_server(home, port, tmp_path_factory.mktemp("team-log") / "streamlit.log",
                        extra_env={"AFFILIATION_CURATOR_SIGN_IN": "users"})
    try:
        yield f"http://127.0.0.1:{port}", home, batch
    finally:
        stop_server(proc)


def test_two_curators_and_a_lead_in_three_browsers(browser, team_server, tmp_path):  # noqa: ANN001
    url, home, batch = team_server
    store = Store(f"sqlite:///{home / 'curator.db'}")
    ann_ctx, ann = tab(browser)
    bob_ctx, bob = tab(browser)
    lea_ctx, lea = tab(browser)
    try:
        # signed out: a deep link to a page reaches the sign-in only; a name in the URL signs nobody in
        open_app(ann, f"{url}/review?batch={batch}&curator=lea")
        ann.get_by_role("heading", name="Sign in").wait_for()
        assert ann.get_by_role("link", name="Review").count() == 0 and ann.get_by_text(ITEMS[0]).count() == 0
        sign_in(ann, "ann", "not her password")
        ann.get_by_text("wrong name or password").wait_for()
        sign_in(ann, "cy", "cy-password")
        ann.get_by_text("is disabled").wait_for()
        sign_in(ann, "ann", "ann-password")
        ann.get_by_text(ITEMS[0]).first.wait_for()
        ann.get_by_text("Signed in as").wait_for()
        # a curator's one page is Review: no navigation at all, no link to a lead's page
        assert ann.locator("[data-testid=stSidebarNav]").count() == 0
        for lead_page in ("Team", "Match", "Export", "Evaluate"):
            assert ann.get_by_role("link", name=lead_page).count() == 0
        ann.screenshot(path=str(tmp_path / "ann.png"))

        # a lead page's address or a batch / item not hers, asked for in the URL: a refusal, not the data
        secret = next(b.id for b in store.batches() if b.name == "bob only")
        secret_item = store.items(secret)[0].id
        for path, refusal in ((f"review?batch={secret}", f"batch #{secret} is not shared with ann"),
                              (f"review?item={secret_item}", f"item {secret_item} is not one of ann's items"),
                              (f"team?batch={secret}", None)):
            open_app(ann, f"{url}/{path}")  # a new page load: her sign-in holds (the curator_session cookie)
            ann.get_by_text("Signed in as").wait_for()
            if refusal:
                ann.get_by_text(refusal).wait_for()
            assert ann.get_by_text(SECRET).count() == 0 and ann.get_by_role("tab", name=re.compile("Conflicts")).count() == 0
            assert ann.get_by_role("heading", name="Team").count() == 0
        ann.screenshot(path=str(tmp_path / "ann-refused.png"))
        open_app(ann, f"{url}/review?batch={batch}")
        ann.get_by_text(ITEMS[0]).first.wait_for()

        open_app(bob, f"{url}/review?batch={batch}")
        sign_in(bob, "bob", "bob-password")
        bob.get_by_text(ITEMS[0]).first.wait_for()

        # both decide the first item, differently, by key press; both decisions stay, each as its curator's
        for page, key in ((ann, "1"), (bob, "2")):
            wait_keys(page)
            page.evaluate("document.activeElement && document.activeElement.blur()")
            page.keyboard.press(key)
            page.get_by_text(ITEMS[1]).first.wait_for()
        first = store.items(batch)[0].id
        own = {(d["curator"], d["institution_id"]) for d in store.decisions(batch) if d["item_id"] == first}
        assert own == {("ann", ETH.id), ("bob", EPFL.id)}

        # the lead sees the Team page and resolves the conflict with one key
        open_app(lea, f"{url}/?batch={batch}")
        sign_in(lea, "lea", "lea-password")
        lea.get_by_role("link", name="Team").click()
        lea.wait_for_selector(CONNECTED)
        lea.get_by_role("tab", name=re.compile(r"Conflicts \(1\)")).click()
        lea.get_by_text(ITEMS[0]).first.wait_for()
        lea.screenshot(path=str(tmp_path / "lead-conflict.png"))
        lea.evaluate("document.activeElement && document.activeElement.blur()")
        lea.keyboard.press("1")
        lea.get_by_role("tab", name="Conflicts (0)").wait_for()
        wait_idle(lea)  # the lead stays on the Conflicts tab (its label follows the count)
        assert lea.get_by_role("tab", name="Conflicts (0)").get_attribute("aria-selected") == "true"
        resolution = [d for d in store.decisions(batch) if d["method"] == "resolution"]
        assert [(d["curator"], d["item_id"]) for d in resolution] == [("lea", first)]
        # ... and undoes it with U: the conflict is open again
        wait_idle(lea)
        lea.evaluate("document.activeElement && document.activeElement.blur()")
        lea.keyboard.press("u")
        lea.get_by_role("tab", name="Conflicts (1)").wait_for()
        assert [d for d in store.decisions(batch) if d["method"] == "resolution"] == []

        # the lead adds a curator and disables one on the Team page (no command line needed)
        lea.get_by_role("tab", name="Users").click()
        add = lea.locator("[data-testid=stForm]").filter(has_text="Add a user")
        add.get_by_role("textbox", name="Name").fill("dan")
        add.get_by_role("textbox", name=re.compile("^Password")).fill("dan-password")
        add.get_by_role("button", name="Add user").click()
        lea.get_by_text("Added dan (curator).").wait_for()
        wait_idle(lea)
        lea.get_by_role("button", name="Disable").click()  # the first user of the list: ann
        lea.get_by_text("ann: curator, disabled.").wait_for()
        lea.screenshot(path=str(tmp_path / "lead-users.png"))
        assert {(u.name, u.role, u.disabled) for u in users(store)} >= {("dan", "curator", False), ("ann", "curator", True)}
    finally:
        for context in (ann_ctx, bob_ctx, lea_ctx):
            context.close()

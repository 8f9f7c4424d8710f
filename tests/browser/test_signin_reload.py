"""Sign-in with the app's own user list survives a reload, in Chromium against ``streamlit run``:
a reload and a new tab of the same browser stay signed in (the ``curator_session`` cookie),
another browser does not; sign-out ends it; a lead disabling the curator signs them out on
their next reload; a forged cookie reaches the sign-in page."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from affiliation_curator.curation.store import Store
from affiliation_curator.curation.store.models import SignInSession
from affiliation_curator.team.users import Identity, add_user, manage_user
from browser_support import CONNECTED, free_port, open_app, sign_in, start_server, stop_server, tab, wait_idle


@pytest.fixture(scope="module")
def users_server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("reload-home")
    store = Store(f"sqlite:///{home / 'curator.db'}")
    add_user(store, "ann", "curator", password="ann-password")
    add_user(store, "lea", "lead", password="lea-password")
    port = free_port()
    proc = start_server(home, port, tmp_path_factory.mktemp("reload-log") / "streamlit.log",
                        extra_env={"AFFILIATION_CURATOR_SIGN_IN": "users", "AFFILIATION_CURATOR_SESSION_HOURS": "2"})
    try:
        yield f"http://127.0.0.1:{port}", home
    finally:
        stop_server(proc)


def signed_in_as(page, name: str) -> None:  # noqa: ANN001
    page.get_by_text("Signed in as").wait_for()
    wait_idle(page)
    assert f"Signed in as {name}" in page.locator("[data-testid=stSidebar]").inner_text()
    assert page.get_by_role("heading", name="Sign in").count() == 0


def on_sign_in_page(page) -> None:  # noqa: ANN001
    page.get_by_role("heading", name="Sign in").wait_for()
    wait_idle(page)  # the run that drew the heading has ended: nothing of the signed-in page is left
    assert page.get_by_text("Signed in as").count() == 0


def reload(page) -> None:  # noqa: ANN001
    page.reload()
    page.wait_for_selector(CONNECTED, timeout=60_000)
    wait_idle(page)


def session_cookie(context) -> dict | None:  # noqa: ANN001
    return next((c for c in context.cookies() if c["name"] == "curator_session"), None)


def test_a_sign_in_survives_a_reload_and_a_new_tab_until_sign_out_or_a_lead_disables(browser, users_server, tmp_path):  # noqa: ANN001
    url, home = users_server
    store = Store(f"sqlite:///{home / 'curator.db'}")
    ctx, ann = tab(browser)
    other_ctx, other = tab(browser)
    try:
        open_app(ann, url)
        on_sign_in_page(ann)
        sign_in(ann, "ann", "ann-password")
        signed_in_as(ann, "ann")
        ann.wait_for_function("document.cookie.includes('curator_session=')")
        cookie = session_cookie(ctx)
        assert cookie is not None and cookie["path"] == "/" and cookie["sameSite"] == "Strict"
        assert 2 * 3600 - 120 < cookie["expires"] - time.time() <= 2 * 3600  # the setting's hours
        with store._read() as session:  # the store holds the token's hash, never the token
            (row,) = session.scalars(select(SignInSession)).all()
        assert row.token_hash == hashlib.sha256(cookie["value"].encode()).hexdigest() and row.user_name == "ann"

        reload(ann)
        signed_in_as(ann, "ann")
        ann.screenshot(path=str(tmp_path / "after-reload.png"))
        second = ctx.new_page()  # a new tab of the same browser
        open_app(second, url)
        signed_in_as(second, "ann")
        open_app(other, url)  # another browser: no cookie, the sign-in page
        on_sign_in_page(other)

        # sign-out ends the session (the other tab too, on its next run) and clears the cookie
        ann.get_by_role("button", name="Sign out").click()
        on_sign_in_page(ann)
        ann.wait_for_function("!document.cookie.includes('curator_session=')")
        assert session_cookie(ctx) is None
        reload(ann)
        on_sign_in_page(ann)
        with store._read() as session:
            assert session.scalars(select(SignInSession)).one().revoked_at is not None
        open_app(second, url)
        on_sign_in_page(second)

        # signed in again; a lead disables her: her next reload meets the sign-in page
        sign_in(ann, "ann", "ann-password")
        signed_in_as(ann, "ann")
        reload(ann)
        signed_in_as(ann, "ann")
        manage_user(store, Identity("lea", "lead"), "ann", disabled=True)
        reload(ann)
        on_sign_in_page(ann)
        ann.get_by_text("ann can no longer sign in; ask a lead").wait_for()  # the page says why
        ann.screenshot(path=str(tmp_path / "disabled.png"))
        manage_user(store, Identity("lea", "lead"), "ann", disabled=False)
        open_app(ann, url)  # re-enabled: the ended session stays ended
        on_sign_in_page(ann)

        # a forged or garbage cookie: the sign-in page, no traceback, and the cookie is cleared
        for forged in ("A" * 43, "x" * 3000, "%00%3Cscript%3E"):
            other_ctx.add_cookies([{"name": "curator_session", "value": forged, "url": url}])
            open_app(other, url)
            on_sign_in_page(other)
            assert other.get_by_text("Traceback").count() == 0 and other.locator("[data-testid=stException]").count() == 0
            other.wait_for_function("!document.cookie.includes('curator_session=')")
    finally:
        ctx.close()
        other_ctx.close()

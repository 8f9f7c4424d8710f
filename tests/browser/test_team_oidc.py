"""Sign-in through OpenID Connect for real: a local provider (tests/browser/oidc_provider.py,
RS256 ID tokens through joserfc, Authlib's JOSE library), ``streamlit run`` with an ``[auth]`` secrets block and
``sign_in = oidc``, and Chromium signing in through ``st.login``: a user on the team's list gets
their name and role, an account not on the list is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from affiliation_curator.curation.store import Store
from affiliation_curator.team.users import add_user
from browser_support import CONNECTED, PROJECT_DIR, free_port, stop_server, wait_idle

pytest.importorskip("authlib", reason="st.login needs Authlib (requirements.txt)")
from oidc_provider import Provider  # noqa: E402


@pytest.fixture(scope="module")
def oidc_app(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("oidc-home")
    store = Store(f"sqlite:///{home / 'curator.db'}")
    add_user(store, "Ann Curator", "curator", email="ann@example.org")
    add_user(store, "Lea Lead", "lead", email="lea@example.org")
    with Provider("curator-test", "test-secret") as provider:
        port = free_port()
        secrets_path = home / "secrets.toml"
        secrets_path.write_text(
            "[auth]\n"
            f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            'cookie_secret = "a-long-random-cookie-secret-for-the-test-0123456789"\n'
            'client_id = "curator-test"\n'
            'client_secret = "test-secret"\n'
            f'server_metadata_url = "{provider.url}/.well-known/openid-configuration"\n'
        )
        env = dict(os.environ, AFFILIATION_CURATOR_HOME=str(home), AFFILIATION_CURATOR_SIGN_IN="oidc",
                   HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        env.pop("AFFILIATION_CURATOR_DB", None)
        log = open(home / "streamlit.log", "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", "--secrets.files", str(secrets_path)],
            cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError((home / "streamlit.log").read_text()[-3000:]) from None
                    time.sleep(0.3)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_server(proc)
            log.close()


def sign_in_with_provider(browser, url: str, email: str, shot: Path):  # noqa: ANN001, ANN201
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    page = context.new_page()
    page.goto(f"{url}/review")
    page.wait_for_selector(CONNECTED, timeout=60_000)
    page.get_by_role("heading", name="Sign in").wait_for()
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Test provider").wait_for()  # the provider's own page
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.wait_for_selector(CONNECTED, timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(shot))
    return context, page


def test_sign_in_through_openid_connect(browser, oidc_app: str, tmp_path: Path):  # noqa: ANN001
    context, page = sign_in_with_provider(browser, oidc_app, "ann@example.org", tmp_path / "ann.png")
    try:
        page.get_by_text("Signed in as").wait_for()
        assert "Ann Curator" in page.locator("[data-testid=stSidebar]").inner_text()
        # a curator's one page is Review: no navigation, no link to a lead's page
        assert page.locator("[data-testid=stSidebarNav]").count() == 0
        assert page.get_by_role("link", name="Team").count() == 0
    finally:
        context.close()
    context, page = sign_in_with_provider(browser, oidc_app, "eve@example.org", tmp_path / "eve.png")
    try:
        page.get_by_text("not on the team's user list").wait_for()
        assert page.get_by_role("heading", name="Sign in").count() == 1
        assert page.locator("[data-testid=stSidebarNav]").count() == 0
    finally:
        context.close()

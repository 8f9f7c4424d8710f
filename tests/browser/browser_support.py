"""Helpers for the browser tests (Playwright sync API)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("AFFILIATION_CURATOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CONNECTED = "[data-testid=stApp][data-test-connection-state=CONNECTED]"
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
SERVER_START_SECONDS = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, port: int, log_path: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """``streamlit run app.py`` on ``port`` with data directory ``home``; returns once /_stcore/health answers."""
    env = dict(os.environ)
    env.update(
        AFFILIATION_CURATOR_HOME=str(home),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
    )
    env.pop("AFFILIATION_CURATOR_DB", None)
    env.update(extra_env or {})
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.headless", "true",
            "--server.port", str(port),
            "--server.address", "127.0.0.1",
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ],
        cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + SERVER_START_SECONDS
    url = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError(f"streamlit did not answer within {SERVER_START_SECONDS}s:\n{log_path.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def open_app(page, url: str) -> None:
    """Go to ``url`` and wait until the app is connected and has finished its run."""
    page.goto(url)
    page.wait_for_selector(CONNECTED, timeout=60_000)
    wait_idle(page)


def wait_idle(page, timeout: float = 30_000) -> None:
    """Wait until no script or fragment run is in progress (the app root says ``notRunning``)."""
    page.wait_for_selector(IDLE, state="attached", timeout=timeout)


# True once the card's candidate rows listen for their keys (1-9, Alt/Shift+digit) on the item the
# card shows (the action bar's keys carry its id), or when the card has no candidate rows.
KEYS_READY = """() => {
  const host = document.querySelector('.stBidiComponent [data-testid^=stBidiComponent]');
  if (!host) return true;
  const rows = (host.shadowRoot || host).querySelector('.cand-rows');
  const bar = document.querySelector('[class*="st-key-act_none_"]');
  const id = bar && (bar.className.match(/st-key-act_none_(\\d+)/) || [])[1];
  return !!rows && !!id && rows.dataset.ready === id;
}"""


def wait_keys(page, timeout: float = 30_000) -> None:
    """Wait until the card's digit keys act on the item shown (the rows' script is loaded and has
    drawn them): a key pressed on a card still loading would otherwise do nothing."""
    page.wait_for_function(KEYS_READY, timeout=timeout)


def wait_ranked(home: Path, batch_id: int, timeout: float = 180.0) -> None:
    """Wait until the ranking job has ranked every item of a batch (read from the store: a cold
    start loads the engine first, which takes longer than a card's wait on a busy machine)."""
    from affiliation_curator.curation.store import Store

    store = Store(f"sqlite:///{home / 'curator.db'}")
    deadline = time.monotonic() + timeout
    while store.count_unranked(batch_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert store.count_unranked(batch_id) == 0, f"batch {batch_id} not ranked within {timeout:.0f} s"


def tab(browser):  # noqa: ANN001, ANN201
    """A new browser context (its own cookies: another curator) and its page."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    return context, context.new_page()


def sign_in(page, name: str, password: str) -> None:  # noqa: ANN001
    """Sign in through the app's own user list."""
    page.get_by_role("textbox", name="Name").fill(name)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    wait_idle(page)
    if page.get_by_text("Signed in as").count():  # signed in: a page load after this one signs in by the cookie,
        # which a script of the run just drawn sets; a test that navigates at once must not outrun it
        page.wait_for_function("document.cookie.includes('curator_session=')", timeout=10_000)

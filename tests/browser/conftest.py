"""Browser end-to-end fixtures: the real app under ``streamlit run`` and headless Chromium.

``app_url`` starts one Streamlit server for the test session with its own data directory
(``app_home``); ``page`` is a fresh browser tab (own context: no shared storage) per test.
Tests here are marked ``browser``; they skip with a reason where Chromium is missing.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_support import CHROMIUM, CHROMIUM_ARGS, free_port, start_server, stop_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


SERVER_LOGS: list[Path] = []  # the session server's log, shown under a failing browser test
LOG_TAIL_LINES = 80


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failing browser test also shows the server log's tail, the page's text and a screenshot:
    a flaky failure in CI can then be read without rerunning it."""
    report = yield
    if report.when != "call" or not report.failed or "browser" not in item.keywords:
        return report
    for log_path in SERVER_LOGS[-1:]:
        try:
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError as err:
            tail = [f"(log not readable: {err})"]
        report.sections.append(("streamlit server log (tail)", "\n".join(tail)))
    page = getattr(item, "funcargs", {}).get("page")
    if page is not None:
        try:
            shot = Path(item.config.rootpath) / "test-artifacts" / f"{item.name[:80]}.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            text = page.locator("[data-testid=stApp]").inner_text(timeout=5_000)
            state = page.locator("[data-testid=stApp]").get_attribute("data-test-script-state", timeout=5_000)
            report.sections.append(("page at failure", f"url {page.url}\nscript state {state}\nscreenshot {shot}\n{text[:3000]}"))
        except Exception as err:  # noqa: BLE001 - diagnostics must not hide the failure
            report.sections.append(("page at failure", f"(not readable: {err})"))
    return report


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (install the Debian package 'chromium'; .ci/run does)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("the Python package 'playwright' is not installed")
    return CHROMIUM


@pytest.fixture(scope="session")
def app_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of the session's Streamlit server."""
    return tmp_path_factory.mktemp("browser-curator-home")


@pytest.fixture(scope="session")
def app_url(chromium_path: str, app_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a running ``streamlit run app.py`` (one per test session)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("streamlit-log") / "streamlit.log"
    SERVER_LOGS.append(log_path)
    proc = start_server(app_home, port, log_path)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator["object"]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, app_url: str) -> Iterator["object"]:
    """A fresh tab (own browser context) with a desktop-sized viewport; not yet navigated."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()

"""Regenerate the README screenshots (docs/match.png, docs/review.png) with headless Chromium.

    python docs/screenshots.py

Starts ``streamlit run app.py`` on a fresh data directory, pastes the sample affiliations on
the Match page, decides a few on the Review page with the keyboard and photographs both pages.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR / "tests" / "browser"))

from browser_support import (  # noqa: E402
    CHROMIUM, CHROMIUM_ARGS, free_port, open_app, start_server, stop_server, wait_idle,
)

SAMPLES = [
    line for line in (PROJECT_DIR / "data" / "sample_affiliations.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and all(ord(ch) < 0x250 for ch in line)  # Latin script only: CI Chromium lacks CJK fonts
]
SHOW = "Dept. of Surgery, TU Munich, Germany"


def main() -> int:
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="screenshots-"))
    port = free_port()
    proc = start_server(home, port, home / "streamlit.log")
    url = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1750}, device_scale_factor=1)
            open_app(page, url)
            name = page.get_by_role("textbox", name="Curator")
            name.fill("Ann Curator")
            name.press("Enter")
            wait_idle(page)
            page.get_by_role("textbox", name="Batch name").fill("Sample affiliations")
            page.get_by_role("textbox", name="Affiliations, one a line").fill("\n".join(SAMPLES + SAMPLES[:3]))
            page.get_by_role("button", name="Import and rank").first.click()
            page.get_by_text("created and ranking").wait_for()
            time.sleep(2)
            wait_idle(page)
            page.screenshot(path=str(PROJECT_DIR / "docs" / "match.png"), full_page=True)

            page.get_by_role("link", name="Review this batch").click()
            page.wait_for_selector("[data-testid=stCode]")
            wait_idle(page)
            page.evaluate("document.activeElement && document.activeElement.blur()")
            for _ in range(len(SAMPLES)):
                text = page.locator("[data-testid=stCode]").first.inner_text().strip()
                if text == SHOW:
                    break
                page.keyboard.press("1")
                page.wait_for_function(
                    "prev => { const c = document.querySelector('[data-testid=stCode]');"
                    " return c && c.innerText.trim() !== prev; }", arg=text,
                )
                wait_idle(page)
                time.sleep(0.4)
            time.sleep(4)  # let the toast fade
            wait_idle(page)
            page.screenshot(path=str(PROJECT_DIR / "docs" / "review.png"), full_page=True)
            browser.close()
    finally:
        stop_server(proc)
    print("wrote docs/match.png and docs/review.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

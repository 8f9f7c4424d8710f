"""Regenerate the README screenshots with headless Chromium.

    python docs/screenshots.py

Starts ``streamlit run app.py`` on a fresh data directory, pastes the sample affiliations on
the Match page, decides a few on the Review page with the keyboard and photographs both pages:
docs/match.png and docs/review.png (whole pages), then the Review card as a curator sees it
without scrolling, docs/review-1280x720.png and docs/review-1920x1080.png (the window only; the
boxes of the first three Accept buttons are printed), and docs/review-search-1280x720.png (F
pressed and a name typed: the search opens under the string, its field focused).
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR / "tests" / "browser"))

from browser_support import (  # noqa: E402
    CHROMIUM, CHROMIUM_ARGS, free_port, open_app, start_server, stop_server, wait_idle, wait_keys,
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

            page.get_by_role("link", name="Review this batch").first.click()  # the polled panel may show it twice mid-run
            page.wait_for_selector("[data-testid=stCode]")
            wait_idle(page)
            page.evaluate("document.activeElement && document.activeElement.blur()")
            for _ in range(len(SAMPLES)):
                text = page.locator("[data-testid=stCode]").first.inner_text().strip()
                if text == SHOW:
                    break
                wait_keys(page)
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

            for width, height in ((1920, 1080), (1280, 720)):  # what fits the first screen
                page.set_viewport_size({"width": width, "height": height})
                time.sleep(1)
                wait_idle(page)
                page.evaluate("window.scrollTo(0, 0)")
                boxes = [page.get_by_role("button", name=re.compile(r"^Accept\b")).nth(i).bounding_box() for i in range(3)]
                print(f"{width}x{height}: first three Accept buttons at "
                      + ", ".join(f"y={b['y']:.0f}..{b['y'] + b['height']:.0f}" for b in boxes))
                page.screenshot(path=str(PROJECT_DIR / "docs" / f"review-{width}x{height}.png"))
            page.keyboard.press("f")
            search = page.get_by_role("textbox", name="Search the registry: name, acronym or ROR id")
            search.wait_for()
            wait_idle(page)
            page.keyboard.type("TU Munich")  # into the focused field
            page.keyboard.press("Enter")
            wait_idle(page)
            time.sleep(1)
            page.screenshot(path=str(PROJECT_DIR / "docs" / "review-search-1280x720.png"))
            browser.close()
    finally:
        stop_server(proc)
    print("wrote docs/match.png, docs/review.png, docs/review-1280x720.png, docs/review-1920x1080.png, "
          "docs/review-search-1280x720.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""In Chromium: a string naming several institutions; the card says so, Alt+digit accepts one
more and stays, the digit adds the last and moves on, A accepts them all (issue 12). Writes a
screenshot of the card (at 1280x720) to $AFFILIATION_CURATOR_SCREENSHOTS or the test's folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser_support import open_app, wait_idle
from affiliation_curator.curation.store import Store
from test_curation_flow import card_text, press, wait_card

pytestmark = pytest.mark.browser

MIT = "https://ror.org/042nb2s44"
HARVARD = "https://ror.org/03vek6s52"
MPI = "https://ror.org/04py35477"
MPG = "https://ror.org/01hhn8329"
STRINGS = [
    "Dept of Physics, Massachusetts Institute of Technology; Harvard University, Cambridge, MA",
    "Max Planck Institute of Biochemistry, Max Planck Society, Martinsried, Germany",
    "Department of Surgery, Technical University of Munich, Germany",
]


def test_accept_several_institutions_with_the_keyboard(browser, app_url: str, app_home: Path, tmp_path: Path):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        open_app(page, app_url)
        curator = page.get_by_role("textbox", name="Curator")
        curator.fill("Ann")
        curator.press("Enter")
        wait_idle(page)
        page.get_by_role("textbox", name="Batch name").fill("Several institutions")
        page.get_by_role("textbox", name="Affiliations, one a line").fill("\n".join(STRINGS))
        page.get_by_role("button", name="Import and rank").first.click()
        page.get_by_text("Kept 3 affiliations").wait_for()
        batch = next(b for b in Store(f"sqlite:///{app_home / 'curator.db'}").batches() if b.name == "Several institutions")
        page.get_by_role("link", name="Review this batch").click()
        wait_card(page, STRINGS[0])
        page.get_by_text("Names several institutions:").wait_for()
        page.get_by_role("button", name="Accept all 2").wait_for()
        page.evaluate("document.activeElement && document.activeElement.blur()")

        store = Store(f"sqlite:///{app_home / 'curator.db'}")
        items = {i.affiliation: i for i in store.items(batch.id)}
        ranks = {c.id: n for n, c in enumerate(items[STRINGS[0]].candidates, 1)}
        page.keyboard.press(f"Alt+{ranks[HARVARD]}")  # accept Harvard too: the card stays
        page.get_by_text("Also accepted Harvard University").wait_for()
        wait_idle(page)
        assert card_text(page) == STRINGS[0]
        shots = Path(os.environ.get("AFFILIATION_CURATOR_SCREENSHOTS") or tmp_path)
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "review-several.png"))
        page.set_viewport_size({"width": 1280, "height": 1500})  # the whole card (the app scrolls inside)
        wait_idle(page)
        page.screenshot(path=str(shots / "review-several-full.png"))
        page.set_viewport_size({"width": 1280, "height": 720})
        press(page, str(ranks[MIT]), STRINGS[1])  # the digit adds MIT and moves on
        assert store.item(items[STRINGS[0]].id).accepted_ids == [HARVARD, MIT]

        page.get_by_text("Names several institutions:").wait_for()
        press(page, "a", STRINGS[2])  # A: both institutions the parts name
        assert set(store.item(items[STRINGS[1]].id).accepted_ids) == {MPI, MPG}
        assert page.get_by_text("Names several institutions:").count() == 0  # one institution: no banner
    finally:
        context.close()

"""End to end in Chromium: open the Registry page from the sidebar, find an institution of the
demo registry (data/demo_registry.json) by name, and see its record with the ror.org link."""

from __future__ import annotations

import re

import pytest

from browser_support import open_app, wait_idle

pytestmark = pytest.mark.browser

TUM_ID = "https://ror.org/02kkvpp62"


def test_find_an_institution_on_the_registry_page(page, app_url: str):
    open_app(page, app_url)
    page.get_by_role("link", name="Registry").first.click()
    page.wait_for_url(re.compile(r"/registry$"))
    page.get_by_role("heading", name="Find an institution").wait_for()
    wait_idle(page)
    page.get_by_text("Active registry: demo").wait_for()  # the demo registry is in use on a fresh data dir

    find = page.get_by_role("textbox", name="Name, acronym or ROR ID")
    find.fill("Technical University of Munich")
    find.press("Enter")
    wait_idle(page)

    # The best hit is chosen in the results box and its record is drawn below it.
    page.get_by_role("heading", name="Technical University of Munich", exact=True).wait_for()
    chosen = page.get_by_role("combobox", name=re.compile(r"^\d+ results?$")).input_value()
    assert chosen == f"Technical University of Munich — Munich, Germany ({TUM_ID})", chosen
    record = page.locator("[data-testid=stMarkdownContainer]", has_text="Location:")
    assert re.search(r"Location:\s*Munich, Germany \(DE\)", record.first.inner_text()), record.first.inner_text()
    assert TUM_ID in page.locator("[data-testid=stMarkdownContainer]", has_text="ID:").first.inner_text()
    link = page.get_by_role("link", name=re.compile("Open on ror.org"))
    link.wait_for()
    assert link.get_attribute("href") == TUM_ID

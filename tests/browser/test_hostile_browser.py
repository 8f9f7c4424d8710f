"""End to end in Chromium: a hostile registry and hostile affiliations make the browser fetch
nothing from outside and draw no link but ror.org ones (Review card, registry search, Registry page)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser_support import free_port, open_app, start_server, stop_server, wait_idle

pytestmark = pytest.mark.browser

VALID_LINK = re.compile(r"https://ror\.org/0[a-hj-km-np-tv-z0-9]{6}[0-9]{2}")


@pytest.fixture
def hostile_app(chromium_path: str, curator_home: Path, tmp_path: Path):
    """A server of its own whose data directory holds the hostile registry (active) and a ranked hostile batch."""
    from fixtures.hostile import AFFILIATIONS, hostile_records
    from fixtures.registries import write_json
    from affiliation_curator.engine.results import Candidate, MatchResult
    from affiliation_curator.registry import RegistryCatalog
    from affiliation_curator.curation.store import Store, dispose_engines

    catalog = RegistryCatalog()
    catalog.import_file(write_json(tmp_path / "hostile.json", hostile_records()), name="hostile")
    catalog.use("hostile")
    registry = catalog.load("hostile")
    cands = [Candidate(i.id, i.name, 0.9 - 0.1 * n, city=i.city, country_name=i.country_name)
             for n, i in enumerate(registry.institutions)]
    store = Store()
    batch_id = store.create_batch("Hostile", AFFILIATIONS, registry_name="hostile", model_id="test")
    for item in store.items(batch_id):
        store.save_result(item.id, MatchResult(item.affiliation, cands, None, model="test", threshold=0.5))
    dispose_engines()
    port = free_port()
    proc = start_server(curator_home, port, tmp_path / "streamlit.log")
    try:
        yield f"http://127.0.0.1:{port}", batch_id
    finally:
        stop_server(proc)


# Links and sources in the page and in every open shadow root (the candidate rows are a component's).
ALL_LINKS = """() => {
  const out = [];
  const walk = (root) => {
    root.querySelectorAll("a[href], img[src], iframe[src]").forEach((e) => out.push(e.href || e.src));
    root.querySelectorAll("*").forEach((e) => { if (e.shadowRoot) walk(e.shadowRoot); });
  };
  walk(document);
  return out;
}"""


def outside_links(page) -> list[str]:
    hrefs = page.evaluate(ALL_LINKS)
    base = re.compile(r"^http://127\.0\.0\.1:\d+/")
    return [h for h in hrefs if not (base.match(h) or VALID_LINK.fullmatch(h) or h.startswith(("data:", "blob:")))]


def test_hostile_records_fetch_nothing_and_link_nowhere(browser, hostile_app) -> None:
    url, batch_id = hostile_app
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        open_app(page, f"{url}/review?batch={batch_id}")
        page.get_by_text("Evil University", exact=False).first.wait_for()
        assert outside_links(page) == [], outside_links(page)
        assert page.locator("a", has_text="ror.org").count() >= 1  # the valid candidate keeps its link

        page.get_by_role("button", name="Search").click()  # F; the field takes the focus
        search = page.get_by_role("textbox", name=re.compile("Search the registry"))
        search.fill("Evil")
        search.press("Enter")
        wait_idle(page)
        page.get_by_text("Evil Institute", exact=False).first.wait_for()
        assert outside_links(page) == [], outside_links(page)

        page.get_by_role("link", name="Registry").first.click()
        page.get_by_role("heading", name="Find an institution").wait_for()
        find = page.get_by_role("textbox", name="Name, acronym or ROR ID")
        find.fill("Evil University")
        find.press("Enter")
        wait_idle(page)
        page.get_by_text("Links", exact=True).first.wait_for()
        assert outside_links(page) == [], outside_links(page)
        assert page.get_by_role("link", name=re.compile("Open on ror.org")).count() == 0  # no valid id, no link
    finally:
        context.close()
    # the app's own requests only (blob:URL is a script of the app's, e.g. the candidate rows')
    outside = [r for r in requests if "evil" in r or not r.startswith((url, f"blob:{url}/"))]
    assert outside == [], outside

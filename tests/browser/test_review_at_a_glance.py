"""The Review card at a glance, in Chromium (issue #12): at 1280x720 and 1920x1080 the string,
the score bars and the first three candidates (Accept and Reject keys, name, score, evidence)
are on the first screen without scrolling; every key works whatever was clicked last (Order,
Show, View, the batch); F opens the registry search under the string with its field focused,
Escape closes it and the keys work again."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import PROJECT_DIR, open_app, wait_idle, wait_keys

pytestmark = pytest.mark.browser

CARD = "[data-testid=stCode]"
SAMPLES = [
    line for line in (PROJECT_DIR / "data" / "sample_affiliations.txt").read_text(encoding="utf-8").splitlines()
    if line.strip()
][:12]


@pytest.fixture
def ranked_batch(app_home: Path) -> tuple[int, list[int]]:
    """The sample affiliations ranked against the demo registry (lexical scorer, ten candidates
    each), written into the store of the session's server: (batch id, item ids in input order)."""
    from affiliation_curator import config
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.registry import parse_registry_file
    from affiliation_curator.engine.reranker import LexicalScorer
    from affiliation_curator.curation.store import Store, dispose_engines

    institutions = parse_registry_file(config.DEMO_REGISTRY_PATH).institutions
    results = list(Matcher(institutions, LexicalScorer()).match_many(SAMPLES))
    assert all(len(r.candidates) == 10 for r in results[:3])  # the tall case: ten candidates a card
    store = Store(f"sqlite:///{app_home / 'curator.db'}")
    batch_id = store.create_batch("At a glance", SAMPLES, registry_name="demo", model_id=results[0].model)
    items = store.items(batch_id)
    for item, result in zip(items, results):
        store.save_result(item.id, result)
    dispose_engines()
    return batch_id, [i.id for i in items]


def open_review(browser, url: str, batch_id: int, width: int, height: int):
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(30_000)
    page = context.new_page()
    open_app(page, f"{url}/review?batch={batch_id}")
    curator = page.get_by_role("textbox", name="Curator")
    if curator.input_value() != "Ann":
        curator.fill("Ann")
        curator.press("Enter")
        wait_idle(page)
    page.wait_for_selector(CARD)
    wait_idle(page)
    wait_keys(page)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    return context, page


def card_text(page) -> str:
    return page.locator(CARD).first.inner_text().strip()


def wait_card_change(page, before: str) -> str:
    page.wait_for_function(
        "prev => { const c = document.querySelector('[data-testid=stCode]'); return c && c.innerText.trim() !== prev; }",
        arg=before, timeout=30_000,
    )
    wait_idle(page)
    wait_keys(page)
    return card_text(page)


def box(locator) -> dict[str, float]:
    b = locator.bounding_box()
    assert b is not None, locator
    return b


def inside(b: dict[str, float], width: int, height: int) -> bool:
    return b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= width and b["y"] + b["height"] <= height


@pytest.mark.parametrize("width,height", [(1280, 720), (1920, 1080)])
def test_string_bars_and_first_three_candidates_fit_the_first_screen(browser, app_url, ranked_batch, width, height):
    batch_id, item_ids = ranked_batch
    context, page = open_review(browser, app_url, batch_id, width, height)
    try:
        assert card_text(page) == SAMPLES[0]
        assert page.evaluate("window.scrollY") == 0
        seen = {"string": box(page.locator(CARD).first), "bars": box(page.locator(".score-bars"))}
        for rank in (1, 2, 3):
            accept = page.locator(accept_button(item_ids[0], rank))
            assert accept.inner_text().split() == ["Accept", str(rank)]  # the key is on the button
            seen[f"accept {rank}"] = box(accept)
            # the whole row: Accept, name and score, place and evidence, + (Alt+rank), Reject (Shift+rank)
            row = page.locator(f".st-key-cand{item_ids[0]} .cand-row").nth(rank - 1)
            assert row.locator("button.cand-reject").inner_text().split() == ["Reject", "Shift", "+", str(rank)]
            assert row.locator("button.cand-also").inner_text().split() == ["+", "Alt", "+", str(rank)]
            assert "score" in row.inner_text() and "matched" in row.inner_text()  # the evidence line
            seen[f"row {rank}"] = box(row)
        for name in ("None of these", "Skip", "Undo", "Prev", "Next", "Search"):
            seen[name] = box(page.get_by_role("button", name=name, exact=False).first)
        print(f"\n{width}x{height}: " + "; ".join(
            f"{k} y={b['y']:.0f}..{b['y'] + b['height']:.0f}" for k, b in seen.items()))
        outside = {k: b for k, b in seen.items() if not inside(b, width, height)}
        assert not outside, outside
        assert seen["accept 1"]["y"] < seen["accept 2"]["y"] < seen["accept 3"]["y"]
        assert seen["string"]["y"] < seen["accept 1"]["y"]
    finally:
        context.close()


# Counts finished script runs from the mutation records themselves: on a loaded machine "running"
# and "notRunning" can be set in one task, and a callback that read the attribute then saw no run.
RUNS = """() => {
  window.__runs = 0;
  const app = document.querySelector('[data-testid=stApp]');
  new MutationObserver((records) => {
    for (const m of records) if (m.oldValue === 'running') window.__runs += 1;
  }).observe(app, { attributes: true, attributeFilter: ['data-test-script-state'], attributeOldValue: true });
}"""


def click_and_wait(page, locator) -> None:
    """Click and wait for the run it starts to finish (a run that ends after the click)."""
    before = page.evaluate("window.__runs")
    locator.click()
    page.wait_for_function(f"() => window.__runs > {before}")
    wait_idle(page)


def test_every_key_works_whatever_was_clicked_last(browser, app_url, ranked_batch, app_home):
    from affiliation_curator.curation.store import Store, dispose_engines

    batch_id, item_ids = ranked_batch
    store = Store(f"sqlite:///{app_home / 'curator.db'}")
    queue = {(status, order): [i.affiliation for i in store.items(batch_id, status=status, order=order)]
             for status in ("undecided", None) for order in ("input", "uncertain")}
    dispose_engines()
    context, page = open_review(browser, app_url, batch_id, 1280, 720)
    page.evaluate(RUNS)
    group = page.locator("[data-testid=stButtonGroup]")
    try:
        first = card_text(page)
        assert first == queue[("undecided", "input")][0]
        # each click changes the queue (order or filter); then the arrows move along it
        for clicked, status, order in (("Least confident first", "undecided", "uncertain"), ("All", None, "uncertain"),
                                       ("Input order", None, "input"), ("Undecided", "undecided", "input")):
            click_and_wait(page, group.get_by_text(clicked, exact=True).first)
            here = card_text(page)
            assert here == queue[(status, order)][0], clicked
            page.keyboard.press("ArrowRight")
            assert wait_card_change(page, here) == queue[(status, order)][1], clicked
            page.keyboard.press("ArrowLeft")
            assert wait_card_change(page, queue[(status, order)][1]) == here, clicked
        # a click on the view already shown starts no run and keeps no focus either
        group.get_by_text("Review", exact=True).first.click()
        page.keyboard.press("ArrowRight")
        assert wait_card_change(page, first) == queue[("undecided", "input")][1]
        page.keyboard.press("ArrowLeft")
        assert wait_card_change(page, queue[("undecided", "input")][1]) == first

        # a batch chosen in the select box (the same one: no run) does not keep the keys either
        page.get_by_role("combobox").first.click()
        page.get_by_role("option").filter(has_text="At a glance").first.click()
        page.get_by_role("option").first.wait_for(state="detached")
        page.keyboard.press("ArrowRight")
        second = wait_card_change(page, first)
        page.keyboard.press("ArrowLeft")
        assert wait_card_change(page, second) == first

        # F: the search opens under the string, on the first screen, its field focused
        page.keyboard.press("f")
        field = page.get_by_role("textbox", name="Search the registry: name, acronym or ROR id")
        field.wait_for()
        page.wait_for_function(
            "() => document.activeElement && document.activeElement.closest('.st-key-registry_search') !== null")
        wait_idle(page)
        field_box = box(field)
        accept_1 = box(page.locator(accept_button(item_ids[0], 1)))
        print(f"\nsearch field y={field_box['y']:.0f}..{field_box['y'] + field_box['height']:.0f}, "
              f"first Accept now at y={accept_1['y']:.0f}")
        assert inside(field_box, 1280, 720) and field_box["y"] < accept_1["y"]
        page.keyboard.type("05a28rw58")  # ETH Zurich's ROR id, typed into the field: its digits are no keys
        page.keyboard.press("Enter")
        wait_idle(page)
        assert field.input_value() == "05a28rw58" and card_text(page) == first
        page.get_by_text("Zurich", exact=False).first.wait_for()
        # Escape closes the search (the Close button's key) and the keys work again
        page.keyboard.press("Escape")
        field.wait_for(state="detached")
        wait_idle(page)
        page.keyboard.press("n")
        assert wait_card_change(page, first) == SAMPLES[1]
    finally:
        context.close()
    store = Store(f"sqlite:///{app_home / 'curator.db'}")
    decided = {i.affiliation: i.decision for i in store.items(batch_id)}
    dispose_engines()
    assert decided[SAMPLES[0]].action == "none" and decided[SAMPLES[0]].curator == "Ann"
    assert all(d is None for a, d in decided.items() if a != SAMPLES[0])  # the arrows and clicks decided nothing


def accept_button(item_id: int, rank: int) -> str:
    """The Accept button of a candidate row (the rows are one component: Playwright's CSS reaches
    into its shadow root)."""
    return f'.st-key-cand{item_id} button.cand-accept[data-rank="{rank}"]'


TRUNCATED = """el => [el, ...el.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => e.tagName + ':' + e.textContent)"""


def test_an_accepted_candidates_button_says_accepted_in_full_at_1280(browser, app_url, ranked_batch, tmp_path):
    """Alt+1 accepts candidate 1 and stays on the card: its button reads "Accepted" and its key,
    not "Acce…" (the Accept column is wide enough at 1280 px with the sidebar open)."""
    batch_id, item_ids = ranked_batch
    context, page = open_review(browser, app_url, batch_id, 1280, 720)
    try:
        page.keyboard.press("Alt+1")
        accept = page.locator(accept_button(item_ids[0], 1))
        accept.filter(has_text="Accepted").wait_for()
        wait_idle(page)
        page.screenshot(path=str(tmp_path / "accepted-1280x720.png"))
        assert accept.inner_text().split() == ["Accepted", "1"]
        assert accept.evaluate(TRUNCATED) == []  # nothing inside the button is cut off
        assert inside(box(accept), 1280, 720)
    finally:
        context.close()

"""End to end in Chromium: paste sample affiliations, review them with the keyboard
(accept, none, undo, skip), reload the page mid-way, find every decision kept, continue,
then download the labelled-pairs export and check its rows against the decisions."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from browser_support import CONNECTED, PROJECT_DIR, open_app, wait_idle, wait_keys, wait_ranked
from affiliation_curator.curation.store import Store

pytestmark = pytest.mark.browser

SAMPLES = [
    line for line in (PROJECT_DIR / "data" / "sample_affiliations.txt").read_text(encoding="utf-8").splitlines()
    if line.strip()
][:12]
CARD = "[data-testid=stCode]"


def card_text(page) -> str:
    return page.locator(CARD).first.inner_text().strip()


def wait_card(page, text: str) -> None:
    page.wait_for_function(
        "want => { const c = document.querySelector('[data-testid=stCode]');"
        " return c && c.innerText.trim() === want; }",
        arg=text,
        timeout=30_000,
    )
    wait_idle(page)
    wait_keys(page)


def press(page, key: str, then_shows: str) -> None:
    page.keyboard.press(key)
    wait_card(page, then_shows)


def decisions(home: Path, batch_id: int) -> dict[str, tuple[str, str | None, str] | None]:
    store = Store(f"sqlite:///{home / 'curator.db'}")
    out = {}
    for item in store.items(batch_id):
        d = item.decision
        out[item.affiliation] = None if d is None else (d.action, d.institution_id, d.curator)
    return out


def top_id(home: Path, batch_id: int, affiliation: str) -> str:
    store = Store(f"sqlite:///{home / 'curator.db'}")
    item = next(i for i in store.items(batch_id) if i.affiliation == affiliation)
    return item.candidates[0].id


def item_views(home: Path, batch_id: int) -> dict[str, object]:
    return {item.affiliation: item for item in Store(f"sqlite:///{home / 'curator.db'}").items(batch_id)}


def download_pairs(page, batch_id: int) -> tuple[str, list[dict[str, str]], list[str]]:
    """Open the Export page from the sidebar and download the labelled pairs (CSV, the default format)."""
    page.get_by_role("link", name="Export").first.click()
    page.wait_for_url(re.compile(rf"/export\?(.*&)?batch={batch_id}(&|$)"))  # the tab's curator name may come too
    page.wait_for_selector(CONNECTED)
    button = page.get_by_role("button", name="Download affiliation-pairs.csv")
    button.wait_for()
    wait_idle(page)
    with page.expect_download() as info:
        button.click()
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    return download.suggested_filename, list(reader), list(reader.fieldnames or [])


def test_paste_review_with_keys_reload_and_continue(page, app_url: str, app_home: Path):
    assert len(SAMPLES) == 12
    open_app(page, app_url)
    curator = page.get_by_role("textbox", name="Curator")
    curator.fill("Ann")
    curator.press("Enter")
    wait_idle(page)

    page.get_by_role("textbox", name="Batch name").fill("Browser flow")
    page.get_by_role("textbox", name="Affiliations, one a line").fill("\n".join(SAMPLES))
    page.get_by_role("button", name="Import and rank").first.click()
    page.get_by_text("created and ranking").wait_for()
    page.get_by_text("Kept 12 affiliations").wait_for()
    batch = next(b for b in Store(f"sqlite:///{app_home / 'curator.db'}").batches() if b.name == "Browser flow")

    page.get_by_role("link", name="Review this batch").click()
    wait_ranked(app_home, batch.id)  # the job, not a longer sleep: a cold engine load can take a while
    wait_card(page, SAMPLES[0])
    assert re.search(rf"/review\?(.*&)?batch={batch.id}(&|$)", page.url), page.url
    page.evaluate("document.activeElement && document.activeElement.blur()")

    press(page, "1", SAMPLES[1])  # accept the top candidate
    press(page, "n", SAMPLES[2])  # none of these
    press(page, "u", SAMPLES[1])  # undo: the item comes back
    press(page, "1", SAMPLES[2])
    press(page, "n", SAMPLES[3])
    kept = decisions(app_home, batch.id)
    assert kept[SAMPLES[0]] == ("accept", top_id(app_home, batch.id, SAMPLES[0]), "Ann")
    assert kept[SAMPLES[1]] == ("accept", top_id(app_home, batch.id, SAMPLES[1]), "Ann")
    assert kept[SAMPLES[2]] == ("none", None, "Ann")
    assert kept[SAMPLES[3]] is None

    # Reload mid-way: a new session finds every decision and the same place in the queue.
    page.reload()
    page.wait_for_selector(CONNECTED, timeout=60_000)
    wait_card(page, SAMPLES[3])
    assert page.get_by_role("textbox", name="Curator").input_value() == "Ann"
    assert f"batch={batch.id}" in page.url
    page.get_by_text("3 of 12 decided").wait_for()
    assert decisions(app_home, batch.id) == kept

    # ... and continue with the keyboard, once the reloaded card's keys are live.
    page.get_by_role("button", name=re.compile("^Skip")).wait_for()
    assert page.get_by_role("button", name=re.compile("^Skip")).is_enabled()
    wait_idle(page)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    press(page, "s", SAMPLES[4])  # skip
    press(page, "2", SAMPLES[5])  # accept the second candidate
    press(page, "u", SAMPLES[4])
    press(page, "1", SAMPLES[5])
    final = decisions(app_home, batch.id)
    assert final[SAMPLES[3]][0] == "skip"
    assert final[SAMPLES[4]] == ("accept", top_id(app_home, batch.id, SAMPLES[4]), "Ann")
    assert sum(1 for d in final.values() if d and d[0] in ("accept", "none")) == 4
    page.get_by_text("4 of 12 decided").wait_for()

    # The Export page offers the open batch's labelled pairs; the download holds exactly them.
    name, rows, columns = download_pairs(page, batch.id)
    assert name == "affiliation-pairs.csv"
    assert columns == ["query", "document", "label"]
    assert {r["label"] for r in rows} <= {"0", "1"}
    views = item_views(app_home, batch.id)
    decided = {a: d for a, d in final.items() if d and d[0] in ("accept", "none")}
    assert {r["query"] for r in rows} == set(decided)  # skipped and undecided items give no pairs
    expected_rows = 0
    for affiliation, (action, institution_id, _) in decided.items():
        mine = [r for r in rows if r["query"] == affiliation]
        docs = {c.id: c.document for c in views[affiliation].candidates}
        if action == "accept":
            positives = [r["document"] for r in mine if r["label"] == "1"]
            assert positives == [docs[institution_id]], (affiliation, positives)
            negatives = [r["document"] for r in mine if r["label"] == "0"]
            others = [d for i, d in docs.items() if i != institution_id]
            assert negatives == others[:3]  # hard negatives: the best-ranked shown candidates, 3 by default
            expected_rows += 1 + len(others[:3])
        else:  # "none of these": every shown candidate, label 0 only
            assert mine and all(r["label"] == "0" for r in mine), mine
            assert sorted(r["document"] for r in mine) == sorted(docs.values())
            expected_rows += len(docs)
    assert sum(r["label"] == "1" for r in rows) == sum(a == "accept" for a, _, _ in decided.values()) == 3
    assert len(rows) == expected_rows


def test_upload_over_the_limit_is_refused_in_the_browser(page, app_url: str):
    open_app(page, app_url)
    page.get_by_role("tab", name="Upload a file").click()
    big = b"ETH Zurich\n" * (21 * 1024 * 1024 // 11)
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(
        {"name": "big.txt", "mimeType": "text/plain", "buffer": big}
    )
    page.get_by_text("File must be 20.0MB or smaller").wait_for()
    wait_idle(page)
    assert page.get_by_text("Kept ").count() == 0  # nothing was read

"""Review page (AppTest), issue 12: several accepted institutions per string (Alt+1-9, "Accept
all" on a string the engine saw naming several), not-scored candidates, bulk accept holding an
inactive record whose active successor is listed."""

from __future__ import annotations

import pytest

from affiliation_curator.engine.results import Candidate, Evidence, MatchResult
from affiliation_curator.curation.store import Store
from fixtures.candidate_rows import row_texts
from test_page_review import button, click, shown

UMCU = Candidate("https://ror.org/0575yy874", "University Medical Center Utrecht", 0.93, city="Utrecht",
                 evidence=Evidence(part="University Medical Center Utrecht"))
UU = Candidate("https://ror.org/04pp8hn57", "Utrecht University", 0.90, city="Utrecht",
               evidence=Evidence(part="Utrecht University"))
HU = Candidate("https://ror.org/028z9kw20", "HU University of Applied Sciences Utrecht", 0.2,
               evidence=Evidence(scored=False))
OLD = Candidate("https://ror.org/035j24j42", "Wyeth", 0.97, status="inactive",
                evidence=Evidence(relations=["succeeded by candidate 2 (Pfizer (United States))"],
                                  status_note="inactive; successor: Pfizer (United States) (https://ror.org/01xdqrp08)"))
NEW = Candidate("https://ror.org/01xdqrp08", "Pfizer (United States)", 0.96,
                evidence=Evidence(relations=["successor of candidate 1 (Wyeth)"]))
STRING = "Dept X, University Medical Center Utrecht, Utrecht University"
NOTE = "names several institutions: “University Medical Center Utrecht” → UMC Utrecht; “Utrecht University” → UU"
ROWS = [(STRING, [UMCU, UU, HU], [NOTE]), ("Wyeth Research, Pearl River", [OLD, NEW], [])]


@pytest.fixture
def review(navigation_apptest):  # noqa: F811
    store = Store()
    batch_id = store.create_batch("Several", [r[0] for r in ROWS], registry_name="demo", model_id="test-scorer")
    for item, (_, cands, notes) in zip(store.items(batch_id), ROWS):
        store.save_result(item.id, MatchResult(item.affiliation, list(cands), None, "test-scorer", 0.5, notes))
    at = navigation_apptest()
    at.query_params["batch"] = str(batch_id)
    at.query_params["curator"] = "Ann"  # this tab's curator (team curation keeps the name per tab)
    at.run()
    at.switch_page("app_pages/review.py").run()
    assert not at.exception, at.exception
    return at, store, batch_id


def _item(store: Store, batch_id: int, text: str):
    return next(v for v in store.items(batch_id) if v.affiliation == text)


def test_alt_digit_adds_and_takes_out_and_the_card_says_so(review):
    at, store, batch_id = review
    assert shown(at) == STRING
    assert button(at, "cand_also_2").proto.shortcut.lower() == "alt+2"
    assert button(at, "several_accept_all").proto.shortcut.lower() == "a"
    click(at, "cand_also_2")  # Alt+2: accept Utrecht University; the card stays for more
    assert shown(at) == STRING and _item(store, batch_id, STRING).accepted_ids == [UU.id]
    click(at, "cand_accept_1")  # 1: UMC Utrecht with it, and on to the next item
    assert shown(at) != STRING
    item = _item(store, batch_id, STRING)
    assert item.accepted_ids == [UU.id, UMCU.id]
    at.segmented_control(key="review_filter").set_value("all").run()  # back to it: every item, input order
    assert shown(at) == STRING
    click(at, "cand_also_1")  # Alt+1 on an accepted one takes it out (the card stays)
    assert _item(store, batch_id, STRING).accepted_ids == [UU.id]
    click(at, "cand_also_1")  # and again puts it back
    item = _item(store, batch_id, STRING)
    assert item.accepted_ids == [UU.id, UMCU.id]
    assert r"accepted Utrecht University \+ University Medical Center Utrecht" in " ".join(c.value for c in at.caption)
    assert [button(at, f"cand_accept_{n}").label for n in (1, 2, 3)] == ["Accepted", "Accepted", "Accept"]
    click(at, "cand_also_1")  # takes UMC Utrecht out again
    assert _item(store, batch_id, STRING).accepted_ids == [UU.id]
    assert button(at, "cand_also_2").disabled  # the only accepted one cannot be taken out; N or U instead
    click(at, "act_none")  # none of these still works
    assert _item(store, batch_id, STRING).accepted_ids == [] and _item(store, batch_id, STRING).status == "none"


def test_accept_all_takes_every_institution_the_parts_name(review):
    at, store, batch_id = review
    texts = " ".join(m.value for m in at.markdown)
    assert "Names several institutions" in texts
    assert "1. University Medical Center Utrecht ← “University Medical Center Utrecht”" in texts
    assert "2. Utrecht University ← “Utrecht University”" in texts
    assert not any(NOTE in c.value for c in at.caption)  # the banner replaces the raw note
    click(at, "several_accept_all")
    assert _item(store, batch_id, STRING).accepted_ids == [UMCU.id, UU.id]
    assert shown(at) != STRING  # on to the next item


def test_a_candidate_that_was_not_scored_shows_no_score(review):
    at, _, _ = review
    lines = [r for r in row_texts(at) if "HU University" in r]
    assert lines and "not scored" in lines[0] and "0.20" not in lines[0]
    bars = next(h.proto.body for h in at.get("html") if 'class="score-bars"' in h.proto.body)
    assert "HU University" in bars and "not scored" in bars and "0.20<" not in bars


def test_bulk_preview_flags_and_skips_an_inactive_top_whose_successor_is_listed(review):
    at, store, batch_id = review
    at.segmented_control(key="review_view").set_value("Bulk accept").run()
    at.slider(key="bulk_threshold").set_value(0.9).run()
    preview = at.dataframe[0].value
    flags = dict(zip(preview["affiliation"], preview["flag"]))
    assert flags[STRING] == ""
    assert "successor Pfizer (United States) is candidate 2" in flags["Wyeth Research, Pearl River"]
    assert "held back for review" in " ".join(m.value for m in at.markdown)
    click(at, "bulk_apply")
    assert _item(store, batch_id, STRING).accepted_ids == [UMCU.id]
    assert _item(store, batch_id, "Wyeth Research, Pearl River").decision is None

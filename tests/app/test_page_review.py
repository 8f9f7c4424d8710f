"""Review page (AppTest): every decision, undo, reject, registry search, order, filters,
bulk accept, the table view, and user strings staying inert text."""

from __future__ import annotations

import re

import pytest

from affiliation_curator.engine.results import Candidate, Evidence, MatchResult
from affiliation_curator.config import Settings
from affiliation_curator.curation.store import Store
from fixtures.apptest import PROJECT_DIR
from fixtures.candidate_rows import candidate_lists, row_button, row_buttons, row_texts, send
from fixtures.candidate_rows import data as rows_data

TUM = Candidate(
    "https://ror.org/02kkvpp62", "Technical University of Munich", 0.95, city="Munich", country_code="DE",
    country_name="Germany", types=["education"], evidence=Evidence("TUM", "acronym", city_match=True, country_match=True),
)
LMU = Candidate("https://ror.org/05591te55", "Ludwig-Maximilians-Universität München", 0.40, city="Munich",
                country_name="Germany", types=["education"])
ETH = Candidate("https://ror.org/05a28rw58", "ETH Zurich", 0.62, city="Zurich", country_name="Switzerland")
EPFL = Candidate("https://ror.org/02s376052", "École Polytechnique Fédérale de Lausanne", 0.58, city="Lausanne",
                 country_name="Switzerland")
EVIL = Candidate("local:evil", "<img src=x onerror=alert(1)> [x](javascript:alert(1))", 0.30)

ROWS = [
    ("Dept. of Surgery, TU Munich, Germany", [TUM, LMU]),  # confident
    ("ETH / EPFL joint lab, Switzerland", [ETH, EPFL]),  # small margin: least confident
    ("<script>alert('x')</script> **Uni** [link](javascript:alert(1))", [EVIL]),
    ("Independent researcher", []),
    ("LMU Munich", [LMU, TUM]),
]


def make_batch(rows=ROWS, name: str = "Review test") -> tuple[Store, int]:
    store = Store()
    batch_id = store.create_batch(name, [r[0] for r in rows], registry_name="demo", model_id="test-scorer")
    for item, (_, cands) in zip(store.items(batch_id), rows):
        store.save_result(item.id, MatchResult(item.affiliation, list(cands), None, model="test-scorer", threshold=0.5))
    return store, batch_id


def open_review(navigation_apptest, curator: str | None = None):  # noqa: F811
    """The Review page of a freshly ranked batch: (AppTest, store, batch id)."""
    store, batch_id = make_batch()
    at = navigation_apptest()
    at.query_params["batch"] = str(batch_id)
    if curator:
        at.query_params["curator"] = curator  # this tab's name, as a reload of it keeps it
    at.run()
    at.switch_page("app_pages/review.py").run()
    assert not at.exception, at.exception
    return at, store, batch_id


@pytest.fixture
def review(navigation_apptest):  # noqa: F811
    """The Review page of a ranked batch, curator 'Ann' in this tab's URL (a reload keeps it)."""
    return open_review(navigation_apptest, curator="Ann")


def shown(at) -> str:
    """The affiliation on the card (shown as a code block: plain text)."""
    return at.code[0].value if at.code else ""


def button(at, name: str):
    """A card button by its name; the card's keys carry the item id (cand12_accept_1, act_none_12).
    A candidate row's button (cand_...) is one of the candidate list component's."""
    if name.startswith("cand"):
        return row_button(at, name)
    pattern = re.compile(re.escape(name) + r"(_\d+)?$")
    found = [b for b in at.button if b.key and pattern.fullmatch(b.key)]
    assert len(found) == 1, (name, [b.key for b in at.button])
    return found[0]


def click(at, key: str):
    button(at, key).click().run()
    assert not at.exception, at.exception
    return at


def decision(store: Store, batch_id: int, affiliation: str):
    return next(i for i in store.items(batch_id) if i.affiliation == affiliation).decision


def test_card_shows_affiliation_candidates_model_and_registry(review):
    at, store, batch_id = review
    assert at.sidebar.text_input(key="curator").value == "Ann"
    assert shown(at) == ROWS[0][0]
    captions = " ".join(c.value for c in at.caption)
    assert "scored by test" in captions and "threshold 0" in captions and "registry demo" in captions
    assert "combiner" not in captions
    rows = row_texts(at)
    assert rows[0].startswith("1. Technical University of Munich — score 0.95 · ror.org ↗ https://ror.org/02kkvpp62")
    assert "Munich, Germany" in rows[0] and "matched acronym" in rows[0] and "city agrees" in rows[0]
    assert button(at, "cand_accept_1").proto.shortcut == "1"
    assert button(at, "cand_also_1").proto.shortcut == "Alt+1" and button(at, "cand_reject_2").proto.shortcut == "Shift+2"
    assert button(at, "act_none").proto.shortcut == "n"
    assert len([b for b in row_buttons(at) if b.action == "accept"]) == 2


def test_accept_none_skip_reject_undo(review):
    at, store, batch_id = review
    click(at, "cand_accept_1")
    d = decision(store, batch_id, ROWS[0][0])
    assert d.action == "accept" and d.institution_id == TUM.id and d.curator == "Ann" and d.seconds is not None
    assert shown(at) == ROWS[1][0]
    click(at, "cand_accept_2")
    assert decision(store, batch_id, ROWS[1][0]).institution_id == EPFL.id
    assert shown(at) == ROWS[2][0]
    click(at, "act_none")
    assert decision(store, batch_id, ROWS[2][0]).action == "none"
    assert shown(at) == ROWS[3][0]
    click(at, "act_skip")
    assert decision(store, batch_id, ROWS[3][0]).action == "skip"
    assert ["waits under the Skipped filter" in t.value for t in at.toast] == [True]  # says where it went
    assert shown(at) == ROWS[4][0]
    # reject one candidate: the item stays, the candidate is marked
    click(at, "cand_reject_1")
    item = next(i for i in store.items(batch_id) if i.affiliation == ROWS[4][0])
    assert item.rejected == [LMU.id] and item.decision is None
    assert shown(at) == ROWS[4][0]
    assert button(at, "cand_reject_1").disabled
    assert row_texts(at)[0].startswith("1. Ludwig-Maximilians-Universität München — rejected")
    # undo takes back the reject, then the skip (the skipped item comes back on the card)
    click(at, "act_undo")
    assert next(i for i in store.items(batch_id) if i.affiliation == ROWS[4][0]).rejected == []
    click(at, "act_undo")
    assert decision(store, batch_id, ROWS[3][0]) is None
    assert shown(at) == ROWS[3][0]
    click(at, "act_none")
    assert decision(store, batch_id, ROWS[3][0]).action == "none"
    assert shown(at) == ROWS[4][0]
    assert [t.value for t in at.toast]  # each step is confirmed without moving the card


def test_progress_counts_and_all_done(review):
    at, store, batch_id = review
    for _ in range(5):
        click(at, "act_none")
    assert "5 of 5 decided" in at.get("progress")[-1].proto.text
    assert any("Every item of this batch has a decision" in s.value for s in at.success)
    assert not at.code
    click(at, "act_undo")
    assert shown(at) == ROWS[4][0]


def test_rejecting_the_accepted_candidate_is_refused(review):
    at, store, batch_id = review
    at.segmented_control(key="review_filter").set_value("all").run()
    click(at, "cand_accept_1")
    click(at, "act_prev")
    assert shown(at) == ROWS[0][0]
    assert button(at, "cand_accept_1").label == "Accepted"
    assert button(at, "cand_reject_1").disabled


def test_no_curator_no_decisions(navigation_apptest):  # noqa: F811
    store, batch_id = make_batch()
    at = navigation_apptest()
    at.query_params["batch"] = str(batch_id)
    at.run()
    at.switch_page("app_pages/review.py").run()
    assert any("Enter your name" in w.value for w in at.warning)
    assert button(at, "cand_accept_1").disabled and button(at, "act_none").disabled
    at.sidebar.text_input(key="curator").input("Bo").run()
    assert not button(at, "cand_accept_1").disabled
    click(at, "cand_accept_1")
    assert decision(store, batch_id, ROWS[0][0]).curator == "Bo"
    assert at.query_params["curator"] == ["Bo"] or at.query_params["curator"] == "Bo"  # kept for this tab
    assert Settings.load().curator == ""  # never stored server-wide


def test_search_the_registry_and_accept(review):
    at, store, batch_id = review
    click(at, "act_skip")
    click(at, "act_skip")
    click(at, "act_skip")
    assert shown(at) == "Independent researcher"
    assert any("No candidates" in w.value for w in at.warning)
    assert not [t for t in at.text_input if t.key == "registry_search"]  # closed until asked for
    assert button(at, "search_open").proto.shortcut == "f"
    click(at, "search_open")
    at.text_input(key="registry_search").input("EPFL").run()
    assert not at.exception
    assert "Lausanne" in " ".join(m.value for m in at.markdown)
    click(at, "search_accept_0")
    d = decision(store, batch_id, "Independent researcher")
    assert d.action == "accept" and d.institution_id == EPFL.id
    assert d.institution_name == "École Polytechnique Fédérale de Lausanne"
    assert shown(at) == ROWS[4][0]
    assert not [t for t in at.text_input if t.key == "registry_search"]  # a new item: search closed again
    click(at, "search_open")
    at.text_input(key="registry_search").input("no such institute xyz").run()
    assert any("Nothing found" in c.value for c in at.caption)
    click(at, "search_open")  # F again while open: back to the field, the query kept
    assert at.text_input(key="registry_search").value == "no such institute xyz"
    assert button(at, "search_close").proto.shortcut == "escape"  # Escape closes, even from the field
    click(at, "search_close")
    assert not [t for t in at.text_input if t.key == "registry_search"]


def test_the_card_keys_sit_under_the_string_and_the_search_opens_there(review):
    """The order of the card: caption, string, the keys (N S U left right F), the search when open,
    then the candidates; the score bars beside the string; one script for the focus, no user text in it."""
    from components.keyboard import SCRIPT

    at, store, batch_id = review
    keys = [b.proto.shortcut for b in at.button if b.key and re.fullmatch(r"(act_\w+|search_open_\d+)", b.key)]
    assert keys == ["n", "s", "u", "left", "right", "f"]
    assert len([h for h in at.get("html") if 'class="score-bars"' in h.proto.body]) == 1
    assert not at.header  # no page title above the card: the card starts on the first screen
    click(at, "search_open")
    order = [e.key for e in at.main if getattr(e, "key", None) and re.fullmatch(
        r"(act_none|search_open|registry_search|search_close|cand\d+)(_\d+)?", e.key)]
    assert order[:2] == [f"act_none_{shown_id(store, batch_id, at)}", f"search_open_{shown_id(store, batch_id, at)}"]
    assert order[2:4] == ["registry_search", f"search_close_{shown_id(store, batch_id, at)}"]
    assert order[4] == f"cand{shown_id(store, batch_id, at)}"  # the candidates come after the search
    scripts = [h for h in at.get("html") if h.proto.unsafe_allow_javascript]
    assert [h.proto.body for h in scripts] == [SCRIPT.strip()]  # the bars are the other st.html: no script
    assert all("<script" not in h.proto.body for h in at.get("html") if not h.proto.unsafe_allow_javascript)
    assert ROWS[0][0] not in SCRIPT


def shown_id(store: Store, batch_id: int, at) -> int:
    return next(i.id for i in store.items(batch_id) if i.affiliation == shown(at))


def test_least_confident_first_and_filters(review):
    at, store, batch_id = review
    at.segmented_control(key="review_order").set_value("uncertain").run()
    assert not at.exception
    first = shown(at)
    assert first in (ROWS[1][0], ROWS[2][0], ROWS[4][0])
    assert first != ROWS[0][0]  # the confident one is not first
    assert first == store.items(batch_id, status="undecided", order="uncertain")[0].affiliation
    click(at, "cand_accept_1")
    at.segmented_control(key="review_order").set_value("input").run()
    at.segmented_control(key="review_filter").set_value("accepted").run()
    assert shown(at) == first
    at.segmented_control(key="review_filter").set_value("none").run()
    assert any("No items" in i.value for i in at.info)
    at.segmented_control(key="review_filter").set_value("skipped").run()
    assert not at.code
    at.segmented_control(key="review_filter").set_value("undecided").run()
    assert shown(at) == ROWS[0][0]
    click(at, "act_next")
    assert shown(at) != ROWS[0][0]
    click(at, "act_prev")
    assert shown(at) == ROWS[0][0]


def test_bulk_accept_preview_apply_undo(review):
    at, store, batch_id = review
    at.segmented_control(key="review_view").set_value("Bulk accept").run()
    assert not at.exception
    at.slider(key="bulk_threshold").set_value(0.55).run()
    preview = at.dataframe[0].value
    assert sorted(preview["affiliation"].tolist()) == sorted([ROWS[0][0], ROWS[1][0]])
    assert "**2**" in " ".join(m.value for m in at.markdown)
    assert store.batch(batch_id).by_action["accept"] == 0  # a preview decides nothing
    click(at, "bulk_apply")
    assert store.batch(batch_id).by_action["accept"] == 2
    assert decision(store, batch_id, ROWS[1][0]).institution_id == ETH.id
    assert any("Accepted 2 items" in s.value for s in at.success)
    click(at, "bulk_undo")
    assert store.batch(batch_id).by_action["accept"] == 0  # one step takes all back


def test_bulk_undo_from_the_review_card(review):
    at, store, batch_id = review
    store.bulk_accept(batch_id, 0.5, "Ann")
    assert store.batch(batch_id).by_action["accept"] == 2
    at.run()
    click(at, "act_undo")
    assert store.batch(batch_id).by_action["accept"] == 0


def test_table_view(review):
    at, store, batch_id = review
    click(at, "cand_accept_1")
    at.segmented_control(key="review_view").set_value("Table").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["affiliation"].tolist() == [r[0] for r in ROWS]
    assert table["decision"].tolist()[0] == "accept"
    assert table["institution_name"].tolist()[0] == TUM.name
    assert table["curator"].tolist()[0] == "Ann"
    at.segmented_control(key="table_filter").set_value("undecided").run()
    assert len(at.dataframe[0].value) == 4
    # choosing a row opens its item on the card (the fourth undecided row: "LMU Munich")
    at.session_state["batch_table"] = {"selection": {"rows": [3], "columns": []}}
    at.run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="review_view").value == "Review" and shown(at) == ROWS[4][0]
    assert "opened from the Table" in " ".join(c.value for c in at.caption)  # not "back after undo"
    click(at, "cand_accept_1")  # decided from there, then the queue goes on
    assert decision(store, batch_id, ROWS[4][0]).institution_id == LMU.id


def test_user_strings_stay_inert(review):
    at, store, batch_id = review
    click(at, "act_skip")
    click(at, "act_skip")
    assert shown(at) == ROWS[2][0]  # verbatim in a code block: no HTML, no markdown
    md = " ".join(m.value for m in at.markdown)
    assert "<img" not in md.replace("\\<img", "")
    assert "](javascript" not in md
    for el in list(at.markdown) + list(at.caption):
        assert not el.proto.allow_html
    # the candidate's name goes to the rows' script as data, which sets it as text (textContent)
    (row,) = row_texts(at)
    assert row.startswith(f"1. {EVIL.name} — score 0.30 · id local:evil")
    script = (PROJECT_DIR / "components" / "candidate_list.js").read_text(encoding="utf-8")
    assert "textContent" in script and not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", script)
    click(at, "cand_reject_1")  # the confirmation names the candidate: escaped too
    (toast,) = at.toast
    assert "Rejected \\<img src\\=x" in toast.value and "](javascript" not in toast.value


def test_reload_resumes_where_the_curator_was(review, navigation_apptest):  # noqa: F811
    at, store, batch_id = review
    click(at, "cand_accept_1")
    click(at, "act_none")
    fresh = navigation_apptest()
    fresh.query_params["batch"] = str(batch_id)
    fresh.run()
    fresh.switch_page("app_pages/review.py").run()
    assert shown(fresh) == ROWS[2][0]
    assert "2 of 5 decided" in fresh.get("progress")[-1].proto.text


class _HeldJob:
    """Stands in for a ranking job that is still busy (so the page starts no other)."""

    running = True

    def progress(self):
        from affiliation_curator.curation.ranking_jobs import JobProgress

        return JobProgress(batch_id=0, total=1)


def test_unranked_item_waits_for_ranking(navigation_apptest):  # noqa: F811
    from components import resources

    store = Store()
    batch_id = store.create_batch("unranked", ["ETH Zurich", "EPFL"], registry_name="demo")
    first, second = store.items(batch_id)
    store.save_result(first.id, MatchResult(first.affiliation, [ETH], None, model="m"))
    resources.get_jobs()._jobs[batch_id] = _HeldJob()  # "EPFL" is still being ranked
    at = navigation_apptest()
    at.query_params["batch"] = str(batch_id)
    at.query_params["curator"] = "Ann"
    at.run()
    at.switch_page("app_pages/review.py").run()
    assert "1 of 2 items ranked" in at.get("progress")[0].proto.text
    click(at, "cand_accept_1")
    assert shown(at) == "EPFL"
    assert any("Ranking this item" in i.value for i in at.info)
    assert at.session_state["review_polling"] is True  # the card reruns itself every second
    assert not [b for b in at.button if (b.key or "").startswith("cand")]
    store.save_result(second.id, MatchResult("EPFL", [EPFL], None, model="m"))
    at.run()
    assert at.session_state["review_polling"] is False
    click(at, "cand_accept_1")
    assert decision(store, batch_id, "EPFL").institution_id == EPFL.id


def test_a_key_meant_for_the_previous_card_decides_nothing(review):
    """A press that reaches the server after the card moved on (fast double keys) is dropped."""
    at, store, batch_id = review
    at.session_state["review_current_item"] = -1  # the server has drawn another card meanwhile
    click(at, "act_none")
    assert decision(store, batch_id, ROWS[0][0]) is None
    assert any("previous item" in t.value for t in at.toast)
    assert shown(at) == ROWS[0][0]
    click(at, "act_none")  # the card as drawn now: this one counts
    assert decision(store, batch_id, ROWS[0][0]).action == "none"


class _StoppedJob:
    running = False

    def progress(self):
        from affiliation_curator.curation.ranking_jobs import JobProgress

        return JobProgress(batch_id=0, total=1, running=False, error="model vanished")


def test_a_stopped_ranking_job_is_reported_not_polled(navigation_apptest, monkeypatch):  # noqa: F811
    from components import batch_panel, resources

    store = Store()
    batch_id = store.create_batch("stopped", ["ETH Zurich"], registry_name="demo")
    monkeypatch.setattr(batch_panel, "ensure_ranking", lambda batch_id: resources.get_jobs().get(batch_id))
    resources.get_jobs()._jobs[batch_id] = _StoppedJob()
    at = navigation_apptest()
    at.query_params["batch"] = str(batch_id)
    at.query_params["curator"] = "Ann"
    at.run()
    at.switch_page("app_pages/review.py").run()
    assert not at.exception
    assert any("Ranking stopped" in e.value and "model vanished" in e.value for e in at.error)
    assert any("ranking is not running" in w.value and "model vanished" in w.value for w in at.warning)
    assert "review_polling" not in at.session_state or at.session_state["review_polling"] is False
    assert shown(at) == "ETH Zurich"


def test_order_and_filter_survive_the_other_views(review):
    at, store, batch_id = review
    at.segmented_control(key="review_order").set_value("uncertain").run()
    at.segmented_control(key="review_filter").set_value("all").run()
    at.segmented_control(key="review_view").set_value("Table").run()
    assert not [w for w in at.segmented_control if w.key == "review_filter"]  # only the card uses them
    at.segmented_control(key="review_view").set_value("Review").run()
    assert at.segmented_control(key="review_order").value == "uncertain"
    assert at.segmented_control(key="review_filter").value == "all"


def test_caption_says_when_a_learned_combiner_ranked(navigation_apptest, monkeypatch):  # noqa: F811
    from components import resources

    monkeypatch.setattr(resources, "_COMBINED", {("other-registry", "test-scorer")})
    at, _store, _batch_id = open_review(navigation_apptest)
    assert "combiner" not in " ".join(c.value for c in at.caption)  # that engine ranks another registry
    monkeypatch.setattr(resources, "_COMBINED", {("demo", "test-scorer")})
    at.run()
    captions = " ".join(c.value for c in at.caption).replace("\\", "")  # markdown escapes
    assert "scored by test-scorer + learned combiner" in captions


def test_caption_says_which_scale_the_scores_are_on(navigation_apptest, monkeypatch):  # noqa: F811
    """An uncalibrated cross-encoder's scores are called so on the card; a calibrated engine's are
    called a calibrated probability, with what it was calibrated on on hover."""
    from affiliation_curator.engine.score_scale import ScoreScale
    from components import resources

    monkeypatch.setattr(resources, "_SCALES", {("demo", "test-scorer"): ScoreScale(False, "the model's own score")})
    at, _store, _batch_id = open_review(navigation_apptest)
    caption = next(c for c in at.caption if "scored by" in c.value)
    assert "threshold 0.50 (uncalibrated)" in caption.value.replace("\\", "")
    assert "uncalibrated model score (the model's own score)" in (caption.help or "")
    monkeypatch.setattr(resources, "_SCALES", {("demo", "test-scorer"): ScoreScale(True, "the gold train side")})
    at.run()
    caption = next(c for c in at.caption if "scored by" in c.value)
    assert "threshold 0.50 (calibrated)" in caption.value.replace("\\", "")
    assert "probability right, calibrated on the gold train side" in (caption.help or "")
    monkeypatch.setattr(resources, "_SCALES", {})  # ranked by an earlier process: nothing claimed
    at.run()
    assert "calibrated" not in " ".join(c.value for c in at.caption)


def test_five_candidates_listed_m_lists_the_rest_and_a_chosen_one_lists_them_itself(navigation_apptest):  # noqa: F811
    """The card lists the first five candidates (all ten bars beside the string); M lists 6-10
    with their keys, and a candidate decided below the fifth is listed when the item comes back."""
    many = [Candidate(f"local:{k}", f"Institute {k}", round(0.9 - k * 0.05, 2)) for k in range(1, 9)]
    store, batch_id = make_batch([("Institute 7, somewhere", many), ("Second string", [TUM])], name="Many")
    at = navigation_apptest()
    at.query_params["batch"] = str(batch_id)
    at.query_params["curator"] = "Ann"
    at.run()
    at.switch_page("app_pages/review.py").run()
    accepts = lambda: [b.proto.shortcut for b in row_buttons(at) if b.action == "accept"]  # noqa: E731
    assert accepts() == ["1", "2", "3", "4", "5"]
    bars = next(h.proto.body for h in at.get("html") if 'class="score-bars"' in h.proto.body)
    assert bars.count('class="score-bar"') == 8 and "8. Institute 8" in bars
    more = button(at, "more")
    assert more.proto.shortcut == "m" and more.label == "Candidates 6–8"
    click(at, "more")
    assert accepts() == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert button(at, "more").label == "Fewer candidates"
    click(at, "cand_accept_7")
    assert decision(store, batch_id, "Institute 7, somewhere").institution_id == "local:7"
    assert shown(at) == "Second string" and not [b for b in at.button if (b.key or "").startswith("more_")]
    at.segmented_control(key="review_filter").set_value("all").run()  # the decided item again
    assert shown(at) == "Institute 7, somewhere"  # its chosen candidate is listed without M
    assert len(accepts()) == 8 and button(at, "more").label == "Fewer candidates"


def test_an_inactive_top_is_not_the_green_accept_and_namesakes_show_their_city(navigation_apptest):  # noqa: F811
    """Two smaller things a curator tripped over (design/ux-findings.md): the green Accept went to
    an inactive top candidate, and two candidates of one name differed only on the small line."""
    old = Candidate("local:old", "MPI for Biophysical Chemistry", 0.93, city="Göttingen", status="inactive")
    new = Candidate("local:new", "MPI for Multidisciplinary Sciences", 0.80, city="Göttingen")
    prague = Candidate("local:bp1", "Institute of Biophysics", 0.90, city="Prague")
    brno = Candidate("local:bp2", "Institute of Biophysics", 0.85, city="Brno")
    store, batch_id = make_batch([("MPI Biophysical Chemistry, Göttingen", [old, new]),
                                  ("Institute of Biophysics, Brno", [prague, brno])], name="Small things")
    at = navigation_apptest()
    at.query_params["batch"] = str(batch_id)
    at.query_params["curator"] = "Ann"
    at.run()
    at.switch_page("app_pages/review.py").run()
    assert button(at, "cand_accept_1").proto.type == "secondary"  # inactive: not the one to take at a glance
    click(at, "act_skip")
    assert button(at, "cand_accept_1").proto.type == "primary"  # an active top above the threshold is
    rows = row_texts(at)
    assert rows[0].startswith("1. Institute of Biophysics (Prague) — ") and rows[1].startswith("2. Institute of Biophysics (Brno) — ")


def test_a_forged_or_stale_candidate_press_decides_nothing(review):
    """The rows' trigger carries {item, action, rank}: a press meant for another item, an unknown
    action or rank, or a button the card shows disabled changes nothing (as no browser click could)."""
    at, store, batch_id = review
    (rows,) = candidate_lists(at)
    item = rows_data(rows)["item"]
    for payload in ({"item": item + 1, "action": "accept", "rank": 1}, {"item": item, "action": "delete", "rank": 1},
                    {"item": item, "action": "accept", "rank": 3}, {"item": item, "action": "accept", "rank": True},
                    {"item": str(item), "action": "accept", "rank": 1}, "accept", None, [1, 2]):
        send(at, rows, payload)
        assert not at.exception, (payload, at.exception)
        assert store.item(item).decision is None and shown(at) == ROWS[0][0], payload
    click(at, "cand_reject_2")  # Shift+2: LMU rejected, the card stays; its + is disabled now
    assert store.item(item).rejected == [LMU.id] and button(at, "cand_also_2").disabled
    send(at, candidate_lists(at)[0], {"item": item, "action": "also", "rank": 2})
    assert store.item(item).accepted_ids == [] and store.item(item).decision is None
    send(at, candidate_lists(at)[0], {"item": item, "action": "also", "rank": 1})  # TUM's + is not disabled
    assert store.item(item).accepted_ids == [TUM.id]


def test_rows_are_plain_data_with_the_buttons_state():
    from components.candidate_list import rows

    inactive = Candidate("local:old", "Old Institute", 0.9, status="inactive")
    out = rows([TUM, LMU, inactive], rejected=[LMU.id], accepted_ids=[TUM.id], threshold=0.5)
    assert [r["name"] for r in out] == ["Technical University of Munich", "Ludwig-Maximilians-Universität München",
                                        "Old Institute"]
    assert out[0]["accept"] == {"label": "Accepted", "primary": True, "disabled": False}
    assert out[0]["also"] == {"label": "+", "disabled": True}  # the only accepted one: N or U instead
    assert out[0]["reject"]["disabled"] and out[1]["reject"]["disabled"] and not out[2]["reject"]["disabled"]
    assert out[1]["score"] == "rejected" and out[2]["score"] == "score 0.90"
    assert out[0]["link"] == "https://ror.org/02kkvpp62" and out[0]["id"] is None
    assert out[2]["link"] is None and out[2]["id"] == "local:old"
    assert rows([inactive])[0]["accept"]["primary"] is False  # an inactive top is not the green Accept
    assert rows([TUM], several=False)[0]["also"] is None
    assert all(r["accept"]["disabled"] for r in rows([TUM, LMU], disabled=True))

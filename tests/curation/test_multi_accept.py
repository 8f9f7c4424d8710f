"""Strings naming several institutions (issue 12): several accepted institutions per item in
the store, kept through migration, undo, exports, the mapping, decisions import and evaluation."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import create_engine, text

from affiliation_curator.engine.results import Candidate, Evidence, MatchResult
from affiliation_curator.curation.store import AcceptedInstitution, Store, StoreError, migrate

UMCU = "https://ror.org/0575yy874"
UU = "https://ror.org/04pp8hn57"
TUM = "https://ror.org/02kkvpp62"
STRING = "Dept X, University Medical Center Utrecht, Utrecht University"
PG_URL = os.environ.get("AFFILIATION_CURATOR_TEST_PG_URL")


def _result(text_: str, *scored: tuple[str, str, float]) -> MatchResult:
    cands = [Candidate(id=i, name=n, score=s, document=f"{n}, Utrecht, Netherlands", evidence=Evidence(matched_name=n))
             for i, n, s in scored]
    return MatchResult(text_, cands, cands[0].id, model="tiny", threshold=0.5)


def _batch(store: Store) -> tuple[int, int]:
    batch = store.create_batch("multi", [STRING, "TUM"], "demo", "v1", "tiny")
    item, tum = [v.id for v in store.items(batch)]
    store.save_result(item, _result(STRING, (UMCU, "UMC Utrecht", 0.9), (UU, "Utrecht University", 0.8),
                                    (TUM, "TU Munich", 0.1)))
    store.save_result(tum, _result("TUM", (TUM, "TU Munich", 0.95)))
    return batch, item


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, curator_home) -> Store:
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("set AFFILIATION_CURATOR_TEST_PG_URL to test PostgreSQL")
    store = Store(PG_URL if request.param == "postgresql" else None)
    yield store
    if request.param == "postgresql":
        for b in store.batches():
            if b.name.startswith("multi"):
                store.delete_batch(b.id)


def test_toggle_adds_and_takes_out_institutions_and_undo_steps_back(store: Store):
    batch, item = _batch(store)
    assert store.toggle_accept(item, "ana", UMCU) == (store.item(item).decision.id, True)  # a plain accept first
    store.toggle_accept(item, "ana", UU)
    view = store.item(item)
    assert view.accepted_ids == [UMCU, UU] and view.status == "accepted"
    assert view.decision.institution_names == ["UMC Utrecht", "Utrecht University"]
    assert view.decision.also[0].document == "Utrecht University, Utrecht, Netherlands"
    assert store.table(batch)[0]["institution_ids"] == [UMCU, UU]
    # a reject of an accepted one is refused; of another candidate it is allowed and stays apart
    with pytest.raises(StoreError, match="accepted match"):
        store.decide(item, "reject", "ana", UU)
    store.decide(item, "reject", "ana", TUM)
    assert store.item(item).rejected == [TUM] and store.item(item).accepted_ids == [UMCU, UU]
    # toggling the first out keeps the other as the accepted one
    _, on = store.toggle_accept(item, "ana", UMCU)
    assert not on and store.item(item).accepted_ids == [UU]
    with pytest.raises(StoreError, match="only accepted institution"):
        store.toggle_accept(item, "ana", UU)
    assert store.undo(batch).kind == "decision"  # undo brings back both
    assert store.item(item).accepted_ids == [UMCU, UU]
    store.decide(item, "none", "ana")  # "none of these" still works and clears them
    assert store.item(item).accepted_ids == [] and store.item(item).status == "none"
    store.undo(batch)
    assert store.item(item).accepted_ids == [UMCU, UU]
    assert store.batch(batch).by_action["accept"] == 1  # one item, however many institutions


def test_decide_and_record_decisions_take_several_ids(store: Store):
    batch, item = _batch(store)
    store.decide(item, "accept", "ana", UMCU, also=[UU, UMCU, "04pp8hn57"])  # repeats are dropped
    assert store.item(item).accepted_ids == [UMCU, UU]
    other = store.create_batch("multi import", [STRING])
    (oid,) = [v.id for v in store.items(other)]
    store.record_decisions(other, [(oid, "accept", UMCU, "UMC Utrecht", None,
                                    [AcceptedInstitution(UU, "Utrecht University", "Utrecht University, NL")])], "bob")
    d = store.item(oid).decision
    assert d.institution_ids == [UMCU, UU] and d.also[0].document == "Utrecht University, NL"


def test_a_version_3_database_keeps_every_decision_when_it_gains_several_ids(tmp_path):
    url = f"sqlite:///{tmp_path / 'v3.db'}"
    engine = create_engine(url)
    assert migrate(engine, target=3) == [1, 2, 3]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO batches (id, name, created_at) VALUES (1, 'old', '2026-01-01 10:00:00')"))
        conn.execute(text("INSERT INTO items (id, batch_id, position, affiliation, affiliation_hash, count) "
                          "VALUES (1, 1, 0, 'Utrecht', 'h1', 1), (2, 1, 1, 'Nowhere', 'h2', 1)"))
        conn.execute(text("INSERT INTO decisions (item_id, action, institution_id, institution_name, curator, created_at) "
                          f"VALUES (1, 'accept', '{UU}', 'Utrecht University', 'old', '2026-01-01 10:01:00'), "
                          "(2, 'none', NULL, NULL, 'old', '2026-01-01 10:02:00')"))
    engine.dispose()
    store = Store(url)
    one, two = store.items(1)
    assert one.accepted_ids == [UU] and one.decision.also == [] and one.decision.curator == "old"
    assert two.status == "none" and two.accepted_ids == []
    store.toggle_accept(one.id, "new", UMCU, institution_name="UMC Utrecht")
    assert store.item(one.id).accepted_ids == [UU, UMCU]
    assert store.item(one.id).decision.institution_names == ["Utrecht University", "UMC Utrecht"]


def test_bulk_accept_holds_an_inactive_top_whose_successor_is_listed(store: Store):
    batch = store.create_batch("multi bulk", ["Old Name Institute", "TUM"], "demo", "v1", "tiny")
    old_item, tum = [v.id for v in store.items(batch)]
    old = Candidate(id="https://ror.org/00old0000", name="Old Institute", score=0.97, status="inactive",
                    evidence=Evidence(relations=["succeeded by candidate 2 (New Institute)"],
                                      status_note="inactive; successor: New Institute (https://ror.org/00new0000)"))
    new = Candidate(id="https://ror.org/00new0000", name="New Institute", score=0.95,
                    evidence=Evidence(relations=["successor of candidate 1 (Old Institute)"]))
    store.save_result(old_item, MatchResult("Old Name Institute", [old, new], old.id, "tiny", 0.5))
    store.save_result(tum, _result("TUM", (TUM, "TU Munich", 0.95)))
    preview = store.bulk_accept(batch, 0.5, "ana", preview=True)
    held = {b.item_id: b.held for b in preview}
    assert held[tum] == "" and "successor New Institute is candidate 2" in held[old_item]
    assert [b.item_id for b in store.bulk_accept(batch, 0.5, "ana")] == [tum]
    assert store.item(old_item).decision is None


def test_an_inactive_top_without_a_listed_successor_is_bulk_accepted(store: Store):
    batch = store.create_batch("multi bulk 2", ["Gone Institute"], "demo", "v1", "tiny")
    (item,) = [v.id for v in store.items(batch)]
    gone = Candidate(id="https://ror.org/00gone000", name="Gone", score=0.9, status="withdrawn",
                     evidence=Evidence(status_note="withdrawn; no successor recorded"))
    store.save_result(item, MatchResult("Gone Institute", [gone], gone.id, "tiny", 0.5))
    assert [b.held for b in store.bulk_accept(batch, 0.5, "ana", preview=True)] == [""]
    assert [b.item_id for b in store.bulk_accept(batch, 0.5, "ana")] == [item]


# ----------------------------------------------------------------------------- exports and import


def test_pairs_make_every_accepted_institution_a_positive_and_none_a_negative(store: Store):
    from affiliation_curator.curation.export import ExportOptions, build_mapping, build_pairs

    batch, item = _batch(store)
    store.decide(item, "accept", "ana", UMCU, also=[UU])
    labels = {(p.institution_id, p.label, p.kind) for p in build_pairs(store, ExportOptions(batches=[batch])).pairs
              if p.query == STRING}
    assert labels == {(UMCU, 1, "positive"), (UU, 1, "positive"), (TUM, 0, "hard")}
    # before issue 12 the second institution was a label-0 hard negative; a reject of it stays refused too
    mapping = [r for r in build_mapping(store, ExportOptions(batches=[batch])) if r["affiliation"] == STRING]
    assert mapping[0]["ror_id"] == f"{UMCU}; {UU}"
    assert mapping[0]["institution_name"] == "UMC Utrecht; Utrecht University"


def test_the_mapping_export_reads_back_through_decisions_import_with_every_id(store: Store, tmp_path):
    from affiliation_curator.curation.decisions_import import import_decisions, read_known_answers
    from affiliation_curator.curation.export import ExportOptions, export_mapping

    batch, item = _batch(store)
    store.decide(item, "accept", "ana", UMCU, also=[UU])
    export_mapping(store, tmp_path / "mapping.csv", ExportOptions(batches=[batch]))
    answers = {a.affiliation: a for a in read_known_answers(tmp_path / "mapping.csv")}
    assert (answers[STRING].ror_id, answers[STRING].other_ids) == (UMCU, [UU])
    report = import_decisions(store, list(answers.values()), "multi back", "bob")
    assert report.multi_id_rows == 1 and "each of them was accepted" in " ".join(report.summary())
    view = next(v for v in store.items(report.batch_id) if v.affiliation == STRING)
    assert view.accepted_ids == [UMCU, UU]


def test_gold_rows_keep_several_ids_and_curated_gold_has_them(store: Store, tmp_path):
    from affiliation_curator.learning.curated_eval import gold_from_store
    from affiliation_curator.curation.decisions_import import read_known_answers
    from affiliation_curator.curation.gold import read_gold

    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"affiliation": STRING, "ror_ids": [UMCU, "04pp8hn57"]}) + "\n", encoding="utf-8")
    assert read_gold(path)[0].ror_ids == [UMCU, UU]
    answer = read_known_answers(path)[0]
    assert (answer.ror_id, answer.other_ids) == (UMCU, [UU])
    batch, item = _batch(store)
    store.decide(item, "accept", "ana", UMCU, also=[UU])
    rows = {r.affiliation: r.ror_ids for r in gold_from_store(store, [batch])}
    assert rows[STRING] == [UMCU, UU]


# ----------------------------------------------------------------------------- evaluation


def test_evaluation_counts_a_top_1_in_any_gold_id_and_reports_set_recall_apart():
    from affiliation_curator.learning.evaluation import evaluate, set_recall, set_recall_at_k

    gold = [[UMCU, UU], [TUM], [UMCU, UU, TUM]]
    ranked = [[UU, TUM, UMCU], [TUM], [TUM, "x"]]
    assert set_recall_at_k(gold, ranked, 1) == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert set_recall_at_k(gold, ranked, 3) == pytest.approx((1 + 1 / 3) / 2)
    assert set_recall(gold, [[UU, UMCU], [TUM], [TUM]]) == pytest.approx((1 + 1 / 3) / 2)
    report = evaluate(gold, ranked, [UU, TUM, TUM], 0.5, ks=(1, 3), suggested=[[UU, UMCU], [TUM], [TUM]])
    assert report.accuracy_at_1 == 1.0  # UU is one of the two right answers
    assert report.n_multi == 2 and report.set_recall[3] == pytest.approx(2 / 3)
    assert report.suggested_set_recall == pytest.approx(2 / 3)
    assert "rows naming several institutions 2: set recall@1 0.417  set recall@3 0.667  suggested set 0.667" in report.to_text()
    assert "naming several" not in evaluate([[TUM]], [[TUM]], [TUM], 0.5).to_text()  # none: no line


def test_summary_says_none_where_a_figure_is_undefined():
    from affiliation_curator.learning.curated_eval import EvalRow, EvalRun
    from affiliation_curator.learning.evaluation import evaluate

    run = EvalRun([EvalRow("TUM", [TUM], [(TUM, "TU Munich", 0.6)]), EvalRow("Nowhere", [], [(UU, "UU", 0.3)])],
                  "m", 0.5)
    assert run.summary(0.5)["auto-accept precision"] == 1.0
    high = run.summary(0.99)  # nothing accepted: precision is undefined, coverage 0
    assert high["auto-accept precision"] is None and high["coverage"] == 0.0
    assert run.summary(0.5)["no-match recall"] == 1.0 and run.summary(0.0)["no-match precision"] is None
    assert "precision n/a" in evaluate([[TUM]], [[TUM]], [None], 0.9).to_text()


def test_overlap_warning_names_rows_the_model_was_trained_on():
    from affiliation_curator.curation.gold import GoldRow, is_test_string, is_validation_string
    from affiliation_curator.learning.trained_on import overlap_warning

    card = {"training": {"curated": {"batches": ["Week 1"], "validation_share": 0.2},
                         "gold_files": ["s2aff-train.jsonl"]}}
    rows = [GoldRow(f"Dept {n}, Utrecht University", [UU], "Week 1") for n in range(40)]
    trained = sum(not is_validation_string(r.affiliation, 0.2) for r in rows)
    message = overlap_warning(card, rows, batches=["Week 1", "Week 2"])
    assert f"{trained} of 40 rows" in message and "Week 1" in message and "run high" in message
    assert overlap_warning(card, rows, batches=["Week 2"]) == ""
    gold = [GoldRow(f"Lab {n}, TU Munich", [TUM]) for n in range(40)]
    train_side = sum(not is_test_string(r.affiliation) for r in gold)
    assert f"{train_side} of 40" in overlap_warning(card, gold, gold_file="/x/s2aff-train.jsonl")
    assert overlap_warning(card, gold, gold_file="/x/s2aff-train.jsonl", test_side_only=True) == ""
    assert overlap_warning({}, gold, gold_file="s2aff-train.jsonl") == ""  # a hub model has no card


def test_decisions_list_shows_every_accepted_institution(curator_home, capsys):
    from affiliation_curator.cli import main

    store = Store()
    batch, item = _batch(store)
    store.decide(item, "accept", "ana", UMCU, also=[UU])
    assert main(["decisions", "list", "--batch", "multi"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "accept" in x)
    assert f"accept {UMCU} UMC Utrecht + {UU} Utrecht University" in line

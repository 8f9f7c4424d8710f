"""Evaluation runs on curated decisions and gold rows: rows from the store, sampling, metrics at any
threshold, the precision/coverage curve and the error list."""

from __future__ import annotations

import pytest

from fixtures.curation import NONE_STRINGS, fill_store
from affiliation_curator.learning.curated_eval import EvalRow, EvalRun, evaluate_rows, gold_from_store, sample_rows
from affiliation_curator.errors import InputError
from affiliation_curator.curation.gold import GoldRow


@pytest.fixture(scope="module")
def lexical_matcher(demo_institutions):  # noqa: F811
    from affiliation_curator.engine.matcher import Matcher
    from affiliation_curator.engine.reranker import LexicalScorer

    return Matcher(demo_institutions, LexicalScorer())


def test_gold_rows_from_the_store(demo_results):  # noqa: F811
    store, batch_id = fill_store(demo_results)
    rows = gold_from_store(store)
    by_text = {r.affiliation: r for r in rows}
    decided = [r for r in demo_results if r.affiliation in NONE_STRINGS or r.candidates]
    assert len(rows) == len(decided)
    for result in decided:
        gold = by_text[result.affiliation]
        assert gold.source == "Samples"
        assert gold.ror_ids == ([] if result.affiliation in NONE_STRINGS else [result.candidates[0].id])
    ann = gold_from_store(store, curators=["Ann"])
    assert 0 < len(ann) < len(rows) and all(r.ror_ids for r in ann)  # Ann made no "none" decision
    assert gold_from_store(store, batch_ids=[]) == []


def test_a_string_in_two_batches_counts_once_with_its_latest_answer(demo_results):  # noqa: F811
    store, first = fill_store(demo_results, limit=3)
    second = store.create_batch("Again", [demo_results[0].affiliation])
    item = store.items(second)[0]
    store.save_result(item.id, demo_results[0])
    store.decide(item.id, "none", "Cy")
    rows = [r for r in gold_from_store(store) if r.affiliation == demo_results[0].affiliation]
    assert len(rows) == 1 and rows[0].ror_ids == [] and rows[0].source == "Again"


def test_sample_rows_is_seeded_and_keeps_order():
    rows = [GoldRow(f"s{i}", []) for i in range(50)]
    sample = sample_rows(rows, 10)
    assert len(sample) == 10 and sample == sample_rows(rows, 10)
    assert [int(r.affiliation[1:]) for r in sample] == sorted(int(r.affiliation[1:]) for r in sample)
    assert sample_rows(rows, None) == rows and sample_rows(rows, 100) == rows


def test_evaluate_rows_with_the_lexical_matcher(lexical_matcher, demo_results):  # noqa: F811
    tum = next(r for r in demo_results if r.affiliation == "Dept. of Surgery, TU Munich, Germany")
    rows = [
        GoldRow(tum.affiliation, [tum.candidates[0].id], "mine"),
        GoldRow("Independent researcher", [], "mine"),
        GoldRow("Somewhere not in the registry", ["https://ror.org/00000000x"], "mine"),
        GoldRow("   ", [], "mine"),
    ]
    run = evaluate_rows(lexical_matcher, rows, source="test")
    assert len(run.rows) == 2 and run.left_out == 2 and run.sampled_from == 2
    assert run.model_id == "lexical-fallback" and run.threshold == lexical_matcher.threshold
    assert run.rows[0].expected_names and run.rows[0].expected_rank == 1
    summary = run.summary()
    assert summary["rows"] == 2 and summary["accuracy@1"] == 1.0
    assert run.top_k == lexical_matcher.top_k == 10 and "recall@10" in summary and "recall@20" not in summary
    with pytest.raises(InputError, match="none with its institutions"):
        evaluate_rows(lexical_matcher, rows[2:3])
    with pytest.raises(InputError, match="no labelled rows"):
        evaluate_rows(lexical_matcher, [])
    capped = evaluate_rows(lexical_matcher, [GoldRow(r.affiliation, []) for r in demo_results], limit=5)
    assert len(capped.rows) == 5 and capped.sampled_from == len(demo_results)


def _run() -> EvalRun:
    def row(text, expected, cands):
        return EvalRow(text, expected, [(i, i.upper(), s) for i, s in cands], [e.upper() for e in expected])

    return EvalRun(
        rows=[
            row("a", ["x"], [("x", 0.9), ("y", 0.2)]),  # right at any threshold up to 0.9
            row("b", ["x"], [("y", 0.7), ("x", 0.6)]),  # wrong institution on top
            row("c", [], [("z", 0.4)]),  # no match; a false match below 0.4
            row("d", ["w"], []),  # no candidates: always missed
        ],
        model_id="m", threshold=0.5,
    )


def test_errors_and_metrics_at_thresholds():
    run = _run()
    kinds = {e["affiliation"]: e["error"] for e in run.errors(0.5)}
    assert kinds == {"b": "wrong institution", "d": "missed (answered no match)"}
    b = next(e for e in run.errors(0.5) if e["affiliation"] == "b")
    assert b["expected"] == "X (x)" and b["predicted"] == "Y (y)" and b["top score"] == 0.7
    assert b["expected score"] == 0.6 and b["expected rank"] == 2
    low = {e["affiliation"]: e["error"] for e in run.errors(0.3)}
    assert low["c"] == "false match (should be no match)"
    high = {e["affiliation"]: e["error"] for e in run.errors(0.95)}
    assert high["a"] == "missed (answered no match)" and "b" in high and "c" not in high
    s = run.summary(0.5)
    assert s["coverage"] == 0.5 and s["auto-accept precision"] == 0.5 and s["accuracy@1"] == pytest.approx(1 / 3)
    assert s["no-match recall"] == 1.0


def test_curve_runs_from_full_to_no_coverage():
    curve = _run().curve(steps=10)
    thresholds = [p["threshold"] for p in curve]
    assert thresholds == sorted(thresholds) and 0.5 in thresholds and thresholds[0] == 0 and thresholds[-1] == 1
    coverage = [p["coverage"] for p in curve]
    assert coverage[0] == 0.75 and coverage[-1] == 0 and coverage == sorted(coverage, reverse=True)
    at_08 = next(p for p in curve if p["threshold"] == 0.8)
    assert at_08["precision"] == 1.0 and at_08["accepted"] == 1

"""Evaluate page (AppTest): metrics of a model on curated decisions and on a gold file, the threshold
slider with the precision/coverage curve, the errors table, a model that cannot load, bad input."""

from __future__ import annotations

import json

import pytest

from fixtures.curation import NONE_STRINGS, fill_store
from affiliation_curator import config
from affiliation_curator.engine.reranker import LEXICAL_MODEL_ID


@pytest.fixture
def evaluate_page(navigation_apptest, demo_results):  # noqa: F811
    store, batch_id = fill_store(demo_results)
    at = navigation_apptest(timeout=120)
    at.run()
    at.switch_page("app_pages/evaluate.py").run()
    assert not at.exception, at.exception
    return at, store, batch_id


def frame(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def figures(at) -> dict[str, float | str]:
    """The metrics table as numbers ("n/a" where a figure is undefined stays text)."""
    table = frame(at, "metric")
    return {m: (v if v == "n/a" else float(v)) for m, v in zip(table["metric"], table.iloc[:, 1])}


def evaluate(at, model: str = LEXICAL_MODEL_ID):
    at.selectbox(key="eval_model").set_value(model).run()
    at.button(key="eval_run_button").click().run()
    assert not at.exception, at.exception
    return at


def test_curated_decisions_metrics_curve_and_errors(evaluate_page, demo_results):  # noqa: F811
    at = evaluate(evaluate_page[0])
    run = at.session_state["eval_result"]
    decided = sum(1 for r in demo_results if r.affiliation in NONE_STRINGS or r.candidates)
    assert len(run.rows) == decided and run.model_id == LEXICAL_MODEL_ID
    assert at.slider(key="eval_threshold").value == round(run.threshold, 2)
    found = figures(at)
    assert found["accuracy@1"] == 1.0  # the curators accepted the lexical top candidate
    assert 0 < found["coverage"] <= 1
    chart = at.get("vega_lite_chart")  # the Altair curve
    assert len(chart) == 1 and "coverage" in chart[0].proto.spec
    errors = frame(at, "expected rank")
    assert len(errors) == len(run.errors(at.slider(key="eval_threshold").value))
    assert set(errors.columns) >= {"affiliation", "expected", "predicted", "top score", "expected score"}

    # threshold 0: every string with a candidate is accepted; the "none of these" ones become false matches
    at.slider(key="eval_threshold").set_value(0.0).run()
    assert figures(at)["coverage"] == pytest.approx(sum(1 for r in run.rows if r.candidates) / len(run.rows), abs=5e-4)  # shown to 3 decimals
    kinds = set(frame(at, "expected rank")["error"])
    assert kinds == {"false match (should be no match)"}
    at.segmented_control(key="eval_error_kind").set_value("false match (should be no match)").run()
    assert not at.exception
    at.segmented_control(key="eval_error_kind").set_value("all").run()
    # a high threshold: fewer accepted, the rest missed
    at.slider(key="eval_threshold").set_value(0.95).run()
    high = sum(1 for r in run.rows if r.top_score is not None and r.top_score >= 0.95)
    assert figures(at)["coverage"] == pytest.approx(high / len(run.rows), abs=5e-4) and high < len(run.rows) - len(NONE_STRINGS)
    assert "missed (answered no match)" in set(frame(at, "expected rank")["error"])
    assert at.download_button(key="eval_errors_download").label == "Download the errors (CSV)"


def test_a_saved_tiny_model_and_a_model_that_cannot_load(evaluate_page, tiny_cross_encoder_dir):
    """The picker offers our saved models and the operator's allowed hub ids, never a typed path."""
    import shutil

    saved = config.models_dir() / "tiny"
    shutil.copytree(tiny_cross_encoder_dir, saved)
    (saved / "curator.json").write_text('{"threshold": 0.5, "created": "2026-01-01"}')
    settings = config.Settings.load()
    settings.allowed_models = ["someone/not-downloaded-model"]
    settings.save()
    at = evaluate_page[0]
    at.run()
    assert [t.key for t in at.text_input] == ["curator"]  # no free model field: a form never names a path or id
    at.selectbox(key="eval_model").set_value(str(saved)).run()
    at.button(key="eval_run_button").click().run()
    assert not at.exception, at.exception
    run = at.session_state["eval_result"]
    assert run.model_id == str(saved) and not run.fallback_reason
    assert not at.warning
    at.selectbox(key="eval_model").set_value("someone/not-downloaded-model").run()
    at.button(key="eval_run_button").click().run()
    assert not at.exception, at.exception
    assert "could not be fetched" in at.warning[0].value


def test_gold_upload_leaves_out_rows_outside_the_registry(evaluate_page, demo_results):  # noqa: F811
    at = evaluate_page[0]
    at.selectbox(key="eval_model").set_value(LEXICAL_MODEL_ID).run()
    at.segmented_control(key="eval_source").set_value("gold").run()
    at.selectbox(key="eval_gold").set_value("__upload__").run()
    known = [r for r in demo_results if r.candidates][:3]
    lines = [{"affiliation": r.affiliation, "ror_ids": [r.candidates[0].id]} for r in known]
    lines.append({"affiliation": "Somewhere else entirely", "ror_ids": ["https://ror.org/00000000x"]})
    lines.append({"affiliation": "Independent researcher", "ror_ids": []})
    data = "\n".join(json.dumps(x) for x in lines).encode()
    at.file_uploader(key="eval_gold_upload").upload("mine.jsonl", data, "application/jsonl").run()
    at.checkbox(key="eval_test_side").uncheck().run()
    at.button(key="eval_run_button").click().run()
    assert not at.exception, at.exception
    run = at.session_state["eval_result"]
    assert len(run.rows) == 4 and run.left_out == 1
    assert "1 labelled rows were left out" in at.info[0].value
    assert any("gold file mine\\.jsonl" in c.value for c in at.caption)  # file names are shown as inert markdown

    at.file_uploader(key="eval_gold_upload").upload("bad.jsonl", b"{not json", "application/jsonl").run()
    at.button(key="eval_run_button").click().run()
    assert not at.exception
    assert "bad\\.jsonl line 1" in at.error[0].value
    assert "eval_result" not in at.session_state


def test_no_batches_is_a_clear_message(navigation_apptest):  # noqa: F811
    at = navigation_apptest().run()
    at.switch_page("app_pages/evaluate.py").run()
    at.selectbox(key="eval_model").set_value(LEXICAL_MODEL_ID).run()
    at.button(key="eval_run_button").click().run()
    assert not at.exception, at.exception
    assert "no batches yet" in at.error[0].value


def test_user_strings_stay_inert_text(navigation_apptest, demo_results):  # noqa: F811
    from affiliation_curator.curation.store import Store

    evil = "**bold** [x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    store = Store()
    batch_id = store.create_batch(evil, [demo_results[0].affiliation], registry_name="demo")
    item = store.items(batch_id)[0]
    store.save_result(item.id, demo_results[0])
    store.decide(item.id, "accept", "Ann", demo_results[0].candidates[0].id)
    at = navigation_apptest(timeout=120).run()
    at.switch_page("app_pages/evaluate.py").run()
    evaluate(at)
    caption = next(c.value for c in at.caption if "curated decisions of" in c.value)
    assert "\\*\\*bold\\*\\*" in caption and "\\[x\\]\\(javascript\\:alert\\(1\\)\\)" in caption
    assert "\\<img" in caption

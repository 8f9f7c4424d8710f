"""Train page (AppTest): data preview, a short background run from a tiny base model with the
before/after metrics, making the new model active, cancelling, and bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fixtures.curation import fill_store
from affiliation_curator import config
from affiliation_curator.engine.reranker import ModelCard
from affiliation_curator.learning.jobs import jobs


@pytest.fixture
def tiny_base(tiny_cross_encoder_dir) -> Path:
    """The tiny cross-encoder as one of our saved models (so the page offers it as a base)."""
    folder = config.models_dir() / "tiny-base"
    shutil.copytree(tiny_cross_encoder_dir, folder)
    ModelCard(base_model="tiny test model", created="2024-01-01T00:00:00+00:00", threshold=0.5).write(folder)
    return folder


@pytest.fixture
def train_page(navigation_apptest, demo_results, tiny_base):  # noqa: F811
    store, batch_id = fill_store(demo_results)
    at = navigation_apptest(timeout=120)
    at.run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    yield at, store, batch_id
    job = jobs().current
    if job is not None:
        job.cancel()
        job.wait(120)
    jobs().clear()


def wait_for_job(timeout: float = 180.0):
    job = jobs().current
    assert job is not None, "no training run was started"
    assert job.wait(timeout), "training did not finish in time"
    return job


def frame(at, column: str):
    """The first table with this column."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def metric(at, label: str) -> int:
    return int(next(m.value for m in at.metric if m.label == label).replace(",", ""))


def test_preview_counts_follow_the_options(train_page):
    at, store, batch_id = train_page
    assert metric(at, "Training pairs") > 0 and metric(at, "Validation pairs") > 0
    total = metric(at, "Training pairs") + metric(at, "Validation pairs")
    at.slider(key="train_validation").set_value(0).run()
    assert metric(at, "Validation pairs") == 0 and metric(at, "Training pairs") == total
    at.multiselect(key="train_curators").select("Ann").run()
    assert 0 < metric(at, "Training pairs") < total
    assert at.selectbox(key="train_base").options[0].startswith("all-MiniLM-L6-v2")
    assert any("tiny-base" in o for o in at.selectbox(key="train_base").options)


def test_train_from_curated_decisions_and_use_the_model(train_page, tiny_base):
    at, store, batch_id = train_page
    at.selectbox(key="train_base").set_value(str(tiny_base)).run()
    at.text_input(key="train_name").input("curated-test").run()
    at.number_input(key="train_max_steps").set_value(2).run()
    at.selectbox(key="train_batch_size").set_value(8).run()
    assert "About 2 training steps." in [c.value for c in at.caption]
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    job = wait_for_job()
    assert job.error is None, job.error
    at.run()
    assert not at.exception, at.exception
    assert "curated\\-test" in at.success[0].value  # names are shown as inert markdown
    table = frame(at, "metric")
    assert list(table["metric"])[:4] == ["map", "mrr@10", "ndcg@10", "accuracy@1"]
    assert table["before"].notna().sum() >= 4 and table["after"].notna().sum() >= 4
    out = config.models_dir() / "curated-test"
    card = ModelCard.read(out)
    assert card is not None and card.base_model == str(tiny_base)
    assert card.metrics["validation"]["after"]["map"] is not None
    assert card.training["curated"]["batches"] == ["Samples"]
    assert tiny_base.is_dir()  # the old model stays
    models = list(frame(at, "model")["model"])
    assert "curated-test" in models and "tiny-base" in models
    at.button(key="train_use").click().run()
    assert config.Settings.load().model == str(out)
    assert "This model is the active reranker." in [c.value for c in at.caption]
    at.button(key="train_clear").click().run()
    assert jobs().current is None and not at.exception


def test_cancel_saves_nothing(train_page, tiny_base):
    at, store, batch_id = train_page
    at.selectbox(key="train_base").set_value(str(tiny_base)).run()
    at.text_input(key="train_name").input("cancelled-run").run()
    at.button(key="train_start").click().run()
    at.button(key="train_cancel").click().run()
    job = wait_for_job()
    at.run()
    assert job.cancelled
    assert "cancelled" in at.warning[0].value
    assert not (config.models_dir() / "cancelled-run").exists()


def test_file_source_needs_a_file_and_rejects_garbage(train_page):
    at, store, batch_id = train_page
    at.segmented_control(key="train_source").set_value("file").run()
    assert at.button(key="train_start").disabled
    at.file_uploader(key="train_file").upload("pairs.jsonl", b"not json\n", "application/jsonl").run()
    assert not at.exception, at.exception
    assert any("line 1\\: not JSON" in w.value for w in at.warning)
    assert at.button(key="train_start").disabled
    good = b'{"query": "ETH Zurich", "document": "ETH Zurich, Zurich, Switzerland", "label": 1}\n' \
           b'{"query": "ETH Zurich", "document": "University of Zurich, Zurich, Switzerland", "label": 0}\n'
    at.file_uploader(key="train_file").upload("pairs.jsonl", good, "application/jsonl").run()
    assert metric(at, "Training pairs") + metric(at, "Validation pairs") == 2
    assert not at.button(key="train_start").disabled

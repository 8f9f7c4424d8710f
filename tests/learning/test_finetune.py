"""Fine-tuning on curated pairs: the data and its split, a short run of the tiny model with the
before/after metrics in the card, bounds, cancelling, and refusing to replace a model."""

from __future__ import annotations

import json

import pytest

from fixtures.curation import fill_store
from affiliation_curator import config
from affiliation_curator.errors import CuratorError, InputError
from affiliation_curator.learning.finetune import (
    TrainingCancelled,
    TrainingData,
    curated_training_data,
    file_training_data,
    finetune,
    planned_steps,
    unique_model_dir,
)
from affiliation_curator.engine.reranker import ModelCard


def test_curated_data_is_split_by_affiliation(demo_results, demo_institutions):  # noqa: F811
    store, batch_id = fill_store(demo_results)
    data = curated_training_data(store, demo_institutions, validation_share=0.3, easy_negatives=1)
    assert data.train and data.validation
    assert not {r["query"] for r in data.train} & {r["query"] for r in data.validation}
    assert set(data.train[0]) == {"query", "document", "label"}
    counts = data.counts()
    assert counts["train pairs"] == len(data.train) and counts["validation positives"] > 0
    assert data.sources["batches"] == ["Samples"] and data.sources["pairs_by_origin"]["easy"] > 0
    whole = curated_training_data(store, demo_institutions, validation_share=0)
    assert not whole.validation and len(whole.train) < len(data.train) + len(data.validation)  # no easy ones
    with pytest.raises(InputError, match="no labelled pairs"):
        curated_training_data(store, demo_institutions, curators=["Nobody"])


def test_file_data(tmp_path, demo_institutions):  # noqa: F811
    path = tmp_path / "pairs.jsonl"
    rows = [{"query": f"q{i}", "document": "Doc", "label": i % 2} for i in range(40)]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    data = file_training_data(path, demo_institutions, 0.25)
    assert len(data.train) + len(data.validation) == 40 and data.validation
    assert data.sources == {"kind": "pairs file", "file": "pairs.jsonl", "validation_share": 0.25}
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no labelled pairs"):
        file_training_data(path, demo_institutions)


def test_planned_steps_and_unique_folders():
    assert planned_steps(100, 0, 10, 1.0, None) == 10
    assert planned_steps(100, 0, 10, 2.0, 15) == 15
    assert planned_steps(0, 50, 10, 1.0, None) == 23  # 4 a query, 3 a "no match" query
    first = unique_model_dir("my model/../x")
    assert first.parent == config.models_dir() and first.name == "my-model-..-x"  # one folder, no path parts
    first.mkdir()
    assert unique_model_dir("my model/../x").name == first.name + "-2"


def test_finetune_tiny_model(demo_results, demo_institutions, tiny_cross_encoder_dir):  # noqa: F811
    store, batch_id = fill_store(demo_results)
    data = curated_training_data(store, demo_institutions, validation_share=0.3)
    statuses = []
    out = config.models_dir() / "tiny-curated"
    report = finetune(data, demo_institutions, out, base_model=str(tiny_cross_encoder_dir), max_steps=2,
                      batch_size=8, progress=statuses.append)
    assert report.steps == 2 and report.out_dir == str(out.resolve())
    assert report.train_pairs == len(data.train) and report.validation_pairs == len(data.validation)
    for side in (report.before, report.after):
        assert side is not None and side["map"] is not None and side["ndcg@10"] is not None
        assert side["accuracy@1"] is not None and side["no-match recall"] is not None
    table = {r["metric"]: r for r in report.metrics_table()}
    assert table["map"]["change"] == pytest.approx(report.after["map"] - report.before["map"])
    phases = [s.phase for s in statuses]
    assert phases[0] == "before" and "training" in phases and "calibrating" in phases and phases[-1] == "done"
    assert any(s.step == 2 and s.total == 2 for s in statuses)
    card = ModelCard.read(out)
    assert card.base_model == str(tiny_cross_encoder_dir) and card.threshold == report.threshold
    assert card.training["curated"]["train pairs"] == len(data.train) and card.training["pairs_file"] is None
    assert card.metrics["validation"]["after"]["map"] == pytest.approx(report.after["map"])
    with pytest.raises(CuratorError, match="already exists"):
        finetune(data, demo_institutions, out, base_model=str(tiny_cross_encoder_dir), max_steps=1)


def test_cancel_and_bad_input(demo_institutions, tmp_path):  # noqa: F811
    data = TrainingData([{"query": "a", "document": "A", "label": 1}, {"query": "a", "document": "B", "label": 0}], [])
    out = tmp_path / "never"
    with pytest.raises(TrainingCancelled):
        finetune(data, demo_institutions, out, should_stop=lambda: True)
    assert not out.exists()
    only_right = TrainingData([{"query": "a", "document": "A", "label": 1}], [])
    with pytest.raises(InputError, match="no wrong"):
        finetune(only_right, demo_institutions, out)
    with pytest.raises(InputError, match="at least 1"):
        finetune(data, demo_institutions, out, max_steps=0)


def test_validation_answers_are_the_curators_decisions(demo_results, demo_institutions):  # noqa: F811
    store, batch_id = fill_store(demo_results)
    data = curated_training_data(store, demo_institutions, validation_share=0.3)
    validation_strings = {r["query"] for r in data.validation}
    assert {a.affiliation for a in data.validation_answers} <= validation_strings
    decided = {row["affiliation"]: row for row in store.table(batch_id)}
    for answer in data.validation_answers:
        row = decided[answer.affiliation]
        assert answer.ror_ids == ([row["institution_id"]] if row["decision"] == "accept" else [])
    assert any(a.ror_ids for a in data.validation_answers) and any(not a.ror_ids for a in data.validation_answers)
    assert not curated_training_data(store, demo_institutions, validation_share=0).validation_answers


def test_finetune_calibrates_on_curated_validation_strings(demo_results, demo_institutions, tiny_cross_encoder_dir,
                                                          monkeypatch):  # noqa: F811
    from affiliation_curator.learning import finetune as finetune_module

    store, _ = fill_store(demo_results)
    data = curated_training_data(store, demo_institutions, validation_share=0.3)
    monkeypatch.setattr(finetune_module, "MIN_CALIBRATION_STRINGS", 5)
    assert len(data.validation_answers) >= 5
    out = config.models_dir() / "tiny-calibrated"
    report = finetune(data, demo_institutions, out, base_model=str(tiny_cross_encoder_dir), max_steps=1, batch_size=8)
    card = ModelCard.read(out)
    assert card.extra["calibrated_on"] == ["curated validation"]
    assert card.metrics["calibration"]["rows"] == len(data.validation_answers)
    assert card.threshold == pytest.approx(report.threshold)
    assert card.training["curated"]["validation affiliations"] == len({r["query"] for r in data.validation})

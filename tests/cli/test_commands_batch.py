"""``evaluate --batch`` and ``model train --batch``: the curators' decisions of a batch as labelled data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from affiliation_curator.cli import main
from affiliation_curator.curation.decisions_import import KnownAnswer, import_decisions
from affiliation_curator.engine.matcher import Matcher
from affiliation_curator.registry import RegistryCatalog
from affiliation_curator.engine.reranker import LexicalScorer, ModelCard
from affiliation_curator.curation.store import Store

from fixtures.training import _ror, write_registry_csv

ANSWERS = [
    ("Dept. of Physics, Technical University of Munich, Germany", "01"),
    ("Institute of Chemistry, Universität Hamburg", "03"),
    ("MIT, Cambridge, MA", "06"),
    ("Peking University, Beijing", "15"),
    ("Acme Widgets GmbH, Stuttgart", None),
]


@pytest.fixture
def curated_batch(tmp_path: Path) -> str:
    """Registry "mini" (20 institutions) and batch "March": five known answers, ranked lexically, recorded."""
    path = write_registry_csv(tmp_path / "institutions.csv")
    catalog = RegistryCatalog()
    catalog.import_file(path, name="mini")
    registry = catalog.load("mini")
    answers = [KnownAnswer(text, _ror(num) if num else None) for text, num in ANSWERS]
    report = import_decisions(Store(), answers, "March", "Ann", matcher=Matcher(registry, scorer=LexicalScorer()),
                              registry=registry)
    assert (report.accepted, report.none, report.ranked) == (4, 1, 5)
    return "March"


def test_evaluate_on_a_batch_uses_its_decisions_and_registry(curated_batch, capsys):
    assert main(["evaluate", "--batch", curated_batch, "--model", "lexical-fallback"]) == 0
    captured = capsys.readouterr()
    assert "registry mini" in captured.err  # the batch's registry, though none was named
    out = captured.out
    assert "batch March; registry mini; scorer lexical-fallback" in out
    assert "rows 5 (with a right answer 4, 'no match' 1)" in out
    for needle in ("accuracy@1", "MRR", "no-match precision", "auto-accept at threshold"):
        assert needle in out

    assert main(["evaluate", "--batch", "1", "--model", "lexical-fallback", "--json"]) == 0  # by number
    figures = json.loads(capsys.readouterr().out)
    assert figures["batches"] == ["March"] and figures["n"] == 5 and figures["n_no_match"] == 1
    assert 0.0 <= figures["accuracy_at_1"] <= 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--model", "lexical-fallback"], "give a gold file (GOLD.jsonl) or --batch NAME"),
        (["evaluate", "gold.jsonl", "--batch", "March", "--model", "lexical-fallback"], "not both"),
        (["evaluate", "--batch", "April", "--model", "lexical-fallback"], "no batch 'April'; batches: 'March'"),
    ],
)
def test_evaluate_batch_errors_are_one_line(curated_batch, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_evaluate_on_a_batch_without_decisions(curated_batch, capsys):
    store = Store()
    from affiliation_curator.curation.intake import parse_paste

    store.create_batch("Empty", parse_paste("University of Oxford\n"), "mini", "", "lexical-fallback")
    assert main(["evaluate", "--batch", "Empty", "--model", "lexical-fallback"]) == 2
    assert "has no decisions to evaluate on yet" in capsys.readouterr().err


def test_model_train_from_a_batch(curated_batch, tiny_cross_encoder_dir, tmp_path, capsys):
    out_dir = tmp_path / "tiny-march"
    code = main(["model", "train", "--registry", "mini", "--batch", curated_batch, "--base", str(tiny_cross_encoder_dir),
                 "--max-steps", "2", "--batch-size", "8", "--queries", "20", "--no-match-queries", "4",
                 "--out", str(out_dir)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert re.search(r"batches March: \d+ labelled pairs \(4 right\) from [45] affiliations", captured.err)
    assert "step 2/2" in captured.err
    card = ModelCard.read(out_dir)
    assert card is not None
    assert card.training["pairs_file"] is None  # the temporary file is gone; the card names the batches instead
    assert card.training["curated"]["batches"] == ["March"]
    assert card.training["curated"]["train positives"] == 4
    assert card.training["pairs"] > card.training["curated"]["train pairs"]  # plus the registry's synthetic pairs


def test_model_train_batch_errors(curated_batch, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"query": "x", "document": "y", "label": 1}) + "\n", encoding="utf-8")
    assert main(["model", "train", "--registry", "mini", "--batch", curated_batch, "--pairs", str(pairs),
                 "--out", str(tmp_path / "m")]) == 2
    assert "give --pairs or --batch, not both" in capsys.readouterr().err
    assert main(["model", "train", "--registry", "mini", "--batch", "nope", "--out", str(tmp_path / "m")]) == 2
    assert "no batch 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()

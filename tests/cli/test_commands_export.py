"""``python -m affiliation_curator export pairs|mapping``."""

from __future__ import annotations

import csv
import json

import pytest

from affiliation_curator.engine.results import Candidate, MatchResult
from affiliation_curator.cli import main
from affiliation_curator.curation.gold import is_validation_string
from affiliation_curator.curation.store import Store

HSG = "https://ror.org/0561a3s31"


@pytest.fixture
def curated() -> Store:
    store = Store()
    texts = [f"Dept {i}, Some University {i}" for i in range(12)] + ["=HYPERLINK(\"http://x\")"]
    batch = store.create_batch("jan", texts, "demo", "1", "tiny")
    for view in store.items(batch):
        cands = [Candidate(f"https://ror.org/0{k}{view.position:07d}", f"U{k}", 0.9 - k / 10, document=f"U{k} {view.position}, Town") for k in range(4)]
        store.save_result(view.id, MatchResult(view.affiliation, cands, None, model="tiny"))
        if view.position % 4 == 3:
            store.decide(view.id, "none", "ben")
        else:
            store.decide(view.id, "accept", "ana", cands[0].id)
    other = store.create_batch("feb", ["University of St.Gallen"], "demo", "1", "tiny")
    item = store.items(other)[0]
    store.save_result(item.id, MatchResult(item.affiliation, [Candidate(HSG, "University of St.Gallen", 0.95, document="University of St.Gallen, St. Gallen, Switzerland")], HSG, model="tiny"))
    store.decide(item.id, "accept", "cleo", HSG)
    return store


def test_export_pairs_csv_with_split(curated, tmp_path, capsys):
    out = tmp_path / "pairs.csv"
    assert main(["export", "pairs", "--output", str(out), "--batch", "jan", "--split", "0.3", "--hard-negatives", "1"]) == 0
    printed = capsys.readouterr().out
    assert "Wrote" in printed and "pairs.train.csv" in printed and "pairs.card.md" in printed
    train = list(csv.DictReader((tmp_path / "pairs.train.csv").open(encoding="utf-8")))
    validation = list(csv.DictReader((tmp_path / "pairs.validation.csv").open(encoding="utf-8")))
    assert set(train[0]) == {"query", "document", "label"}
    assert {r["query"] for r in train}.isdisjoint({r["query"] for r in validation})
    assert all(is_validation_string(r["query"], 0.3) for r in validation)
    everything = train + validation
    # 10 accepted (1 positive + 1 hard negative each) and 3 "none" (4 shown candidates each, all label 0)
    assert sum(r["label"] == "1" for r in everything) == 10 and len(everything) == 10 * 2 + 3 * 4
    assert any(r["query"] == "'=HYPERLINK(\"http://x\")" for r in everything)  # neutralised
    assert not any(r["query"].startswith("Univ") for r in everything)  # only batch jan
    card = (tmp_path / "pairs.card.md").read_text(encoding="utf-8")
    assert "validation" in card and "| jan |" in card


def test_export_pairs_jsonl_all_hard_negatives_and_curator_filter(curated, tmp_path, capsys):
    out = tmp_path / "pairs.jsonl"
    assert main(["export", "pairs", "-o", str(out), "--hard-negatives", "all", "--curator", "ana"]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 10 * 4 and sum(r["label"] for r in rows) == 10  # ana's 10 accepts, 3 negatives each
    assert any(r["query"] == "=HYPERLINK(\"http://x\")" for r in rows)  # JSON keeps text as typed


def test_export_pairs_easy_negatives_from_the_demo_registry(curated, tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "pairs.parquet"
    assert main(["export", "pairs", "-o", str(out), "--batch", "feb", "--hard-negatives", "0", "--easy-negatives", "5"]) == 0
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["query", "document", "label"]
    assert frame["label"].tolist() == [1, 0, 0, 0, 0, 0]
    assert frame["document"].nunique() == 6 and frame["label"].dtype == "int64"


def test_export_mapping(curated, tmp_path, capsys):
    out = tmp_path / "mapping.csv"
    assert main(["export", "mapping", "--output", str(out), "--since", "2000-01-01"]) == 0
    assert "Wrote 14 affiliations (accept 11, none 3)" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    hsg = next(r for r in rows if r["ror_id"] == HSG)
    assert (hsg["affiliation"], hsg["decision"], hsg["curator"], hsg["batch"], hsg["registry_version"]) == (
        "University of St.Gallen", "accept", "cleo", "feb", "1")
    assert float(hsg["score"]) == pytest.approx(0.95) and hsg["model_id"] == "tiny"
    assert (tmp_path / "mapping.card.md").exists()
    assert main(["export", "mapping", "-o", str(tmp_path / "m.jsonl"), "--until", "2000-01-01"]) == 2
    assert "nothing to export" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["export", "pairs", "-o", "out"], "ending in .csv, .jsonl or .parquet"),
        (["export", "pairs", "-o", "out.xlsx"], "unknown export format"),
        (["export", "pairs", "-o", "out.csv", "--batch", "nope"], "no batch 'nope'; batches: 'feb', 'jan'"),
        (["export", "pairs", "-o", "out.csv", "--since", "yesterday"], "not a date"),
        (["export", "pairs", "-o", "out.csv", "--hard-negatives", "many"], "neither a number nor 'all'"),
        (["export", "pairs", "-o", "out.csv", "--split", "1.5"], "validation share"),
        (["export", "pairs", "-o", "out.csv", "--easy-negatives", "-1"], "cannot be negative"),
    ],
)
def test_export_errors_are_one_line(curated, tmp_path, monkeypatch, capsys, argv, fragment):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err and "Traceback" not in err


def test_help_for_every_subcommand(capsys):
    for argv in (["export", "--help"], ["export", "pairs", "--help"], ["export", "mapping", "--help"],
                 ["decisions", "--help"], ["decisions", "import", "--help"], ["decisions", "list", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
    assert "BinaryCrossEntropyLoss" in capsys.readouterr().out

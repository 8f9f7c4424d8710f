"""``model fit-combiner`` (combiner_fit.py): train-side rows only, calibrated JSON out with its card."""

from __future__ import annotations

import json

import pytest

from affiliation_curator.engine import combiner as cb
from affiliation_curator.learning.combiner_fit import gold_rows, refit
from affiliation_curator.curation.gold import is_test_string
from affiliation_curator.engine.matcher import Matcher
from affiliation_curator.engine.reranker import LexicalScorer
from affiliation_curator.engine.retrieval import Retriever
from fixtures.retrieval import SmallRegistry, small_institutions

UNITS = ["Department of Physics", "Dept. of Chemistry", "Faculty of Medicine", "Institute of Biology",
         "School of Engineering", "Division of Surgery", "Lab of Genetics"]
NOWHERE = ["Acme Widgets Inc.", "Professor of History", "Independent researcher", "Globex GmbH",
           "Department of Mathematics", "Private practice", "Initech Ltd", "Dept. of Statistics"]


@pytest.fixture()
def gold_file(tmp_path):
    insts = small_institutions()
    lines = []
    for k, inst in enumerate(insts):
        for unit in UNITS:
            lines.append({"affiliation": f"{unit}, {inst.name}, {inst.city}, {inst.country_name}", "ror_ids": [inst.id]})
        lines.append({"affiliation": f"{inst.name}", "ror_ids": [inst.id]})
    for k, text in enumerate(NOWHERE):
        for city in ("Boston", "Lyon", "Oxford", "Munich"):
            lines.append({"affiliation": f"{text}, {city}", "ror_ids": []})
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_only_train_side_rows_the_registry_can_answer(gold_file):
    ids = {i.id for i in small_institutions()}
    rows = gold_rows([gold_file], ids)
    assert rows and not any(is_test_string(r.affiliation) for _, r in rows)
    assert gold_rows([gold_file], set(), side="train") == [(s, r) for s, r in rows if not r.ror_ids]


def test_strings_naming_only_absent_institutions_can_count_as_no_match(tmp_path):
    ids = {i.id for i in small_institutions()}
    present = sorted(ids)[0]
    lines = [{"affiliation": f"Dept {k}, Nowhere University", "ror_ids": ["https://ror.org/0absent00"]} for k in range(60)]
    lines += [{"affiliation": f"Lab {k}, somewhere", "ror_ids": [present, "https://ror.org/0absent00"]} for k in range(60)]
    lines += [{"affiliation": f"Unit {k}, here", "ror_ids": [present]} for k in range(60)]
    lines += [{"affiliation": "   ", "ror_ids": ["https://ror.org/0absent00"]}]
    path = tmp_path / "hand.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    plain = gold_rows([path], ids)
    assert plain and all(r.ror_ids == [present] for _, r in plain)  # absent rows are left out by default
    rows = gold_rows([path], ids, absent_no_match=[path])
    absent = [r for _, r in rows if r.is_no_match]
    # every train-side "Nowhere University" row, as a no-match row marked as such; a row naming a
    # present institution too is never turned into "no match"; a blank string never comes
    assert absent and all(r.affiliation.endswith("Nowhere University") and not r.all_ids_in_registry for r in absent)
    assert len(absent) == sum(1 for x in lines[:60] if not is_test_string(x["affiliation"]))
    assert [r for _, r in rows if not r.is_no_match] == [r for _, r in plain]
    assert gold_rows([path], ids, side="test", absent_no_match=[path]) != gold_rows([path], ids, side="test")


def test_refit_writes_a_calibrated_json_combiner_and_its_card(gold_file, tmp_path):
    registry = SmallRegistry(small_institutions())
    out = tmp_path / "models" / cb.LEXICAL_COMBINER_FILE
    refit(registry, [gold_file], LexicalScorer(), out, command="python -m affiliation_curator model fit-combiner ...",
          say=lambda _m: None)
    data = json.loads(out.read_text(encoding="utf-8"))  # plain JSON, nothing to unpickle
    assert data["model"]["kind"] == "calibrated" and data["model"]["model"]["kind"] == "trees"
    assert data["meta"]["side"] == "train" and data["meta"]["registry"]["institutions"] == len(registry.institutions)
    card = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "fit-combiner" in card and "gold" in card and "no-match" in card
    comb = cb.Combiner.load(out)
    assert comb is not None and 0.0 <= comb.threshold <= 1.0
    m = Matcher(registry, LexicalScorer(), retriever=Retriever.for_registry(registry), combiner=comb)
    right = m.match("Department of Physics, Harvard University, Cambridge, United States")
    assert right.match == "https://ror.org/03vek6s52"
    assert m.match("Acme Widgets Inc., Boston").match is None


def test_the_cli_offers_fit_combiner():
    from affiliation_curator.cli import build_parser

    args = build_parser().parse_args(["model", "fit-combiner", "--gold", "a.jsonl", "--out", "x.json"])
    assert args.gold == ["a.jsonl"] and args.kind == "hgb" and args.model == "lexical-fallback"
    assert args.absent_no_match == []


def test_absent_is_no_match_must_name_a_gold_file(tmp_path, capsys):
    from affiliation_curator.cli import main

    gold = tmp_path / "a.jsonl"
    gold.write_text('{"affiliation": "x", "ror_ids": []}\n', encoding="utf-8")
    other = tmp_path / "b.jsonl"
    other.write_text('{"affiliation": "y", "ror_ids": []}\n', encoding="utf-8")
    rc = main(["model", "fit-combiner", "--gold", str(gold), "--absent-is-no-match", str(other),
               "--out", str(tmp_path / "c.json")])
    err = capsys.readouterr().err
    assert rc != 0 and "give it to --gold too" in err and "Traceback" not in err
    assert not (tmp_path / "c.json").exists()

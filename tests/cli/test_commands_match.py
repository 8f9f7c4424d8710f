"""``match`` and ``evaluate`` commands: output shape, order, resume, columns, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from affiliation_curator.cli import main

REGISTRY_CSV = """id,name,aliases,acronyms,city,country
https://ror.org/02kkvpp62,Technical University of Munich,TU München;Technische Universität München,TUM,Munich,DE
https://ror.org/02s376052,École Polytechnique Fédérale de Lausanne,Swiss Federal Institute of Technology in Lausanne,EPFL,Lausanne,CH
https://ror.org/0495fxg12,Institut Pasteur,,,Paris,FR
https://ror.org/052gg0110,University of Oxford,,,Oxford,GB
"""

LINES = ["Dept. of Surgery, TU Munich, Germany", "EPFL, Lausanne", "Institut Pasteur, Paris", "University of Oxford"]


@pytest.fixture()
def registry_csv(tmp_path: Path) -> Path:
    path = tmp_path / "institutions.csv"
    path.write_text(REGISTRY_CSV, encoding="utf-8")
    return path


def run(*argv: str) -> int:
    return main([str(a) for a in argv])


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_match_txt_writes_one_line_per_string_in_input_order(tmp_path, registry_csv, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(LINES + ["", LINES[1]]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run("match", src, "--registry", registry_csv, "--model", "lexical-fallback", "--top-k", "2", "--output", out) == 0
    rows = read_out(out)
    assert [r["affiliation"] for r in rows] == LINES  # blank skipped, repeat written once
    for row in rows:
        assert set(row) == {"affiliation", "candidates", "match"}
        assert 1 <= len(row["candidates"]) <= 2
        assert all(set(c) == {"id", "name", "score"} and 0 <= c["score"] <= 1 for c in row["candidates"])
        scores = [c["score"] for c in row["candidates"]]
        assert scores == sorted(scores, reverse=True)
    assert rows[0]["candidates"][0]["id"] == "https://ror.org/02kkvpp62"
    assert rows[2]["match"] == "https://ror.org/0495fxg12"
    err = capsys.readouterr().err
    assert "4/4" in err  # the progress bar


def test_resume_after_an_interrupted_run_redoes_nothing_finished(tmp_path, registry_csv, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run("match", src, "--registry", registry_csv, "--model", "lexical-fallback", "--output", out) == 0
    full = out.read_text(encoding="utf-8").splitlines()
    # an interrupted run: two finished lines and half of the third
    out.write_text(full[0] + "\n" + full[1] + "\n" + full[2][:15], encoding="utf-8")
    capsys.readouterr()
    assert run("match", src, "--registry", registry_csv, "--model", "lexical-fallback", "--output", out) == 0
    assert "resuming: 2 of 4" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8").splitlines() == full
    assert run("match", src, "--registry", registry_csv, "--model", "lexical-fallback", "--output", out) == 0
    assert "nothing to do" in capsys.readouterr().err
    # an OUT made from another input is not appended to
    other = tmp_path / "other.txt"
    other.write_text("Something else\n", encoding="utf-8")
    assert run("match", other, "--registry", registry_csv, "--model", "lexical-fallback", "--output", out) == 2
    assert "another input" in capsys.readouterr().err
    assert run("match", other, "--registry", registry_csv, "--model", "lexical-fallback", "--output", out, "--restart") == 0
    assert len(read_out(out)) == 1


def test_resume_refuses_results_of_another_engine(tmp_path, registry_csv, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    base = ("match", src, "--registry", registry_csv, "--model", "lexical-fallback", "--output", out)
    assert run(*base, "--top-k", "2") == 0
    engine = json.loads((tmp_path / "out.jsonl.run.json").read_text(encoding="utf-8"))
    assert engine["model"] == "lexical-fallback" and engine["top_k"] == 2 and engine["institutions"] == 4
    out.write_text(out.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")  # interrupted
    capsys.readouterr()
    assert run(*base, "--top-k", "5") == 2  # the finished line has 2 candidates: not mixed with 5
    err = capsys.readouterr().err
    assert "another engine" in err and "top_k 2 → 5" in err and "Traceback" not in err
    assert len(read_out(out)) == 1  # nothing appended, nothing lost
    other_registry = tmp_path / "other.csv"
    other_registry.write_text(REGISTRY_CSV.replace("University of Oxford", "Oxford University"), encoding="utf-8")
    assert run("match", src, "--registry", other_registry, "--model", "lexical-fallback", "--output", out,
               "--top-k", "2") == 2
    err = capsys.readouterr().err
    assert "another engine" in err and "registry 'institutions' → 'other'" in err
    assert run(*base, "--top-k", "5", "--restart") == 0
    assert len(read_out(out)) == 4 and all(len(r["candidates"]) <= 5 for r in read_out(out))


def test_csv_column_and_jsonl_field(tmp_path, registry_csv):
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("id,affil\n1,EPFL\n2,\"Institut Pasteur, Paris\"\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run("match", csv_path, "--column", "affil", "--registry", registry_csv, "--model", "lexical-fallback",
               "--output", out) == 0
    assert [r["affiliation"] for r in read_out(out)] == ["EPFL", "Institut Pasteur, Paris"]
    jl = tmp_path / "in.jsonl"
    jl.write_text('{"affiliation": "University of Oxford"}\n{"affiliation": "TUM"}\n', encoding="utf-8")
    out2 = tmp_path / "out2.jsonl"
    assert run("match", jl, "--registry", registry_csv, "--model", "lexical-fallback", "--output", out2) == 0
    assert read_out(out2)[1]["candidates"][0]["id"] == "https://ror.org/02kkvpp62"


@pytest.mark.parametrize(
    "setup, args, message",
    [
        ("csv", ["--column", "nope"], "nope"),
        ("txt", ["--model", "no-such-org/no-such-model"], "no-such-org/no-such-model"),
        ("txt", ["--registry", "/no/such/registry.json"], "/no/such/registry.json"),
        ("missing", [], "not found"),
        ("binary", [], "in.txt"),
        ("empty", [], "empty"),
    ],
)
def test_bad_input_gives_a_clear_message_and_exit_2(tmp_path, registry_csv, capsys, setup, args, message):
    src = tmp_path / ("in.csv" if setup == "csv" else "in.txt")
    if setup == "csv":
        src.write_text("affiliation\nEPFL\n", encoding="utf-8")
    elif setup == "txt":
        src.write_text("EPFL\n", encoding="utf-8")
    elif setup == "binary":
        src.write_bytes(bytes(range(256)) * 4)
    elif setup == "empty":
        src.write_text("  \n\n", encoding="utf-8")
    argv = ["match", src, "--output", tmp_path / "out.jsonl"]
    if "--registry" not in args:
        argv += ["--registry", registry_csv]
    if "--model" not in args:
        argv += ["--model", "lexical-fallback"]
    assert run(*argv, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") or "\nerror:" in err
    assert message in err and "Traceback" not in err


def test_local_model_folder_is_used(tmp_path, registry_csv, tiny_cross_encoder_dir):
    src = tmp_path / "in.txt"
    src.write_text("EPFL, Lausanne\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run("match", src, "--registry", registry_csv, "--model", tiny_cross_encoder_dir, "--output", out) == 0
    assert len(read_out(out)[0]["candidates"]) >= 1


def test_evaluate_prints_every_metric(tmp_path, registry_csv, capsys):
    gold = tmp_path / "gold.jsonl"
    rows = [
        {"affiliation": "Dept. of Surgery, TU München", "ror_ids": ["https://ror.org/02kkvpp62"]},
        {"affiliation": "EPFL", "ror_ids": ["https://ror.org/02s376052"]},
        {"affiliation": "Université de Genève", "ror_ids": []},
        {"affiliation": "Somewhere else", "ror_ids": ["https://ror.org/0000000aa"], "all_ids_in_registry": False},
    ]
    gold.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert run("evaluate", gold, "--registry", registry_csv, "--model", "lexical-fallback") == 0
    out = capsys.readouterr().out
    for needle in ("rows 3", "recall@20", "accuracy@1", "MRR", "no-match precision", "auto-accept at threshold",
                   "-- non-ascii", "-- short/acronym"):
        assert needle in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    assert run("evaluate", bad, "--registry", registry_csv, "--model", "lexical-fallback") == 2
    assert "line 1" in capsys.readouterr().err


def test_help_of_both_commands(capsys):
    for cmd in ("match", "evaluate"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
    assert "--registry" in capsys.readouterr().out

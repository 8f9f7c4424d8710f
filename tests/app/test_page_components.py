"""Page building blocks without a running app: safe text, score bars, upload columns."""

from __future__ import annotations

import io
import re

import openpyxl

from affiliation_curator.engine.results import Candidate
from components.batch_panel import columns_of
from components.score_bars import score_bars, score_bars_spec, score_rows
from components.text import clean, ror_link, safe_md


def test_safe_md_escapes_every_active_character():
    text = "<script>alert(1)</script> [x](javascript:alert(1)) **b** _i_ `c` $x$ :red[r] # h\nline"
    out = safe_md(text)
    assert "\n" not in out
    unescaped = re.findall(r"(?<!\\)[<>\[\]()*_`$:#]", out)
    assert unescaped == []
    assert out.replace("\\", "") == text.replace("\n", " ")


def test_clean_cuts_and_drops_control_characters():
    assert clean("a\x00b\x07c") == "abc"
    assert clean("abcdef", 4) == "abc…"
    assert clean(None) == ""


def test_ror_link_only_for_ror_ids():
    assert ror_link("02kkvpp62") == "https://ror.org/02kkvpp62"
    assert ror_link("https://ror.org/02kkvpp62") == "https://ror.org/02kkvpp62"
    assert ror_link("javascript:alert(1)") is None
    assert ror_link("local:evil") is None


def test_score_bars_rows_and_specs_agree():
    cands = [Candidate("a", "Alpha " * 20, 0.91), Candidate("b", "<b>Beta</b>", 0.3), Candidate("c", "C", 1.7)]
    rows = score_rows(cands, 0.5)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["label"].startswith("1. Alpha") and len(rows[0]["label"]) <= 52
    assert [r["clears"] for r in rows] == ["above threshold", "below threshold", "above threshold"]
    assert rows[2]["score"] == 1.0  # clamped to the 0-1 axis
    spec = score_bars_spec(cands, 0.5)
    chart = score_bars(cands, 0.5).to_dict()
    assert spec["data"]["values"] == rows == chart["data"]["values"]
    assert spec["layer"] == chart["layer"]
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["bar", "text", "rule"]
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0, 1]
    # bars in rank order: layered charts only keep a sort by min/max/count
    assert spec["layer"][0]["encoding"]["y"]["sort"] == {"field": "rank", "op": "min", "order": "ascending"}
    assert score_bars_spec(cands[:1], 0.2)["data"]["values"][0]["threshold"] == 0.2
    assert spec is not score_bars_spec(cands, 0.5)  # a fresh copy each time


def test_columns_of_tables():
    assert columns_of(b"id,raw\n1,ETH\n", "a.csv") == ["id", "raw"]
    assert columns_of(b"a\tb\n1\t2\n", "a.tsv") == ["a", "b"]
    assert columns_of(b'{"x": 1, "y": "ETH"}\n{"z": 2}\n', "a.jsonl") == ["x", "y", "z"]
    book = openpyxl.Workbook()
    book.active.append([None, None])
    book.active.append(["affiliation", "year"])
    out = io.BytesIO()
    book.save(out)
    assert columns_of(out.getvalue(), "a.xlsx") == ["affiliation", "year"]
    assert columns_of(b"\xff\xfe garbage", "a.csv") == []
    assert columns_of(b"not a zip", "a.xlsx") == []
    assert columns_of(b"ETH\n", "a.txt") == []

"""Page building blocks without a running app: safe text, score bars, upload columns."""

from __future__ import annotations

import io
import re

import openpyxl

from affiliation_curator.engine.results import Candidate, Evidence
from components.batch_panel import columns_of
from components.score_bars import score_bars_html, score_rows
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


def test_score_bars_rows_and_html_agree():
    cands = [Candidate("a", "Alpha " * 20, 0.91), Candidate("b", "<b>Beta</b>", 0.3), Candidate("c", "C", 1.7)]
    rows = score_rows(cands, 0.5)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["label"].startswith("1. Alpha") and len(rows[0]["label"]) <= 52
    assert [r["clears"] for r in rows] == ["above threshold", "below threshold", "above threshold"]
    assert rows[2]["score"] == 1.0  # clamped to the 0-1 axis
    page = score_bars_html(cands, 0.5)
    assert page.count('class="score-bar"') == 3  # one bar a candidate, in rank order
    assert page.index("1. Alpha") < page.index("2. ") < page.index("3. C")
    assert "width:91.0%" in page and "width:30.0%" in page and "width:100.0%" in page
    assert page.count("left:50.0%;top:0") == 3  # the threshold rule crosses every bar
    assert "<b>" not in page and "&lt;b&gt;Beta&lt;/b&gt;" in page  # a name is text, never markup
    from fixtures.hostile import live_html

    hostile = score_bars_html([Candidate("x", '<img src=x onerror=alert(1)> "q" <a href=javascript:1>', 0.5)], 0.3)
    assert not live_html(hostile) and "&lt;img src=x onerror=alert(1)&gt; &quot;q&quot;" in hostile
    assert live_html('<div><img src=x onerror="alert(1)"></div>')  # the check itself sees a live tag
    assert "#2e7d32" in page and "#9e9e9e" in page  # above / below the threshold
    unscored = score_bars_html([Candidate("d", "D", 0.2, evidence=Evidence(scored=False))], 0.2)
    assert "not scored" in unscored and "0.20<" not in unscored and "width:0.0%" in unscored


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


def test_the_sidebar_registry_line_has_no_empty_version():
    from types import SimpleNamespace

    from components.state import registry_line

    assert registry_line(SimpleNamespace(name="demo", version="2026-06", count=104)) == "demo (2026-06, 104 institutions)"
    assert registry_line(SimpleNamespace(name="hostile", version="", count=8)) == "hostile (8 institutions)"
    assert registry_line(SimpleNamespace(name="big", version=None, count=51370)) == "big (51,370 institutions)"


def test_a_threshold_shows_the_digits_that_tell_it_apart():
    from components.text import threshold_text

    assert threshold_text(0.35) == "0.35" and threshold_text(0.354) == "0.354"
    assert threshold_text(0.5) == "0.50" and threshold_text(0.35412) == "0.3541"

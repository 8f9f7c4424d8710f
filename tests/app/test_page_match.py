"""Match page (AppTest): paste, upload, column choice, batches, and every kind of bad input."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest

from fixtures.apptest import wait_until_ranked
from affiliation_curator import config
from affiliation_curator.curation.store import Store


@pytest.fixture
def match_page(navigation_apptest):  # noqa: F811
    at = navigation_apptest().run()
    assert not at.exception
    return at


def _plain(text: str) -> str:
    """Alert text as the curator reads it (the page escapes markdown in messages)."""
    return re.sub(r"\\(.)", r"\1", text)


def _errors(at) -> list[str]:
    return [_plain(e.value) for e in at.error]


def _texts(at) -> list[str]:
    return [t.value for t in at.text]


def _xlsx(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_paste_makes_a_named_batch_and_says_what_was_kept(match_page):
    at = match_page
    at.text_input(key="batch_name").input("Surgery papers").run()
    at.text_area(key="paste_text").input(
        "Dept. of Surgery, TU Munich, Germany\n\nETH Zurich\nETH Zurich\n   \nEPFL\n"
    ).run()
    at.button(key="import_paste").click().run()
    assert not at.exception
    assert any("Surgery papers" in _plain(s.value) for s in at.success)
    assert "Kept 3 affiliations; folded 1 duplicate; dropped 2 blank lines" in _texts(at)
    assert any("Ranking with" in c.value and "registry demo" in c.value for c in at.caption)
    # offline, the hub model is unavailable: the page says which scorer stands in and why
    assert any("stands in" in w.value for w in at.warning)
    store = Store()
    (batch,) = store.batches()
    assert batch.name == "Surgery papers" and batch.total == 3
    assert at.query_params["batch"] == str(batch.id)
    assert at.session_state["paste_text"] == ""  # cleared for the next import
    wait_until_ranked(batch.id)
    items = store.items(batch.id)
    assert [i.affiliation for i in items] == ["Dept. of Surgery, TU Munich, Germany", "ETH Zurich", "EPFL"]
    assert items[1].count == 2
    assert all(i.ranked for i in items)
    assert batch.model_id  # the scorer that ranked it is recorded
    at.run()
    assert not at.exception
    assert [d.value["batch"].tolist() for d in at.dataframe][0] == ["Surgery papers"]


def test_empty_paste_is_refused_with_a_message(match_page):
    at = match_page
    at.button(key="import_paste").click().run()
    assert _errors(at) == ["nothing to match: the pasted text is empty"]
    at.text_area(key="paste_text").input("  \n\n \t\n").run()
    at.button(key="import_paste").click().run()
    assert _errors(at) and "empty" in _errors(at)[0]
    assert Store().batches() == []


def test_markup_in_a_paste_stays_text(match_page):
    at = match_page
    nasty = "<script>alert(1)</script>\n[click](javascript:alert(1)) **bold** $x$ :red[r]"
    at.text_input(key="batch_name").input("**Big** [x](javascript:alert(1))").run()
    at.text_area(key="paste_text").input(nasty).run()
    at.button(key="import_paste").click().run()
    assert not at.exception
    (batch,) = Store().batches()
    assert [i.affiliation for i in Store().items(batch.id)] == nasty.splitlines()
    (success,) = at.success
    assert "\\*\\*Big\\*\\* \\[x\\]\\(javascript\\:alert\\(1\\)\\)" in success.value  # escaped: inert text
    assert _plain(success.value).startswith("Batch “**Big** [x](javascript:alert(1))”")


def test_upload_csv_with_column_choice(match_page):
    at = match_page
    data = b"id,title,raw\n1,Paper one,ETH Zurich\n2,Paper two,EPFL\n3,Paper three,ETH Zurich\n"
    at.file_uploader(key="upload").upload("affs.csv", data, "text/csv").run()
    assert not at.exception
    # several text columns: the reader asks, the page offers the columns
    assert not _errors(at)  # a question, drawn as one (ux-findings: it was a red error box)
    assert any("several text columns" in _plain(i.value) for i in at.info)
    assert at.selectbox(key="upload_column").options == ["id", "title", "raw"]
    at.selectbox(key="upload_column").select("raw").run()
    assert not _errors(at)
    assert "Kept 2 affiliations; folded 1 duplicate" in _texts(at)
    assert at.dataframe[0].value["affiliation"].tolist() == ["ETH Zurich", "EPFL"]
    at.button(key="import_upload").click().run()
    assert not at.exception
    (batch,) = Store().batches()
    assert batch.total == 2 and batch.source == "upload:affs.csv"
    assert at.selectbox(key="upload_column").value == "raw"


def test_upload_each_format(match_page):
    at = match_page
    uploads = [
        ("a.txt", b"ETH Zurich\nEPFL\n", "text/plain"),
        ("b.tsv", b"affiliation\tyear\nETH Zurich\t2020\nEPFL\t2021\n", "text/tab-separated-values"),
        ("c.jsonl", b'{"affiliation": "ETH Zurich"}\n{"affiliation": "EPFL"}\n', "application/jsonl"),
        ("d.xlsx", _xlsx([["affiliation", "n"], ["ETH Zurich", 1], ["EPFL", 2]]), "application/vnd.ms-excel"),
    ]
    for name, data, mime in uploads:
        at.file_uploader(key="upload").set_value((name, data, mime)).run()
        assert not at.exception, name
        assert not _errors(at), (name, _errors(at))
        assert "Kept 2 affiliations" in _texts(at)[0], name
        at.button(key="import_upload").click().run()
        assert not at.exception
    assert sorted(b.total for b in Store().batches()) == [2, 2, 2, 2]


@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("empty.xlsx", None, "has no rows"),
        ("header-only.csv", b"affiliation\n", "no data rows"),
        ("numbers.csv", b"a,b\n1,2\n3,4\n", "no column of text"),
        ("binary.txt", bytes(range(256)) * 4, "binary"),
        ("latin1.txt", "Universität Zürich".encode("latin-1"), "not UTF-8"),
        ("bad.jsonl", b'{"affiliation": "ETH"\n', "not valid JSON"),
        ("zip.txt", b"PK\x03\x04" + b"\x00" * 50, "zip"),
    ],
)
def test_bad_uploads_get_a_clear_message(match_page, name, data, expected):
    at = match_page
    if data is None:
        data = _xlsx([])
    at.file_uploader(key="upload").upload(name, data).run()
    assert not at.exception
    assert _errors(at) and expected in _errors(at)[0], _errors(at)
    assert not [b for b in at.button if b.key == "import_upload"]
    assert Store().batches() == []


def test_upload_over_the_limit_is_refused(match_page):
    at = match_page
    big = b"ETH Zurich\n" * (config.MAX_UPLOAD_MB * 1024 * 1024 // 11 + 10)
    at.file_uploader(key="upload").upload("big.txt", big, "text/plain").run()
    assert not at.exception
    assert _errors(at) and f"limited to {config.MAX_UPLOAD_MB} MB" in _errors(at)[0]
    assert Store().batches() == []


def test_a_failed_import_keeps_earlier_decisions(match_page):
    at = match_page
    at.text_area(key="paste_text").input("ETH Zurich\nEPFL").run()
    at.button(key="import_paste").click().run()
    store = Store()
    (batch,) = store.batches()
    wait_until_ranked(batch.id)
    item = store.items(batch.id)[0]
    store.decide(item.id, "none", "Ann")
    at.file_uploader(key="upload").upload("junk.xlsx", b"not a workbook").run()
    assert _errors(at)
    at.button(key="import_paste").click().run()  # empty paste now
    assert _errors(at)
    assert store.items(batch.id)[0].decision.action == "none"
    assert len(store.batches()) == 1


def test_import_summary_stays_until_the_next_import(match_page):
    at = match_page
    at.text_area(key="paste_text").input("ETH Zurich\nETH Zurich").run()
    at.button(key="import_paste").click().run()
    (batch,) = Store().batches()
    wait_until_ranked(batch.id)
    at.run()  # e.g. the rerun when ranking finishes
    assert "Kept 1 affiliation; folded 1 duplicate" in _texts(at)
    at.button(key="import_paste").click().run()  # the next import (empty: refused)
    assert not any("Kept" in t for t in _texts(at))
    assert _errors(at)
    at.run()
    assert _errors(at)  # the refusal stays readable too


def test_an_upload_is_parsed_once_per_file_and_column(match_page, monkeypatch):
    import components.uploads as uploads

    calls: list[str | None] = []
    real = uploads.read_affiliations

    def counting(data, filename, column=None):  # noqa: ANN001
        calls.append(column)
        return real(data, filename, column=column)

    monkeypatch.setattr(uploads, "read_affiliations", counting)
    at = match_page
    at.file_uploader(key="upload").upload("affs.csv", b"id,title,raw\n1,x,ETH Zurich\n2,y,EPFL\n", "text/csv").run()
    at.text_input(key="batch_name").input("one").run()
    at.text_input(key="batch_name").input("two").run()
    assert len(calls) == 1, calls  # reruns reuse the parse
    at.selectbox(key="upload_column").select("raw").run()
    at.text_input(key="batch_name").input("three").run()
    assert calls[1:] == ["raw"], calls  # a new column choice parses once more, then no more

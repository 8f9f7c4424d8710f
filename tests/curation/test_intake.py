"""Reading affiliations in: every format, and every kind of garbage gets a clear InputError."""

from __future__ import annotations

import io
import json

import pytest

from affiliation_curator import config
from affiliation_curator.errors import InputError
from affiliation_curator.curation.intake import parse_paste, read_affiliations


def _xlsx(rows: list[list[object]], extra_sheet: bool = False) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    if extra_sheet:
        workbook.create_sheet("other").append(["ignored"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- formats


def test_paste_keeps_order_folds_duplicates_and_drops_blanks():
    result = parse_paste("TU Munich\n\n  Dept. of Surgery, TU Munich, Germany  \nTU Munich\n   \nETH Zürich\n")
    assert result.strings == ["TU Munich", "Dept. of Surgery, TU Munich, Germany", "ETH Zürich"]
    assert result.counts == {"TU Munich": 2, "Dept. of Surgery, TU Munich, Germany": 1, "ETH Zürich": 1}
    assert (result.duplicates, result.dropped_blank, result.truncated) == (1, 2, 0)
    assert result.messages[0] == "Kept 3 affiliations; folded 1 duplicate; dropped 2 blank lines"
    assert result.column is None and result.rows == 4


def test_txt_file_from_path_and_bytes(tmp_path):
    path = tmp_path / "affs.txt"
    path.write_text("A University\r\nB Institute\r\n", encoding="utf-8")
    assert read_affiliations(path).strings == ["A University", "B Institute"]
    assert read_affiliations(path.read_bytes(), "affs.txt").strings == ["A University", "B Institute"]


def test_utf8_bom_and_utf16_are_decoded():
    text = "Université de Genève\nUniversität Wien\n"
    assert read_affiliations(text.encode("utf-8-sig"), "a.txt").strings == ["Université de Genève", "Universität Wien"]
    assert read_affiliations(text.encode("utf-16"), "a.txt").strings == ["Université de Genève", "Universität Wien"]
    csv_bytes = "affiliation\nUniversité de Genève\n".encode("utf-16")
    assert read_affiliations(csv_bytes, "a.csv").strings == ["Université de Genève"]


def test_csv_affiliation_column_by_default():
    data = b'id,affiliation,year\n1,"Dept of Physics, MIT, Cambridge, MA",2020\n2,Harvard University,2021\n3,,2022\n'
    result = read_affiliations(data, "x.csv")
    assert result.strings == ["Dept of Physics, MIT, Cambridge, MA", "Harvard University"]
    assert result.column == "affiliation" and result.columns == ["id", "affiliation", "year"]
    assert result.dropped_blank == 1
    assert "blank cell" in result.messages[0]


def test_csv_header_is_matched_case_insensitively_and_semicolons_are_sniffed():
    data = "ID;Affiliation\n1;Universidad de Chile, Santiago\n".encode()
    result = read_affiliations(data, "x.csv")
    assert result.strings == ["Universidad de Chile, Santiago"] and result.column == "Affiliation"


def test_csv_chosen_column():
    data = b"org,addr\nMIT,Cambridge\nETH,Zurich\n"
    assert read_affiliations(data, "x.csv", column="addr").strings == ["Cambridge", "Zurich"]


def test_csv_single_text_column_is_used():
    data = b"n,institution\n1,MIT\n2,ETH Zurich\n"
    result = read_affiliations(data, "x.csv")
    assert result.strings == ["MIT", "ETH Zurich"] and result.column == "institution"


def test_one_column_csv_with_unquoted_commas_keeps_whole_lines():
    data = b"affiliation\nDept of X, Univ Y, Germany\n\"Quoted, fine\"\nPlain\n"
    result = read_affiliations(data, "x.csv")
    assert result.strings == ["Dept of X, Univ Y, Germany", "Quoted, fine", "Plain"]


def test_tsv():
    data = b"affiliation\tcountry\nKarolinska Institutet, Stockholm\tSE\n"
    assert read_affiliations(data, "x.tsv").strings == ["Karolinska Institutet, Stockholm"]


def test_xlsx_first_sheet_header_row():
    data = _xlsx([[None], ["id", "Affiliation"], [1, "University of Oslo"], [2, None], [3, 4711]], extra_sheet=True)
    result = read_affiliations(data, "sheet.xlsx")
    assert result.strings == ["University of Oslo", "4711"]
    assert result.column == "Affiliation" and result.dropped_blank == 1


def test_xlsx_chosen_column():
    data = _xlsx([["a", "b"], ["x1", "y1"], ["x2", "y2"]])
    assert read_affiliations(data, "s.xlsx", column="b").strings == ["y1", "y2"]


def test_jsonl_field_strings_and_chosen_column():
    lines = [json.dumps({"affiliation": "MIT", "n": 1}), "", json.dumps({"affiliation": "ETH"}), json.dumps("Bare string")]
    result = read_affiliations(("\n".join(lines) + "\n").encode(), "x.jsonl")
    assert result.strings == ["MIT", "ETH", "Bare string"] and result.dropped_blank == 1
    data = (json.dumps({"raw": "A"}) + "\n" + json.dumps({"raw": "B"})).encode()
    assert read_affiliations(data, "x.jsonl", column="raw").strings == ["A", "B"]


def test_json_array():
    assert read_affiliations(b'["A", "B", "A"]', "x.json").counts == {"A": 2, "B": 1}
    assert read_affiliations(b'[{"affiliation": "A"}]', "x.json").strings == ["A"]


def test_text_is_kept_exactly_control_characters_removed():
    result = parse_paste("<script>alert(1)</script>\nA\x07B\u200bC\n  =HYPERLINK(\"x\")  \n")
    assert result.strings == ["<script>alert(1)</script>", "AB\u200bC", '=HYPERLINK("x")']


def test_breaks_inside_a_cell_become_one_space():
    data = b'affiliation\n"Dept of X,\nUniv Y"\n'
    assert read_affiliations(data, "x.csv").strings == ["Dept of X, Univ Y"]


def test_long_strings_are_cut_and_counted():
    long = "x" * (config.MAX_AFFILIATION_CHARS + 50)
    result = parse_paste(f"{long}\nshort\n")
    assert len(result.strings[0]) == config.MAX_AFFILIATION_CHARS
    assert result.truncated == 1 and "cut 1 string longer than" in result.messages[0]


# ----------------------------------------------------------------------------- garbage


@pytest.mark.parametrize(
    "data, filename, fragment",
    [
        (b"", "x.txt", "is empty"),
        (b"  \n\n ", "x.csv", "is empty"),
        (b"\x00\x01\x02binary\x00", "x.txt", "NUL bytes"),
        (b"\xff\xfe\x00\x00garbage\x00\x00\x00", "x.txt", "NUL characters"),
        (b"caf\xe9 de Paris\n", "x.txt", "not UTF-8"),
        (b"PK\x03\x04garbage", "x.txt", "zip"),
        (b"affiliation\n", "x.csv", "no data rows"),
        (b"a,b\n1,2\n3,4\n", "x.csv", "choose one of: 'a', 'b'"),
        (b"org,city\nMIT,Cambridge\n", "x.csv", "several text columns"),
        (b"not a zip at all", "x.xlsx", "not an Excel .xlsx file"),
        (b"PK\x03\x04\x14\x00corrupt", "x.xlsx", "not a readable .xlsx file"),
        (b'{"affiliation": "A"}\n{"affiliation": \n', "x.jsonl", "line 2 is not valid JSON"),
        (b'{"name": "A"}\n', "x.jsonl", "no field 'affiliation'; fields found: 'name'"),
        (b"[1, 2", "x.json", "not valid JSON"),
        (b"hello", "x.pdf", "unsupported file type"),
        (b"hello", "x.xls", "save the sheet as .xlsx"),
        (b'{"affiliation": null}\n', "x.jsonl", "no affiliations found"),
    ],
)
def test_garbage_gets_a_clear_message(data, filename, fragment):
    with pytest.raises(InputError) as err:
        read_affiliations(data, filename)
    assert fragment in str(err.value)


def test_missing_chosen_column_lists_columns():
    with pytest.raises(InputError, match=r"no column 'nope'; columns found: 'id', 'affiliation'"):
        read_affiliations(b"id,affiliation\n1,A\n", "x.csv", column="nope")


def test_xlsx_without_rows():
    with pytest.raises(InputError, match="has no rows"):
        read_affiliations(_xlsx([]), "empty.xlsx")
    with pytest.raises(InputError, match="no data rows"):
        read_affiliations(_xlsx([["affiliation"]]), "header.xlsx")


def test_empty_and_blank_paste():
    with pytest.raises(InputError, match="empty"):
        parse_paste("   \n\n")
    with pytest.raises(InputError, match="NUL"):
        parse_paste("a\x00b")


def test_too_many_rows(monkeypatch):
    monkeypatch.setattr(config, "MAX_BATCH_ROWS", 5)
    assert len(parse_paste("\n".join(f"a{i}" for i in range(5)))) == 5
    assert len(parse_paste("\n".join(["same"] * 50))) == 1  # duplicates do not count
    with pytest.raises(InputError, match="too many affiliations: more than 5"):
        parse_paste("\n".join(f"a{i}" for i in range(6)))


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_affiliations(tmp_path / "nope.txt")


# ----------------------------------------------------------------------------- bounded spreadsheets


def _bomb_xlsx(unpacked_mb: int) -> bytes:
    """A real workbook whose first sheet's XML is padded to ``unpacked_mb`` (it compresses ~1000:1)."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(_xlsx([["affiliation"], ["University of Oslo"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                with target.open(info.filename, "w") as member:
                    head, tail = body.split(b"</sheetData>")
                    member.write(head)
                    row = b"<row><c t='inlineStr'><is><t>" + b"A" * 1000 + b"</t></is></c></row>"
                    for _ in range(unpacked_mb * 1024):
                        member.write(row)
                    member.write(b"</sheetData>" + tail)
            else:
                target.writestr(info, body)
    return out.getvalue()


def test_a_workbook_that_unpacks_past_the_budget_is_refused_before_parsing(monkeypatch):
    bomb = _bomb_xlsx(config.MAX_XLSX_UNPACKED_BYTES // 1024**2 + 8)
    assert len(bomb) < 1024**2  # a small upload
    import openpyxl

    def never(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("the workbook was parsed")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    with pytest.raises(InputError, match=r"bomb\.xlsx unpacks to \d+ MB, more than the 64 MB"):
        read_affiliations(bomb, "bomb.xlsx")


def test_a_workbook_within_the_budget_is_read_with_cells_cut_while_reading(monkeypatch):
    monkeypatch.setattr(config, "MAX_XLSX_COLUMNS", 2)
    long = "y" * (config.MAX_AFFILIATION_CHARS * 3)
    data = _xlsx([["affiliation", "b", "far right"], [long, "x", "z"], ["Oslo", "x", "z"]])
    result = read_affiliations(data, "ok.xlsx")
    assert result.strings == ["y" * config.MAX_AFFILIATION_CHARS, "Oslo"] and result.truncated == 1
    assert result.columns == ["affiliation", "b"]  # columns right of the limit are not read

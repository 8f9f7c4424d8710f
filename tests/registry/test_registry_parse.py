"""Reading registry files: every supported format, the shared sample dump, and every kind of garbage."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest
from fixtures.registries import GONE, HOSPITAL, INSTITUTE, OLD, OWN_CSV, UNI, ror_csv_text, ror_record, sample_records, write_json, write_json_gz, write_zip
from affiliation_curator import config
from affiliation_curator.errors import RegistryImportError
from affiliation_curator.registry import parse_registry_file
from affiliation_curator.registry.parse_ror import iter_json_array
from affiliation_curator.registry.sources import decode_utf8


def by_id(parsed):
    return {inst.id: inst for inst in parsed.institutions}


def test_json_array_keeps_every_field(tmp_path: Path) -> None:
    parsed = parse_registry_file(write_json(tmp_path / "records.json", sample_records()))
    assert parsed.source_format == "ror-json"
    assert parsed.version == "2026-05-20"  # newest admin.last_modified.date
    assert parsed.warnings == []
    insts = by_id(parsed)
    assert list(insts) == [UNI, INSTITUTE, OLD, GONE, HOSPITAL]
    uni = insts[UNI]
    assert uni.name == "Springfield University of Technology"
    assert [(n.value, n.types, n.lang) for n in uni.names] == [
        ("Springfield University of Technology", ("ror_display", "label"), "en"),
        ("Technische Universität Springfield", ("label",), "de"),
        ("SUT", ("acronym",), None),
        ("Springfield Tech", ("alias",), "en"),
        ("University of Springfield, Technology", ("alias",), "en"),
    ]
    assert (uni.city, uni.country_code, uni.country_name) == ("Springfield", "DE", "Germany")
    assert uni.types == ["education", "funder"]
    assert uni.status == "active"
    assert [(r.type, r.id, r.label) for r in uni.relationships] == [
        ("child", INSTITUTE, "Springfield Institute of Optics"),
        ("related", HOSPITAL, "Springfield Clinic"),
    ]
    assert uni.external_ids == {"grid": ["grid.0000.1"], "wikidata": ["Q1", "Q2"]}
    assert uni.links == ["https://sut.example", "https://en.wikipedia.org/wiki/SUT"]
    assert uni.established == 1868
    # Inactive and withdrawn records stay, flagged, with their successor.
    assert insts[OLD].status == "inactive"
    assert [r.id for r in insts[OLD].successors] == [UNI]
    assert insts[GONE].status == "withdrawn"
    assert insts[GONE].established is None


def test_json_gz_and_version_from_file_name(tmp_path: Path) -> None:
    parsed = parse_registry_file(write_json_gz(tmp_path / "v1.70-2025-09-01-ror-data.json.gz", sample_records()))
    assert parsed.version == "v1.70-2025-09-01"
    assert len(parsed.institutions) == 5


def test_ror_ids_in_any_spelling_are_normalised(tmp_path: Path) -> None:
    records = sample_records()[:2]
    records[0]["id"] = "0TEST0001"
    records[1]["id"] = "ror.org/0test0002"
    parsed = parse_registry_file(write_json(tmp_path / "r.json", records))
    assert [i.id for i in parsed.institutions] == [UNI, INSTITUTE]


def test_dump_zip_reads_the_json_inside(tmp_path: Path) -> None:
    records = sample_records()
    zip_path = write_zip(
        tmp_path / "v2.1-2026-02-03-ror-data.zip",
        {"v2.1-2026-02-03-ror-data.json": json.dumps(records), "v2.1-2026-02-03-ror-data.csv": ror_csv_text(records)},
    )
    parsed = parse_registry_file(zip_path)
    assert parsed.source_format == "ror-json"
    assert parsed.member == "v2.1-2026-02-03-ror-data.json"
    assert parsed.version == "v2.1-2026-02-03"
    assert len(parsed.institutions) == 5


def test_dump_zip_with_both_schemas_prefers_schema_v2(tmp_path: Path) -> None:
    v1 = [{"id": UNI, "name": "Schema One Name", "labels": [], "aliases": []}]
    zip_path = write_zip(
        tmp_path / "v1.50-2024-07-01-ror-data.zip",
        {
            "v1.50-2024-07-01-ror-data.json": json.dumps(v1 * 50),
            "v1.50-2024-07-01-ror-data_schema_v2.json": json.dumps(sample_records()),
        },
    )
    parsed = parse_registry_file(zip_path)
    assert parsed.member.endswith("_schema_v2.json")
    assert by_id(parsed)[UNI].name == "Springfield University of Technology"


def test_dump_zip_without_json_uses_the_ror_csv(tmp_path: Path) -> None:
    records = sample_records()
    from_json = by_id(parse_registry_file(write_json(tmp_path / "r.json", records)))
    zip_path = write_zip(tmp_path / "v2.1-2026-02-03-ror-data.zip", {"v2.1-2026-02-03-ror-data.csv": ror_csv_text(records)})
    parsed = parse_registry_file(zip_path)
    assert parsed.source_format == "ror-csv"
    assert parsed.version == "v2.1-2026-02-03"
    from_csv = by_id(parsed)
    assert list(from_csv) == list(from_json)
    for inst_id, expected in from_json.items():
        got = from_csv[inst_id]
        assert got.name == expected.name
        assert sorted((n.value, n.types, n.lang) for n in got.names) == sorted(
            (n.value, n.types, n.lang) for n in expected.names
        )
        assert (got.city, got.country_code, got.country_name) == (expected.city, expected.country_code, expected.country_name)
        assert (got.types, got.status, got.established) == (expected.types, expected.status, expected.established)
        # The CSV has no relationship labels: they are filled from the registry itself.
        assert [(r.type, r.id, r.label) for r in got.relationships] == [
            (r.type, r.id, r.label) for r in expected.relationships
        ]
        assert got.external_ids == expected.external_ids
        assert got.links == expected.links


def test_own_csv(tmp_path: Path) -> None:
    path = tmp_path / "our institutions.csv"
    path.write_bytes(b"\xef\xbb\xbf" + OWN_CSV.encode("utf-8"))  # Excel's UTF-8 with BOM
    parsed = parse_registry_file(path)
    assert parsed.source_format == "csv"
    assert parsed.version == ""
    insts = by_id(parsed)
    assert list(insts) == ["inst-1", "inst-2", "https://ror.org/02test099"]
    first = insts["inst-1"]
    assert first.name == "Institute of Local Studies"
    assert [(n.value, n.types) for n in first.names] == [
        ("Institute of Local Studies", ("ror_display", "label")),
        ("Local Studies Institute", ("alias",)),
        ("ILS Institute", ("alias",)),
        ("ILS", ("acronym",)),
    ]
    assert (first.city, first.country_code, first.country_name) == ("Graz", "AT", "Austria")
    assert insts["inst-2"].acronyms == ["CRC", "CoReC"]
    assert (insts["inst-2"].country_code, insts["inst-2"].country_name) == ("DE", "Germany")
    assert insts["https://ror.org/02test099"].country_code == "US"
    assert any("ignored column" in w and "notes" in w for w in parsed.warnings)


def test_own_csv_only_required_columns_semicolon_delimited(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("ID;Name\nA1;Alpha Institute\nB2;Beta Institute\n", encoding="utf-8")
    parsed = parse_registry_file(path)
    assert [(i.id, i.name) for i in parsed.institutions] == [("A1", "Alpha Institute"), ("B2", "Beta Institute")]


def test_progress_is_reported(tmp_path: Path) -> None:
    calls: list[tuple[float, str]] = []
    parse_registry_file(write_json(tmp_path / "r.json", sample_records()), progress=lambda f, m: calls.append((f, m)))
    assert calls and calls[-1][0] == pytest.approx(1.0)
    assert all(0.0 <= f <= 1.0 for f, _ in calls)


def test_json_stream_survives_any_chunking() -> None:
    records = sample_records() + [{"id": "x", "text": "ü ] [ { } \" , " * 3}]
    text = json.dumps(records, ensure_ascii=False, indent=1)
    for size in (1, 7, 64, 100_000):
        chunks = iter([text[i : i + size] for i in range(0, len(text), size)])
        assert list(iter_json_array(chunks, "t.json")) == records


def test_utf8_decoding_across_chunk_boundaries() -> None:
    data = "Zürich – Universität 東京".encode("utf-8")
    chunks = iter([data[i : i + 1] for i in range(len(data))])
    assert "".join(decode_utf8(chunks, "t")) == "Zürich – Universität 東京"


# --------------------------------------------------------------------------------------------
# The shared sample dump (../shared/data; skipped where absent)


@pytest.mark.shared
def test_shared_sample_zip(shared_data: Path, tmp_path: Path) -> None:
    zip_path = shared_data / "ror" / "ror-sample-1543-v2.9-2026-06-23.zip"
    parsed = parse_registry_file(zip_path)
    assert parsed.source_format == "ror-json"
    assert parsed.version == "v2.9-2026-06-23"
    assert len(parsed.institutions) == 1543
    assert parsed.warnings == []
    insts = by_id(parsed)
    tum = insts["https://ror.org/02kkvpp62"]
    assert tum.name == "Technical University of Munich"
    assert "TUM" in tum.acronyms
    assert (tum.city, tum.country_code) == ("Munich", "DE")
    assert "education" in tum.types
    statuses = {inst.status for inst in parsed.institutions}
    assert statuses == {"active", "inactive", "withdrawn"}
    assert any(inst.successors for inst in parsed.institutions if inst.status != "active")

    # The same records through the official CSV layout give the same institutions.
    with zipfile.ZipFile(zip_path) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".json"))
        records = json.loads(archive.read(member))
    csv_zip = write_zip(tmp_path / "v2.9-2026-06-23-ror-data.zip", {"v2.9-2026-06-23-ror-data.csv": ror_csv_text(records)})
    from_csv = by_id(parse_registry_file(csv_zip))
    assert list(from_csv) == list(insts)
    same_names = names_found = names_total = 0
    for inst_id, inst in insts.items():
        other = from_csv[inst_id]
        assert (other.name, other.city, other.country_code, other.status) == (inst.name, inst.city, inst.country_code, inst.status)
        assert sorted((r.type, r.id) for r in other.relationships) == sorted((r.type, r.id) for r in inst.relationships)
        expected_names, got_names = {n.value for n in inst.names}, {n.value for n in other.names}
        same_names += expected_names == got_names
        names_found += len(expected_names & got_names)
        names_total += len(expected_names)
    # Names of one language are joined with ", " in the CSV, which names themselves contain:
    # the split is a heuristic (the JSON, in every dump zip, has no such ambiguity).
    assert same_names / len(insts) > 0.94
    assert names_found / names_total > 0.97


# --------------------------------------------------------------------------------------------
# Garbage: one clear message each


def _fails(path: Path, *fragments: str) -> str:
    with pytest.raises(RegistryImportError) as info:
        parse_registry_file(path)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in message
    return message


def test_corrupt_zip(tmp_path: Path) -> None:
    path = tmp_path / "v2.0-2026-01-01-ror-data.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x13garbage" * 200)
    _fails(path, path.name, "not a valid zip archive")


def test_truncated_zip(tmp_path: Path) -> None:
    good = write_zip(tmp_path / "good.zip", {"data.json": json.dumps(sample_records() * 20)})
    path = tmp_path / "cut.zip"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _fails(path, "cut.zip", "zip")


def test_zip_named_file_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "dump.zip"
    path.write_text("just some text", encoding="utf-8")
    _fails(path, "dump.zip", "not a valid zip archive")


def test_zip_without_json_or_csv(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "docs.zip", {"readme.txt": "hello", "img/logo.png": b"\x89PNG"})
    _fails(path, "docs.zip", "no .json or .csv file", "readme.txt")


def test_json_object_instead_of_array(tmp_path: Path) -> None:
    path = write_json(tmp_path / "one.json", sample_records()[0])
    _fails(path, "one.json", "wrong JSON shape", "array")


def test_json_that_is_not_an_array(tmp_path: Path) -> None:
    path = tmp_path / "text.json"
    path.write_text('"just a string"', encoding="utf-8")
    _fails(path, "text.json", "not a JSON array of ROR records")


def test_json_array_of_non_records(tmp_path: Path) -> None:
    path = write_json(tmp_path / "numbers.json", [1, 2, 3])
    _fails(path, "none of its 3 records is usable", "not a JSON object")


def test_records_missing_fields_are_skipped_and_counted(tmp_path: Path) -> None:
    records = sample_records()
    del records[1]["id"]
    records[2]["names"] = []
    del records[3]["locations"], records[3]["types"], records[3]["relationships"], records[3]["external_ids"]
    parsed = parse_registry_file(write_json(tmp_path / "partial.json", records))
    assert [i.id for i in parsed.institutions] == [UNI, GONE, HOSPITAL]
    gone = by_id(parsed)[GONE]
    assert (gone.city, gone.types, gone.relationships) == (None, [], [])
    assert any("missing id" in w and "record 2" in w for w in parsed.warnings)
    assert any("missing name" in w and "record 3" in w for w in parsed.warnings)


def test_records_all_missing_fields(tmp_path: Path) -> None:
    path = write_json(tmp_path / "bad.json", [{"foo": 1}, {"names": []}])
    _fails(path, "none of its 2 records is usable", "missing id")


def test_schema_1_records(tmp_path: Path) -> None:
    path = write_json(tmp_path / "v1.20-2023-02-28-ror-data.json", [{"id": UNI, "name": "X", "labels": []}])
    _fails(path, "schema 1")


def test_truncated_json(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    text = json.dumps(sample_records())
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    _fails(path, "cut.json", "ends early")


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"id": "https://ror.org/0test0001", "names": [}]', encoding="utf-8")
    _fails(path, "broken.json", "not valid JSON at character", "record 1")


def test_duplicate_ids_keep_the_first(tmp_path: Path) -> None:
    records = sample_records()
    twin = ror_record(UNI, "Second Copy")
    parsed = parse_registry_file(write_json(tmp_path / "dups.json", records + [twin]))
    assert len(parsed.institutions) == 5
    assert by_id(parsed)[UNI].name == "Springfield University of Technology"
    assert any("1 duplicate id" in w and UNI in w for w in parsed.warnings)


def test_mostly_duplicate_ids_fail(tmp_path: Path) -> None:
    path = tmp_path / "same.csv"
    path.write_text("id,name\n1,A\n1,B\n1,C\n", encoding="utf-8")
    message = _fails(path, "same.csv", "2 of 3 records repeat an id", "(e.g. 1)")
    assert "1, 1" not in message  # an id repeated twice is named once


def test_non_utf8_csv(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    content = "id,name\nx1,Universität Wien\n".encode("latin-1")
    path.write_bytes(content)
    offset = content.index("ä".encode("latin-1"))
    _fails(path, "latin1.csv", "not UTF-8", f"byte offset {offset}", "0xE4")


def test_binary_csv(tmp_path: Path) -> None:
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    _fails(path, "image.csv", "binary data")


def test_missing_required_columns(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("identifier,title\n1,Alpha\n", encoding="utf-8")
    _fails(path, "cols.csv", "missing required column(s): id, name", "identifier, title")


def test_zero_records(tmp_path: Path) -> None:
    _fails(write_json(tmp_path / "empty.json", []), "empty.json", "zero records")
    header_only = tmp_path / "header.csv"
    header_only.write_text("id,name\n", encoding="utf-8")
    _fails(header_only, "header.csv", "zero records")
    empty = tmp_path / "nothing.csv"
    empty.write_bytes(b"")
    _fails(empty, "nothing.csv", "empty")
    blank_rows = tmp_path / "blank.csv"
    blank_rows.write_text("id,name\n,\n , \n", encoding="utf-8")
    _fails(blank_rows, "blank.csv", "zero records")


def test_missing_file(tmp_path: Path) -> None:
    _fails(tmp_path / "nope.zip", "no such file")


def test_file_over_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_json(tmp_path / "big.json", sample_records())
    monkeypatch.setattr(config, "MAX_REGISTRY_FILE_BYTES", 1000)
    _fails(path, "big.json", "too large", "limit")


def test_zip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_zip(tmp_path / "bomb.zip", {"data.json": "[" + " " * 200_000 + "]"})
    assert path.stat().st_size < 5_000
    monkeypatch.setattr(config, "MAX_REGISTRY_FILE_BYTES", 50_000)
    _fails(path, "bomb.zip", "unpacks to", "over the limit")


def test_gzip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip.compress(b"[" + b" " * 5_000_000 + b"]"))
    monkeypatch.setattr(config, "MAX_REGISTRY_FILE_BYTES", 1_000_000)
    _fails(path, "bomb.json.gz", "unpacks to more than")


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = gzip.compress(json.dumps(sample_records() * 50).encode())
    path = tmp_path / "cut.json.gz"
    path.write_bytes(data[: len(data) // 2])
    _fails(path, "cut.json.gz")


def test_unreadable_csv_row(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    rows = b"".join(b"a%d,b\n" % i for i in range(3000))
    path.write_bytes(b"id,name\n" + rows + b"c,d\x00e\n")
    _fails(path, "nul.csv", "binary data", "line 3002")


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    path = write_json(tmp_path / "one.json", {"a": 1})
    message = _fails(path)
    assert "\n" not in message


def test_buffer_io_not_needed() -> None:
    # A sanity check of the fixture writer itself: the CSV layout has the official columns.
    text = ror_csv_text(sample_records())
    header = next(iter(io.StringIO(text))).strip().split(",")
    assert header[0] == "id" and "names.types.ror_display" in header and "relationships" in header

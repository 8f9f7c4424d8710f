"""Reading a corpus without Ray: files, line-level tolerance, cleaning like the single-process match."""

from __future__ import annotations

from pathlib import Path

import pytest

from affiliation_curator import config
from affiliation_curator.curation.corpus.inputs import corpus_files, parse_text_file, parquet_column
from affiliation_curator.curation.corpus.run import CorpusError, check_reachable, explain_failure
from affiliation_curator.curation.corpus.shards import finished_shards, read_shard, shard_of, write_shard
from affiliation_curator.errors import InputError
from affiliation_curator.curation.intake import read_affiliations


def _rows(data: bytes, name: str, column: str | None = None) -> list[tuple[str, str]]:
    return [(r["affiliation"], r["problem"]) for r in parse_text_file(data, name, column)]


def test_text_lines_binary_blank_and_long_strings_are_counted_not_fatal() -> None:
    long = "Dept. of Physics, " + "x" * 100_000
    data = b"TU Munich\n\n   \n\xff\xfe\x80 broken\nab\x00cd\n" + long.encode() + b"\r\nLMU Munich\r"
    rows = _rows(data, "c.txt")
    assert rows[0] == ("TU Munich", "")
    assert [p for _, p in rows[1:5]] == ["blank", "blank", "binary", "binary"]
    assert rows[5][1] == "cut" and len(rows[5][0]) <= config.MAX_AFFILIATION_CHARS
    assert rows[6] == ("LMU Munich", "")


def test_strings_are_cleaned_and_cut_exactly_like_the_single_process_reader(tmp_path: Path) -> None:
    lines = ["  Dept. of Surgery,\tTU Munich  ", "Univ.\x07 of Oslo", "A" * 3000 + " end", "plain"]
    path = tmp_path / "a.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    single = read_affiliations(path).strings
    corpus = [t for t, p in _rows(path.read_bytes(), "a.txt") if p in ("", "cut")]
    assert corpus == single


def test_jsonl_bad_lines_dropped_and_csv_column_picked() -> None:
    data = b'{"affiliation": "MIT"}\nnot json\n"Oxford"\n{"other": 1}\n{"affiliation": ["x"]}\n'
    assert _rows(data, "c.jsonl") == [("MIT", ""), ("", "unreadable"), ("Oxford", ""), ("", "blank"), ("", "unreadable")]
    csv_data = b"id;raw_affiliation\n1;ETH Zurich\n2;\"Uni, Bonn\"\n3;\n"
    assert _rows(csv_data, "c.csv") == [("ETH Zurich", ""), ("Uni, Bonn", ""), ("", "blank")]
    with pytest.raises(InputError, match="no column 'affiliation'.*'id', 'name'"):
        list(parse_text_file(b"id,name\n1,x\n", "c.csv"))
    assert _rows(b"org\tcountry\nKTH\tSE\n", "c.tsv", column="org") == [("KTH", "")]


def test_corpus_files_folder_glob_and_unusable_arguments(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.txt", "sub/a.jsonl", "notes.md"):
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    assert [p.name for p in corpus_files(str(tmp_path))] == ["b.txt", "a.jsonl"]
    assert [p.name for p in corpus_files(str(tmp_path / "*.txt"))] == ["b.txt"]
    with pytest.raises(InputError, match="unsupported file type '.md'"):
        corpus_files(str(tmp_path / "*.md"))
    with pytest.raises(InputError, match="file not found"):
        corpus_files(str(tmp_path / "missing.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no .* files in this folder"):
        corpus_files(str(tmp_path / "empty"))
    with pytest.raises(InputError, match="UTF-16"):
        list(parse_text_file("x\n".encode("utf-16"), "u.txt"))


def test_parquet_column_is_found_or_named(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": [1], "Affiliation": ["MIT"]}), tmp_path / "a.parquet")
    assert parquet_column([tmp_path / "a.parquet"], None) == "Affiliation"
    with pytest.raises(InputError, match="no column 'org'"):
        parquet_column([tmp_path / "a.parquet"], "org")
    (tmp_path / "b.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        parquet_column([tmp_path / "b.parquet"], None)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_shards_are_written_whole_under_a_stable_name(tmp_path: Path, fmt: str) -> None:
    rows = [{"affiliation": "MIT", "count": 3, "candidates": [{"id": "r1", "name": "MIT", "score": 0.9}],
             "match": "r1", "top_score": 0.9, "second_score": None},
            {"affiliation": "?", "count": 1, "candidates": [], "match": None, "top_score": None, "second_score": None}]
    (tmp_path / f".part-00001-of-00004.{fmt}.abc.tmp").write_text("half", encoding="utf-8")  # a killed writer's leftover
    write_shard(tmp_path, 2, 4, fmt, rows)
    write_shard(tmp_path, 2, 4, fmt, rows)  # a retried task writes the same file again
    assert finished_shards(tmp_path, 4, fmt) == {2}
    assert finished_shards(tmp_path, 5, fmt) == set()
    assert list(read_shard(tmp_path / f"part-00002-of-00004.{fmt}")) == rows
    assert shard_of("MIT", 4) == shard_of("MIT", 4) and 0 <= shard_of("ÄÖ", 7) < 7


def test_unreachable_cluster_address_fails_fast_with_one_line() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CorpusError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}", timeout=2)
    with pytest.raises(CorpusError, match="expected HOST:PORT"):
        check_reachable("not an address")


def test_failures_inside_ray_become_one_line_naming_the_cause(tmp_path: Path) -> None:
    class Wrapped(Exception):
        def __init__(self, cause: BaseException) -> None:
            super().__init__("task failed\n  Traceback ...")
            self.cause = cause

    gone = Wrapped(FileNotFoundError(2, "No such file or directory", "/data/part-3.txt"))
    msg = str(explain_failure(gone, tmp_path))
    assert "disappeared" in msg and "/data/part-3.txt" in msg and "run the command again" in msg
    assert "no column" in str(explain_failure(Wrapped(InputError("c.csv has no column 'x'")), tmp_path))

    class RayWrapped(InputError):  # Ray's task error subclasses the worker's error class; its text is a traceback
        def __init__(self, cause: BaseException) -> None:
            super().__init__("ray::MapWorker()\n  File ...\nInputError: c.csv has no column 'x'")
            self.cause = cause

    worker = str(explain_failure(RayWrapped(InputError("c.csv has no column 'x'")), tmp_path))
    assert worker.startswith("c.csv has no column 'x'; the shards already in") and "\n" not in worker
    died = RuntimeError("The actor died because of an error raised in its creation task\n  File ...\n"
                        "affiliation_curator.errors.CuratorError: a worker built another engine than the driver (x)\n")
    assert str(explain_failure(died, tmp_path)).startswith("a worker built another engine than the driver (x); the shards")
    other = str(explain_failure(RuntimeError("boom\nmore lines"), tmp_path))
    assert other.startswith("the Ray run failed: RuntimeError: boom;") and "\n" not in other


def test_match_ray_refuses_bad_output_and_missing_input_before_starting_ray(tmp_path: Path, capsys) -> None:
    from affiliation_curator.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("MIT\n", encoding="utf-8")
    (tmp_path / "file.out").write_text("x", encoding="utf-8")
    assert main(["match", str(corpus), "--output", str(tmp_path / "file.out"), "--ray"]) == 2
    assert "is a file; a corpus run writes a folder" in capsys.readouterr().err
    assert main(["match", str(tmp_path / "nope.txt"), "--output", str(tmp_path / "o"), "--ray"]) == 2
    assert "file not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

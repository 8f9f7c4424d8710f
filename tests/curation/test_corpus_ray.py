"""``match --ray`` on a local Ray (started once for this module): the same results as the
single-process ``match``, resume, a worker killed mid-run, a file that disappears, review batches.

A few hundred strings on the demo registry with the lexical scorer; three Ray runs in all.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from affiliation_curator.cli import main
from affiliation_curator.config import DEMO_REGISTRY_PATH, SAMPLE_AFFILIATIONS_PATH
from affiliation_curator.curation.corpus.shards import read_shard, shard_files

ENGINE = ["--registry", str(DEMO_REGISTRY_PATH), "--model", "lexical-fallback"]
LONG = "Department of Physics, Technical University of Munich, " + "very " * 20_000 + "Munich"  # 100 kB


@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray bound to 127.0.0.1, shared by this module's tests (the CLI reuses it)."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray

    ray.init(num_cpus=2, object_store_memory=200 * 1024**2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, logging_level="warning")
    yield ray
    ray.shutdown()


def _strings() -> list[str]:
    base = [s for s in SAMPLE_AFFILIATIONS_PATH.read_text(encoding="utf-8").splitlines() if s.strip()]
    prefixes = ["", "Dept. of Surgery, ", "Institute of Physics, ", "School of Law, ", "Faculty of Arts, ",
                "Department of Chemistry, ", "Lab. of Ecology, "]
    return [p + s for p in prefixes for s in base]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A folder of four formats with repeats, blank and binary lines and a 100 kB string; and its good strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("corpus")
    strings = _strings()
    a, b, c, d = strings[:100], strings[100:200], strings[200:260], strings[260:]
    txt = "\n".join(a + a[:30] + ["", "   "]).encode() + b"\n\xff\xfe\x80\x81 binary\nab\x00cd\n" + LONG.encode() + b"\n"
    (folder / "a.txt").write_bytes(txt)
    with (folder / "b.csv").open("w", encoding="utf-8", newline="") as fh:
        import csv

        w = csv.writer(fh)
        w.writerow(["id", "raw_affiliation"])
        w.writerows([n, s] for n, s in enumerate(b + a[:10] + [""]))
    (folder / "c.jsonl").write_text("".join(json.dumps({"affiliation": s}) + "\n" for s in c + c[:5]) + "{broken\n",
                                    encoding="utf-8")
    pq.write_table(pa.table({"affiliation": d + d[:3]}), folder / "d.parquet")
    return folder, strings + [LONG]


@pytest.fixture(scope="module")
def single_process(corpus, tmp_path_factory) -> dict[str, dict]:
    """The single-process ``match`` on the same good strings: affiliation -> its output line."""
    folder = tmp_path_factory.mktemp("single")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AFFILIATION_CURATOR_HOME", str(folder / "home"))
        (folder / "in.txt").write_text("\n".join(corpus[1]) + "\n", encoding="utf-8")
        assert main(["match", str(folder / "in.txt"), "--output", str(folder / "out.jsonl"), *ENGINE]) == 0
    lines = [json.loads(x) for x in (folder / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    return {line["affiliation"]: line for line in lines}


@pytest.fixture(scope="module")
def ray_run(local_ray, corpus, tmp_path_factory):
    """One ``match --ray`` over the corpus folder (2 workers, small shards); its output folder and stderr."""
    folder = tmp_path_factory.mktemp("ray-run")
    out = folder / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AFFILIATION_CURATOR_HOME", str(folder / "home"))
        err = _run_cli(["match", str(corpus[0]), "--output", str(out), "--ray", *ENGINE,
                        "--workers", "2", "--shard-size", "64"])
    return out, err


def _run_cli(argv: list[str]) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        rc = main(argv)
    assert rc == 0, buf.getvalue()
    return buf.getvalue()


def _results(out: Path) -> list[dict]:
    return [row for path in shard_files(out) for row in read_shard(path)]


def _assert_same(rows: list[dict], single: dict[str, dict]) -> None:
    by = {r["affiliation"]: r for r in rows}
    assert len(by) == len(rows), "a string was written twice"
    assert set(by) == set(single), "strings lost or invented"
    for text, want in single.items():
        got = by[text]
        assert got["match"] == want["match"], text
        assert [(c["id"], c["name"]) for c in got["candidates"]] == [(c["id"], c["name"]) for c in want["candidates"]]
        assert [c["score"] for c in got["candidates"]] == pytest.approx([c["score"] for c in want["candidates"]], abs=1e-6)


def test_ray_run_gives_the_single_process_results_with_counts_and_summary(ray_run, single_process) -> None:
    out, err = ray_run
    rows = _results(out)
    _assert_same(rows, single_process)
    counts = {r["affiliation"]: r["count"] for r in rows}
    assert counts[_strings()[0]] == 3  # twice in a.txt, once in b.csv: de-duplicated across files
    assert counts[_strings()[260]] == 2 and counts[_strings()[150]] == 1
    assert sum(counts.values()) == 315 + 1 + 30 + 10 + 5 + 3
    matched = sum(r["match"] is not None for r in rows)
    assert f"strings read 364; unique 316; matched {matched}; no match {316 - matched};" in err
    assert "lines dropped: 3 blank; 2 binary; 1 unreadable" in err
    assert "strings cut to 2,000 characters: 1" in err
    assert "316/316 strings 100.0%" in err and "strings/s" in err
    record = json.loads(out.with_name("out.run.json").read_text(encoding="utf-8"))
    assert record["engine"]["model"] == "lexical-fallback" and record["shards"] == 5
    assert record["summary"]["unique"] == 316


def test_interrupted_run_resumes_skipping_whole_shards(ray_run, single_process, tmp_path, corpus) -> None:
    out = tmp_path / "out"
    shutil.copytree(ray_run[0], out)
    shutil.copy(ray_run[0].with_name("out.run.json"), tmp_path / "out.run.json")
    kept = shard_files(out)
    kept[1].unlink()
    kept[3].unlink()
    (out / f".{kept[3].name}.dead.tmp").write_bytes(b"half a shard")  # a writer killed mid-file
    before = {p.name: p.stat().st_mtime_ns for p in shard_files(out)}
    err = _run_cli(["match", str(corpus[0]), "--output", str(out), "--ray", *ENGINE, "--workers", "2", "--shard-size", "64"])
    assert "3 of 5 shards were already written and were kept" in err
    assert {p.name: p.stat().st_mtime_ns for p in shard_files(out) if p.name in before} == before
    _assert_same(_results(out), single_process)
    # another engine does not mix its results in
    assert main(["match", str(corpus[0]), "--output", str(out), "--ray", *ENGINE, "--top-k", "3"]) == 2


def test_worker_killed_mid_run_loses_and_doubles_nothing(local_ray, corpus, single_process, tmp_path) -> None:
    import psutil

    out = tmp_path / "out"
    killed: list[int] = []

    def kill_one_worker() -> None:  # once the pool is working (a shard written), kill one engine's process
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            if shard_files(out):
                for proc in psutil.Process().children(recursive=True):  # this test's own Ray only
                    try:
                        if "ShardMatcher" in " ".join(proc.cmdline()):
                            os.kill(proc.pid, signal.SIGKILL)
                            killed.append(proc.pid)
                            return
                    except psutil.Error:
                        continue
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    _run_cli(["match", str(corpus[0]), "--output", str(out), "--ray", *ENGINE, "--workers", "2",
              "--shard-size", "20", "--batch-size", "2", "--format", "jsonl"])
    killer.join(5)
    assert killed, "no worker was running to kill"
    assert not list(out.glob(".*.tmp"))
    _assert_same(_results(out), single_process)


def test_input_file_disappearing_mid_run_gets_one_line(local_ray, corpus, tmp_path) -> None:
    from affiliation_curator.curation.corpus.inputs import corpus_files
    from affiliation_curator.curation.corpus.run import explain_failure, read_corpus

    folder = tmp_path / "c"
    shutil.copytree(corpus[0], folder)
    dataset = read_corpus(local_ray, corpus_files(str(folder)), None)  # files listed, not yet read
    (folder / "b.csv").unlink()
    with pytest.raises(Exception) as caught:
        dataset.materialize()
    message = str(explain_failure(caught.value, tmp_path / "out"))
    assert "an input file disappeared" in message and "b.csv" in message and "\n" not in message


def test_corpus_review_makes_ranked_batches_least_confident_and_sample(ray_run, capsys) -> None:
    from affiliation_curator.curation.corpus.review import pick, uncertainty
    from affiliation_curator.curation.store import Store

    out = ray_run[0]
    assert main(["corpus", "review", str(out), "--least-confident", "12", "--batch", "QC low"]) == 0
    assert "'QC low'" in capsys.readouterr().err
    store = Store()
    info = store.batch_by_name("QC low")
    items = store.items(info.id)
    assert len(items) == 12 and all(item.candidates for item in items)
    threshold = json.loads(out.with_name("out.run.json").read_text(encoding="utf-8"))["engine"]["threshold"]
    worst = sorted(uncertainty(r, threshold) for r in _results(out) if r["top_score"] is not None)[:12]
    assert sorted(uncertainty({"top_score": i.top_score, "second_score": i.second_score}, threshold)
                  for i in items) == pytest.approx(worst, abs=1e-5)  # the output file rounds scores to 6 decimals
    assert pick(out, "sample", 7, seed=3) == pick(out, "sample", 7, seed=3) != pick(out, "sample", 7, seed=4)
    assert main(["corpus", "review", str(out), "--sample", "7", "--seed", "3", "--no-rank"]) == 0
    sampled = store.items(store.batch_by_name("out: sample 7, seed 3").id)
    assert {i.affiliation for i in sampled} == {s for s, _ in pick(out, "sample", 7, seed=3)}
    assert main(["corpus", "review", str(out.parent), "--sample", "3"]) == 2
    assert "not the output folder of a corpus run" in capsys.readouterr().err

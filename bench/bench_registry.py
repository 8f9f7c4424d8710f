"""Registry benchmark: import time, load time at app start, find latency and peak memory.

    python bench/bench_registry.py [--dump ../shared/data/ror/ror-union-2026-06-23.json.gz] [--scale 2.3]

Each measurement runs in a fresh Python process (a new data directory under a temp folder),
so load time is what an app start pays and peak RSS is that process's own high-water mark.
Besides the real dump it builds a synthetic dump ``--scale`` times as large (the records again
under new ids) to show that a full ROR dump (~120k records) fits the same design.
Targets (from the issue): import of the 51k-record stand-in < 20 s, load < 2 s, peak < 1 GB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb, run_child  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DUMP = PROJECT_DIR.parent / "shared" / "data" / "ror" / "ror-union-2026-06-23.json.gz"


def child_import(path: str) -> dict:
    start = time.perf_counter()
    from affiliation_curator.registry import RegistryCatalog

    meta = RegistryCatalog().import_file(path, name="bench")
    return {"seconds": time.perf_counter() - start, "records": meta.count, "peak_mb": peak_rss_mb(),
            "stored_mb": (meta.folder / "institutions.json").stat().st_size / 1e6}


def child_load() -> dict:
    start = time.perf_counter()
    from affiliation_curator.registry import RegistryCatalog

    imported = time.perf_counter()
    registry = RegistryCatalog().load("bench")
    loaded = time.perf_counter()
    registry.find("Technical University of Munich")
    first_find = time.perf_counter()
    queries = ["TUM", "Max Planck Society", "02kkvpp62", "universite paris", "Harvard Medical School", "Tecnical Univesity"]
    for query in queries:
        registry.find(query)
    later = (time.perf_counter() - first_find) / len(queries)
    return {"load_seconds": loaded - imported, "with_imports_seconds": loaded - start,
            "first_find_seconds": first_find - loaded, "find_seconds": later, "records": len(registry),
            "peak_mb": peak_rss_mb()}


def make_scaled(dump: Path, scale: float, out: Path) -> int:
    """A dump ``scale`` times as large: the records, then copies under new ids (same shape, same names)."""
    with gzip.open(dump, "rb") as fh:
        records = json.loads(fh.read())
    target = int(len(records) * scale)
    copy = 0
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=1) as fh:
        fh.write("[")
        written = 0
        while written < target:
            for i, rec in enumerate(records):
                if written >= target:
                    break
                if copy:
                    rec = dict(rec, id=f"https://ror.org/0{copy:01d}{i:05d}{copy % 100:02d}")
                fh.write(("," if written else "") + json.dumps(rec, ensure_ascii=False))
                written += 1
            copy += 1
        fh.write("]")
    return target


def report(label: str, dump: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        home = Path(tmp) / "home"
        imp = run_child(__file__, home, "import", str(dump))
        load = run_child(__file__, home, "load")
    print(f"\n== {label}: {dump.name} ({dump.stat().st_size / 1e6:.1f} MB on disk)")
    print(f"import : {imp['seconds']:6.2f} s for {imp['records']:,} records, peak RSS {imp['peak_mb']:.0f} MB, "
          f"stored {imp['stored_mb']:.1f} MB")
    print(f"load   : {load['load_seconds']:6.2f} s (fresh process; {load['with_imports_seconds']:.2f} s with imports), "
          f"peak RSS {load['peak_mb']:.0f} MB")
    print(f"find   : first {load['first_find_seconds']:.2f} s (builds the name index), then "
          f"{load['find_seconds'] * 1000:.0f} ms a query")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, default=DEFAULT_DUMP)
    parser.add_argument("--scale", type=float, default=2.3, help="size of the synthetic dump (0: skip it)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        result = child_import(rest[0]) if mode == "import" else child_load()
        print(json.dumps(result))
        return
    if not args.dump.is_file():
        raise SystemExit(f"{args.dump} not found (pass --dump)")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    report("ROR stand-in", args.dump)
    if args.scale:
        with tempfile.TemporaryDirectory(prefix="bench-registry-scaled-") as tmp:
            scaled = Path(tmp) / f"scaled-x{args.scale}.json.gz"
            count = make_scaled(args.dump, args.scale, scaled)
            report(f"synthetic x{args.scale} ({count:,} records, a full ROR dump's size)", scaled)


if __name__ == "__main__":
    main()

"""Export page on a 20,000-item batch: seconds per page load and per click (AppTest, this machine).

Builds (once, in its own data directory) a batch of 20,000 ranked affiliations with 10
candidates each, 15,000 accepted and 2,000 "none of these", plus a second batch of 5,000 so
"the whole database" is more than the chosen batch; then runs the Export page the way a
curator does: open it (the batch open), then three clicks (hard negatives 3 -> 4, the
Mapping tab's "also undecided", the format Parquet). Prints seconds for each.

    python bench/bench_export_page.py [--items 20000] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build(items: int) -> int:
    from datetime import datetime, timezone

    from sqlalchemy import insert, update

    from affiliation_curator.curation.store import Store
    from affiliation_curator.curation.store.models import CandidateRow, Decision, Item, UndoGroup

    store = Store()
    existing = {b.name: b.id for b in store.batches()}
    if f"bench {items}" in existing:
        return existing[f"bench {items}"]
    now = datetime.now(timezone.utc)
    ids = {}
    for name, n in ((f"bench {items}", items), ("other", items // 4)):
        batch_id = store.create_batch(name, [f"Dept {i % 97}, University number {i}, City {i % 13}" for i in range(n)])
        ids[name] = batch_id
        with store._write() as session:  # noqa: SLF001 - a benchmark fills the tables directly
            item_ids = [i for (i,) in session.query(Item.id).filter(Item.batch_id == batch_id).order_by(Item.position)]
            rows = [
                {"item_id": item_id, "rank": r, "institution_id": f"https://ror.org/0{(k * 7 + r) % 999999:06d}{r:02d}",
                 "name": f"Institution {k}-{r}", "score": 0.9 - r * 0.05, "retrieval_score": 1.0,
                 "document": f"Institution {k}-{r}, City {k % 13}", "types": ["education"], "status": "active"}
                for k, item_id in enumerate(item_ids) for r in range(1, 11)
            ]
            for start in range(0, len(rows), 20000):
                session.execute(insert(CandidateRow), rows[start:start + 20000])
            session.execute(update(Item).where(Item.batch_id == batch_id).values(
                ranked_at=now, model_id="bench", threshold=0.5, top_score=0.85, second_score=0.8))
            group = UndoGroup(batch_id=batch_id, kind="import", curator="bench", created_at=now)
            session.add(group)
            session.flush()
            decisions = []
            for k, item_id in enumerate(item_ids):
                if k % 20 < 15:
                    decisions.append({"item_id": item_id, "action": "accept",
                                      "institution_id": f"https://ror.org/0{(k * 7 + 1) % 999999:06d}01",
                                      "institution_name": f"Institution {k}-1", "document": f"Institution {k}-1, City {k % 13}",
                                      "score": 0.85, "curator": ["ann", "bob"][k % 2], "created_at": now, "undo_group": group.id})
                elif k % 20 < 17:
                    decisions.append({"item_id": item_id, "action": "none", "curator": "ann", "created_at": now,
                                      "undo_group": group.id})
            session.execute(insert(Decision), decisions)
    return ids[f"bench {items}"]


def timed(label: str, action) -> float:  # noqa: ANN001
    start = time.perf_counter()
    at = action()
    seconds = time.perf_counter() - start
    assert not at.exception, at.exception
    print(f"{label:<44} {seconds:6.2f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--home", default="")
    args = parser.parse_args()
    home = args.home or str(Path(tempfile.gettempdir()) / f"bench-export-page-{args.items}")
    os.environ["AFFILIATION_CURATOR_HOME"] = home
    start = time.perf_counter()
    batch_id = build(args.items)
    print(f"data directory {home}: batch {batch_id} ready in {time.perf_counter() - start:.1f} s")

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(PROJECT_DIR / "app.py"), default_timeout=600)
    at.query_params["batch"] = str(batch_id)
    at.run()
    times = [timed("load (Export page, the batch open)", lambda: at.switch_page("app_pages/export.py").run())]
    times.append(timed("rerun, nothing changed", lambda: at.run()))
    times.append(timed("click: hard negatives 3 -> 4", lambda: at.number_input(key="export_hard").set_value(4).run()))
    times.append(timed("click: mapping, also undecided", lambda: at.checkbox(key="mapping_undecided").check().run()))
    times.append(timed("click: pairs format Parquet", lambda: at.segmented_control(key="export_format").set_value(".parquet").run()))
    pairs = [m.value for m in at.metric if m.label == "Pairs"]
    print(f"pairs shown: {pairs}; load {times[0]:.2f} s, clicks {min(times[1:]):.2f}-{max(times[1:]):.2f} s")


if __name__ == "__main__":
    main()

"""Decision -> next item latency on the Review page, in a real browser (headless Chromium).

Builds a batch of 100 affiliations ranked beforehand (demo registry, the configured scorer or
its offline fallback), starts ``streamlit run app.py`` on it, opens the Review page and
decides items with the keyboard (1, n, 2, s in turn). For every key press it measures, in the
page itself (performance.now()):

- next item: from the keydown to the moment the next affiliation's text is on the card;
- run done: from the keydown to the end of the (fragment) run, card completely drawn.

Prints p50 / p95 / max over the decisions. Not a test: a figure for the README.

    python bench/bench_review_latency.py [--items 100] [--decisions 80] [--think 0.3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "tests" / "browser"))

PROBE = """
() => {
  window.__lat = [];
  const text = () => { const c = document.querySelector('[data-testid=stCode]'); return c ? c.innerText : null; };
  const app = document.querySelector('[data-testid=stApp]');
  let pending = null;
  document.addEventListener('keydown', () => {
    pending = { t0: performance.now(), prev: text(), next: null, done: null };
  }, true);
  const check = () => {
    if (!pending) return;
    const now = performance.now();
    const t = text();
    if (pending.next === null && t !== null && t !== pending.prev) pending.next = now - pending.t0;
    if (pending.next !== null && app.getAttribute('data-test-script-state') === 'notRunning') {
      pending.done = now - pending.t0;
      window.__lat.push(pending);
      pending = null;
    }
  };
  new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def affiliations(n: int) -> list[str]:
    base = [
        line.strip()
        for line in (PROJECT_DIR / "data" / "sample_affiliations.txt").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    out = list(base)
    k = 0
    while len(out) < n:
        out.append(f"Department {k + 1}, {base[k % len(base)]}")
        k += 1
    return out[:n]


def build_batch(home: Path, n: int) -> int:
    os.environ["AFFILIATION_CURATOR_HOME"] = str(home)
    from affiliation_curator.engine.assemble import build_engine
    from affiliation_curator.curation.ranking_jobs import rank_batch
    from affiliation_curator.registry import RegistryCatalog
    from affiliation_curator.engine.reranker import load_scorer
    from affiliation_curator.curation.store import Store

    registry = RegistryCatalog().load()
    matcher = build_engine(registry, load_scorer())
    store = Store()
    batch_id = store.create_batch(
        "latency bench", affiliations(n), registry_name=registry.name,
        registry_version=registry.meta.version, model_id=matcher.model_id,
    )
    started = time.perf_counter()
    rank_batch(store, matcher, batch_id)
    print(f"ranked {n} items with {matcher.model_id} in {time.perf_counter() - started:.1f}s")
    return batch_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--decisions", type=int, default=80)
    parser.add_argument("--think", type=float, default=0.3, help="seconds between a finished card and the next key")
    parser.add_argument("--dump", action="store_true", help="print every sample (key, next item ms, run done ms)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from browser_support import CHROMIUM, CHROMIUM_ARGS, CONNECTED, IDLE, free_port, start_server, stop_server, wait_keys
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="review-latency-"))
    batch_id = build_batch(home, args.items)
    port = free_port()
    proc = start_server(home, port, home / "streamlit.log")
    keys = ["1", "n", "2", "s"]
    pressed: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/review?batch={batch_id}")
            page.wait_for_selector(CONNECTED, timeout=60_000)
            curator = page.get_by_role("textbox", name="Curator")  # the name is per browser session
            curator.fill("Bench")
            curator.press("Enter")
            page.wait_for_selector("[data-testid=stCode]", timeout=60_000)
            page.wait_for_selector(IDLE, state="attached")
            wait_keys(page)  # the rows' script has loaded: its digit keys work
            page.evaluate(PROBE)
            page.evaluate("document.activeElement && document.activeElement.blur()")
            decisions = min(args.decisions, args.items - 1)
            for i in range(decisions):
                time.sleep(args.think)
                key = keys[i % len(keys)]
                if key.isdigit() and page.get_by_role("button", name=re.compile("^Accept")).count() < int(key):
                    key = "n"  # not that many candidates on this card
                page.keyboard.press(key)
                pressed.append(key)
                try:
                    page.wait_for_function(f"() => window.__lat.length > {i}", timeout=30_000)
                except Exception:
                    shot = home / "stuck.png"
                    page.screenshot(path=str(shot), full_page=True)
                    print(f"decision {i + 1} ({key!r}) never finished; screenshot {shot}")
                    raise
            samples = page.evaluate("window.__lat")
            browser.close()
    finally:
        stop_server(proc)

    if args.dump:
        for key, s in zip(pressed, samples):
            print(f"{key}: next {s['next']:6.0f} ms  done {s['done']:6.0f} ms")
    nxt = [s["next"] for s in samples]
    done = [s["done"] for s in samples]
    print(f"{len(samples)} decisions by keyboard, Chromium headless, think time {args.think:.1f}s")
    for label, values in (("next item shown", nxt), ("run finished  ", done)):
        print(
            f"{label}: p50 {statistics.median(values):6.0f} ms   p95 {percentile(values, 0.95):6.0f} ms   "
            f"max {max(values):6.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

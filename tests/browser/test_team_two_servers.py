"""Two app servers on one PostgreSQL database, in Chromium against two ``streamlit run`` processes
(sign-in on, the app's own user list):

- two curators signed in on different servers decide one split batch at once: every decision is
  stored exactly once and as its own curator's; ``kill -9`` of one server with a key press in
  flight loses no committed decision, the other server keeps serving, and the curator whose
  server died opens the other (still signed in: the sign-in session is in the database) and finishes: nothing lost, no item over-covered;
- ``kill -9`` of the server that ranks a batch: the other server, whose job waited on the
  batch's ranking claim in the database, ranks the rest; the batch ends fully ranked and no item
  ranked before the kill is ranked again; a server started afresh finds nothing left to rank;
- ``kill -9`` of the only server ranking a batch, then a restart: opening the batch there ranks
  the rest, and nothing ranked before the kill is ranked again.

Skipped without ``AFFILIATION_CURATOR_TEST_PG_URL`` (two servers need a shared database server).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from affiliation_curator.curation.store import Store
from affiliation_curator.engine.results import Candidate, MatchResult
from affiliation_curator.team import sharing
from affiliation_curator.team.users import Identity, add_user
from browser_support import CONNECTED, free_port, open_app, sign_in, start_server, stop_server, tab, wait_idle, wait_keys

PG_URL = os.environ.get("AFFILIATION_CURATOR_TEST_PG_URL")
pytestmark = pytest.mark.skipif(
    not PG_URL, reason="two app servers share one PostgreSQL database: set AFFILIATION_CURATOR_TEST_PG_URL"
)

ETH = Candidate("https://ror.org/05a28rw58", "ETH Zurich", 0.81, city="Zurich", country_name="Switzerland")
EPFL = Candidate("https://ror.org/02s376052", "EPFL", 0.79, city="Lausanne", country_name="Switzerland")
CARD = "[data-testid=stCode]"
DONE = "Every item of this batch has a decision"
SERVER_ENV = {"AFFILIATION_CURATOR_SIGN_IN": "users"}


class Servers:
    """``streamlit run`` processes on one database, each with its own data directory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list = []

    def start(self, name: str) -> tuple[str, object]:
        home = self.tmp / f"home-{name}"
        home.mkdir(exist_ok=True)
        port = free_port()
        proc = start_server(home, port, self.tmp / f"streamlit-{name}.log",
                            extra_env={**SERVER_ENV, "AFFILIATION_CURATOR_DB": PG_URL})
        self.procs.append(proc)
        return f"http://127.0.0.1:{port}", proc

    def stop_all(self) -> None:
        for proc in self.procs:
            stop_server(proc)


def kill9(proc) -> None:  # noqa: ANN001
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def card(page) -> str | None:  # noqa: ANN001
    """The string on the card, or None when the curator's queue is empty."""
    page.wait_for_function(
        "done => document.querySelector('[data-testid=stCode]') || document.body.innerText.includes(done)",
        arg=DONE, timeout=30_000,
    )
    wait_idle(page)
    if page.get_by_text(DONE).count():
        return None
    return page.locator(CARD).first.inner_text().strip()


def press(page, key: str, shown: str) -> str | None:  # noqa: ANN001
    """Press a decision key on the card showing ``shown``; returns what the card shows next."""
    wait_keys(page)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)
    page.wait_for_function(
        "([shown, done]) => { const c = document.querySelector('[data-testid=stCode]');"
        " return document.body.innerText.includes(done) || (c && c.innerText.trim() !== shown); }",
        arg=[shown, DONE], timeout=30_000,
    )
    return card(page)


def team_batch(store: Store, tag: str, n: int) -> tuple[int, dict[str, str]]:
    """Users ann-TAG and bob-TAG (curators), a ranked batch split between them, 25 % labelled twice."""
    names = {who: f"{who}-{tag}" for who in ("ann", "bob")}
    for name in names.values():
        add_user(store, name, "curator", password=f"{name}-password")
    strings = [f"Institute {i} of {tag}, ETH / EPFL joint lab, Switzerland" for i in range(n)]
    batch = store.create_batch(f"two servers {tag}", strings, registry_name="demo")
    for item in store.items(batch):
        store.save_result(item.id, MatchResult(item.affiliation, [ETH, EPFL], None, model="m", threshold=0.5))
    sharing.set_sharing(store, Identity(f"lea-{tag}", "lead"), batch, "split", list(names.values()), double_share=0.25)
    return batch, names


def test_two_servers_two_curators_and_a_kill_9(browser, tmp_path):  # noqa: ANN001
    store = Store(PG_URL)
    tag = uuid.uuid4().hex[:8]
    batch, names = team_batch(store, tag, 12)
    by_text = {v.affiliation: v.id for v in store.items(batch)}
    doubles = sharing.double_item_ids(store, batch)
    servers = Servers(tmp_path)
    contexts = []
    try:
        url_a, proc_a = servers.start("a")
        url_b, _proc_b = servers.start("b")
        (ann_ctx, ann), (bob_ctx, bob) = tab(browser), tab(browser)
        contexts += [ann_ctx, bob_ctx]
        pressed: dict[str, list[int]] = {names["ann"]: [], names["bob"]: []}
        open_app(ann, f"{url_a}/review?batch={batch}")
        sign_in(ann, names["ann"], f"{names['ann']}-password")
        open_app(bob, f"{url_b}/review?batch={batch}")
        sign_in(bob, names["bob"], f"{names['bob']}-password")
        shown = {names["ann"]: card(ann), names["bob"]: card(bob)}
        assert shown[names["ann"]] and shown[names["bob"]]
        assert shown[names["ann"]] != shown[names["bob"]] or by_text[shown[names["ann"]]] in doubles

        # both decide at once, one on each server: accept (1) and none (n) in turn
        for turn in range(6):
            for who, page in ((names["ann"], ann), (names["bob"], bob)):
                if shown[who] is None:
                    continue
                item = by_text[shown[who]]
                shown[who] = press(page, "1" if turn % 2 else "n", shown[who])
                pressed[who].append(item)
        own = Counter((d["item_id"], d["curator"]) for d in store.decisions(batch))
        assert own == Counter((i, who) for who, items in pressed.items() for i in items)  # each once, as its own

        # kill -9 of ann's server with her key press in flight; bob's server keeps serving
        in_flight = by_text[shown[names["ann"]]]
        ann.evaluate("document.activeElement && document.activeElement.blur()")
        ann.keyboard.press("n")
        time.sleep(0.05)
        kill9(proc_a)
        if shown[names["bob"]] is not None:
            item = by_text[shown[names["bob"]]]
            shown[names["bob"]] = press(bob, "1", shown[names["bob"]])
            pressed[names["bob"]].append(item)
        after_kill = Counter((d["item_id"], d["curator"]) for d in store.decisions(batch))
        committed = Counter((i, who) for who, items in pressed.items() for i in items)
        extra = after_kill - committed
        assert not committed - after_kill  # every acknowledged decision is there
        assert extra in (Counter(), Counter({(in_flight, names["ann"]): 1}))  # the one in flight: whole or not at all
        if extra:
            pressed[names["ann"]].append(in_flight)

        # ann carries on on the other server (her claim is hers there too); both finish the batch
        open_app(ann, f"{url_b}/review?batch={batch}")  # her sign-in holds there: the cookie's session is in the database
        ann.get_by_text("Signed in as").wait_for()
        shown[names["ann"]] = card(ann)
        for _ in range(40):
            if all(v is None for v in shown.values()):
                break
            for who, page in ((names["ann"], ann), (names["bob"], bob)):
                if shown[who] is not None:
                    item = by_text[shown[who]]
                    shown[who] = press(page, "1", shown[who])
                    pressed[who].append(item)
        assert all(v is None for v in shown.values()), shown
        bob.screenshot(path=str(tmp_path / "bob-done.png"))
        final = Counter((d["item_id"], d["curator"]) for d in store.decisions(batch))
        assert final == Counter((i, who) for who, items in pressed.items() for i in items)
        assert max(final.values()) == 1  # one decision per curator and item: none stored twice
        coverage = Counter(item for item, _who in final)
        assert set(coverage) == set(by_text.values())  # every item decided, nothing lost
        assert all(coverage[i] == (2 if i in doubles else 1) for i in coverage), coverage
    finally:
        for context in contexts:
            context.close()
        servers.stop_all()


def test_kill_9_of_the_ranking_server_hands_the_ranking_to_the_other(browser, tmp_path):  # noqa: ANN001
    store = Store(PG_URL)
    tag = uuid.uuid4().hex[:8]
    name = f"cy-{tag}"
    add_user(store, name, "curator", password=f"{name}-password")
    # distinct strings the demo registry's lexical stand-in ranks at some tens a second
    # enough that server A is still ranking when server B has signed in (a quiet machine ranks
    # 200 strings of the demo registry in the seconds a sign-in takes)
    strings = [f"Department {i} of Physics, University {tag} {i % 7}, Zurich, Switzerland" for i in range(1500)]
    batch = store.create_batch(f"ranking {tag}", strings, registry_name="demo")
    servers = Servers(tmp_path)
    contexts = []
    try:
        url_a, proc_a = servers.start("a")
        url_b, proc_b = servers.start("b")
        (a_ctx, on_a), (b_ctx, on_b) = tab(browser), tab(browser)
        contexts += [a_ctx, b_ctx]
        open_app(on_a, f"{url_a}/review?batch={batch}")
        sign_in(on_a, name, f"{name}-password")  # opening the batch starts ranking on server A
        deadline = time.monotonic() + 60
        while store.count_unranked(batch) == len(strings) and time.monotonic() < deadline:
            time.sleep(0.2)
        open_app(on_b, f"{url_b}/review?batch={batch}")
        sign_in(on_b, name, f"{name}-password")  # server B's job waits on A's claim
        on_b.wait_for_selector(CONNECTED)
        while len(strings) - store.count_unranked(batch) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        kill9(proc_a)
        killed = time.monotonic()
        before = {v.id: v.ranked_at for v in store.items(batch) if v.ranked}
        assert 0 < len(before) < len(strings), "server A had ranked nothing or everything before the kill"
        deadline = killed + 480
        took_over = None
        while store.count_unranked(batch) and time.monotonic() < deadline:
            if took_over is None and len(strings) - store.count_unranked(batch) > len(before):
                took_over = time.monotonic() - killed
            time.sleep(0.2)
        print(f"\nranking: server A ranked {len(before)} of {len(strings)} before kill -9; server B ranked its first "
              f"item {took_over if took_over is not None else float('nan'):.1f} s after the kill and the rest "
              f"{time.monotonic() - killed:.1f} s after it")
        assert store.count_unranked(batch) == 0, "server B did not take the ranking over"
        after = {v.id: v.ranked_at for v in store.items(batch)}
        assert all(after[i] == at for i, at in before.items())  # ranked before the kill: not ranked again
        assert all(at is not None for at in after.values())
        assert all(v.candidates for v in store.items(batch, limit=20))
        log_b = (tmp_path / "streamlit-b.log").read_text()
        assert "Traceback" not in log_b, log_b[-3000:]
        # a server started afresh on the same database finds the batch ranked and ranks nothing again
        stop_server(proc_b)
        url_c, _proc_c = servers.start("c")
        open_app(on_b, f"{url_c}/review?batch={batch}")
        on_b.get_by_text("Signed in as").wait_for()  # still signed in (the cookie's session is in the database)
        on_b.locator(CARD).first.wait_for()
        assert {v.id: v.ranked_at for v in store.items(batch)} == after
    finally:
        for context in contexts:
            context.close()
        servers.stop_all()


def test_kill_9_of_the_only_ranking_server_and_a_restart_ranks_the_rest(browser, tmp_path):  # noqa: ANN001
    store = Store(PG_URL)
    tag = uuid.uuid4().hex[:8]
    name = f"dee-{tag}"
    add_user(store, name, "curator", password=f"{name}-password")
    strings = [f"Laboratory {i} of Chemistry, University {tag} {i % 5}, Lausanne, Switzerland" for i in range(120)]
    batch = store.create_batch(f"restart {tag}", strings, registry_name="demo")
    servers = Servers(tmp_path)
    contexts = []
    try:
        url_a, proc_a = servers.start("a")
        context, page = tab(browser)
        contexts.append(context)
        open_app(page, f"{url_a}/review?batch={batch}")
        sign_in(page, name, f"{name}-password")
        deadline = time.monotonic() + 90
        while len(strings) - store.count_unranked(batch) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        kill9(proc_a)  # nobody else has the batch open: ranking stops with it
        before = {v.id: v.ranked_at for v in store.items(batch) if v.ranked}
        assert 0 < len(before) < len(strings)
        time.sleep(2)
        assert store.count_unranked(batch) == len(strings) - len(before)  # nothing ranks it meanwhile
        url_b, _proc_b = servers.start("a-restarted")
        open_app(page, f"{url_b}/review?batch={batch}")  # opening the batch resumes its ranking
        page.get_by_text("Signed in as").wait_for()  # still signed in (the cookie's session is in the database)
        deadline = time.monotonic() + 240
        while store.count_unranked(batch) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert store.count_unranked(batch) == 0, "the restarted server did not rank the rest"
        after = {v.id: v.ranked_at for v in store.items(batch)}
        assert all(after[i] == at for i, at in before.items())  # nothing ranked before the kill is ranked again
    finally:
        for context in contexts:
            context.close()
        servers.stop_all()

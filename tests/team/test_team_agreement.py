"""Agreement figures against hand-computed examples, and resolved labels from a decision log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from affiliation_curator.team.agreement import cohen_kappa, decisions_per_hour, fleiss_kappa, pairwise
from affiliation_curator.team.resolve import resolve_items


def test_cohen_kappa_textbook_example():
    # A and B on 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15
    # p_o = 35/50 = 0.7; p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    pairs = [("y", "y")] * 20 + [("y", "n")] * 5 + [("n", "y")] * 10 + [("n", "n")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_cohen_kappa_three_categories_by_hand():
    # 10 items; A: a a a b b b c c c c ; B: a a b b b c c c c a
    # agree on 7 -> p_o = 0.7; A's shares a .3 b .3 c .4, B's a .3 b .3 c .4
    # p_e = .09 + .09 + .16 = .34; kappa = (.7 - .34) / .66 = 0.545454...
    a = list("aaabbbcccc")
    b = list("aabbbcccca")
    assert cohen_kappa(list(zip(a, b))) == pytest.approx(0.36 / 0.66)


def test_kappa_edge_cases():
    assert cohen_kappa([]) is None  # no overlap
    assert cohen_kappa([("x", "x")] * 5) is None  # one category only: p_e = 1, undefined
    assert cohen_kappa([("x", "x"), ("y", "y"), ("x", "x")]) == pytest.approx(1.0)  # perfect agreement
    # complete disagreement with balanced margins: p_o = 0, p_e = 0.5 -> -1
    assert cohen_kappa([("x", "y"), ("y", "x")]) == pytest.approx(-1.0)
    assert fleiss_kappa([]) is None
    assert fleiss_kappa([["x"], ["y"]]) is None  # nobody labelled an item twice
    assert fleiss_kappa([["x", "x", "x"], ["x", "x"]]) is None  # one category only
    assert fleiss_kappa([["x", "x", "x"], ["y", "y", "y"]]) == pytest.approx(1.0)


def test_fleiss_kappa_wikipedia_example():
    # Fleiss (1971) as on Wikipedia: 10 subjects, 14 raters, 5 categories; P-bar 0.378, P_e 0.213, kappa 0.210
    table = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
    rows = [{k: n for k, n in enumerate(row)} for row in table]
    assert fleiss_kappa(rows) == pytest.approx(0.20993, abs=1e-4)


def test_fleiss_equals_by_hand_for_three_raters():
    # items: (x x x) (x x y) (y y y) (x y y); P_i = 1, 1/3, 1, 1/3 -> P-bar = 2/3
    # pooled: x 6/12, y 6/12 -> P_e = 0.5; kappa = (2/3 - 1/2) / (1/2) = 1/3
    assert fleiss_kappa([list("xxx"), list("xxy"), list("yyy"), list("xyy")]) == pytest.approx(1 / 3)


def test_pairwise_counts_only_items_both_labelled():
    labels = {
        1: {"ann": "accept:A", "bob": "accept:A"},
        2: {"ann": "none", "bob": "accept:B"},
        3: {"ann": "accept:C"},  # only ann: no overlap with bob
        4: {"bob": "none", "cy": "none"},
    }
    by_pair = {(p.a, p.b): p for p in pairwise(labels)}
    ab = by_pair[("ann", "bob")]
    assert (ab.overlap, ab.agreed, ab.share) == (2, 1, 0.5)
    # ann: A, none; bob: A, B -> p_o = .5; p_e = (1*1 + 1*0 + 0*1)/4 = .25; kappa = (.5 - .25)/.75 = 1/3
    assert ab.kappa == pytest.approx(1 / 3)
    assert by_pair[("ann", "cy")].overlap == 0 and by_pair[("ann", "cy")].kappa is None
    assert by_pair[("bob", "cy")].kappa is None  # one item, one category


def test_decisions_per_hour_cuts_breaks():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    times = [t0, t0 + timedelta(seconds=10), t0 + timedelta(seconds=20), t0 + timedelta(hours=2)]
    # gaps 10, 10, and a 2-hour break counted as 300 s: 3 decisions in 320 s
    assert decisions_per_hour(times) == pytest.approx(3 * 3600 / 320)
    assert decisions_per_hour(times[:1]) is None


def _d(i, item, curator, action, inst=None, method="key", undone=False):
    return {"id": i, "item_id": item, "curator": curator, "action": action, "institution_id": inst,
            "institution_name": None, "method": method, "undone_at": "x" if undone else None}


def test_resolved_labels_agreed_single_conflict_resolution_and_rules():
    log = [
        _d(1, 10, "ann", "accept", "A"), _d(2, 10, "bob", "accept", "A"),  # agreed
        _d(3, 11, "ann", "accept", "A"),  # single
        _d(4, 12, "ann", "accept", "A"), _d(5, 12, "bob", "none"), _d(6, 12, "cy", "accept", "A"),  # conflict, 2 of 3
        _d(7, 13, "ann", "accept", "A"), _d(8, 13, "bob", "accept", "B"),  # conflict, tie
        _d(9, 13, "lead", "accept", "B", method="resolution"),  # ... resolved by the lead
        _d(10, 14, "ann", "skip"),  # a skip is no label
        _d(11, 15, "ann", "accept", "A"), _d(12, 15, "ann", "none"),  # ann changed her mind: her latest counts
        _d(13, 16, "ann", "accept", "A"), _d(14, 16, "bob", "none", undone=True),  # undone: not a label
        _d(15, 17, "ann", "reject", "A"),  # a reject is no label
    ]
    leave = resolve_items(log, "leave_out")
    assert {i: (x.status, x.chosen["id"] if x.chosen else None) for i, x in leave.items()} == {
        10: ("agreed", 2), 11: ("single", 3), 12: ("conflict", None), 13: ("resolved", 9),
        14: ("undecided", None), 15: ("single", 12), 16: ("single", 13),
    }
    majority = resolve_items(log, "majority")
    assert majority[12].chosen["id"] == 6 and majority[12].source == "majority"
    assert majority[13].source == "resolution"
    tie = resolve_items(log[6:8], "majority")  # 1 vs 1 and no resolution: no majority, left out
    assert tie[13].status == "conflict" and tie[13].chosen is None
    with pytest.raises(ValueError, match="unknown conflict rule"):
        resolve_items(log, "coin")

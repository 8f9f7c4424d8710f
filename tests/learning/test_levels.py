"""Top-1 errors told apart by their relation to the gold (levels.py) and reported by evaluate."""

from __future__ import annotations

from affiliation_curator.learning.evaluation import evaluate
from affiliation_curator.institution import Relationship
from affiliation_curator.learning.levels import classify, level_breakdown
from fixtures.retrieval import inst

UNI, MED, HOSP, OTHER, OLD = (f"https://ror.org/0000000{i}0" for i in range(5))


def registry():
    return {i.id: i for i in [
        inst("0000000" + "00", "Uni", "A", "DE", "Germany", relationships=[Relationship("child", MED)]),
        inst("0000000" + "10", "Medical Faculty", "A", "DE", "Germany", relationships=[Relationship("parent", UNI)]),
        inst("0000000" + "20", "University Hospital", "A", "DE", "Germany",
             relationships=[Relationship("parent", UNI), Relationship("related", OLD)]),
        inst("0000000" + "30", "Elsewhere", "B", "FR", "France"),
        inst("0000000" + "40", "Old Uni", "A", "DE", "Germany", status="inactive",
             relationships=[Relationship("successor", UNI)]),
    ]}


def test_classify_names_the_relation_either_record_carries():
    by_id = registry()
    assert classify(MED, [UNI], by_id) == "gold is parent"
    assert classify(UNI, [MED], by_id) == "gold is child"
    assert classify(UNI, [HOSP], by_id) == "gold is child"  # only the hospital's record carries the link
    assert classify(MED, [HOSP], by_id) == "siblings"
    assert classify(HOSP, [OLD], by_id) == "gold is related"
    assert classify(OLD, [UNI], by_id) == "gold is related"  # successor
    assert classify(OTHER, [UNI], by_id) == "other"


def test_evaluate_counts_level_errors_apart():
    by_id = registry()
    gold = [[UNI], [UNI], [MED], [OTHER], []]
    ranked = [[MED, UNI], [UNI], [OTHER, MED], [UNI], [UNI]]
    counts = level_breakdown(gold, ranked, by_id)
    assert counts["gold is parent"] == 1 and counts["other"] == 2 and sum(counts.values()) == 3
    report = evaluate(gold, ranked, [r[0] for r in ranked], 0.5, by_id=by_id)
    assert report.levels == counts
    assert "top-1 errors 3: 1 are level/related records" in report.to_text()
    assert evaluate(gold, ranked, [None] * 5, 0.5).levels is None

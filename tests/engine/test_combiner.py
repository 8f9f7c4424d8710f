"""The learned second stage: features, fitting, storing, and its use by the Matcher."""

from __future__ import annotations

import numpy as np
import pytest

from affiliation_curator.engine import combiner as cb
from affiliation_curator.institution import Relationship
from affiliation_curator.engine.matcher import Matcher
from affiliation_curator.engine.retrieval import RetrievedCandidate
from fixtures.retrieval import inst

HARVARD = "https://ror.org/03vek6s52"
HMS = "https://ror.org/03wevmz92"
TUM = "https://ror.org/02kkvpp62"
LMU = "https://ror.org/05591te55"


class FakeScorer:
    model_id = "fake"
    threshold = 0.5

    def __init__(self, table=None):
        self.table = table or {}

    def score(self, pairs):
        return np.array([next((v for k, v in self.table.items() if d.startswith(k)), 0.1) for _, d in pairs],
                        dtype=np.float32)


class ByFeature:
    """A stand-in classifier: probability = one feature's value (clipped to 0-1)."""

    def __init__(self, feature: str):
        self.k = cb.FEATURES.index(feature)

    def predict_proba(self, x):
        p = np.clip(x[:, self.k], 0.0, 1.0)
        return np.stack([1 - p, p], axis=1)


def stored_by_feature(feature: str):
    """A JSON-storable stand-in: a linear model rising steeply with one feature (0.5 maps to 0.5)."""
    from affiliation_curator.engine.combiner_json import Linear

    n = len(cb.FEATURES)
    coef = np.zeros(n)
    coef[cb.FEATURES.index(feature)] = 20.0
    return Linear(np.zeros(n), np.ones(n), coef, -10.0)


def col(name: str) -> int:
    return cb.FEATURES.index(name)


def test_features_describe_each_candidate(registry):
    by_id = {i.id: i for i in registry}
    found = [
        RetrievedCandidate(HMS, 0.9, "Harvard Medical School", "ror_display", None, True),
        RetrievedCandidate(HARVARD, 0.8, "Harvard University", "related", None, True),
        RetrievedCandidate(TUM, 0.3, "TUM", "acronym", None, False),
    ]
    text = "Dept. of Genetics, Harvard Medical School, Boston, USA"
    x = cb.candidate_features(text, found, [0.7, 0.6, None], by_id, country_sizes=cb.country_sizes(registry))
    assert x.shape == (3, len(cb.FEATURES))
    assert x[0, col("retrieval")] == pytest.approx(0.9) and x[1, col("retrieval_gap")] == pytest.approx(0.1)
    assert x[0, col("rerank")] == pytest.approx(0.7) and x[1, col("rerank_gap")] == pytest.approx(0.1)
    assert x[2, col("rerank")] == cb.MISSING and x[2, col("rerank_rank")] == cb.MISSING
    assert x[0, col("name_ror_display")] == 1 and x[1, col("name_related")] == 1 and x[2, col("name_acronym")] == 1
    # Harvard Medical School's parent (Harvard University) is listed; the relation is read both ways
    assert x[0, col("parent_in_list")] == 1 and x[1, col("child_in_list")] == 1
    assert x[1, col("parent_of_top")] == 1 and x[0, col("child_of_top")] == 0
    assert x[0, col("name_covered")] == 1.0 and x[0, col("seg_ratio")] == pytest.approx(1.0)
    assert x[0, col("country_match")] == 1 and x[2, col("country_match")] == 0 and x[0, col("city_match")] == cb.MISSING
    assert x[2, col("acronym_hit")] == 0  # "TUM" is not written in the string
    assert x[0, col("type_education")] == 1
    assert x[0, col("country_size")] == pytest.approx(np.log1p(5))  # 5 US institutions in the fixture
    assert np.all(x[x != cb.MISSING] >= 0)
    assert cb.candidate_features(text, [], [], by_id).shape == (0, len(cb.FEATURES))


def test_word_order_counts_in_the_ratio():
    view = cb.StringView.of("Washington University School of Medicine, St. Louis")
    r = view.best_ratios(["Washington University", "University of Washington"])
    assert r["Washington University"] > r["University of Washington"]


def test_withdrawn_and_successor_features():
    old = inst("00bbbbb01", "Old Lab", "Lyon", "FR", "France", status="withdrawn",
               relationships=[Relationship("successor", "https://ror.org/00bbbbb02", "New Lab")])
    new = inst("00bbbbb02", "New Lab", "Lyon", "FR", "France")
    by_id = {old.id: old, new.id: new}
    found = [RetrievedCandidate(old.id, 0.9, "Old Lab", "ror_display"), RetrievedCandidate(new.id, 0.85, "Old Lab", "related")]
    x = cb.candidate_features("Old Lab, Lyon", found, [None, None], by_id)
    assert x[0, col("withdrawn")] == 1 and x[0, col("successor_in_list")] == 1 and x[1, col("withdrawn")] == 0


def _lists(n=120, seed=0):
    """Synthetic candidate lists: the right candidate has a higher rerank score, plus noise."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = rng.random((5, len(cb.FEATURES)))
        y = np.zeros(5, dtype=np.int64)
        right = rng.integers(0, 5)
        y[right] = 1
        x[right, col("rerank")] += 1.0
        out.append(cb.LabelledList(x, y, "a" if i % 2 else "b"))
    return out


@pytest.mark.parametrize("kind", ["logreg", "hgb"])
def test_fit_and_out_of_fold_learn_the_signal(kind):
    lists = _lists()
    oof = cb.out_of_fold(lists, folds=3, kind=kind)
    acc = np.mean([ll.y[int(np.argmax(s))] for ll, s in zip(lists, oof)])
    assert acc > 0.8
    model = cb.fit(lists, kind=kind)
    p = model.predict_proba(lists[0].x)[:, 1]
    assert np.all((p >= 0) & (p <= 1))


def test_save_and_load_round_trip(tmp_path):
    model = cb.fit(_lists(40), kind="logreg")
    comb = cb.Combiner(model, threshold=0.42, uses_reranker=False, meta={"rows": 40})
    path = comb.save(tmp_path / "sub" / cb.COMBINER_FILE)
    back = cb.Combiner.load(path)
    assert back is not None and back.threshold == pytest.approx(0.42) and back.uses_reranker is False
    assert back.meta["rows"] == 40 and back.path == str(path)
    x = _lists(1)[0].x
    assert np.allclose(back.predict(x), comb.predict(x))


def test_load_gives_none_for_missing_or_broken_files(tmp_path):
    import json
    import pickle

    assert cb.Combiner.load(tmp_path / "absent.json") is None
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"not json")
    assert cb.Combiner.load(broken) is None
    other = tmp_path / "other.json"
    cb.Combiner(stored_by_feature("retrieval")).save(other)
    data = json.loads(other.read_text())
    data["features"] = ["something", "else"]
    other.write_text(json.dumps(data))
    assert cb.Combiner.load(other) is None
    # a pickle is never read (it would run code), even under the combiner's name
    pickled = tmp_path / "pickled.json"
    pickled.write_bytes(pickle.dumps({"format": cb.FORMAT}))
    assert cb.Combiner.load(pickled) is None
    # a tree pointing outside itself is refused, not followed
    trees = tmp_path / "trees.json"
    cb.Combiner(stored_by_feature("retrieval")).save(trees)
    data = json.loads(trees.read_text())
    data["model"] = {"kind": "trees", "n_features": len(cb.FEATURES), "baseline": 0.0, "trees": [
        {"feature": [0], "threshold": [0.5], "left": [5], "right": [0], "missing_left": [1], "value": [0.0],
         "leaf": [0]}]}
    trees.write_text(json.dumps(data))
    assert cb.Combiner.load(trees) is None


def test_combiner_path(tmp_path, monkeypatch):
    class Folder:
        model_id = str(tmp_path)

    assert cb.combiner_path(Folder(), lexical=False) == tmp_path / cb.COMBINER_FILE
    assert cb.combiner_path(FakeScorer(), lexical=False) is None  # a hub id or test double: no folder
    assert cb.combiner_path(FakeScorer(), lexical=True).name == cb.LEXICAL_COMBINER_FILE


def test_matcher_ranks_and_decides_by_the_combiner(registry, retriever):
    scorer = FakeScorer({"Ludwig": 0.9, "Technical University of Munich": 0.3})
    plain = Matcher(registry, scorer, retriever=retriever, combiner=False)
    assert plain.combiner is None and plain.match("TU Munich, Munich, Germany").candidates[0].id == LMU
    # a combiner that trusts only the retrieval score puts TUM (named in the string) first
    comb = cb.Combiner(ByFeature("retrieval"), threshold=0.6)
    m = Matcher(registry, scorer, retriever=retriever, combiner=comb)
    assert m.threshold == pytest.approx(0.6)
    result = m.match("TU Munich, Munich, Germany")
    assert result.candidates[0].id == TUM and result.match == TUM and result.threshold == pytest.approx(0.6)
    assert all(0.0 <= c.score <= 1.0 for c in result.candidates)
    assert [c.score for c in result.candidates] == sorted((c.score for c in result.candidates), reverse=True)
    # an explicit threshold still wins over the combiner's
    assert Matcher(registry, scorer, retriever=retriever, combiner=comb, threshold=0.99).match("TU Munich").match is None


def test_matcher_loads_the_stored_combiner_and_works_without(registry, retriever, tmp_path):
    class Folder(FakeScorer):
        model_id = str(tmp_path)

    plain = Matcher(registry, Folder(), retriever=retriever)
    assert plain.combiner is None and "none" in plain.combiner_note()  # no file: today's behaviour
    cb.Combiner(stored_by_feature("retrieval"), threshold=0.61).save(tmp_path / cb.COMBINER_FILE)
    m = Matcher(registry, Folder(), retriever=retriever)
    assert m.combiner is not None and m.threshold == pytest.approx(0.61)
    assert cb.COMBINER_FILE in m.combiner_note() and "0.610" in m.combiner_note()
    assert m.match("TU Munich, Munich, Germany").candidates[0].id == TUM
    (tmp_path / cb.COMBINER_FILE).write_bytes(b"garbage")
    assert Matcher(registry, Folder(), retriever=retriever).combiner is None


def test_examine_returns_aligned_scores(registry, retriever):
    m = Matcher(registry, FakeScorer({"Technical": 0.8}), retriever=retriever, combiner=False)
    [(found, rerank, examined)] = m.examine(["TU Munich, Germany"])
    assert len(found) == len(rerank) == len(examined) and examined[0]
    assert all((r is None) == (not e) for r, e in zip(rerank, examined))


def test_a_combiner_fitted_on_another_version_of_the_model_is_not_used(registry, retriever, tmp_path):
    class Folder(FakeScorer):
        model_id = str(tmp_path)
        card = {"created": "2026-11-27T02:00:00+00:00"}

    comb = cb.Combiner(stored_by_feature("retrieval"), threshold=0.61, meta={"scorer_created": "2026-11-27T01:00:00+00:00"})
    comb.save(tmp_path / cb.COMBINER_FILE)
    assert Matcher(registry, Folder(), retriever=retriever).combiner is None
    comb.meta["scorer_created"] = Folder.card["created"]
    comb.save(tmp_path / cb.COMBINER_FILE)
    assert Matcher(registry, Folder(), retriever=retriever).combiner is not None


def test_a_combiner_fitted_on_a_much_larger_registry_is_not_used(registry, retriever, tmp_path):
    class Folder(FakeScorer):
        model_id = str(tmp_path)

    size = len(registry.institutions)
    comb = cb.Combiner(stored_by_feature("retrieval"), threshold=0.61, meta={"registry": {"institutions": 51_370}})
    comb.save(tmp_path / cb.COMBINER_FILE)
    assert Matcher(registry, Folder(), retriever=retriever).combiner is None  # e.g. the demo registry
    comb.meta["registry"]["institutions"] = int(size / cb.MIN_REGISTRY_SHARE)
    comb.save(tmp_path / cb.COMBINER_FILE)
    assert Matcher(registry, Folder(), retriever=retriever).combiner is not None  # half the size or more: used

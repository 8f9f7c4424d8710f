"""Combiner models as plain JSON (combiner_json.py): same probabilities back, calibration keeps order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from affiliation_curator.engine import combiner as cb
from affiliation_curator.engine import combiner_json as cj


def data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[:, 2] = np.where(x[:, 2] > 1, -1.0, x[:, 2])  # ties at one value, like MISSING features
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=n) > 0).astype(int)
    return x, y


@pytest.mark.parametrize("kind", ["hgb", "logreg"])
def test_a_model_read_back_from_json_gives_the_same_probabilities(kind):
    x, y = data()
    model = cb.make_model(kind).fit(x, y)
    back = cj.from_json(json.loads(json.dumps(cj.to_json(model))))
    assert np.array_equal(back.predict_proba(x), model.predict_proba(x))  # rows at a split value included
    assert np.array_equal(cj.to_json(back), cj.to_json(model))


def test_trees_send_nan_where_they_learned_to():
    x, y = data()
    x[:300, 3] = np.nan
    model = cb.make_model("hgb").fit(x, y)
    back = cj.from_json(json.loads(json.dumps(cj.to_json(model))))
    assert np.allclose(back.predict_proba(x[:300]), model.predict_proba(x[:300]))


def test_calibration_maps_scores_to_the_share_right_and_keeps_their_order():
    rng = np.random.default_rng(1)
    raw = rng.uniform(size=4000)
    right = rng.uniform(size=4000) < raw ** 2  # the raw score overstates: the truth is raw squared
    curve = cj.fit_calibration(None, raw, right)
    mapped = curve.map(raw)
    for lo in (0.2, 0.5, 0.8):
        band = (raw > lo) & (raw < lo + 0.1)
        assert mapped[band].mean() == pytest.approx(right[band].mean(), abs=0.06)
    order = np.argsort(raw)
    assert np.all(np.diff(mapped[order]) > 0)  # strictly increasing: candidates never tie by calibration
    back = cj.from_json(json.loads(json.dumps(cj.to_json(cj.Calibrated(cj.Linear(np.zeros(1), np.ones(1),
                                                                                    np.ones(1), 0.0),
                                                                         curve.x, curve.y)))))
    assert isinstance(back, cj.Calibrated) and np.allclose(back.x, curve.x)


@pytest.mark.parametrize("bad", [
    {"kind": "pickle"},
    {"kind": "linear", "mean": [0, 0], "scale": [1], "coef": [1, 1], "intercept": 0},
    {"kind": "trees", "n_features": 2, "baseline": 0, "trees": [
        {"feature": [7, 0, 0], "threshold": [0, 0, 0], "left": [1, 0, 0], "right": [2, 0, 0],
         "missing_left": [1, 0, 0], "value": [0, 1, 2], "leaf": [0, 1, 1]}]},
    {"kind": "trees", "n_features": 2, "baseline": 0, "trees": [
        {"feature": [0, 0], "threshold": [0, 0], "left": [1, 1], "right": [1, 1],
         "missing_left": [1, 1], "value": [0, 1], "leaf": [0, 0]}]},
    {"kind": "calibrated", "model": {"kind": "linear", "mean": [0], "scale": [1], "coef": [1], "intercept": 0},
     "x": [0.5, 0.1], "y": [0.1, 0.5]},
])
def test_malformed_models_are_refused(bad):
    with pytest.raises((ValueError, KeyError, TypeError)):
        cj.from_json(bad)


def test_the_shipped_lexical_combiner_is_json_with_a_card():
    path = cb.SHIPPED_LEXICAL
    if not path.is_file():
        pytest.skip("no shipped lexical combiner")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["features"] == list(cb.FEATURES) and data["uses_reranker"] is False
    assert data["meta"]["side"] == "train" and "fit-combiner" in data["meta"]["command"]
    comb = cb.Combiner.load(path)
    assert comb is not None and 0.0 < comb.threshold < 1.0
    card = path.with_suffix(".md").read_text(encoding="utf-8")
    assert "train side" in card and data["meta"]["command"] in card


def test_an_old_pickled_combiner_is_not_loaded_and_the_engine_says_how_to_refit(curator_home):
    """A lexical-combiner.pkl from an earlier version is never unpickled; match names it and the refit command."""
    from affiliation_curator import config
    from affiliation_curator.engine.assemble import build_engine, engine_lines
    from affiliation_curator.registry import RegistryCatalog

    models = config.models_dir()
    models.mkdir(parents=True, exist_ok=True)
    (models / "lexical-combiner.pkl").write_bytes(b"not a pickle anyone should run")
    catalog = RegistryCatalog()
    catalog.ensure_demo()
    matcher = build_engine(None, "lexical-fallback")
    assert matcher.combiner is None or matcher.combiner.path != models / "lexical-combiner.pkl"
    note = " ".join(engine_lines(matcher))
    assert "lexical-combiner.pkl" in note and "model fit-combiner" in note

"""A fitted combiner model as plain JSON: trees or a linear model, plus a calibration curve.

Pickle runs code when it is read, so a learned artefact that ships with the project (or comes
from anyone else) is stored as data instead: this module turns the two classifiers the combiner
fits (``combiner.make_model``: scikit-learn's histogram gradient boosting, or a standardised
logistic regression) into a JSON object and back into an object with ``predict_proba`` that
gives the same probabilities (up to float rounding), with numpy alone.

    {"kind": "trees", "baseline": b, "trees": [{"feature": [...], "threshold": [...],
      "left": [...], "right": [...], "missing_left": [...], "value": [...], "leaf": [...]}, ...]}
    {"kind": "linear", "mean": [...], "scale": [...], "coef": [...], "intercept": c}

A tree node sends a row left when ``x[feature] <= threshold`` (NaN follows ``missing_left``);
the raw score is ``baseline`` plus the value of the leaf each tree ends in, the probability
its logistic sigmoid. ``Calibrated`` wraps a model with a monotone curve (isotonic regression,
points interpolated linearly) mapping its probability to the probability that the row is right
as measured on rows it was not fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

TIE_BREAK = 1e-6


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _two_columns(p: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p, p])


@dataclass
class Trees:
    """Gradient-boosted binary trees read from JSON.

    Every tree walks at once: the trees' node arrays are laid end to end (``_flat``), and each
    step moves every (row, tree) pair one level down. A tree at a time cost one small numpy call
    per tree and level, some 50 ms a call for the shipped combiner whatever the number of rows,
    and the rerank cascade asks for a few rows per string.
    """

    baseline: float
    trees: list[dict[str, np.ndarray]]
    n_features: int

    def __post_init__(self) -> None:
        self._flat: dict[str, Any] | None = None

    def _flattened(self) -> dict[str, Any]:
        if self._flat is None:
            sizes = [len(t["feature"]) for t in self.trees]
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else np.zeros(0, np.int64)
            cat = (lambda key: np.concatenate([t[key] for t in self.trees])) if self.trees else (lambda key: np.zeros(0))
            shift = np.repeat(offsets, sizes) if sizes else np.zeros(0, np.int64)
            self._flat = {
                "roots": offsets, "feature": cat("feature").astype(np.int64), "threshold": cat("threshold"),
                "left": cat("left").astype(np.int64) + shift, "right": cat("right").astype(np.int64) + shift,
                "missing_left": cat("missing_left").astype(bool), "value": cat("value"), "leaf": cat("leaf").astype(bool),
                "depth": max((int(t["depth"]) for t in self.trees), default=0),
            }
        return self._flat

    def raw(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got shape {x.shape}")
        if not self.trees or not len(x):
            return np.full(len(x), self.baseline)
        f = self._flattened()
        node = np.broadcast_to(f["roots"], (len(x), len(f["roots"]))).copy()  # rows x trees
        rows = np.arange(len(x))[:, None]
        for _ in range(f["depth"]):
            live = ~f["leaf"][node]
            if not live.any():
                break
            v = x[rows, np.where(live, f["feature"][node], 0)]
            go_left = np.where(np.isnan(v), f["missing_left"][node], v <= f["threshold"][node])
            node = np.where(live, np.where(go_left, f["left"][node], f["right"][node]), node)
        values = np.column_stack([np.full(len(x), self.baseline), f["value"][node]])
        return np.cumsum(values, axis=1)[:, -1]  # tree by tree, in scikit-learn's order: the same floats as its predict

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return _two_columns(_sigmoid(self.raw(x)))


@dataclass
class Linear:
    """A standardised logistic regression read from JSON."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        z = ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept
        return _two_columns(_sigmoid(z))


@dataclass
class Calibrated:
    """A model whose probability is mapped through a monotone curve (``x`` ascending)."""

    model: Any
    x: np.ndarray
    y: np.ndarray

    def map(self, p: np.ndarray) -> np.ndarray:
        """The calibrated probability of raw scores ``p``. The curve is flat in places; a
        millionth of the raw score keeps it strictly increasing, so candidates keep their order."""
        p = np.asarray(p, dtype=np.float64)
        return np.clip(np.interp(p, self.x, self.y) * (1.0 - TIE_BREAK) + TIE_BREAK * p, 0.0, 1.0)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return _two_columns(self.map(self.model.predict_proba(x)[:, 1]))


def fit_calibration(model: Any, scores: np.ndarray, right: np.ndarray, weights: np.ndarray | None = None) -> Calibrated:
    """``model`` with an isotonic curve fitted on (out-of-fold) ``scores`` against ``right`` (0/1)."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(np.asarray(scores, dtype=np.float64), np.asarray(right, dtype=np.float64), sample_weight=weights)
    xs = np.asarray(iso.X_thresholds_, dtype=np.float64)
    ys = np.asarray(iso.y_thresholds_, dtype=np.float64)
    return Calibrated(model, xs, ys)


def _r(values: Any) -> list:
    """Floats at full precision (a rounded split threshold would send rows equal to it the other way)."""
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def to_json(model: Any) -> dict[str, Any]:
    """The JSON object of a fitted model (scikit-learn HGB or logistic pipeline, or one read back)."""
    if isinstance(model, Calibrated):
        return {"kind": "calibrated", "model": to_json(model.model), "x": _r(model.x), "y": _r(model.y)}
    if isinstance(model, Trees):
        return {"kind": "trees", "n_features": model.n_features, "baseline": model.baseline,
                "trees": [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in t.items() if k != "depth"}
                          for t in model.trees]}
    if isinstance(model, Linear):
        return {"kind": "linear", "mean": _r(model.mean), "scale": _r(model.scale), "coef": _r(model.coef),
                "intercept": float(model.intercept)}
    if hasattr(model, "_predictors"):  # sklearn HistGradientBoostingClassifier, binary
        if model.n_trees_per_iteration_ != 1:
            raise ValueError("only binary gradient boosting can be stored")
        trees = []
        for (pred,) in model._predictors:
            nodes = pred.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits cannot be stored")
            trees.append({"feature": [int(v) for v in nodes["feature_idx"]],
                          "threshold": _r(nodes["num_threshold"]),
                          "left": [int(v) for v in nodes["left"]], "right": [int(v) for v in nodes["right"]],
                          "missing_left": [int(v) for v in nodes["missing_go_to_left"]],
                          "value": _r(nodes["value"]), "leaf": [int(v) for v in nodes["is_leaf"]]})
        return {"kind": "trees", "n_features": int(model.n_features_in_),
                "baseline": float(np.ravel(model._baseline_prediction)[0]), "trees": trees}
    steps = getattr(model, "named_steps", None)
    if steps and "standardscaler" in steps and "logisticregression" in steps:
        sc, lr = steps["standardscaler"], steps["logisticregression"]
        return {"kind": "linear", "mean": _r(sc.mean_), "scale": _r(sc.scale_), "coef": _r(lr.coef_[0]),
                "intercept": float(lr.intercept_[0])}
    raise ValueError(f"cannot store a {type(model).__name__} as JSON")


def _depth(left: np.ndarray, right: np.ndarray, leaf: np.ndarray) -> int:
    depth = np.zeros(len(left), dtype=np.int64)
    order = [0]
    seen = np.zeros(len(left), dtype=bool)
    best = 0
    while order:
        node = order.pop()
        if seen[node]:
            raise ValueError("tree is not a tree (a node is reached twice)")
        seen[node] = True
        if not leaf[node]:
            for child in (left[node], right[node]):
                depth[child] = depth[node] + 1
                best = max(best, int(depth[child]))
                order.append(int(child))
    return best


def from_json(data: dict[str, Any]) -> Any:
    """The model of ``to_json``; raises ValueError for anything malformed."""
    if not isinstance(data, dict):
        raise ValueError("model is not a JSON object")
    kind = data.get("kind")
    if kind == "calibrated":
        xs = np.asarray(data["x"], dtype=np.float64)
        ys = np.asarray(data["y"], dtype=np.float64)
        if xs.shape != ys.shape or xs.ndim != 1 or not len(xs) or np.any(np.diff(xs) < 0):
            raise ValueError("calibration curve malformed")
        return Calibrated(from_json(data["model"]), xs, ys)
    if kind == "linear":
        mean, scale, coef = (np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef"))
        if not (mean.shape == scale.shape == coef.shape) or mean.ndim != 1:
            raise ValueError("linear model malformed")
        return Linear(mean, np.where(scale == 0, 1.0, scale), coef, float(data["intercept"]))
    if kind == "trees":
        n_features = int(data["n_features"])
        trees = []
        for t in data["trees"]:
            tree = {"feature": np.asarray(t["feature"], dtype=np.int64),
                    "threshold": np.asarray(t["threshold"], dtype=np.float64),
                    "left": np.asarray(t["left"], dtype=np.int64), "right": np.asarray(t["right"], dtype=np.int64),
                    "missing_left": np.asarray(t["missing_left"], dtype=bool),
                    "value": np.asarray(t["value"], dtype=np.float64), "leaf": np.asarray(t["leaf"], dtype=bool)}
            n = len(tree["feature"])
            if not n or any(len(v) != n for v in tree.values()):
                raise ValueError("tree arrays of unequal length")
            inner = ~tree["leaf"]
            for key in ("left", "right"):
                if np.any((tree[key][inner] <= 0) | (tree[key][inner] >= n)):
                    raise ValueError("tree child index out of range")
            if np.any((tree["feature"][inner] < 0) | (tree["feature"][inner] >= n_features)):
                raise ValueError("tree feature index out of range")
            tree["depth"] = _depth(tree["left"], tree["right"], tree["leaf"])  # type: ignore[assignment]
            trees.append(tree)
        return Trees(float(data["baseline"]), trees, n_features)
    raise ValueError(f"unknown model kind {kind!r}")

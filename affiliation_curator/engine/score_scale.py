"""What a candidate's score means, and the curves that turn a scorer's score into a probability.

A bar, the threshold, "least confident first" and bulk accept all read one number per
candidate. It only means the same for every model when it is the probability that the
candidate is right, measured on labelled rows the scorer did not learn from. Three sources:

- the learned combiner (combiner.py): its output is already that probability (an isotonic curve
  fitted out-of-fold on the train side of the gold split). On a registry much smaller than the
  one it was fitted on, the country sizes are put on that registry's scale and a second curve,
  fitted on small samples of the registry (``bench/bench_calibration.py --fit``), follows it;
- a cross-encoder's own curve (``ScoreCurve`` in its model card, key ``score_curve``), fitted
  when its threshold is calibrated (learning/recalibrate.py) on rows it did not train on;
- none: the score is the model's own (sigmoid) output, and the card says "uncalibrated".

Curves are monotone (isotonic regression, interpolated linearly, plus a millionth of the raw
score so that candidates keep their order) and stored as JSON, never a pickle.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TIE_BREAK = 1e-6
SMALL_CURVE_FILE = "lexical-combiner-small-registry.json"
LEXICAL_CURVE_FILE = "lexical-score-curve.json"  # the retrieval score alone (no combiner)
SMALL_REGISTRY_SHARE = 0.5  # a registry under half the size the combiner was fitted on is "small"
CARD_KEY = "score_curve"  # where a cross-encoder's curve lives in its curator.json


@dataclass
class ScoreCurve:
    """A monotone map from a raw score (0-1) to the probability of being right."""

    x: np.ndarray
    y: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def map(self, scores: Any) -> np.ndarray:
        p = np.asarray(scores, dtype=np.float64)
        return np.clip(np.interp(p, self.x, self.y) * (1.0 - TIE_BREAK) + TIE_BREAK * p, 0.0, 1.0)

    def map_one(self, score: float) -> float:
        return float(self.map([score])[0])

    def to_json(self) -> dict[str, Any]:
        return {"kind": "isotonic", "x": [float(v) for v in self.x], "y": [float(v) for v in self.y], "meta": self.meta}

    @classmethod
    def from_json(cls, data: Any) -> "ScoreCurve":
        """The curve of ``to_json``; ValueError for anything malformed (not monotone, out of 0-1)."""
        if not isinstance(data, dict) or data.get("kind") != "isotonic":
            raise ValueError("not a score curve")
        x = np.asarray(data.get("x"), dtype=np.float64)
        y = np.asarray(data.get("y"), dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or len(x) < 1 or not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
            raise ValueError("score curve arrays malformed")
        if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0) or y.min() < 0 or y.max() > 1:
            raise ValueError("score curve is not monotone within 0-1")
        meta = data.get("meta")
        return cls(x, y, dict(meta) if isinstance(meta, dict) else {})

    def save(self, path: Path | str) -> Path:
        return _save_json(self.to_json(), path)

    @classmethod
    def load(cls, path: Path | str) -> "ScoreCurve | None":
        """The curve at ``path``; None (logged) when absent or unreadable."""
        return _load_json(cls.from_json, path, "score curve")


def _save_json(data: dict[str, Any], path: Path | str) -> Path:
    """Write ``data`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
    tmp.replace(path)
    return path


def _load_json(parse: Any, path: Path | str, what: str) -> Any:
    """``parse`` of the JSON at ``path``; None (logged) when absent or unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return parse(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as err:
        log.warning("%s %s could not be read (%s); not used", what, path, err)
        return None


def fit_curve(scores: np.ndarray, right: np.ndarray, weights: np.ndarray | None = None, **meta: Any) -> ScoreCurve:
    """An isotonic curve of ``right`` (0/1) on ``scores`` (optionally weighted); ``meta`` says what it was fitted on."""
    from sklearn.isotonic import IsotonicRegression

    scores = np.asarray(scores, dtype=np.float64)
    if not len(scores):
        raise ValueError("no scores to fit a curve on")
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(scores, np.asarray(right, dtype=np.float64), sample_weight=weights)
    x = np.asarray(iso.X_thresholds_, dtype=np.float64)
    y = np.asarray(iso.y_thresholds_, dtype=np.float64)
    meta.setdefault("rows", int(len(scores)))
    return ScoreCurve(x, y, meta)


@dataclass
class LexicalCurves:
    """The lexical score's curves, one pair per registry size fitted on: the retrieval score says
    different things on a ROR-sized registry (many look-alikes at 1.00) and on a list of a hundred,
    and about a string's best candidate and the ones after it (a second candidate at 1.00 is
    rarely right). ``map_list`` uses the pair fitted on the size nearest (in log scale) to the registry's."""

    sizes: list[int]
    top: list[ScoreCurve]
    rest: list[ScoreCurve]
    meta: dict[str, Any] = field(default_factory=dict)

    def pair_for(self, registry_size: int) -> tuple[ScoreCurve, ScoreCurve]:
        n = max(1, int(registry_size))
        k = min(range(len(self.sizes)), key=lambda i: abs(math.log(self.sizes[i]) - math.log(n)))
        return self.top[k], self.rest[k]

    def map_list(self, scores: Any, registry_size: int) -> list[float]:
        """One string's candidates: its best by the top curve, the others by the rest curve (never
        above the best, so the order stays)."""
        raw = np.asarray(scores, dtype=np.float64)
        if not len(raw):
            return []
        top, rest = self.pair_for(registry_size)
        best = int(np.argmax(raw))
        out = np.minimum(rest.map(raw), top.map_one(float(raw[best])))
        out[best] = top.map_one(float(raw[best]))
        return [float(v) for v in out]

    def to_json(self) -> dict[str, Any]:
        return {"kind": "lexical-curves", "meta": self.meta,
                "curves": [{"registry_size": n, "top": t.to_json(), "rest": r.to_json()}
                           for n, t, r in zip(self.sizes, self.top, self.rest)]}

    @classmethod
    def from_json(cls, data: Any) -> "LexicalCurves":
        if not isinstance(data, dict) or data.get("kind") != "lexical-curves" or not isinstance(data.get("curves"), list):
            raise ValueError("not a set of lexical curves")
        sizes, top, rest = [], [], []
        for item in data["curves"]:
            if not isinstance(item, dict) or not isinstance(item.get("registry_size"), int) or item["registry_size"] < 1:
                raise ValueError("lexical curve without a registry size")
            sizes.append(item["registry_size"])
            top.append(ScoreCurve.from_json(item.get("top")))
            rest.append(ScoreCurve.from_json(item.get("rest")))
        if not sizes:
            raise ValueError("no lexical curves")
        meta = data.get("meta")
        return cls(sizes, top, rest, dict(meta) if isinstance(meta, dict) else {})

    def save(self, path: Path | str) -> Path:
        return _save_json(self.to_json(), path)

    @classmethod
    def load(cls, path: Path | str) -> "LexicalCurves | None":
        return _load_json(cls.from_json, path, "lexical curves")


def load_lexical_curves() -> LexicalCurves | None:
    return LexicalCurves.load(lexical_curve_path())


@dataclass(frozen=True)
class ScoreScale:
    """Which scale the scores of a Matcher are on: a calibrated probability, or a model's own score."""

    calibrated: bool
    basis: str  # what it was calibrated on, or why it is not

    @property
    def label(self) -> str:
        if self.calibrated:
            return f"probability right, calibrated on {self.basis}"
        return f"uncalibrated model score ({self.basis})"

    @property
    def word(self) -> str:
        return "calibrated" if self.calibrated else "uncalibrated"

    @property
    def short(self) -> str:
        return "calibrated probability" if self.calibrated else "uncalibrated score"


# --------------------------------------------------------------------------- small registries


def rescaled_country_sizes(sizes: dict[str, int], registry_size: int, fitted_size: int) -> dict[str, float]:
    """Institutions per country as the registry the combiner was fitted on would count them: a
    small registry's counts scaled up by ``fitted_size / registry_size`` (the feature then means
    "how big this country is among registries", not "how many of this list")."""
    if registry_size <= 0 or fitted_size <= registry_size:
        return dict(sizes)
    factor = fitted_size / registry_size
    return {k: v * factor for k, v in sizes.items()}


def country_size_column(x: np.ndarray, registry_size: int, fitted_size: int) -> np.ndarray:
    """Feature rows with ``country_size`` recomputed as by ``rescaled_country_sizes`` (for benches on stored rows)."""
    from affiliation_curator.engine.combiner import FEATURES, MISSING

    x = np.array(x, dtype=np.float64, copy=True)
    if registry_size <= 0 or fitted_size <= registry_size or not len(x):
        return x
    col = FEATURES.index("country_size")
    have = x[:, col] != MISSING
    x[have, col] = np.log1p(np.expm1(x[have, col]) * (fitted_size / registry_size))
    return x


def small_curve_path() -> Path:
    from affiliation_curator.engine.combiner import SHIPPED_DIR

    return SHIPPED_DIR / SMALL_CURVE_FILE


def lexical_curve_path() -> Path:
    from affiliation_curator.engine.combiner import SHIPPED_DIR

    return SHIPPED_DIR / LEXICAL_CURVE_FILE


def load_small_registry_curve(combiner: Any) -> ScoreCurve | None:
    """The curve that follows ``combiner`` on small registries, if one was fitted on this very
    combiner (a refitted combiner makes the old curve stale: then None)."""
    curve = ScoreCurve.load(small_curve_path())
    if curve is None or combiner is None:
        return None
    made_for = curve.meta.get("combiner_created")
    created = (getattr(combiner, "meta", None) or {}).get("created")
    if made_for != created:
        log.info("small-registry curve was fitted on combiner %s, not %s; not used", made_for, created)
        return None
    return curve


def is_small(registry_size: int | None, fitted_size: int) -> bool:
    return bool(registry_size and fitted_size and registry_size < SMALL_REGISTRY_SHARE * fitted_size)


def card_curve(card: dict[str, Any] | None) -> ScoreCurve | None:
    """A cross-encoder's own curve from its card (dict form), if it holds a readable one."""
    data = (card or {}).get(CARD_KEY)
    if data is None:
        return None
    try:
        return ScoreCurve.from_json(data)
    except ValueError as err:
        log.warning("model card's score curve unreadable (%s); scores shown uncalibrated", err)
        return None


def ece(scores: Any, right: Any, bins: int = 10) -> float:
    """Expected calibration error: mean |score - share right| over equal-width bins, weighted by rows."""
    p = np.asarray(scores, dtype=np.float64)
    y = np.asarray(right, dtype=np.float64)
    if not len(p):
        return math.nan
    which = np.clip(np.digitize(p, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return float(total / len(p))

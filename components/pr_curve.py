"""Altair curve of auto-accept precision against coverage, one point per threshold, the chosen one marked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd


def curve_frame(curve: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The curve rows (threshold, precision, coverage, ...) as a frame; points with nothing accepted are left out
    (their precision is undefined)."""
    data = pd.DataFrame(list(curve), columns=["threshold", "precision", "coverage", "accepted", "no_match_f1",
                                              "decision_accuracy"])
    return data[data["accepted"] > 0].reset_index(drop=True)


def _nearest(curve: Sequence[dict[str, Any]], threshold: float) -> dict[str, Any] | None:
    if not curve:
        return None
    return min(curve, key=lambda row: abs(float(row["threshold"]) - threshold))


def precision_coverage_chart(
    curve: Sequence[dict[str, Any]], threshold: float, model_threshold: float | None = None
) -> alt.LayerChart:
    """Precision (y) against coverage (x) as the threshold moves; a red point at ``threshold`` and a
    hollow one at the model's own threshold."""
    data = curve_frame(curve)
    tooltip = [
        alt.Tooltip("threshold:Q", format=".2f"),
        alt.Tooltip("precision:Q", format=".3f", title="auto-accept precision"),
        alt.Tooltip("coverage:Q", format=".3f"),
        alt.Tooltip("accepted:Q", format=".0f"),
    ]
    x = alt.X("coverage:Q", scale=alt.Scale(domain=[0, 1]), title="coverage (share auto-accepted)")
    y = alt.Y("precision:Q", scale=alt.Scale(domain=[0, 1]), title="auto-accept precision")
    line = alt.Chart(data).mark_line(color="#1565c0", interpolate="step-after").encode(
        x=x, y=y, order="threshold:Q", tooltip=tooltip
    )
    dots = alt.Chart(data).mark_circle(size=28, color="#1565c0").encode(x=x, y=y, tooltip=tooltip)
    layers: list[Any] = [line, dots]
    marks = []
    if model_threshold is not None:
        point = _nearest(curve, model_threshold)
        if point is not None and point["accepted"]:
            marks.append({**point, "which": "model's threshold"})
    point = _nearest(curve, threshold)
    if point is not None and point["accepted"]:
        marks.append({**point, "which": "chosen threshold"})
    if marks:
        marked = pd.DataFrame(marks)
        layers.append(
            alt.Chart(marked)
            .mark_point(size=160, filled=False, strokeWidth=2)
            .encode(
                x=x, y=y,
                color=alt.Color("which:N", scale=alt.Scale(domain=["chosen threshold", "model's threshold"],
                                                            range=["#c62828", "#6d4c41"]),
                                legend=alt.Legend(title=None, orient="bottom")),
                shape=alt.Shape("which:N", scale=alt.Scale(domain=["chosen threshold", "model's threshold"],
                                                            range=["circle", "diamond"]), legend=None),
                tooltip=[alt.Tooltip("which:N", title="marker"), *tooltip],
            )
        )
    return alt.layer(*layers).properties(height=320)

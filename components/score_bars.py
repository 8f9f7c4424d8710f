"""Horizontal score bars (Altair): one bar per candidate, 0-1 axis, a rule at the threshold."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from affiliation_curator.candidates import Candidate
from components.text import clean

LABEL_CHARS = 48
BAR_STEP = 20  # pixels per candidate


def score_frame(candidates: Sequence[Candidate], threshold: float) -> pd.DataFrame:
    rows = []
    for rank, cand in enumerate(candidates, 1):
        score = min(1.0, max(0.0, float(cand.score)))
        rows.append(
            {
                "rank": rank,
                "label": f"{rank}. {clean(cand.name, LABEL_CHARS)}",
                "score": score,
                "text": f"{score:.2f}",
                "clears": "above threshold" if score >= threshold else "below threshold",
            }
        )
    return pd.DataFrame(rows, columns=["rank", "label", "score", "text", "clears"])


def score_bars(candidates: Sequence[Candidate], threshold: float) -> alt.LayerChart:
    """The chart (Altair draws labels as SVG text, so names stay inert)."""
    data = score_frame(candidates, threshold)
    order = list(data["label"])
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=300, labelFontSize=12, labelOverlap=False))
    bars = (
        alt.Chart(data)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=alt.X(
                "score:Q", scale=alt.Scale(domain=[0, 1], clamp=True), title=None,
                axis=alt.Axis(values=[0, 0.25, 0.5, 0.75, 1], format=".2f"),
            ),
            y=y,
            color=alt.Color(
                "clears:N",
                scale=alt.Scale(domain=["above threshold", "below threshold"], range=["#2e7d32", "#9e9e9e"]),
                legend=None,
            ),
            tooltip=[alt.Tooltip("label:N", title="candidate"), alt.Tooltip("score:Q", format=".3f")],
        )
    )
    labels = alt.Chart(data).mark_text(align="left", dx=4, fontSize=11).encode(
        x="score:Q", y=y, text="text:N"
    )
    rule = (
        alt.Chart(pd.DataFrame({"threshold": [threshold]}))
        .mark_rule(color="#c62828", strokeDash=[4, 3])
        .encode(x="threshold:Q", tooltip=[alt.Tooltip("threshold:Q", format=".2f")])
    )
    return (bars + labels + rule).properties(height=alt.Step(BAR_STEP))

"""Horizontal score bars beside the affiliation: one bar per candidate on a 0-1 scale, its score
printed after it, a dashed rule at the threshold.

Drawn as plain HTML (``st.html``) with inline styles, not as a Vega-Lite chart: the chart cost the
browser 60-70 ms on every decision (the Vega runtime compiles and draws it anew), the largest
single part of the decision -> next item time (issue 12). Every name and score is escaped, so a
hostile record's name stays text; ``st.html`` also sanitises what it is given (DOMPurify).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from affiliation_curator.engine.results import Candidate
from components.text import clean

LABEL_CHARS = 48
BAR_STEP = 12  # pixels per candidate: ten bars fit beside the affiliation string
LABEL_WIDTH = 125  # pixels for "1. Technical University of ..."
ABOVE, BELOW, UNSCORED = "above threshold", "below threshold", "not scored"
COLORS = {ABOVE: "#2e7d32", BELOW: "#9e9e9e", UNSCORED: "#e0e0e0"}
RULE = "#c62828"
GRID = "rgba(49, 51, 63, 0.10)"


def score_rows(candidates: Sequence[Candidate], threshold: float) -> list[dict[str, Any]]:
    """One row per candidate: rank, label, score (clamped to 0-1), its text, the threshold. A
    candidate the engine did not score gets no bar (score 0) and the text "not scored"."""
    rows = []
    for rank, cand in enumerate(candidates, 1):
        scored = cand.scored
        score = min(1.0, max(0.0, float(cand.score))) if scored else 0.0
        rows.append(
            {
                "rank": rank,
                "label": f"{rank}. {clean(cand.name, LABEL_CHARS)}",
                "score": score,
                "text": f"{score:.2f}" if scored else UNSCORED,
                "clears": UNSCORED if not scored else ABOVE if score >= threshold else BELOW,
                "threshold": float(threshold),
            }
        )
    return rows


def _row(row: dict[str, Any], rule_at: float) -> str:
    label = html.escape(row["label"], quote=True)
    text = html.escape(row["text"], quote=True)
    width = row["score"] * 100
    return (
        f'<div class="score-bar" title="{label}: {text}" style="display:flex;align-items:center;'
        f'height:{BAR_STEP}px;font-size:11px;line-height:{BAR_STEP}px">'
        f'<span style="flex:0 0 {LABEL_WIDTH}px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;'
        f'text-align:right;padding-right:6px;color:#555">{label}</span>'
        # the bar's track: grid lines at quarters, the threshold rule, the bar and its score
        f'<span style="position:relative;flex:1 1 auto;height:{BAR_STEP}px;margin-right:34px;'
        f'background:linear-gradient(to right,{GRID} 1px,transparent 1px) 0 0/25% 100%">'
        f'<span style="position:absolute;left:0;top:1px;height:{BAR_STEP - 2}px;width:{width:.1f}%;'
        f'background:{COLORS[row["clears"]]};border-radius:0 3px 3px 0"></span>'
        f'<span style="position:absolute;left:{rule_at:.1f}%;top:0;height:{BAR_STEP}px;'
        f'border-left:1.5px dashed {RULE}"></span>'
        f'<span class="score-bar-text" style="position:absolute;left:calc({width:.1f}% + 4px);top:0;'
        f'white-space:nowrap;color:#333">{text}</span></span></div>'
    )


def score_bars_html(candidates: Sequence[Candidate], threshold: float) -> str:
    """The bars of the candidates' scores as one HTML fragment (for ``st.html``)."""
    rows = score_rows(candidates, threshold)
    rule_at = min(1.0, max(0.0, float(threshold))) * 100
    body = "".join(_row(row, rule_at) for row in rows)
    return (
        f'<div class="score-bars" '
        f'title="threshold {threshold:.2f}" style="padding-top:4px">{body}</div>'
    )

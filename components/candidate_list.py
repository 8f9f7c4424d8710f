"""The ranked candidates of one affiliation: accept / reject buttons (keys 1-9), details, evidence, ror.org link.

A string naming several institutions: ``Alt`` + 1-9 (the "+" button) adds a candidate to
the accepted ones, or takes it out again, without leaving the item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from affiliation_curator.engine.results import Candidate
from components.text import ror_link, safe_md

MAX_SHORTCUTS = 9
ACCEPT_WIDTH, ALSO_WIDTH, REJECT_WIDTH = 112, 60, 104  # px: the label and its key fit


def details_line(cand: Candidate) -> str:
    """City, country · types · status (escaped, for st.caption)."""
    place = ", ".join(p for p in (cand.city, cand.country_name or cand.country_code) if p)
    parts = [place or "place unknown"]
    if cand.types:
        parts.append(", ".join(cand.types))
    parts.append(cand.status or "active")
    return safe_md(" · ".join(parts))


def evidence_line(cand: Candidate) -> str:
    lines = cand.evidence.summary() if cand.evidence is not None else []
    return safe_md(" · ".join(lines)) if lines else ""


def score_text(cand: Candidate) -> str:
    """"score 0.87", or "not scored" for a candidate the engine did not score (never an invented number)."""
    return f"score {cand.score:.2f}" if cand.scored else "not scored"


def candidate_list(
    candidates: Sequence[Candidate],
    *,
    on_accept: Callable[[Candidate], None],
    on_reject: Callable[[Candidate], None],
    rejected: Sequence[str] = (),
    accepted_id: str | None = None,
    threshold: float = 0.5,
    disabled: bool = False,
    key: str = "cand",
    accepted_ids: Sequence[str] = (),
    on_also: Callable[[Candidate], None] | None = None,
) -> None:
    """One row per candidate, best first. Keys 1-9 accept, Shift+1-9 reject; with ``on_also``,
    Alt+1-9 adds the candidate to the accepted ones (or takes it out).

    Each row is the name and score, then one small line of place, type, status and evidence;
    the rows sit close together, so the first three fit the first screen below the string."""
    rejected_ids = set(rejected)
    accepted = set(accepted_ids) | ({accepted_id} if accepted_id else set())
    names = [c.name.casefold() for c in candidates]
    rows = st.container(gap="xsmall")
    for rank, cand in enumerate(candidates, 1):
        shortcut = str(rank) if rank <= MAX_SHORTCUTS else None
        is_accepted = cand.id in accepted
        is_rejected = cand.id in rejected_ids
        # One horizontal row per candidate, not four columns: each column is an element of its
        # own, and every element costs the browser a render on each decision (issue 12's latency).
        row = rows.container(horizontal=True, vertical_alignment="center", gap="small", wrap=False)
        row.button(
            "Accepted" if is_accepted else "Accept",
            key=f"{key}_accept_{rank}",
            shortcut=shortcut,
            # the green "take this one" only for an active record: an inactive top candidate's
            # evidence names its successor, which the curator should weigh first
            type="primary" if is_accepted or (rank == 1 and cand.scored and cand.score >= threshold and not is_rejected
                                              and (cand.status or "active") == "active")
            else "secondary",
            on_click=on_accept,
            args=(cand,),
            disabled=disabled,
            width=ACCEPT_WIDTH,  # "Accepted" and its key fit
        )
        label = safe_md(cand.name)
        if names.count(cand.name.casefold()) > 1:  # two "Institute of Biophysics": the place tells them apart
            label += f" ({safe_md(cand.city or cand.country_name or cand.country_code or cand.id, 60)})"
        name = f"{rank}\\. **{label}** — {score_text(cand)}"
        if is_rejected:
            name = f"{rank}\\. ~~{label}~~ — rejected"
        link = ror_link(cand.id)
        if link:
            name += f" · [ror.org ↗]({link})"
        else:
            name += f" · id {safe_md(cand.id, 60)}"
        details = details_line(cand)
        evidence = evidence_line(cand)
        small = f"{details} · {evidence}" if evidence else details
        # One markdown element per candidate (each element costs the browser a markdown parse).
        row.markdown(f"{name}  \n:small[:gray[{small}]]", width="stretch")
        if on_also is not None:
            row.button(
                "−" if is_accepted and len(accepted) > 1 else "+",
                key=f"{key}_also_{rank}",
                shortcut=f"Alt+{rank}" if shortcut else None,
                help="Accept this one too (a string naming several institutions); again takes it out",
                on_click=on_also,
                args=(cand,),
                disabled=disabled or is_rejected or (is_accepted and len(accepted) == 1),
                width=ALSO_WIDTH,
                type="tertiary",
            )
        row.button(
            "Reject",
            key=f"{key}_reject_{rank}",
            shortcut=f"Shift+{rank}" if shortcut else None,
            on_click=on_reject,
            args=(cand,),
            disabled=disabled or is_rejected or is_accepted,
            width=REJECT_WIDTH,
            type="tertiary",
        )

"""The ranked candidates of one affiliation: a row each with Accept, + and Reject, keys 1-9.

Drawn as one custom component (``st.components.v2``), not as ~25 Streamlit elements (a row was a
container, three buttons and a markdown): every element costs the browser a render on each
decision, and the list was the largest part of the decision -> next item time (issue 12). The
component's script (``candidate_list.js``) builds the rows from plain data with ``textContent``, so
no registry string is ever HTML or markdown, and listens for the keys itself:

- ``1``-``9`` accept that candidate, ``Shift`` + digit rejects it;
- ``Alt`` + digit adds it to the accepted ones, or takes it out again (a string naming several
  institutions), without leaving the item.

A click or key sends one trigger, ``press`` = {item, action, rank}. The callback acts only when the
item is the one these rows were drawn for; the card then checks it is still the one on the card, so
a key pressed while the next card is drawn never decides an item the curator did not see.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from affiliation_curator.engine.results import Candidate
from components.text import clean, ror_link

MAX_SHORTCUTS = 9
ACTIONS = ("accept", "also", "reject")
_HERE = Path(__file__).resolve().parent
_COMPONENT = st.components.v2.component(
    "affiliation_curator.candidate_list",
    html='<div class="cand-rows" role="list"></div>',
    css=(_HERE / "candidate_list.css").read_text(encoding="utf-8"),
    js=(_HERE / "candidate_list.js").read_text(encoding="utf-8"),
)


def details_line(cand: Candidate) -> str:
    """City, country · types · status · evidence, as plain text (the row's small line)."""
    place = ", ".join(p for p in (cand.city, cand.country_name or cand.country_code) if p)
    parts = [place or "place unknown"]
    if cand.types:
        parts.append(", ".join(cand.types))
    parts.append(cand.status or "active")
    parts += cand.evidence.summary() if cand.evidence is not None else []
    return clean(" · ".join(parts))


def score_text(cand: Candidate) -> str:
    """"score 0.87", or "not scored" for a candidate the engine did not score (never an invented number)."""
    return f"score {cand.score:.2f}" if cand.scored else "not scored"


def rows(
    candidates: Sequence[Candidate],
    *,
    rejected: Sequence[str] = (),
    accepted_ids: Sequence[str] = (),
    threshold: float = 0.5,
    disabled: bool = False,
    several: bool = True,
) -> list[dict[str, Any]]:
    """What each row shows and which of its buttons work: plain data for the component (and tests)."""
    rejected_ids, accepted = set(rejected), set(accepted_ids)
    names = [c.name.casefold() for c in candidates]
    out = []
    for rank, cand in enumerate(candidates, 1):
        is_accepted, is_rejected = cand.id in accepted, cand.id in rejected_ids
        link = ror_link(cand.id)
        name = clean(cand.name, 300)
        if names.count(cand.name.casefold()) > 1:  # two "Institute of Biophysics": the place tells them apart
            name += f" ({clean(cand.city or cand.country_name or cand.country_code or cand.id, 60)})"
        out.append({
            "rank": rank,
            "name": name,
            "score": "rejected" if is_rejected else score_text(cand),
            "link": link,
            "id": None if link else clean(cand.id, 60),
            "details": details_line(cand),
            "key": str(rank) if rank <= MAX_SHORTCUTS else None,
            "accepted": is_accepted,
            "rejected": is_rejected,
            "accept": {
                "label": "Accepted" if is_accepted else "Accept",
                # the green "take this one" only for an active record: an inactive top candidate's
                # evidence names its successor, which the curator should weigh first
                "primary": is_accepted or (rank == 1 and cand.scored and cand.score >= threshold and not is_rejected
                                           and (cand.status or "active") == "active"),
                "disabled": disabled,
            },
            "also": None if not several else {
                "label": "−" if is_accepted and len(accepted) > 1 else "+",
                "disabled": disabled or is_rejected or (is_accepted and len(accepted) == 1),
            },
            "reject": {"label": "Reject", "disabled": disabled or is_rejected or is_accepted},
        })
    return out


def pressed(value: Any, item_id: int, count: int) -> tuple[str, int] | None:
    """(action, 0-based index) of a trigger payload meant for ``item_id``; None for anything else
    (a stale or forged payload decides nothing)."""
    if not isinstance(value, dict) or value.get("item") != item_id or value.get("action") not in ACTIONS:
        return None
    rank = value.get("rank")
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= count:
        return None
    return value["action"], rank - 1


def candidate_list(
    candidates: Sequence[Candidate],
    *,
    item_id: int,
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
    """One row per candidate, best first (see the module's docstring for the keys)."""
    accepted = list(accepted_ids) + ([accepted_id] if accepted_id and accepted_id not in accepted_ids else [])
    data = {
        "item": item_id,
        "rows": rows(candidates, rejected=rejected, accepted_ids=accepted, threshold=threshold,
                     disabled=disabled, several=on_also is not None),
    }
    handlers = {"accept": on_accept, "reject": on_reject, "also": on_also}
    shown = list(candidates)

    def on_press() -> None:
        state = st.session_state.get(key)
        hit = pressed(state.get("press") if state is not None else None, item_id, len(shown))
        if hit is None:
            return
        action, index = hit
        button, handler = data["rows"][index][action], handlers[action]
        if button is not None and not button["disabled"] and handler is not None:  # as a browser would
            handler(shown[index])

    _COMPONENT(key=key, data=data, on_press_change=on_press)

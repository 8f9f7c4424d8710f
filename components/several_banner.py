"""The Review card's notice for a string that names several institutions, with one key (A) to
accept every institution its parts name; Alt+1-9 on the candidates adds or takes out one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from affiliation_curator.engine.results import Candidate
from components.text import clean, safe_md

NOTE_PREFIX = "names several institutions"  # the engine's note (affiliation_curator.engine.several.note)


def other_notes(notes: Sequence[str]) -> list[str]:
    """The item's notes without the one this banner shows."""
    return [n for n in notes if not n.startswith(NOTE_PREFIX)]


def named_candidates(candidates: Sequence[Candidate]) -> list[tuple[int, Candidate]]:
    """(rank, candidate) of each institution a part of the string names on its own."""
    named = [(rank, c) for rank, c in enumerate(candidates, 1) if c.evidence is not None and c.evidence.part]
    return named if len(named) >= 2 else []


def several_banner(
    candidates: Sequence[Candidate],
    accepted_ids: Sequence[str],
    on_accept_all: Callable[[list[Candidate]], None],
    *,
    disabled: bool,
    key: str,
) -> None:
    """Nothing for a string naming one institution; else which part names which candidate, and
    an "Accept all N" button (key A)."""
    named = named_candidates(candidates)
    if not named:
        return
    with st.container(border=True):
        text_col, button_col = st.columns([8, 2], vertical_alignment="center")
        parts = " · ".join(f"{rank}. {safe_md(clean(c.name, 60))} ← “{safe_md(clean(c.evidence.part, 60))}”"
                           for rank, c in named)
        # escaped markdown: the parts are the user's string, the names the registry's; never markup
        text_col.markdown(f":small[**Names several institutions:** {parts}  \n"
                          ":gray[accept each that is right: Alt + its number adds (or takes out) one]]")
        everything = {c.id for _, c in named} <= set(accepted_ids)
        button_col.button(
            f"Accept all {len(named)}", key=key, shortcut="a", type="primary",
            disabled=disabled or everything, width="stretch",
            on_click=on_accept_all, args=([c for _, c in named],),
        )


def accepted_names(decision: Any) -> str:
    """"A", or "A + B" for several accepted institutions."""
    names = getattr(decision, "institution_names", None) or [decision.institution_name or decision.institution_id or ""]
    return " + ".join(clean(n, 60) for n in names)

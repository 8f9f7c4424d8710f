"""The review card: one affiliation, its scored candidates and the decision keys.

Drawn in an ``st.fragment`` so a decision reruns only the card. Where the curator is in
the queue lives in the session (``ReviewCursor``); every decision is committed to the
store the moment it is made, so a reload only loses the cursor, and the queue order
(undecided first) brings the curator back to the same item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import streamlit as st

from affiliation_curator.curation.store.core import STATUSES
from affiliation_curator.engine.results import Candidate
from affiliation_curator.errors import CuratorError
from affiliation_curator.team import access
from affiliation_curator.team import sharing as team_sharing
from components import resources, state
from components.candidate_list import candidate_list
from components.score_bars import score_bars_html
from components.several_banner import accepted_names, other_notes, several_banner
from components.text import clean, ror_link, safe_md
from components.errors import guarded
from components.keyboard import SEARCH_FIELD_KEY

POLL_SECONDS = 1.0
SEARCH_LIMIT = 8
CURRENT_KEY = "review_current_item"  # the item on the card as last drawn
OPEN_ITEM_KEY = "review_open_item"  # an item named in the URL (?item=ID), checked as this user's: pinned on the card
SEVERAL_KEY = "review_several_item"  # the item whose accepted institutions Alt+digit changed on this visit
VIEW_NEXT_KEY = "review_view_next"  # the Review page's view on its next run (set where its widget is drawn)
PINNED_WHY_KEY = "review_pinned_why"  # why the pinned item is on the card (the caption says it)
MORE_KEY = "review_more_item"  # the item whose candidates below the first MORE_AT are open (M)
# The card lists the first five candidates; M opens the rest (ranks 6-10, keys 6-9). With the
# shipped combiner the right institution ranks 6th-10th for 0.26% of the train side's strings
# (45 of 17,253), and five rows fewer make each decision's redraw cheaper (issue 12's latency).
MORE_AT = 5
FILTERS = {"undecided": "Undecided", "accepted": "Accepted", "none": "None of these", "skipped": "Skipped", "all": "All"}
ORDERS = {"input": "Input order", "uncertain": "Least confident first"}


@dataclass
class ReviewCursor:
    """Where the curator is: an offset into the filtered queue, or an item pinned by undo."""

    pos: int = 0
    pinned: int | None = None
    shown_item: int | None = None
    shown_at: float = 0.0


def cursor(batch_id: int, status: str, order: str) -> ReviewCursor:
    key = f"review_cursor_{batch_id}_{status}_{order}"
    if key not in st.session_state:
        st.session_state[key] = ReviewCursor()
    return st.session_state[key]


def _status_arg(status: str) -> str | None:
    return None if status == "all" else status


def _notify(message: str, kind: str = "info") -> None:
    st.session_state["review_notice"] = (kind, message)


def current_item(batch_id: int, status: str, order: str) -> tuple[Any | None, int, int]:
    """(item or None, its 0-based place in the queue, queue length)."""
    store = resources.get_store()
    cur = cursor(batch_id, status, order)
    me = state.curator() or None
    total = store.count_items(batch_id, _status_arg(status), curator=me)
    opened = st.session_state.pop(OPEN_ITEM_KEY, None)
    if isinstance(opened, int):
        cur.pinned = opened
    if cur.pinned is not None:
        try:
            return store.item(cur.pinned, curator=me), cur.pos, total
        except CuratorError:
            cur.pinned = None
    if total == 0:
        return None, 0, 0
    if cur.pos >= total or cur.pos < 0:
        cur.pos = 0  # past the end: wrap around to what is left
    items = store.items(batch_id, status=_status_arg(status), order=order, limit=1, offset=cur.pos, curator=me)
    if items and me and status == "undecided" and team_sharing.split_curators(store, batch_id) is not None:
        # a split batch: the item shown is claimed, so nobody else is given it meanwhile
        for _ in range(10):
            if not items or team_sharing.claim(store, items[0].id, me):
                break
            items = store.items(batch_id, status="undecided", order=order, limit=1, offset=cur.pos, curator=me)
        total = store.count_items(batch_id, "undecided", curator=me)
    return (items[0] if items else None), cur.pos, total


def open_item(item_id: int) -> None:
    """Put an item on the card (from ?item= or a row of the Table), when it is one of this user's
    items; raises CuratorError naming the item, not its contents, otherwise."""
    store = resources.get_store()
    who = state.identity()
    batch_id = access.check_item(store, who, item_id)
    if who is not None and not who.is_lead:  # in a split batch it is theirs while on screen, as any shown item
        team_sharing.claim(store, item_id, who.name)
    state.open_batch(batch_id)
    st.session_state[OPEN_ITEM_KEY] = item_id
    st.session_state[PINNED_WHY_KEY] = "opened from the Table or a link"


# ------------------------------------------------------------------ actions (button callbacks)


def _seconds(cur: ReviewCursor, item_id: int) -> float | None:
    if cur.shown_item != item_id or not cur.shown_at:
        return None
    return round(time.monotonic() - cur.shown_at, 3)


def _advance(batch_id: int, status: str, order: str, item_id: int, action: str | None = None) -> None:
    """After a decision: stay on the same offset if the item left the queue, else move past it.

    The item on the card was the queue's item at the cursor, so the decision's ``action`` says
    whether it is still there (the filter is "All" or that action's own) without asking the store:
    one query less between the key press and the next card."""
    cur = cursor(batch_id, status, order)
    if cur.pinned == item_id:
        cur.pinned = None
        return
    if action is not None and cur.shown_item == item_id:
        if status == "all" or (status != "undecided" and STATUSES.get(status) == action):
            cur.pos += 1
        return
    store = resources.get_store()
    here = store.items(batch_id, status=_status_arg(status), order=order, limit=1, offset=cur.pos,
                       curator=state.curator() or None)
    if here and here[0].id == item_id:
        cur.pos += 1


def decide(batch_id: int, status: str, order: str, item_id: int, action: str, cand: Candidate | None = None,
           institution: Any = None, several: list[Candidate] | None = None) -> None:
    """Commit one decision (accept / none / skip / reject) and move on; "also" adds a candidate to
    the accepted ones or takes it out (staying on the item), ``several`` accepts them all."""
    curator = state.curator()
    if not curator:
        _notify("Enter your name in the sidebar first: it is stored with each decision.", "warning")
        return
    if st.session_state.get(CURRENT_KEY) != item_id:
        # A key pressed on the previous card while this one was being drawn: never decide an item
        # the curator did not see. (Widget keys carry the item id, so the press names its item.)
        _notify("That key was meant for the previous item; nothing was changed.", "info")
        return
    store = resources.get_store()
    cur = cursor(batch_id, status, order)
    try:
        who = state.identity()
        if who is not None and not who.is_lead:  # never an item that is not theirs (e.g. taken meanwhile)
            access.check_item(store, who, item_id)
        if action == "also" and cand is not None:
            _, on = store.toggle_accept(item_id, curator, cand.id, seconds=_seconds(cur, item_id))
            st.session_state[SEVERAL_KEY] = item_id
            cur.pinned = item_id  # stay on it even when it leaves the filtered queue (now accepted)
            _notify(f"{'Also accepted' if on else 'Took out'} {clean(cand.name, 80)}", "success")
            return  # stay on the item: more may follow
        if action == "accept" and cand is not None and st.session_state.get(SEVERAL_KEY) == item_id:
            # Alt+digit marked some on this visit: the digit adds its candidate to them and moves on
            if cand.id not in store.item(item_id).accepted_ids:
                store.toggle_accept(item_id, curator, cand.id, seconds=_seconds(cur, item_id))
            _notify("Accepted " + accepted_names(store.item(item_id).decision), "success")
        elif several:
            store.decide(item_id, "accept", curator, several[0].id, seconds=_seconds(cur, item_id),
                         also=[c.id for c in several[1:]])
            _notify("Accepted " + " + ".join(clean(c.name, 60) for c in several), "success")
        elif institution is not None:
            store.decide(
                item_id, "accept", curator, institution_id=institution.id, seconds=_seconds(cur, item_id),
                institution_name=institution.name, document=_document(institution), method="search",
            )
            _notify(f"Accepted {clean(institution.name, 80)} (from the registry search)", "success")
        else:
            store.decide(item_id, action, curator, institution_id=cand.id if cand else None,
                         seconds=_seconds(cur, item_id))
            if action == "reject":
                _notify(f"Rejected {clean(cand.name, 80)}", "info")
                return  # stay on the item
            skipped = "Skipped: it waits under the Skipped filter" if status == "undecided" else "Skipped"
            label = {"accept": f"Accepted {clean(cand.name, 80) if cand else ''}", "none": "None of these",
                     "skip": skipped}[action]
            _notify(label, "success")
    except CuratorError as err:
        _notify(str(err), "error")
        return
    _set_search(None)
    st.session_state.pop(SEVERAL_KEY, None)
    _advance(batch_id, status, order, item_id, "accept" if several or institution is not None else action)


def undo(batch_id: int, status: str, order: str) -> None:
    store = resources.get_store()
    result = store.undo(batch_id, curator=state.curator() or None)
    if result is None:
        _notify("Nothing to undo.", "info")
        return
    cur = cursor(batch_id, status, order)
    if result.kind == "decision" and result.item_ids:
        cur.pinned = result.item_ids[0]
        st.session_state[PINNED_WHY_KEY] = "back after undo"
    _notify(f"Undone: {clean(result.description, 120)}", "info")


def move(batch_id: int, status: str, order: str, step: int) -> None:
    cur = cursor(batch_id, status, order)
    several = cur.pinned is not None and st.session_state.pop(SEVERAL_KEY, None) == cur.pinned
    cur.pinned = None
    if several and step > 0:
        return  # the item accepted with Alt+digit left the queue: its place already shows the next one
    cur.pos = max(0, cur.pos + step)


def _document(institution: Any) -> str | None:
    from affiliation_curator.engine.documents import document_text

    try:
        return document_text(institution)
    except Exception:
        return None


# ------------------------------------------------------------------ drawing


def _progress_line(batch_id: int, slot: Any) -> None:
    """The curator's progress through the batch, drawn into ``slot`` (an ``st.empty`` above the card)."""
    store = resources.get_store()
    me = state.curator() or None
    own = team_sharing.own_progress(store, batch_id, me) if me else None
    if own is not None:  # a split batch: the curator's own queue, not the whole batch
        p = {**own, "undecided": own["to_go"]}
        first = f"{p['decided']:,} of {p['total']:,} of your items decided"
    else:
        p = store.progress(batch_id, curator=me, rejected=False)
        first = f"{p['decided']:,} of {p['total']:,} decided"
    rate = p.get("decisions_per_hour")
    parts = [first, f"{p['skipped']:,} skipped", f"{p['undecided']:,} to go"]
    if rate:
        parts.append(f"{rate:,.0f} decisions/hour")
    slot.progress(p["decided"] / max(p["total"], 1), text=" · ".join(parts))


def _notice() -> None:
    notice = st.session_state.pop("review_notice", None)
    if not notice:
        return
    kind, message = notice
    if kind in ("error", "warning"):
        (st.error if kind == "error" else st.warning)(safe_md(message))
    else:  # a toast does not push the card down
        st.toast(safe_md(message), icon=":material/check:" if kind == "success" else ":material/info:")


def _action_bar(batch_id: int, status: str, order: str, item: Any | None, disabled: bool) -> None:
    """The card's keys in one row under the string: N, S, U, left, right and F (the registry search)."""
    bar = st.container(horizontal=True, gap="xxsmall", wrap=True)
    has_item = item is not None and not disabled
    suffix = f"_{item.id}" if item is not None else ""  # item-bound keys: a stale key press cannot hit the next item
    bar.button("None of these", key=f"act_none{suffix}", shortcut="n", disabled=not has_item,
               on_click=decide, args=(batch_id, status, order, item.id if item else 0, "none"))
    bar.button("Skip", key=f"act_skip{suffix}", shortcut="s", disabled=not has_item,
               on_click=decide, args=(batch_id, status, order, item.id if item else 0, "skip"))
    bar.button("Undo", key="act_undo", shortcut="u", disabled=disabled,
               on_click=undo, args=(batch_id, status, order))
    bar.button("Prev", key="act_prev", shortcut="Left", disabled=disabled,
               on_click=move, args=(batch_id, status, order, -1))
    bar.button("Next", key="act_next", shortcut="Right", disabled=disabled,
               on_click=move, args=(batch_id, status, order, 1))
    if item is not None:
        bar.button("Search", key=f"search_open_{item.id}", shortcut="f", help="Search the registry for another institution",
                   on_click=_open_search, args=(item.id,))


SEARCH_OPEN_KEY = "registry_search_item"  # the item whose registry search is open


def _set_search(item_id: int | None) -> None:
    st.session_state[SEARCH_OPEN_KEY] = item_id
    st.session_state.pop(SEARCH_FIELD_KEY, None)


def _toggle_more(item_id: int) -> None:
    """M: show the candidates below the first MORE_AT, or hide them again."""
    st.session_state[MORE_KEY] = None if st.session_state.get(MORE_KEY) == item_id else item_id


def _shown_candidates(item: Any) -> tuple[list[Candidate], bool]:
    """(the candidates listed on the card, whether the rest are open); a decided or rejected
    candidate below the first MORE_AT opens them, so the card shows what was chosen."""
    cands = list(item.candidates)
    if len(cands) <= MORE_AT:
        return cands, False
    chosen = set(item.accepted_ids) | set(item.rejected)
    if item.decision is not None and item.decision.institution_id:
        chosen.add(item.decision.institution_id)
    opened = st.session_state.get(MORE_KEY) == item.id or any(c.id in chosen for c in cands[MORE_AT:])
    return (cands if opened else cands[:MORE_AT]), opened


def _more_button(item: Any, opened: bool) -> None:
    total = len(item.candidates)
    if total <= MORE_AT:
        return
    label = "Fewer candidates" if opened else f"Candidates {MORE_AT + 1}–{total}"
    st.button(label, key=f"more_{item.id}", shortcut="m", type="tertiary", on_click=_toggle_more, args=(item.id,),
              help=None if opened else f"Show candidates {MORE_AT + 1}–{total} (their keys then work too)")


def _open_search(item_id: int) -> None:
    """F: open the search under the string (its field takes the focus); when open, keep what was typed."""
    if st.session_state.get(SEARCH_OPEN_KEY) != item_id:
        _set_search(item_id)


def _search(batch_id: int, status: str, order: str, item: Any, registry: Any, disabled: bool) -> None:
    """Registry search for the card's item, under the string: closed until F (or its button) opens it."""
    if st.session_state.get(SEARCH_OPEN_KEY) != item.id:
        return
    with st.container(border=True):
        query_col, close_col = st.columns([8, 1.3], vertical_alignment="bottom")
        query = query_col.text_input("Search the registry: name, acronym or ROR id", key=SEARCH_FIELD_KEY,
                                     max_chars=300, placeholder="e.g. TUM, Technische Universität München or 02kkvpp62")
        close_col.button("Close", key=f"search_close_{item.id}", shortcut="Escape", width="stretch",
                         on_click=_set_search, args=(None,))
        if not query or not query.strip():
            return
        if registry is None:
            st.warning("The batch's registry is not available.")
            return
        found = registry.find(query.strip(), limit=SEARCH_LIMIT)
        if not found:
            st.caption("Nothing found.")
            return
        for n, inst in enumerate(found):
            left, right = st.columns([1.3, 9.3], vertical_alignment="center")
            left.button("Accept", key=f"search_accept_{n}_{item.id}", disabled=disabled, width="stretch",
                        on_click=decide, args=(batch_id, status, order, item.id, "accept"),
                        kwargs={"institution": inst})
            place = ", ".join(p for p in (inst.city, inst.country_name) if p)
            line = f"**{safe_md(inst.name)}** · {safe_md(place)} · {safe_md(', '.join(inst.types))} · {safe_md(inst.status)}"
            link = ror_link(inst.id)
            right.markdown(line + (f" · [ror.org ↗]({link})" if link else f" · id {safe_md(inst.id, 60)}"))


def _card(batch_id: int, status: str, order: str, registry: Any, scorer_notes: dict[str, str]) -> None:
    disabled = not state.curator()
    item, pos, total = current_item(batch_id, status, order)
    st.session_state[CURRENT_KEY] = item.id if item is not None else None
    unranked = item is not None and not item.ranked
    job = resources.get_jobs().get(batch_id) if unranked else None
    waiting = unranked and job is not None and job.running  # poll only while a job is ranking
    if waiting != st.session_state.get("review_polling", False):
        st.session_state["review_polling"] = waiting
        st.rerun()  # switch between the polling and the still card
    # The progress line sits above the card but is drawn last, into its place: the next string
    # reaches the browser before the counts are queried (issue 12's decision -> next item).
    progress_slot = st.empty()
    try:
        _card_body(batch_id, status, order, registry, scorer_notes, item, pos, total, disabled, unranked, waiting, job)
    finally:
        _progress_line(batch_id, progress_slot)


def _card_body(batch_id: int, status: str, order: str, registry: Any, scorer_notes: dict[str, str], item: Any,
               pos: int, total: int, disabled: bool, unranked: bool, waiting: bool, job: Any) -> None:
    _notice()
    if item is None:
        me = state.curator()
        curators = team_sharing.split_curators(resources.get_store(), batch_id) if me else None
        if curators is not None and me not in curators:  # e.g. the lead who split it: say why the queue is empty
            who = ", ".join(clean(c, 40) for c in curators) or "nobody yet"
            st.info(safe_md(f"This batch is split between {who}; you are not one of its curators, so your queue "
                            "is empty. A lead adds curators on the Team page, and ?item= with an item's number "
                            "opens any item."), icon=":material/group:")
            _action_bar(batch_id, status, order, None, disabled)
            return
        if status == "undecided":
            theirs = bool(me) and team_sharing.own_progress(resources.get_store(), batch_id, me) is not None
            st.success("Every item of this batch has a decision" + (" or is another curator's" if theirs else "")
                       + ". Undo (U) takes back the last one.")
        else:
            st.info(f"No items are “{FILTERS.get(status, status)}”.")
        _action_bar(batch_id, status, order, None, disabled)
        return
    cur = cursor(batch_id, status, order)
    if cur.shown_item != item.id:
        cur.shown_item, cur.shown_at = item.id, time.monotonic()

    several_visit = st.session_state.get(SEVERAL_KEY) == item.id
    where = ("kept on the card while you accept several" if several_visit
              else st.session_state.get(PINNED_WHY_KEY, "back after undo")) if cur.pinned == item.id else f"{pos + 1:,} of {total:,}"
    head = [f"Item {where}", f"#{item.position + 1} in the input"]
    if item.count > 1:
        head.append(f"seen {item.count:,}×")
    if item.decision is not None:
        d = item.decision
        what = {"accept": f"accepted {accepted_names(d)}",
                "none": "none of these", "skip": "skipped"}[d.action]
        head.append(f"your decision: {what}")
    ranked_with_candidates = not unranked and bool(item.candidates)
    threshold = item.threshold if item.threshold is not None else 0.5
    fallback = ""
    hover: list[str] = []
    if not unranked:  # one caption line: where the item is, what scored it, against which registry
        model = item.model_id or "?"
        fallback = scorer_notes.get(model, "")
        combined = registry is not None and resources.with_combiner(registry.name, model)
        head.append(f"scored by {model}" + (" + learned combiner" if combined else "")
                    + (" (stand-in)" if fallback else ""))
        scale = resources.score_scale(registry.name, model) if registry is not None else None
        # the scale in a word ("calibrated" probability, or "uncalibrated" score), the details on hover
        head.append(f"threshold {threshold:.2f}" + (f" ({scale.word})" if scale is not None else ""))
        if registry is not None:
            head.append(f"registry {registry.name}")  # its version is in the sidebar (one caption line at 1280 px)
        hover = ([f"Scores: {scale.label}."] if scale is not None else []) + (
            [f"Why a stand-in scored this item: {fallback}"] if fallback else [])
    st.caption(safe_md(" · ".join(head)),
               help=" ".join(hover) or None)  # one line, the details on hover
    # The string with the decision keys under it, its score bars beside it: the candidates
    # start within the first screen.
    text_col, bars_col = st.columns([2, 1], gap="small") if ranked_with_candidates else (st.container(), None)
    with text_col:
        st.code(item.affiliation, language=None, wrap_lines=True)
        for note in other_notes(item.notes):
            st.caption(safe_md(note))
        _action_bar(batch_id, status, order, item, disabled)
    if bars_col is not None:
        bars_col.html(score_bars_html(item.candidates, threshold))
    _search(batch_id, status, order, item, registry, disabled)

    if unranked:
        if waiting:
            st.info("Ranking this item… it appears as soon as its candidates are scored.",
                    icon=":material/hourglass_top:")
        else:
            error = job.progress().error if job is not None else ""
            st.warning(safe_md("This item is not ranked and ranking is not running"
                               + (f" ({error})" if error else "") + ". Reload the page to start it again."))
        return
    if item.candidates:
        several_banner(item.candidates, item.accepted_ids, disabled=disabled, key=f"several_accept_all_{item.id}",
                       on_accept_all=lambda cs: decide(batch_id, status, order, item.id, "accept", several=cs))
        shown, opened = _shown_candidates(item)
        candidate_list(
            shown,
            item_id=item.id,
            on_accept=lambda c: decide(batch_id, status, order, item.id, "accept", c),
            on_reject=lambda c: decide(batch_id, status, order, item.id, "reject", c),
            rejected=item.rejected,
            accepted_id=item.decision.institution_id if item.decision and item.decision.action == "accept" else None,
            accepted_ids=item.accepted_ids,
            on_also=lambda c: decide(batch_id, status, order, item.id, "also", c),
            threshold=threshold,
            disabled=disabled,
            key=f"cand{item.id}",
        )
        _more_button(item, opened)
    else:
        st.warning("No candidates for this string. Search the registry (F), or choose None of these (N).")


@st.fragment
@guarded
def _card_still(*args: Any) -> None:
    _card(*args)


@st.fragment(run_every=POLL_SECONDS)
@guarded
def _card_polling(*args: Any) -> None:
    _card(*args)


def review_card(batch_id: int, status: str, order: str, registry: Any, scorer_notes: dict[str, str]) -> None:
    """The card; it polls (reruns every second) only while its item is still being ranked."""
    if st.session_state.get("review_polling"):
        _card_polling(batch_id, status, order, registry, scorer_notes)
    else:
        _card_still(batch_id, status, order, registry, scorer_notes)

"""Team page (leads only): how a batch is shared, agreement between curators, conflicts resolved
with one key press, and the app's own user list."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from affiliation_curator.errors import CuratorError
from affiliation_curator.team import sharing as team_sharing
from affiliation_curator.team import users as team_users
from affiliation_curator.team.report import batch_agreement, format_kappa, resolve_conflict, undo_resolution
from components import resources, state
from components.text import clean, safe_md

st.header("Team", anchor=False)
who = state.identity()
if who is None or not who.is_lead:
    # app.py gives curators no link here; this guards a page run some other way
    st.error("The Team page is for leads.", icon=":material/lock:")
    st.stop()

store = resources.get_store()
batches = store.batches()
if not batches:
    st.info("No batches yet: a lead brings affiliations in on the Match page.", icon=":material/info:")
    st.stop()
by_id = {b.id: b for b in batches}
current = state.current_batch_id()
batch_id = st.selectbox(
    "Batch", list(by_id), index=list(by_id).index(current) if current in by_id else 0,
    format_func=lambda i: clean(by_id[i].name, 80), key="team_batch",
)
notice = st.session_state.pop("team_notice", None)
if notice:
    (st.error if notice[0] == "error" else st.success)(safe_md(notice[1]))

rule = st.segmented_control(
    "Where curators disagree and no lead resolved it", ["leave_out", "majority"], default="leave_out", required=True,
    format_func={"leave_out": "Leave the item out", "majority": "Take the majority label"}.get, key="team_rule",
) or "leave_out"
report = batch_agreement(store, batch_id, rule)
# The open tab is kept (a key, tracked): a resolution, a notice above or a saved form does not send
# the lead back to the first tab. The Conflicts tab's label carries the count: follow it when it changes.
conflicts_label = f"Conflicts ({len(report.conflicts)})"
open_tab = st.session_state.get("team_tab")
if isinstance(open_tab, str) and open_tab.startswith("Conflicts") and open_tab != conflicts_label:
    st.session_state["team_tab"] = conflicts_label
agreement_tab, conflicts_tab, sharing_tab, users_tab = st.tabs(
    ["Agreement", conflicts_label, "Sharing", "Users"], key="team_tab", on_change="rerun"
)

with agreement_tab:
    s = report.statuses
    cols = st.columns(4)
    cols[0].metric("Labelled once", s["single"])
    cols[1].metric("Agreed", s["agreed"])
    cols[2].metric("Conflicts", s["conflict"])
    cols[3].metric("Resolved by a lead", s["resolved"])
    if report.pairs:
        st.dataframe(pd.DataFrame([{
            "curators": f"{p.a} / {p.b}", "double-labelled": p.overlap, "agree": p.agreed,
            "share agreeing": None if p.share is None else round(100 * p.share, 1),
            "Cohen's kappa": format_kappa(p.kappa),
        } for p in report.pairs]), hide_index=True)
    else:
        st.caption("Fewer than two curators have labelled this batch: no agreement to show yet.")
    if len(report.curators) >= 3:
        st.caption(f"Fleiss' kappa over all curators (items labelled by two or more): {format_kappa(report.fleiss)}")
    if report.curators:
        st.dataframe(pd.DataFrame([{
            "curator": c.name, "labels": c.decisions,
            "decisions per hour": None if c.per_hour is None else round(c.per_hour),
        } for c in report.curators]), hide_index=True)
    st.caption("Kappa is n/a where it is undefined: no item labelled by both, or every label the same one.")


def _resolve(item_id: int, label: str) -> None:
    try:
        resolve_conflict(store, state.identity(), item_id, label)
    except CuratorError as err:
        st.session_state["team_notice"] = ("error", str(err))
        return
    st.session_state["team_notice"] = ("success", "Resolved: kept as your resolution, beside the curators' decisions.")


def _undo_resolution() -> None:
    try:
        result = undo_resolution(store, state.identity(), batch_id)
    except CuratorError as err:
        st.session_state["team_notice"] = ("error", str(err))
        return
    st.session_state["team_notice"] = ("success", f"Undone: {result.description}" if result else "No resolution of yours to undo.")


with conflicts_tab:
    mine = [g for g in store.undo_history(batch_id, limit=500) if g.kind == "resolution" and g.curator == who.name]
    st.button("Undo my last resolution", key="resolution_undo", shortcut="u", disabled=not mine,
              on_click=_undo_resolution, icon=":material/undo:",
              help=safe_md(mine[0].description) if mine else "You have no resolution in this batch to undo.")
    if not report.conflicts:
        st.success("No open conflicts in this batch.")
    else:
        pos = min(st.session_state.get("team_conflict_pos", 0), len(report.conflicts) - 1)
        item = report.conflicts[pos]
        st.caption(f"Conflict {pos + 1} of {len(report.conflicts)} · item {item.item_id}")
        st.code(report.affiliations.get(item.item_id, ""), language=None, wrap_lines=True)
        votes: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        for curator, label in sorted(item.labels.items()):
            votes.setdefault(label, []).append(curator)
            d = item.own[curator]
            names[label] = d.get("institution_name") or d.get("institution_id") or "" if label != "none" else "None of these"
        for n, (label, curators) in enumerate(sorted(votes.items(), key=lambda kv: -len(kv[1]))[:9], 1):
            left, right = st.columns([2, 7], vertical_alignment="center")
            left.button(f"Take this ({n})", key=f"resolve_{item.item_id}_{n}", shortcut=str(n), width="stretch",
                        on_click=_resolve, args=(item.item_id, label))
            right.markdown(f"**{safe_md(names[label], 100)}** · {safe_md(label, 120)} · chosen by "
                           f"{safe_md(', '.join(curators), 200)}")
        nav = st.columns(2)
        nav[0].button("Previous conflict", key="conflict_prev", shortcut="Left", disabled=pos == 0,
                      on_click=lambda: st.session_state.update(team_conflict_pos=max(0, pos - 1)))
        nav[1].button("Next conflict", key="conflict_next", shortcut="Right", disabled=pos + 1 >= len(report.conflicts),
                      on_click=lambda: st.session_state.update(team_conflict_pos=pos + 1))

with sharing_tab:
    shared = team_sharing.sharing(store, batch_id)
    known = [u.name for u in team_users.users(store) if not u.disabled] or sorted(set(store.curators()))
    with st.form("sharing"):
        mode = st.radio("How the batch is shared", ["all", "split"], index=["all", "split"].index(shared.mode),
                        format_func={"all": "Everyone sees every item", "split": "Split between named curators"}.get)
        chosen = st.multiselect("Curators (split)", sorted(set(known) | set(shared.curators)), default=shared.curators,
                                accept_new_options=True)
        share = st.slider("Share labelled by two curators (split), %", 0, 100, int(round(100 * shared.double_share)))
        minutes = st.number_input("A claim runs out after (minutes)", 0.5, 1440.0, float(shared.claim_minutes))
        if st.form_submit_button("Save sharing", type="primary"):
            try:
                saved = team_sharing.set_sharing(store, state.identity(), batch_id, mode, chosen, share / 100, minutes)
            except CuratorError as err:
                st.error(safe_md(str(err)))
            else:
                st.success(safe_md(f"Saved: {saved.mode}" + (
                    f" between {', '.join(saved.curators)}; {saved.double_items} items labelled twice" if saved.mode == "split" else "")))

def _add_user() -> None:
    name = st.session_state.get("user_add_name", "")
    password = st.session_state.get("user_add_password", "")
    try:
        added = team_users.add_user(store, name, st.session_state.get("user_add_role", "curator"), password=password or None,
                                    email=st.session_state.get("user_add_email") or None)
    except CuratorError as err:
        st.session_state["team_users_notice"] = ("error", str(err))
        return
    st.session_state["team_users_notice"] = ("success", f"Added {added.name} ({added.role}).")
    for key in ("user_add_name", "user_add_password", "user_add_email"):
        st.session_state[key] = ""


def _change_user(name: str, **changes) -> None:  # noqa: ANN003
    try:
        changed = team_users.manage_user(store, state.identity(), name, **changes)
    except CuratorError as err:
        st.session_state["team_users_notice"] = ("error", str(err))
        return
    what = "disabled" if changed.disabled else "enabled"
    st.session_state["team_users_notice"] = ("success", f"{changed.name}: {changed.role}, {what}"
                                             + (", new password set" if changes.get("password") else "") + ".")
    st.session_state.pop("user_new_password", None)


def _set_password(name: str) -> None:
    _change_user(name, password=st.session_state.get("user_new_password", ""))


with users_tab:
    mode_now = team_users.sign_in_mode()
    st.caption(f"Sign-in: {mode_now} (setting sign_in in settings.json, or AFFILIATION_CURATOR_SIGN_IN). "
               "The command line does the same: python -m affiliation_curator team users add|set|list")
    users_notice = st.session_state.pop("team_users_notice", None)
    if users_notice:
        (st.error if users_notice[0] == "error" else st.success)(safe_md(users_notice[1]))
    rows = team_users.users(store)
    if rows:
        st.dataframe(pd.DataFrame([{
            "name": u.name, "role": u.role, "email": u.email or "", "password set": u.has_password,
            "disabled": u.disabled,
        } for u in rows]), hide_index=True)
    else:
        st.caption("No users yet.")
    add_col, change_col = st.columns(2, gap="large")
    with add_col.form("user_add"):
        st.markdown("**Add a user**")
        st.text_input("Name", key="user_add_name", max_chars=80)
        st.segmented_control("Role", list(team_users.ROLES), key="user_add_role", default="curator", required=True)
        st.text_input("Password (at least 8 characters; empty for OpenID Connect users)", key="user_add_password",
                      type="password", max_chars=200)
        st.text_input("Email (OpenID Connect users are matched by it)", key="user_add_email", max_chars=320)
        st.form_submit_button("Add user", type="primary", on_click=_add_user)
    if rows:
        with change_col:
            st.markdown("**Change a user**")
            by_name = {u.name: u for u in rows}
            chosen = st.selectbox("User", list(by_name), key="user_change_name", format_func=lambda n: clean(n, 80))
            target = by_name[chosen]
            buttons = st.container(horizontal=True)
            other = "curator" if target.role == "lead" else "lead"
            buttons.button(f"Make {other}", key="user_role", on_click=_change_user, args=(target.name,),
                           kwargs={"role": other})
            buttons.button("Enable" if target.disabled else "Disable", key="user_disable", on_click=_change_user,
                           args=(target.name,), kwargs={"disabled": not target.disabled})
            with st.form("user_password"):
                st.text_input("New password", key="user_new_password", type="password", max_chars=200)
                st.form_submit_button("Set password", on_click=_set_password, args=(target.name,))

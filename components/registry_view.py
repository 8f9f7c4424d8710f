"""Drawing registry things: the counts of a registry and one institution's record.

Every registry string is shown as text: tables via ``st.dataframe``, markdown only escaped.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from affiliation_curator.institution import Institution
from affiliation_curator.registry import Registry
from components.text import clean, safe_md

REL_TITLES = {
    "parent": "Parent",
    "child": "Child",
    "related": "Related",
    "predecessor": "Predecessor",
    "successor": "Successor",
}


def _bar_chart(counts: dict[str, int], label: str, top: int) -> alt.Chart:
    items = list(counts.items())[:top]
    frame = pd.DataFrame({label: [clean(k, 60) for k, _ in items], "Institutions": [v for _, v in items]})
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("Institutions:Q"),
            y=alt.Y(f"{label}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=180)),
            tooltip=[f"{label}:N", "Institutions:Q"],
        )
    )


def _chart_height(counts: dict[str, int], top: int) -> int:
    return 50 + 24 * min(len(counts), top)


def registry_counts(stats: dict[str, Any]) -> None:
    """Counts by status (numbers), type (chart) and country (chart + table)."""
    by_status = stats.get("by_status", {})
    cols = st.columns(4)
    cols[0].metric("Institutions", f"{stats.get('count', 0):,}")
    for col, status in zip(cols[1:], ("active", "inactive", "withdrawn")):
        col.metric(status.capitalize(), f"{by_status.get(status, 0):,}")
    by_type, by_country = stats.get("by_type", {}), stats.get("by_country", {})
    left, right = st.columns(2)
    with left:
        st.markdown("**By type**")
        if by_type:
            st.altair_chart(_bar_chart(by_type, "Type", 20), width="stretch", height=_chart_height(by_type, 20))
    with right:
        st.markdown(f"**By country** (top 15 of {len(by_country)})")
        if by_country:
            st.altair_chart(_bar_chart(by_country, "Country", 15), width="stretch", height=_chart_height(by_country, 15))
    with st.expander("All counts"):
        rows = [("status", k, v) for k, v in by_status.items()]
        rows += [("type", k, v) for k, v in by_type.items()]
        rows += [("country", k, v) for k, v in by_country.items()]
        st.dataframe(pd.DataFrame(rows, columns=["Count by", "Value", "Institutions"]), hide_index=True, width="stretch")


def result_label(inst: Institution) -> str:
    """One line for a search result (plain text, for a selectbox)."""
    where = inst.location()
    status = "" if inst.status == "active" else f" [{inst.status}]"
    return clean(f"{inst.name}" + (f" — {where}" if where else "") + status + f" ({inst.id})", 200)


def institution_record(registry: Registry, inst: Institution) -> None:
    """One institution: names, location, types, status (with successor), relations, ids, links."""
    st.subheader(safe_md(inst.name, 300))
    if inst.ror_url:
        st.link_button("Open on ror.org", inst.ror_url, icon=":material/open_in_new:")
    facts = [("ID", inst.id), ("Status", inst.status), ("Types", ", ".join(inst.types) or "—")]
    location = inst.location() + (f" ({inst.country_code})" if inst.country_code else "")
    facts.append(("Location", location or "—"))
    if inst.established:
        facts.append(("Established", str(inst.established)))
    st.markdown("  \n".join(f"**{label}:** {safe_md(value, 500)}" for label, value in facts))
    if inst.status != "active":
        successors = [
            f"{(registry.get(r.id).name if registry.get(r.id) else r.label) or 'unknown'} ({r.id})"
            for r in inst.successors
        ]
        text = f"This institution is {inst.status}."
        text += f" Successor: {'; '.join(successors)}" if successors else " No successor is recorded."
        st.warning(safe_md(text, 1000))

    st.markdown("**Names**")
    st.dataframe(
        pd.DataFrame(
            [(clean(n.value), ", ".join(n.types), n.lang or "") for n in inst.names],
            columns=["Name", "Types", "Language"],
        ),
        hide_index=True,
        width="stretch",
    )
    if inst.relationships:
        st.markdown("**Related institutions**")
        rows = []
        for rel in sorted(inst.relationships, key=lambda r: list(REL_TITLES).index(r.type) if r.type in REL_TITLES else 9):
            other = registry.get(rel.id)
            rows.append(
                (
                    REL_TITLES.get(rel.type, rel.type),
                    clean(other.name if other else rel.label or "—"),
                    rel.id,
                    "yes" if other else "no",
                )
            )
        st.dataframe(
            pd.DataFrame(rows, columns=["Relation", "Name", "ID", "In this registry"]),
            hide_index=True,
            width="stretch",
        )
    if inst.external_ids:
        st.markdown("**External ids**")
        st.dataframe(
            pd.DataFrame(
                [(kind, clean(", ".join(values))) for kind, values in inst.external_ids.items()],
                columns=["Type", "IDs"],
            ),
            hide_index=True,
            width="stretch",
        )
    if inst.links:
        st.markdown("**Links**")
        st.text("\n".join(clean(link, 300) for link in inst.links))

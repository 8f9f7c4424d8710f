"""Evaluate page: any model's metrics on curated decisions or a gold file; threshold curve; the errors."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from affiliation_curator import config
from affiliation_curator.learning.curated_eval import evaluate_rows, gold_from_store
from affiliation_curator.errors import CuratorError, InputError
from affiliation_curator.curation.formats import CsvWriter
from affiliation_curator.curation.gold import read_gold, split
from affiliation_curator.learning.trained_on import model_card, overlap_warning
from components import models, resources, state
from components.batch_panel import batch_label
from components.pr_curve import precision_coverage_chart
from components.text import safe_md, threshold_text

SHARED_GOLD = config.PROJECT_DIR.parent / "shared" / "data" / "gold"
UPLOADED = "__upload__"  # gold picker value: an uploaded file
DEFAULT_LIMIT = 200
MAX_LIMIT = 20_000


def figure(value: float | None) -> str:
    """A metric as the tables show it: three decimals, or n/a where it is undefined."""
    return "n/a" if value is None else f"{value:.3f}"


ERROR_COLUMNS = ["affiliation", "error", "expected", "predicted", "top candidate", "top score", "expected score",
                 "expected rank", "source"]


st.title("Evaluate")
st.caption(
    "Measure a model on the curators' decisions or on a labelled gold file: retrieval recall, accuracy@1, MRR, "
    "no-match precision and recall, and how auto-accept precision trades against coverage as the threshold moves."
)

store = resources.get_store()
batches = store.batches()
by_id = {b.id: b for b in batches}

# ------------------------------------------------------------------ what to evaluate

left, right = st.columns(2)
left.selectbox(
    "Model", models.model_choices(), key="eval_model", format_func=models.choice_label,
    help="Our saved models, the configured and default models, and the hub models the operator allows "
         "(`python -m affiliation_curator model allow ID`).",
)
source = right.segmented_control(
    "Labelled data", ["curated", "gold"], default="curated", required=True, key="eval_source",
    format_func={"curated": "Curated decisions", "gold": "Gold file"}.get,
)
gold_files = sorted(SHARED_GOLD.glob("*.jsonl")) if SHARED_GOLD.is_dir() else []
if source == "gold":
    options = [str(p) for p in gold_files] + [UPLOADED]
    gold_choice = right.selectbox(
        "Gold file", options, key="eval_gold",
        format_func=lambda v: "Upload a file…" if v == UPLOADED else Path(v).name,
        help='JSON Lines: {"affiliation": ..., "ror_ids": [...]} (empty list: no institution is right).',
    )
    if gold_choice == UPLOADED:
        right.file_uploader("Gold file (.jsonl)", type=["jsonl"], key="eval_gold_upload")
    right.checkbox("Only the held-out test side of the gold split", value=True, key="eval_test_side",
                   help="The side training never sees (affiliation_curator.curation.gold.split).")
else:
    open_batch = state.current_batch_id()
    if "eval_batches" not in st.session_state:
        st.session_state["eval_batches"] = [open_batch] if open_batch in by_id else []
    st.session_state["eval_batches"] = [i for i in st.session_state["eval_batches"] if i in by_id]
    right.multiselect("Batches", list(by_id), format_func=lambda i: batch_label(by_id[i]), key="eval_batches",
                      placeholder="All batches")
    right.caption("Accepted institutions are the right answers; “none of these” means no institution is right.")
left.number_input(
    "At most rows (a random sample above this)", min_value=10, max_value=MAX_LIMIT, value=DEFAULT_LIMIT, step=50,
    key="eval_limit", help="Keeps CPU runs short: each row is matched once.",
)


def _model() -> str | None:
    """The model setting to evaluate (None: the configured one)."""
    value = st.session_state.get("eval_model")
    if value not in models.model_choices():  # only what the picker offers: never a path or id from the browser
        return None
    return None if value == models.CONFIGURED else value


def _rows() -> tuple[list[Any], str, str | None, dict[str, Any]]:
    """(gold rows, description, registry name, what they are for overlap_warning) from the form;
    raises CuratorError."""
    if st.session_state.get("eval_source") == "gold":
        choice = st.session_state.get("eval_gold")
        if choice == UPLOADED or not choice:
            upload = st.session_state.get("eval_gold_upload")
            if upload is None:
                raise InputError("choose or upload a gold file")
            with tempfile.TemporaryDirectory(prefix="curator-gold-") as scratch:
                path = Path(scratch) / Path(upload.name).name
                path.write_bytes(upload.getvalue())
                rows = read_gold(path)
            name = upload.name
        else:
            rows = read_gold(choice)
            name = Path(choice).name
        test_side = bool(st.session_state.get("eval_test_side", True))
        if test_side:
            rows = split(rows)[1]
        where = {"gold_file": name, "test_side_only": test_side}
        return rows, f"gold file {name}" + (" (test side)" if test_side else ""), None, where
    chosen = list(st.session_state.get("eval_batches") or []) or sorted(by_id)
    if not chosen:
        raise InputError("no batches yet: curate some affiliations first, or pick a gold file")
    rows = gold_from_store(store, chosen)
    names = [by_id[i].registry_name for i in chosen if by_id[i].registry_name]
    label = ", ".join(by_id[i].name for i in chosen[:3]) + (f" and {len(chosen) - 3} more" if len(chosen) > 3 else "")
    return rows, f"curated decisions of {label}", names[0] if names else None, {"batches": [by_id[i].name for i in chosen]}


if st.button("Evaluate", key="eval_run_button", type="primary", icon=":material/analytics:"):
    bar = st.progress(0.0, text="Loading the model…")
    try:
        rows, description, registry_name, where = _rows()
        matcher = resources.get_matcher(registry_name, _model())

        def _tick(done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"Matching: {done:,} of {total:,} rows")

        run = evaluate_rows(matcher, rows, limit=int(st.session_state.get("eval_limit") or DEFAULT_LIMIT),
                            source=description, progress=_tick)
    except CuratorError as err:
        bar.empty()
        st.session_state.pop("eval_result", None)
        st.error(safe_md(err), icon=":material/error:")
    else:
        bar.empty()
        st.session_state["eval_result"] = run
        st.session_state["eval_overlap"] = overlap_warning(model_card(matcher), rows, **where)
        st.session_state["eval_threshold"] = round(run.threshold, 2)

run = st.session_state.get("eval_result")
if run is None:
    st.stop()

# ------------------------------------------------------------------ results

st.divider()
st.subheader("Results", anchor=False)
sample = f"a random sample of {len(run.rows):,} of {run.sampled_from:,}" if run.sampled_from > len(run.rows) else f"{len(run.rows):,}"
st.caption(
    f"{safe_md(run.source, 200)}: {sample} rows · model {safe_md(run.model_id, 120)} (threshold {run.threshold:.3f}) · "
    f"registry {safe_md(run.registry_name)} · {run.seconds:.1f} s"
)
overlap = st.session_state.get("eval_overlap")
if overlap:
    st.warning(safe_md(overlap), icon=":material/warning:")
if run.fallback_reason:
    st.warning(f"The model asked for could not be loaded ({safe_md(run.fallback_reason, 300)}); "
               f"{safe_md(run.model_id)} scored instead.", icon=":material/warning:")
if run.left_out:
    st.info(f"{run.left_out:,} labelled rows were left out: their institutions are not in registry "
            f"{safe_md(run.registry_name)} (import the full ROR registry on the Registry page to score them).",
            icon=":material/info:")

if "eval_threshold" not in st.session_state:  # back from another page: the slider's state was dropped
    st.session_state["eval_threshold"] = st.session_state.get("eval_threshold_kept", round(run.threshold, 2))
threshold = st.slider("Accept threshold", 0.0, 1.0, step=0.01, key="eval_threshold",
                      help="The top candidate is accepted when its score reaches the threshold; else “no match”.")
st.session_state["eval_threshold_kept"] = threshold
chosen_figures = run.summary(threshold)
own_figures = run.summary(run.threshold)
table = [  # text cells: "n/a" where a figure is undefined (precision with nothing accepted)
    {"metric": name, "at the chosen threshold": figure(chosen_figures[name]),
     "at the model's threshold": figure(own_figures[name])}
    for name in chosen_figures if name not in ("rows", "threshold")
]
metrics_col, chart_col = st.columns([2, 3])
metrics_col.dataframe(
    table, hide_index=True, key="eval_metrics",
    column_config={
        "at the chosen threshold": st.column_config.TextColumn(f"at {threshold:.2f}"),
        "at the model's threshold": st.column_config.TextColumn(f"at {threshold_text(run.threshold)} (model)"),
    },
)
chart_col.altair_chart(precision_coverage_chart(run.curve(), threshold, run.threshold), key="eval_curve")
report = run.report(threshold)
if report.by_trait:
    with st.expander("By string trait"):
        st.dataframe(
            [
                {"trait": name, "rows": sub.n, "accuracy@1": figure(sub.accuracy_at_1 if sub.n_matchable else None),
                 "no-match F1": figure(sub.no_match["f1"] if sub.no_match["support"] or sub.no_match["predicted"] else None),
                 "auto-accept precision": figure(sub.accept["precision"] if sub.accept["accepted"] else None),
                 "coverage": figure(sub.accept["coverage"])}
                for name, sub in report.by_trait.items()
            ],
            hide_index=True, key="eval_traits",
        )

errors = run.errors(threshold)
st.subheader(f"Errors at {threshold:.2f}: {len(errors):,} of {len(run.rows):,} rows", anchor=False)
kinds = sorted({e["error"] for e in errors})
shown_kind = st.segmented_control("Show", ["all", *kinds], default="all", key="eval_error_kind", required=True)
shown = [e for e in errors if shown_kind in (None, "all") or e["error"] == shown_kind]
if shown:
    st.dataframe(
        shown, hide_index=True, key="eval_errors", column_order=ERROR_COLUMNS,
        column_config={
            "top score": st.column_config.NumberColumn(format="%.3f"),
            "expected score": st.column_config.NumberColumn(format="%.3f"),
            "expected rank": st.column_config.NumberColumn(format="%d"),
        },
    )
    st.download_button(
        "Download the errors (CSV)", CsvWriter().write(shown, ERROR_COLUMNS), file_name="evaluation-errors.csv",
        mime="text/csv", key="eval_errors_download", icon=":material/download:", on_click="ignore",
    )
else:
    st.caption("No errors at this threshold.")

"""Train page: fine-tune a reranker on the curators' labelled pairs in the background; metrics before and after."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import streamlit as st

from affiliation_curator.errors import CuratorError, InputError
from affiliation_curator.learning.finetune import (
    PACKAGED_BASE_LABEL,
    curated_training_data,
    file_training_data,
    finetune,
    planned_steps,
    unique_model_dir,
)
from affiliation_curator.learning.jobs import jobs
from components import models, resources
from components.batch_panel import batch_label
from components.text import safe_md

POLL_SECONDS = 1.0
MAX_STEPS = 5000  # the most steps one run may take (a bound on CPU time)
PACKAGED = ""  # base value: the packaged MiniLM
PAIR_FILE_TYPES = ["csv", "jsonl", "parquet"]
PHASES = {
    "preparing": "Preparing",
    "before": "Scoring the validation pairs with the base model",
    "training": "Training",
    "calibrating": "Calibrating the accept threshold",
    "after": "Scoring the validation pairs with the new model",
    "done": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


st.title("Train")
st.caption(
    "Fine-tune a cross-encoder reranker on the curators' decisions (optionally with synthetic pairs made from the "
    "registry). The validation pairs are scored before and after training: map, mrr@10 and ndcg@10 "
    "(CrossEncoderRerankingEvaluator), accuracy@1 and no-match precision/recall. The new model is saved with its "
    "card beside the old ones."
)


# ------------------------------------------------------------------ the current run


def _metrics_table(report: Any) -> None:
    st.dataframe(
        report.metrics_table(), hide_index=True, key="train_metrics",
        column_config={
            "before": st.column_config.NumberColumn(format="%.3f"),
            "after": st.column_config.NumberColumn(format="%.3f"),
            "change": st.column_config.NumberColumn(format="%+.3f"),
        },
    )


def _cancel() -> None:
    job = jobs().current
    if job is not None:
        job.cancel()


def _progress(job: Any) -> None:
    status = job.status()
    label = PHASES.get(status.phase, status.phase)
    if status.phase == "training" and status.total:
        text = f"{label}: step {status.step:,} of {status.total:,}"
        value = status.fraction
    else:
        text = label
        value = {"preparing": 0.0, "before": 0.0, "calibrating": 1.0, "after": 1.0}.get(status.phase, status.fraction)
    st.progress(value, text=text)
    if status.message:
        st.caption(safe_md(status.message, 200))
    st.caption(f"{safe_md(job.description, 120)} · {job.seconds:.0f} s")


@st.fragment(run_every=POLL_SECONDS)
def _live(job: Any) -> None:
    if not job.running:
        st.rerun()  # finished: draw the result once, without polling
    _progress(job)
    st.button("Cancel training", key="train_cancel", on_click=_cancel, icon=":material/stop:",
              disabled=job.cancel_requested, help="Stops at the next step; nothing is saved.")
    if job.cancel_requested:
        st.caption("Cancelling…")


def _finished(job: Any) -> None:
    if job.cancelled:
        st.warning("Training was cancelled; nothing was saved.", icon=":material/cancel:")
    elif job.error:
        st.error(f"Training failed: {safe_md(job.error)}", icon=":material/error:")
    else:
        report = job.result
        st.success(f"Model “{safe_md(report.name)}” saved in {job.seconds:.0f} s ({report.steps} steps).",
                   icon=":material/check_circle:")
        st.caption(
            f"Base: {safe_md(report.base_model, 100)} · {report.train_pairs:,} training pairs · "
            f"{report.validation_pairs:,} validation pairs · accept threshold {report.threshold:.3f} "
            f"(calibrated on held-out registry queries)"
        )
        if report.before is None:
            st.info("No validation pairs (too few affiliations, or a validation share of 0): no before/after metrics.",
                    icon=":material/info:")
        else:
            _metrics_table(report)
        for warning in report.warnings:
            st.warning(safe_md(warning), icon=":material/warning:")
        if models.active_model() != report.out_dir:
            st.button("Use this model", key="train_use", type="primary", icon=":material/check:",
                      on_click=models.set_active, args=(report.out_dir,),
                      help="Make it the active reranker for new batches (the old model stays).")
        else:
            st.caption("This model is the active reranker.")
    lines = job.log_lines()
    if lines:
        with st.expander("Training log"):
            st.code("\n".join(lines), language=None)
    st.button("Clear", key="train_clear", on_click=jobs().clear, icon=":material/close:")


job = jobs().current
if job is not None:
    st.subheader("Training run", anchor=False)
    if job.running:
        _live(job)
    else:
        _finished(job)
    st.divider()

running = job is not None and job.running

# ------------------------------------------------------------------ a new run

store = resources.get_store()
batches = store.batches()
by_id = {b.id: b for b in batches}

st.subheader("New model", anchor=False)
error = st.session_state.pop("train_error", None)
if error:
    st.error(safe_md(error), icon=":material/error:")

bases = [PACKAGED] + models.hub_choices() + [str(folder) for folder, _ in models.saved_models()]
active = models.active_model()
if active and Path(active).is_dir() and active not in bases:
    bases.insert(1, active)
left, right = st.columns(2)
left.selectbox(
    "Start from", bases, index=bases.index(active) if active in bases else 0, key="train_base",
    format_func=lambda v: PACKAGED_BASE_LABEL if v == PACKAGED else models.describe(v) + (" (active)" if v == active else ""),
    help="The packaged MiniLM (offline), the default model or another hub model the operator allows (from the "
         "local Hugging Face cache, or downloaded once), or one of our saved models.",
)
if "train_name" not in st.session_state:  # seeded once: a default that changes by the minute would reset the field
    st.session_state["train_name"] = f"minilm-curated-{datetime.now():%Y%m%d-%H%M}"
right.text_input("New model name", key="train_name", max_chars=80,
                 help="A folder in the models folder; an existing name gets a number added.")

source = st.segmented_control(
    "Training data", ["curated", "file"], default="curated", required=True, key="train_source",
    format_func={"curated": "Curated decisions", "file": "An exported pairs file"}.get,
)
data_left, data_right = st.columns(2)
if source == "file":
    data_left.file_uploader("Pairs file (query, document, label)", type=PAIR_FILE_TYPES, key="train_file")
else:
    data_left.multiselect(
        "Batches", list(by_id), format_func=lambda i: batch_label(by_id[i]), key="train_batches",
        placeholder="All batches",
    )
    curators = sorted({d["curator"] for d in store.decisions() if d["curator"]})
    data_right.multiselect("Curators", curators, key="train_curators", placeholder="All curators")
    data_left.number_input("Hard negatives per accepted affiliation", 0, 50, 3, key="train_hard")
    data_right.number_input("Easy negatives per accepted affiliation", 0, 20, 1, key="train_easy")
reg_left, reg_right = st.columns(2)
with_registry = reg_left.checkbox("Add synthetic pairs from the registry", value=False, key="train_registry",
                                  help="Names of the registry wrapped in departments, addresses and noise, with the "
                                       "retriever's look-alikes as negatives.")
reg_right.number_input("Registry queries", 50, 5000, 300, step=50, key="train_registry_queries",
                       disabled=not with_registry)
s0, s1, s2, s3 = st.columns(4)
s0.slider("Validation share (%)", 0, 50, 20, step=5, key="train_validation",
          help="Split by affiliation string: no affiliation is on both sides.")
s1.number_input("Epochs", min_value=0.1, max_value=20.0, value=1.0, step=0.5, key="train_epochs")
s2.number_input("At most steps", min_value=1, max_value=MAX_STEPS, value=200, step=50, key="train_max_steps",
                help=f"Training stops here whatever the epochs (at most {MAX_STEPS:,}).")
s3.selectbox("Pairs per step", [8, 16, 32], index=1, key="train_batch_size")


def _registry_for(batch_ids: list[int]) -> Any:
    names = [by_id[i].registry_name for i in batch_ids if by_id[i].registry_name]
    return resources.get_registry(names[0] if names else None)


def _data() -> tuple[Any, Any]:
    """(training data, registry) from the form; raises CuratorError."""
    share = (st.session_state.get("train_validation") or 0) / 100
    if st.session_state.get("train_source") == "file":
        upload = st.session_state.get("train_file")
        if upload is None:
            raise InputError("choose a pairs file first")
        registry = resources.get_registry()
        suffix = Path(upload.name).suffix.lower()
        with tempfile.TemporaryDirectory(prefix="curator-upload-") as scratch:
            path = Path(scratch) / f"pairs{suffix}"
            path.write_bytes(upload.getvalue())
            data = file_training_data(path, registry, share)
        data.sources["file"] = upload.name
        return data, registry
    chosen = list(st.session_state.get("train_batches") or []) or sorted(by_id)
    registry = _registry_for(chosen)
    data = curated_training_data(
        store, registry, batches=chosen, curators=st.session_state.get("train_curators") or None,
        validation_share=share, hard_negatives=int(st.session_state.get("train_hard", 3)),
        easy_negatives=int(st.session_state.get("train_easy", 1)),
    )
    return data, registry


def _start() -> None:
    try:
        data, registry = _data()
        out = unique_model_dir(st.session_state.get("train_name") or "minilm-curated")
        base = st.session_state.get("train_base") or None
        epochs = float(st.session_state.get("train_epochs") or 1.0)
        max_steps = int(st.session_state.get("train_max_steps") or 1)
        queries = int(st.session_state.get("train_registry_queries") or 0) if st.session_state.get("train_registry") else 0
        batch_size = int(st.session_state.get("train_batch_size") or 16)

        def target(progress, should_stop):  # noqa: ANN001, ANN202 - the job's signature
            return finetune(data, registry, out, base_model=base, epochs=epochs, max_steps=max_steps,
                            registry_queries=queries, batch_size=batch_size, progress=progress,
                            should_stop=should_stop)

        description = f"{out.name} from {PACKAGED_BASE_LABEL if base is None else Path(base).name}"
        jobs().start(target, description)
    except CuratorError as err:
        st.session_state["train_error"] = f"Training was not started: {err}"


preview_error = None
data = None
if source == "file" and st.session_state.get("train_file") is None:
    st.caption("Upload a pairs file as written by the Export page or `export pairs`.")
elif source != "file" and not batches:
    st.info("No batches yet: curate some affiliations first, or train from an exported pairs file.",
            icon=":material/info:")
else:
    try:
        data, _ = _data()
    except CuratorError as err:
        preview_error = str(err)
if preview_error:
    st.warning(safe_md(preview_error), icon=":material/warning:")
if data is not None:
    counts = data.counts()
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Training pairs", f"{counts['train pairs']:,}")
    c2.metric("Positives", f"{counts['train positives']:,}")
    c3.metric("Validation pairs", f"{counts['validation pairs']:,}")
    c4.metric("Validation affiliations", f"{counts['validation affiliations']:,}")
    queries = int(st.session_state.get("train_registry_queries") or 0) if with_registry else 0
    steps = planned_steps(counts["train pairs"], queries, int(st.session_state.get("train_batch_size") or 16),
                          float(st.session_state.get("train_epochs") or 1.0),
                          int(st.session_state.get("train_max_steps") or 1))
    st.caption(f"About {steps:,} training steps." + (" Registry pairs are added to these." if queries else ""))
    for warning in data.warnings:
        st.warning(safe_md(warning), icon=":material/warning:")
st.button(
    "Start training", key="train_start", type="primary", icon=":material/model_training:", on_click=_start,
    disabled=running or data is None,
    help="Runs in the background; this page shows its progress." if not running else "A run is in progress.",
)

# ------------------------------------------------------------------ saved models

st.divider()
st.subheader("Models", anchor=False)
models.models_table()
models.use_model_panel()

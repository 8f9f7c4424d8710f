"""Background training jobs: result, progress and log, errors as messages, cancel, one run at a time."""

from __future__ import annotations

import threading

import pytest

from affiliation_curator.errors import CuratorError, InputError
from affiliation_curator.learning.finetune import TrainingCancelled, TrainStatus
from affiliation_curator.learning.jobs import TrainingJobs


def test_a_run_reports_progress_and_its_result():
    runs = TrainingJobs()
    gate = threading.Event()

    def target(progress, should_stop):
        progress(TrainStatus("training", 1, 4, "step 1/4"))
        gate.wait(10)
        progress(TrainStatus("training", 4, 4, "step 4/4"))
        return "model"

    job = runs.start(target, "a test run")
    with pytest.raises(CuratorError, match="already running"):
        runs.start(target)
    gate.set()
    assert job.wait(10)
    assert job.result == "model" and job.error is None and not job.cancelled
    assert job.status().phase == "done" and job.status().fraction == 1.0
    assert job.log_lines() == ["step 1/4", "step 4/4"]
    runs.clear()
    assert runs.current is None


def test_errors_become_messages_and_cancel_stops():
    runs = TrainingJobs()
    job = runs.start(lambda progress, should_stop: (_ for _ in ()).throw(InputError("no pairs")))
    job.wait(10)
    assert job.error == "no pairs" and job.status().phase == "failed"
    job = runs.start(lambda progress, should_stop: 1 / 0)
    job.wait(10)
    assert job.error.startswith("training failed: ZeroDivisionError")

    started = threading.Event()

    def stoppable(progress, should_stop):
        started.set()
        while not should_stop():
            threading.Event().wait(0.01)
        raise TrainingCancelled("training cancelled; nothing was saved")

    job = runs.start(stoppable)
    started.wait(10)
    job.cancel()
    assert job.wait(10) and job.cancelled and job.status().phase == "cancelled"

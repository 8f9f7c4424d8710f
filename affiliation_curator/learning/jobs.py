"""One background training run per process, with progress, a log, cancel and the result.

    job = jobs().start(lambda progress, should_stop: finetune(..., progress=progress, should_stop=should_stop),
                       description="minilm-march from 2 batches")
    job.status()        # TrainStatus: phase, step, total, message
    job.cancel()        # the run stops at its next progress message; nothing is saved
    job.result / job.error once job.running is False

The machine has few cores, so a second run is refused while one is running. No Streamlit
here: the Train page polls ``jobs().current``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from affiliation_curator.errors import CuratorError
from affiliation_curator.learning.finetune import TrainingCancelled, TrainStatus

log = logging.getLogger(__name__)

LOG_LINES = 200

Target = Callable[[Callable[[TrainStatus], None], Callable[[], bool]], Any]


class TrainingJob:
    """A run of ``target(progress, should_stop)`` in a daemon thread."""

    def __init__(self, target: Target, description: str = "") -> None:
        self.target = target
        self.description = description
        self.started_at = time.time()
        self.finished_at: float | None = None
        self.result: Any = None
        self.error: str | None = None
        self.cancelled = False
        self._status = TrainStatus("preparing")
        self._log: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="curator-training", daemon=True)

    def start(self) -> "TrainingJob":
        self._thread.start()
        return self

    def _progress(self, status: TrainStatus) -> None:
        with self._lock:
            self._status = status
            if status.message and (not self._log or self._log[-1] != status.message):
                self._log.append(status.message)
                del self._log[:-LOG_LINES]

    def _run(self) -> None:
        try:
            self.result = self.target(self._progress, self._stop.is_set)
        except TrainingCancelled as err:
            self.cancelled = True
            self.error = str(err)
        except CuratorError as err:
            self.error = str(err)
        except Exception as err:  # noqa: BLE001 - reported on the page, never a traceback
            log.exception("training run failed")
            self.error = f"training failed: {type(err).__name__}: {str(err)[:500]}"
        finally:
            self.finished_at = time.time()
            with self._lock:
                phase = "done" if self.error is None else ("cancelled" if self.cancelled else "failed")
                self._status = TrainStatus(phase, self._status.step, self._status.total, self.error or self._status.message)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancel_requested(self) -> bool:
        return self._stop.is_set()

    def status(self) -> TrainStatus:
        with self._lock:
            s = self._status
            return TrainStatus(s.phase, s.step, s.total, s.message)

    def log_lines(self) -> list[str]:
        with self._lock:
            return list(self._log)

    @property
    def seconds(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends; True when it has."""
        self._thread.join(timeout)
        return not self.running


class TrainingJobs:
    """The current (or last) run of this process."""

    def __init__(self) -> None:
        self.current: TrainingJob | None = None
        self._lock = threading.Lock()

    def start(self, target: Target, description: str = "") -> TrainingJob:
        with self._lock:
            if self.current is not None and self.current.running:
                raise CuratorError("a training run is already running; wait for it or cancel it first")
            self.current = TrainingJob(target, description).start()
            return self.current

    def clear(self) -> None:
        """Forget a finished run (a running one stays)."""
        with self._lock:
            if self.current is not None and not self.current.running:
                self.current = None


_JOBS = TrainingJobs()


def jobs() -> TrainingJobs:
    """The training runs of this process (shared by every session of the app)."""
    return _JOBS

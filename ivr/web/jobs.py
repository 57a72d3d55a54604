"""Import jobs: checking and applying a recipient list off the web request, one at a time.

A million-row list takes minutes to check and a minute to merge; the request that
starts the job returns at once (or, for a small list, waits the second it takes) and
the page follows the job's progress through ``GET /api/recipients/jobs/{id}``.  Only
one job runs per process: a second upload while one runs is refused, not queued, so
two lists never race to be the one applied.  Jobs live in memory: the last few stay
visible with their result (counts, line-numbered problems) until the process restarts.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable

from ivr.errors import StoreError
from ivr.store.recipients import ImportProgress

log = logging.getLogger(__name__)

KEPT_JOBS = 20


class JobBusy(RuntimeError):
    """Another import job is running."""


@dataclass
class ImportJob:
    id: str
    kind: str                                  # "check" | "apply"
    filename: str
    size: int
    by: str
    started: dt.datetime
    progress: ImportProgress = field(default_factory=ImportProgress)
    finished: dt.datetime | None = None
    result: object | None = None               # uploads.Preview (check) or uploads.Applied (apply)
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def state(self) -> str:
        if not self.done.is_set():
            return "running"
        return "failed" if self.error else "done"

    def as_dict(self) -> dict:
        p = self.progress
        result = self.result.as_dict() if self.result is not None else None
        return {"id": self.id, "kind": self.kind, "state": self.state, "filename": self.filename,
                "size": self.size, "by": self.by, "started": self.started, "finished": self.finished,
                "phase": p.phase, "percent": 100 if self.done.is_set() else p.percent, "rows_read": p.rows,
                "bytes_read": p.bytes_read, "error": self.error,
                "preview": result if self.kind == "check" else None,
                "applied": result if self.kind == "apply" else None}


class ImportJobs:
    """One import at a time, each in its own thread."""

    def __init__(self, now: Callable[[], dt.datetime]):
        self._now = now
        self._lock = threading.Lock()
        self._jobs: dict[str, ImportJob] = {}
        self._running: ImportJob | None = None

    def start(self, kind: str, work: Callable[[ImportProgress], object], *, filename: str, size: int,
              by: str) -> ImportJob:
        """Run ``work(progress)`` in a new thread; raise JobBusy while another job runs.
        ``work`` owns whatever it was given (the upload file) from the moment it is called."""
        job = ImportJob(uuid.uuid4().hex, kind, filename, size, by, self._now())
        with self._lock:
            if self._running is not None and not self._running.done.is_set():
                raise JobBusy(f"impor '{self._running.filename}' oleh {self._running.by} sedang berjalan")
            self._running = job
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT_JOBS:
                self._jobs.pop(next(iter(self._jobs)))
        thread = threading.Thread(target=self._run, args=(job, work), name=f"import-{kind}", daemon=True)
        try:
            thread.start()
        except RuntimeError:
            self._finish(job, error="tidak bisa memulai impor (server kehabisan thread)")
            raise
        return job

    def _run(self, job: ImportJob, work: Callable[[ImportProgress], object]) -> None:
        try:
            result = work(job.progress)
        except StoreError as exc:
            log.error("import job %s: %s", job.id[:8], exc)
            self._finish(job, error="Basis data sedang tidak bisa dipakai; tidak ada yang diubah. Coba lagi nanti.")
        except Exception:
            # the job's own files were removed by ``work``; the page says what happened
            log.exception("import job %s failed", job.id[:8])
            self._finish(job, error="Impor gagal karena kesalahan di server; tidak ada yang diubah.")
        else:
            self._finish(job, result=result)

    def _finish(self, job: ImportJob, *, result: object | None = None, error: str | None = None) -> None:
        job.result, job.error, job.finished = result, error, self._now()
        job.done.set()

    def get(self, job_id: str) -> ImportJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def latest(self) -> ImportJob | None:
        with self._lock:
            return next(reversed(self._jobs.values()), None)

    def running(self) -> ImportJob | None:
        with self._lock:
            job = self._running
        return job if job is not None and not job.done.is_set() else None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for the running job (tests, shutdown); True when none is left running."""
        job = self.running()
        return job is None or job.done.wait(timeout)

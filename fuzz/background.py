"""Reduction of new findings beside the campaign, so a new finding never stops it.

`fuzz --reduce` hands each new finding to `Reductions.submit`; the engine runs
`fuzz.reduce.reduce_job` in a place of its own (a thread of this process for the local pool, a
Dask task placed like the failing backend on a cluster), and the campaign's main thread collects
the finished ones and keeps them in the store and the corpus, so the store keeps one writer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from fuzz.pipeline import CaseDone
from fuzz.records import OutcomeRecord

REDUCE_BUDGET_S = 120.0


class ThreadRunner:
    """One daemon thread running jobs in order: a reduction never competes with itself, and an
    aborted campaign does not wait for one at exit."""

    def __init__(self, name: str = "reduce") -> None:
        self.jobs: queue.Queue[tuple[Future, Callable[..., Any], dict[str, Any]] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Future:
        fut: Future = Future()
        self.jobs.put((fut, fn, kwargs))
        return fut

    def close(self) -> None:
        self.jobs.put(None)

    def _loop(self) -> None:
        while True:
            item = self.jobs.get()
            if item is None:
                return
            fut, fn, kwargs = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(**kwargs))
            except BaseException as e:
                fut.set_exception(e)


class Reductions:
    """The reductions a campaign started, and what keeping their results takes."""

    def __init__(self, submit: Callable[[dict[str, Any], str], Any], backends: list[str], timeout: float,
                 corpus: Path | None, note: Callable[[str], None], budget_s: float = REDUCE_BUDGET_S,
                 reference: bool = True) -> None:
        self._submit = submit  # (reduce_job kwargs, failing backend) -> a future with done()/result()
        self.backends = backends
        self.timeout = timeout
        self.corpus = corpus
        self.note = note
        self.budget_s = budget_s
        self.reference = reference
        self.pending: list[tuple[str, Any]] = []
        self.done = 0
        self.failed = 0

    def submit(self, done: CaseDone, outcome: OutcomeRecord) -> None:
        if done.case is None:
            return
        kwargs = {"case_json": done.case.to_json(), "backend": outcome.backend, "signature": outcome.signature,
                  "kind": outcome.kind, "backends": list(self.backends), "timeout": self.timeout,
                  "budget_s": self.budget_s, "stage": outcome.stage, "reference": self.reference,
                  "variants": [v.variant for v in done.run.ran_variants()]}
        self.pending.append((outcome.signature, self._submit(kwargs, outcome.backend)))

    def collect(self, store: Any) -> int:
        """Keep every finished reduction; returns how many are still running."""
        from fuzz.reduce import keep_reduced

        still = []
        for sig, fut in self.pending:
            if not fut.done():
                still.append((sig, fut))
                continue
            try:
                job = fut.result()
            except Exception as e:
                self.failed += 1
                self.note(f"reducer failed on {sig[:60]}: {type(e).__name__}: {e}")
                continue
            if job.get("error"):
                self.failed += 1
                self.note(f"not reduced {sig[:60]}: {job['error'][:200]}")
                continue
            try:
                keep_reduced(job, store, self.corpus)
            except OSError as e:
                self.note(f"warning: cannot save the reduced case of {sig[:60]} to {self.corpus}: {e}")
            self.done += 1
            self.note(f"reduced {sig[:70]}: {job['summary']}")
        self.pending = still
        return len(still)

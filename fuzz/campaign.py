"""The campaign loop: generate, reference, run on every backend, judge, store, repeat.

Case i of a campaign is generated from `case_seed(seed, i)`, so a campaign is a pure function of
its config and a rerun can resume with the indices not yet committed. An engine runs the cases:
the local pool (`jobs` pipelines in threads, each with its own backend workers) or a Dask cluster
(`--scheduler`, fuzz/cluster.py); both call `fuzz.pipeline.run_index`, and only this process's
main thread writes the store, in one transaction per case, as results arrive. New findings are
reduced in the background (`--reduce`). Ctrl-C/SIGTERM once: finish the cases in flight; twice:
drop them.
"""

from __future__ import annotations

import hashlib
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz.background import Reductions, ThreadRunner
from fuzz.pipeline import SEED_STRIDE, CaseDone, Pipeline, case_seed, run_index
from fuzz.progress import Progress
from fuzz.records import CaseRecord
from fuzz.store import Store, StoreError, StoreLock
from fuzz.summary import store_summary

__all__ = ["SEED_STRIDE", "Campaign", "CampaignConfig", "IndexSource", "LocalPool", "case_seed"]


def default_name(backends: list[str], seed: int) -> str:
    safe = "-".join("".join(c if c.isalnum() or c in "._" else "_" for c in b) for b in backends)
    return f"{safe}-s{seed}"


@dataclass
class CampaignConfig:
    """What the `fuzz` command asked for."""

    backends: list[str]
    seed: int = 0
    cases: int | None = 100
    minutes: float | None = None
    jobs: int = 1
    weights: dict[str, float] | None = None
    timeout: float = 60.0
    db: Path | None = None
    corpus: Path | None = None  # None: the campaign's own runs/<name>-corpus/ (see corpus_dir)
    save_corpus: bool = True
    name: str = ""
    progress: bool = True
    reduce: bool = False
    reduce_budget: float = 120.0  # seconds per background reduction
    backend_opts: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: int = 1  # metamorphic variants per case (0: none)
    reference: bool = True  # False: judge by the cross-backend and metamorphic oracles alone
    relation_weights: dict[str, float] | None = None
    regressions: bool = False  # keep only findings another release of the family escapes
    scheduler: str | None = None  # tcp://HOST:PORT of a Dask scheduler; None: the local pool
    place: dict[str, str] = field(default_factory=dict)  # backend -> Dask resource name or "any"
    coverage_every: int = 50  # trace the backends' own Python lines in one case of N per worker (0: off)
    guided: bool = False  # atheris' libFuzzer in the first backend's worker makes the inputs (fuzz/guided.py)
    run_opts: dict[str, dict[str, Any]] = field(default_factory=dict)  # set by Campaign.run: run_backend_opts()

    def run_backend_opts(self) -> dict[str, dict[str, Any]]:
        """Backend options of the campaign's own pipelines: coverage sampling on every backend,
        and for --guided atheris in the first (the guide); reductions open plain backends."""
        opts = {n: {**self.backend_opts.get(n, {}), "coverage_every": self.coverage_every} for n in self.backends}
        if self.guided and self.backends:
            opts[self.backends[0]]["guided"] = True
        return {**self.backend_opts, **opts}

    def pipeline_opts(self) -> dict[str, Any]:
        """How every pipeline of this campaign judges (the same on every engine)."""
        return {"variants": self.variants, "reference": self.reference,
                "relation_weights": dict(self.relation_weights or {}), "regressions": self.regressions,
                "confirm_timeouts": True}

    def resolve_names(self, canonical: list[str]) -> None:
        """Adopt canonical backend names, then derive the campaign name and default store path."""
        self.backends = list(canonical)
        self.name = self.name or default_name(self.backends, self.seed) + ("-guided" if self.guided else "")
        if self.db is None:
            self.db = Path("runs") / f"{self.name}.sqlite"

    def corpus_dir(self) -> Path | None:
        """Where new findings' cases go: --corpus, else beside the store (never ./corpus, which CI
        replays: campaign output must not mix into it unasked)."""
        if not self.save_corpus:
            return None
        if self.corpus is not None:
            return self.corpus
        assert self.db is not None
        stem = self.db.name[:-len(".sqlite")] if self.db.name.endswith(".sqlite") else self.db.name
        return self.db.with_name(f"{stem}-corpus")

    def seeds_dir(self) -> Path:
        """--guided: libFuzzer's corpus, the inputs that reached new coverage (resumed from)."""
        assert self.db is not None
        stem = self.db.name[:-len(".sqlite")] if self.db.name.endswith(".sqlite") else self.db.name
        return self.db.with_name(f"{stem}-seeds")


class IndexSource:
    """Hands out the next uncommitted case index to pipeline threads; stops at N or the deadline."""

    def __init__(self, committed: set[int], total: int | None, deadline: float | None,
                 stop: threading.Event) -> None:
        self.committed = committed
        self.total = total
        self.deadline = deadline
        self.stop = stop
        self.next_index = 0
        self.lock = threading.Lock()

    def take(self) -> int | None:
        with self.lock:
            if self.stop.is_set() or (self.deadline is not None and time.monotonic() >= self.deadline):
                return None
            while self.next_index in self.committed:
                self.next_index += 1
            if self.total is not None and self.next_index >= self.total:
                return None
            i = self.next_index
            self.next_index += 1
            return i


class LocalPool:
    """The default engine: `jobs` pipelines, each in a long-lived thread of this process.

    Each pipeline warms its backends in its own thread: workers may be tied to the thread that
    started them (PR_SET_PDEATHSIG fires when that *thread* exits).
    """

    def __init__(self, cfg: CampaignConfig, first: Pipeline, user_names: list[str],
                 stop: threading.Event, abort: threading.Event) -> None:
        self.cfg = cfg
        self.stop = stop
        self.abort = abort
        self.pipelines = [first]
        for _ in range(cfg.jobs - 1):
            self.pipelines.append(Pipeline(user_names, cfg.timeout, cfg.run_opts or cfg.backend_opts,
                                           order=cfg.backends,
                                           **cfg.pipeline_opts()))
        self.threads: list[threading.Thread] = []
        self.go_event = threading.Event()
        self.user_names = user_names
        self.reducer: ThreadRunner | None = None
        self.reduce_pipeline: Pipeline | None = None  # the reduction thread's own warm backends

    @property
    def slots(self) -> int:
        return len(self.pipelines)

    @property
    def producers(self) -> int:
        """How many `None` ends the results queue will see."""
        return len(self.threads)

    def start(self, source: IndexSource, results: queue.Queue[CaseDone | BaseException | None]) -> None:
        """Start the threads and wait until every pipeline is warm; raise the first warm-up error."""
        warmed: queue.Queue[BaseException | None] = queue.Queue()
        self.threads = [threading.Thread(target=self._worker, args=(p, source, results, warmed), daemon=True,
                                         name=f"pipeline-{k}") for k, p in enumerate(self.pipelines)]
        for t in self.threads:
            t.start()
        warm_error: BaseException | None = None
        pending = len(self.threads)
        while pending and not self.abort.is_set():
            try:
                e = warmed.get(timeout=0.2)
            except queue.Empty:
                continue
            pending -= 1
            warm_error = warm_error or e
        if warm_error is not None:
            self.stop.set()
            self.go_event.set()
            for t in self.threads:
                t.join(timeout=5.0)
            raise warm_error

    def go(self) -> None:
        self.go_event.set()

    def backend_time(self) -> float:
        return sum(p.backend_time() for p in self.pipelines)

    def kill(self) -> None:
        for p in self.pipelines:  # a pipeline may be blocked on a worker: kill it
            p.kill()

    def join(self, abort: bool) -> None:
        for t in self.threads:
            t.join(timeout=5.0 if abort else None)

    def close(self) -> None:
        for p in self.pipelines:
            p.close()
        if self.reducer is not None:
            self.reducer.close()
        if self.reduce_pipeline is not None:
            self.reduce_pipeline.close()

    def submit_reduce(self, kwargs: dict[str, Any], backend: str) -> Future:
        """Reductions run one after another in one thread, on backends of their own that stay
        warm from one finding to the next."""
        from fuzz.reduce import reduce_job

        if self.reducer is None:
            self.reducer = ThreadRunner()
            self.reduce_pipeline = Pipeline(self.user_names, self.cfg.timeout, self.cfg.backend_opts,
                                            reference=self.cfg.reference)
        assert self.reduce_pipeline is not None
        return self.reducer.submit(reduce_job, {**kwargs, "opened": self.reduce_pipeline.backends})

    def _ready(self, warm: Callable[[], None], warmed: queue.Queue[BaseException | None]) -> bool:
        """A worker's start: warm up, tell the main thread how that went (it re-raises a failure),
        then wait for the go. False: the worker stops (its warm-up failed, or the run aborted)."""
        try:
            warm()
        except BaseException as e:  # raised by the main thread
            warmed.put(e)
            return False
        warmed.put(None)
        while not self.go_event.wait(0.2):
            if self.abort.is_set():
                return False
        return True

    def _worker(self, pipeline: Pipeline, source: IndexSource,
                results: queue.Queue[CaseDone | BaseException | None],
                warmed: queue.Queue[BaseException | None]) -> None:
        try:
            if not self._ready(pipeline.warm, warmed):
                return
            while not self.stop.is_set():
                i = source.take()
                if i is None:
                    break
                done = run_index(pipeline, self.cfg.seed, self.cfg.weights, i)
                if self.abort.is_set():
                    break
                results.put(done)
        except BaseException as e:
            if not self.abort.is_set():
                err = RuntimeError(f"{threading.current_thread().name} failed: {type(e).__name__}: {e}\n"
                                   f"{traceback.format_exc()}")
                results.put(err)
        finally:
            results.put(None)


class Campaign:
    """Runs one campaign to completion, interruption, or its time budget; returns the summary."""

    def __init__(self, cfg: CampaignConfig) -> None:
        self.cfg = cfg
        self.stop = threading.Event()
        self.abort = threading.Event()
        self.engine: Any = None
        self.progress: Progress | None = None
        self.interrupts = 0
        self.started = time.monotonic()
        self.clock0 = 0.0

    # ---- signals ----------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        self.interrupts += 1
        name = signal.Signals(signum).name
        if self.interrupts == 1:
            self.stop.set()
            self._note(f"{name}: finishing the case(s) in flight; send it again to drop them")
        else:
            self.abort.set()
            self.stop.set()
            self._note(f"{name}: dropping the case(s) in flight and closing the workers")

    def _note(self, text: str) -> None:
        if self.progress:
            self.progress.note(text)
        else:
            print(text, file=sys.stderr, flush=True)

    # ---- main -------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        import generators

        cfg = self.cfg
        # Open backends first: an unknown name must fail before a campaign row exists.
        if cfg.guided and (cfg.scheduler or cfg.jobs != 1):
            from fuzz.options import UsageError

            raise UsageError("--guided runs one libFuzzer in one local pipeline: drop --jobs/--scheduler")
        cfg.run_opts = cfg.run_backend_opts()  # keyed by the names as given, as backend_opts is
        first: Pipeline | None = Pipeline(cfg.backends, cfg.timeout, cfg.run_opts, **cfg.pipeline_opts())
        assert first is not None
        user_names = list(cfg.backends)
        cfg.resolve_names(list(first.backends))
        first.order = list(cfg.backends)
        assert cfg.db is not None
        lock: StoreLock | None = None
        store: Store | None = None
        old_handlers: dict[int, Any] = {}
        try:
            if cfg.scheduler:  # connect before the store exists: a wrong address changes nothing
                from fuzz.cluster import DaskEngine

                first.close()
                first = None
                self.engine = DaskEngine(cfg, user_names, self.stop, self.abort, self._note)
            cfg.db.parent.mkdir(parents=True, exist_ok=True)
            lock = StoreLock(cfg.db)
            store = Store(cfg.db)
            config = {"backends": cfg.backends, "seed": cfg.seed, "weights": cfg.weights,
                      "generator_version": generators.GENERATOR_VERSION, "timeout": cfg.timeout,
                      "seed_stride": SEED_STRIDE, "variants": cfg.variants, "reference": cfg.reference,
                      "relation_weights": cfg.relation_weights,
                      **({"regressions": True} if cfg.regressions else {}),
                      **({"guided": True} if cfg.guided else {})}
            campaign, resumed = store.open_campaign(cfg.name, config)
            committed = store.committed_indices(campaign)
            if first is not None and cfg.guided:
                from fuzz.guided import GuidedPool

                self.engine = GuidedPool(cfg, first, user_names, self.stop, self.abort,
                                         judged=store.guided_inputs(campaign), note=self._note)
                first = None
            elif first is not None:
                self.engine = LocalPool(cfg, first, user_names, self.stop, self.abort)
                first = None
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    old_handlers[sig] = signal.signal(sig, self._on_signal)
            known = store.known_signatures()
            seen = store.campaign_signatures(campaign)
            total = cfg.cases
            self.progress = Progress(cfg.backends, total, done_before=len(committed),
                                     findings_before=len(seen), enabled=cfg.progress)
            if resumed and committed:
                self._note(f"resuming campaign #{campaign} ({cfg.name}) in {cfg.db}: "
                           f"{len(committed)} cases already committed")
            session = self._loop(store, campaign, committed, known, seen)
            summary = store_summary(store, campaign)
            summary.update({"command": "fuzz", "name": cfg.name, "resumed": resumed, "config": config,
                            "session": session, "kernels_per_s": session["kernels_per_s"]})
            return summary
        finally:
            self.stop.set()  # if the main thread failed, pipeline threads must not start new cases
            if first is not None:
                first.close()
            if self.engine is not None:
                self.engine.close()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if store is not None:
                store.close()
            if lock is not None:
                lock.release()

    def _loop(self, store: Store, campaign: int, committed: set[int], known: set[str],
              seen: set[str]) -> dict[str, Any]:
        cfg = self.cfg
        progress = self.progress
        engine = self.engine
        assert progress is not None and engine is not None
        t_warm = time.perf_counter()
        source = IndexSource(committed, cfg.cases, None, self.stop)
        results: queue.Queue[CaseDone | BaseException | None] = queue.Queue()
        engine.start(source, results)
        warm_s = time.perf_counter() - t_warm

        backend_before = engine.backend_time()
        start = self.started = time.monotonic()
        self.clock0 = store.coverage_elapsed(campaign)  # a resumed campaign's coverage clock continues
        progress.start = start
        source.deadline = start + cfg.minutes * 60 if cfg.minutes is not None else None
        engine.go()

        stats = {"cases": 0, "gen_s": 0.0, "ref_s": 0.0, "backend_s": 0.0, "judge_s": 0.0,
                 "store_s": 0.0, "harness_errors": 0, "variants_run": 0, "variants_skipped": 0,
                 "variant_s": 0.0}
        new_signatures: list[str] = []
        reductions = (Reductions(engine.submit_reduce, cfg.backends, cfg.timeout, cfg.corpus_dir(), self._note,
                                 cfg.reduce_budget, cfg.reference) if cfg.reduce else None)
        while_reducing = 0  # cases committed while a reduction ran: the campaign did not stop for it
        live = engine.producers
        error: BaseException | None = None
        while live and not self.abort.is_set():
            try:
                item = results.get(timeout=0.2)
            except queue.Empty:
                progress.maybe_print()
                if reductions is not None:
                    reductions.collect(store)
                continue
            if item is None:
                live -= 1
                continue
            if isinstance(item, BaseException):
                error = item
                self.stop.set()
                continue
            if self.abort.is_set():
                break
            if reductions is not None and reductions.collect(store):
                while_reducing += 1
            t = time.perf_counter()
            rec, new = self._commit(store, campaign, item, known)
            stats["store_s"] += time.perf_counter() - t
            for key in ("gen_s", "ref_s", "backend_s", "judge_s"):
                stats[key] += getattr(rec, key)
            stats["cases"] += 1
            stats["variants_run"] += len(item.run.ran_variants())
            stats["variants_skipped"] += len(item.run.variants) - len(item.run.ran_variants())
            stats["variant_s"] += item.run.variant_s
            harness = sum(1 for o in rec.outcomes if o.origin == "harness")
            stats["harness_errors"] += harness
            seen.update(o.signature for o in rec.findings())
            new_signatures.extend(new)
            ok = [o.backend for o in rec.outcomes if o.origin == "judge" and o.kind == "ok"]
            for sig in new:
                o = next(o for o in rec.findings() if o.signature == sig)
                progress.note(f"new finding: {o.kind} on {o.backend} at {o.stage or '?'} "
                              f"(case {rec.index}, {rec.case_id}): {sig[:100]}")
                if reductions is not None:
                    reductions.submit(item, o)
            progress.add(rec.valid, ok, harness, len(new), len(seen))
        wall = time.monotonic() - start
        # All backend time, including dropped cases and calls still in flight at an abort.
        backend_all = engine.backend_time() - backend_before
        if self.abort.is_set():
            engine.kill()
        engine.join(self.abort.is_set())
        if reductions is not None and error is None:
            waiting = reductions.collect(store)
            if waiting and not self.abort.is_set():
                progress.note(f"waiting for {waiting} background reduction(s) (Ctrl-C twice drops them)")
            while waiting and not self.abort.is_set():
                time.sleep(0.2)
                waiting = reductions.collect(store)
        progress.finish()
        if error is not None:
            raise error
        capacity = wall * max(1, engine.slots)
        return {
            **stats,
            "wall_s": wall,
            "warm_s": warm_s,
            "jobs": engine.slots,
            "engine": "dask" if cfg.scheduler else "local",
            "kernels_per_s": stats["cases"] / wall if wall > 0 else 0.0,
            "backend_all_s": backend_all,
            "outside_share": min(1.0, max(0.0, 1.0 - backend_all / capacity)) if capacity > 0 else 0.0,
            "interrupted": self.interrupts > 0,
            "aborted": self.abort.is_set(),
            "new_signatures": new_signatures,
            "reduced": reductions.done if reductions is not None else 0,
            "committed_while_reducing": while_reducing,
            **({"guided": engine.guided_stats()} if hasattr(engine, "guided_stats") else {}),
        }

    def _commit(self, store: Store, campaign: int, done: CaseDone,
                known: set[str]) -> tuple[CaseRecord, list[str]]:
        """Save new findings' cases to the corpus, then write the case in one transaction."""
        run, case = done.run, done.case
        rec = CaseRecord(campaign=campaign, index=done.index, seed=done.seed, gen_s=done.gen_s,
                         ref_s=run.ref_s, backend_s=run.backend_s, judge_s=run.judge_s,
                         valid=run.valid and not done.gen_error, reason=done.gen_error or run.reason,
                         outcomes=run.records, coverage=run.coverage, guided_input=done.guided_input,
                         elapsed_s=self.clock0 + time.monotonic() - self.started)
        if case is not None:
            rec.case_id = case.case_id
            rec.features = list(case.features)
        findings = rec.findings()
        if findings and case is not None:
            from fuzz.outputs import summarize, summarize_variants

            rec.case_json = case.to_json()
            ran = run.ran_variants()
            if ran:  # the other forms, to re-derive for reduce, report and replay
                rec.case_json["variants"] = [v.variant.to_json() for v in ran]
            rec.outputs_summary = summarize(case, run.ref, run.results, run.outcomes)
            if ran:
                rec.outputs_summary["variants"] = summarize_variants(run)
            fresh = [o for o in findings if o.signature not in known]
            corpus = self.cfg.corpus_dir()
            if fresh and corpus is not None:
                # Written before the commit: if we die in between, the rerun rewrites the same file.
                # A file that cannot be written stops the campaign before the case is committed, so
                # the rerun runs the case again and writes the file then: no finding without its file.
                from fuzz.corpus import save_case

                first = fresh[0]
                origin = (f"guided input {hashlib.sha1(done.guided_input).hexdigest()[:12]}"
                          if done.guided_input is not None else f"seed {done.seed}")
                note = (f"{self.cfg.name} case {done.index} ({origin}): {first.kind} on "
                        f"{first.backend} at {first.stage or '?'}: {first.message.strip()[:200]}")
                extra: dict[str, Any] = {"variants": rec.case_json["variants"]} if "variants" in rec.case_json else {}
                if not self.cfg.reference:
                    extra["reference"] = False  # replay must judge it as this campaign did
                try:
                    save_case(corpus, case, run.verdicts(), note, extra or None)
                except OSError as e:
                    raise StoreError(f"{corpus}: cannot save the case of a new finding ({e.strerror or e}); "
                                     "the campaign stops here and nothing is lost: fix that and rerun the "
                                     "same command to resume") from None
        new = store.record_case(rec)
        known.update(new)
        return rec, new

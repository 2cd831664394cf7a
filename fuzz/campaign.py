"""The campaign loop: generate, reference, run on every backend, judge, store, repeat.

Case i of a campaign is generated from `case_seed(seed, i)`, so a campaign is a pure function of
its config and a rerun can resume with the indices not yet committed. `jobs` pipelines run in
threads (each with its own backend workers); only the main thread writes the store, in one
transaction per case. Ctrl-C/SIGTERM once: finish the cases in flight; twice: drop them.
"""

from __future__ import annotations

import importlib
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz.pipeline import CaseRun, Pipeline
from fuzz.progress import Progress
from fuzz.records import CaseRecord
from fuzz.store import Store, StoreError, StoreLock
from fuzz.summary import store_summary

SEED_STRIDE = 1_000_003


def case_seed(campaign_seed: int, index: int) -> int:
    """Seed of case `index`: distinct across indices and (for indices < stride) across campaigns."""
    return campaign_seed * SEED_STRIDE + index


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
    backend_opts: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: int = 1  # metamorphic variants per case (0: none)
    reference: bool = True  # False: judge by the cross-backend and metamorphic oracles alone
    relation_weights: dict[str, float] | None = None

    def resolve_names(self, canonical: list[str]) -> None:
        """Adopt canonical backend names, then derive the campaign name and default store path."""
        self.backends = list(canonical)
        self.name = self.name or default_name(self.backends, self.seed)
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


@dataclass
class _Done:
    index: int
    seed: int
    case: Any
    run: CaseRun
    gen_s: float
    gen_error: str = ""


class Campaign:
    """Runs one campaign to completion, interruption, or its time budget; returns the summary."""

    def __init__(self, cfg: CampaignConfig) -> None:
        self.cfg = cfg
        self.stop = threading.Event()
        self.abort = threading.Event()
        self.pipelines: list[Pipeline] = []
        self.progress: Progress | None = None
        self.interrupts = 0

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
        self.pipelines = [self._pipeline(cfg.backends)]
        user_names = list(cfg.backends)
        cfg.resolve_names(list(self.pipelines[0].backends))
        assert cfg.db is not None
        cfg.db.parent.mkdir(parents=True, exist_ok=True)
        lock: StoreLock | None = None
        store: Store | None = None
        old_handlers: dict[int, Any] = {}
        try:
            lock = StoreLock(cfg.db)
            store = Store(cfg.db)
            config = {"backends": cfg.backends, "seed": cfg.seed, "weights": cfg.weights,
                      "generator_version": generators.GENERATOR_VERSION, "timeout": cfg.timeout,
                      "seed_stride": SEED_STRIDE, "variants": cfg.variants, "reference": cfg.reference,
                      "relation_weights": cfg.relation_weights}
            campaign, resumed = store.open_campaign(cfg.name, config)
            committed = store.committed_indices(campaign)
            for _ in range(cfg.jobs - 1):
                self.pipelines.append(self._pipeline(user_names))
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
            for p in self.pipelines:
                p.close()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
            if store is not None:
                store.close()
            if lock is not None:
                lock.release()

    def _pipeline(self, names: list[str]) -> Pipeline:
        cfg = self.cfg
        return Pipeline(names, cfg.timeout, cfg.backend_opts, variants=cfg.variants, reference=cfg.reference,
                        relation_weights=cfg.relation_weights)

    def _loop(self, store: Store, campaign: int, committed: set[int], known: set[str],
              seen: set[str]) -> dict[str, Any]:
        cfg = self.cfg
        progress = self.progress
        assert progress is not None
        # Each pipeline warms its backends in its own long-lived thread: workers may be tied to
        # the thread that started them (PR_SET_PDEATHSIG fires when that *thread* exits).
        t_warm = time.perf_counter()
        source = IndexSource(committed, cfg.cases, None, self.stop)
        results: queue.Queue[_Done | BaseException | None] = queue.Queue()
        warmed: queue.Queue[BaseException | None] = queue.Queue()
        go = threading.Event()
        threads = [threading.Thread(target=self._worker, args=(p, source, results, warmed, go), daemon=True,
                                    name=f"pipeline-{k}") for k, p in enumerate(self.pipelines)]
        for t in threads:
            t.start()
        warm_error: BaseException | None = None
        pending = len(threads)
        while pending and not self.abort.is_set():
            try:
                e = warmed.get(timeout=0.2)
            except queue.Empty:
                continue
            pending -= 1
            warm_error = warm_error or e
        if warm_error is not None:
            self.stop.set()
        warm_s = time.perf_counter() - t_warm

        backend_before = sum(p.backend_time() for p in self.pipelines)
        start = time.monotonic()
        progress.start = start
        source.deadline = start + cfg.minutes * 60 if cfg.minutes is not None else None
        go.set()
        if warm_error is not None:
            for t in threads:
                t.join(timeout=5.0)
            raise warm_error

        stats = {"cases": 0, "gen_s": 0.0, "ref_s": 0.0, "backend_s": 0.0, "judge_s": 0.0,
                 "store_s": 0.0, "harness_errors": 0, "variants_run": 0, "variants_skipped": 0,
                 "variant_s": 0.0}
        new_signatures: list[str] = []
        live = len(threads)
        error: BaseException | None = None
        while live and not self.abort.is_set():
            try:
                item = results.get(timeout=0.2)
            except queue.Empty:
                progress.maybe_print()
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
            progress.add(rec.valid, ok, harness, len(new), len(seen))
            if new and cfg.reduce:
                self._reduce(item, rec, new)
        wall = time.monotonic() - start
        # All backend time, including dropped cases and calls still in flight at an abort.
        backend_all = sum(p.backend_time() for p in self.pipelines) - backend_before
        if self.abort.is_set():
            for p in self.pipelines:  # a pipeline may be blocked on a worker: kill it
                p.kill()
        for t in threads:
            t.join(timeout=5.0 if self.abort.is_set() else None)
        progress.finish()
        if error is not None:
            raise error
        capacity = wall * max(1, len(self.pipelines))
        return {
            **stats,
            "wall_s": wall,
            "warm_s": warm_s,
            "jobs": len(self.pipelines),
            "kernels_per_s": stats["cases"] / wall if wall > 0 else 0.0,
            "backend_all_s": backend_all,
            "outside_share": min(1.0, max(0.0, 1.0 - backend_all / capacity)) if capacity > 0 else 0.0,
            "interrupted": self.interrupts > 0,
            "aborted": self.abort.is_set(),
            "new_signatures": new_signatures,
        }

    def _worker(self, pipeline: Pipeline, source: IndexSource,
                results: queue.Queue[_Done | BaseException | None],
                warmed: queue.Queue[BaseException | None], go: threading.Event) -> None:
        import generators

        try:
            try:
                pipeline.warm()
            except BaseException as e:  # raised by the main thread
                warmed.put(e)
                return
            warmed.put(None)
            while not go.wait(0.2):
                if self.abort.is_set():
                    return
            while not self.stop.is_set():
                i = source.take()
                if i is None:
                    break
                seed = case_seed(self.cfg.seed, i)
                t = time.perf_counter()
                try:
                    case = generators.generate(seed, self.cfg.weights)
                except Exception as e:
                    results.put(_Done(i, seed, None, CaseRun(valid=False), time.perf_counter() - t,
                                      gen_error=f"generator raised {type(e).__name__}: {e}"))
                    continue
                gen_s = time.perf_counter() - t
                run = pipeline.run(case)
                if self.abort.is_set():
                    break
                results.put(_Done(i, seed, case, run, gen_s))
        except BaseException as e:
            if not self.abort.is_set():
                err = RuntimeError(f"{threading.current_thread().name} failed: {type(e).__name__}: {e}\n"
                                   f"{traceback.format_exc()}")
                results.put(err)
        finally:
            results.put(None)

    def _commit(self, store: Store, campaign: int, done: _Done,
                known: set[str]) -> tuple[CaseRecord, list[str]]:
        """Save new findings' cases to the corpus, then write the case in one transaction."""
        run, case = done.run, done.case
        rec = CaseRecord(campaign=campaign, index=done.index, seed=done.seed, gen_s=done.gen_s,
                         ref_s=run.ref_s, backend_s=run.backend_s, judge_s=run.judge_s,
                         valid=run.valid and not done.gen_error, reason=done.gen_error or run.reason,
                         outcomes=run.records)
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
                note = (f"{self.cfg.name} case {done.index} (seed {done.seed}): {first.kind} on "
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

    def _reduce(self, done: _Done, rec: CaseRecord, new: list[str]) -> None:
        """Hook: hand a new finding to `fuzz.reduce.reduce_finding` when that module exists."""
        try:
            mod = importlib.import_module("fuzz.reduce")
        except ModuleNotFoundError as e:
            if e.name == "fuzz.reduce":
                return
            raise
        fn = getattr(mod, "reduce_finding", None)
        if fn is None:
            return
        for sig in new:
            outcome = next(o for o in rec.findings() if o.signature == sig)
            try:
                fn(case=done.case, outcome=outcome, backends=self.cfg.backends, timeout=self.cfg.timeout,
                   corpus_dir=self.cfg.corpus_dir(), store_path=self.cfg.db, reference=self.cfg.reference,
                   variants=[v.variant for v in done.run.ran_variants()])
            except Exception as e:
                self._note(f"reducer failed on {sig[:60]}: {type(e).__name__}: {e}")

"""One case through reference, backends and oracles: shared by campaigns, replay and reduce.

A pipeline owns one instance of each backend (each a worker subprocess), so J pipelines in J
threads run J cases at once without sharing a worker. Failures of tritondiff's own code (a backend
wrapper or an oracle raising) become `harness` outcomes: visible in summaries, never findings.

`run_index` is the unit of work of every campaign engine: the local pool calls it in its threads,
a Dask worker calls it in its tasks. When a case's backends live on different hosts (the cuda one
on a GPU host), `run_index(judge=False)` runs the first group and `finish_index` the rest, which
then judges all results in the campaign's backend order, so the verdicts are the same as locally.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fuzz.options import UsageError
from fuzz.records import OutcomeRecord

CROSS_PREFIX = "cross:"
SEED_STRIDE = 1_000_003


def case_seed(campaign_seed: int, index: int) -> int:
    """Seed of case `index`: distinct across indices and (for indices < stride) across campaigns."""
    return campaign_seed * SEED_STRIDE + index


@dataclass
class CaseRun:
    """What running one case produced."""

    valid: bool = True
    reason: str = ""
    ref: Any = None
    results: dict[str, Any] = field(default_factory=dict)  # backend -> RunResult
    outcomes: list[Any] = field(default_factory=list)  # oracles.outcome.Outcome (judge, then cross)
    records: list[OutcomeRecord] = field(default_factory=list)
    ref_s: float = 0.0
    backend_s: float = 0.0
    judge_s: float = 0.0

    def has_finding(self) -> bool:
        return any(r.is_finding for r in self.records)

    def verdicts(self) -> dict[str, dict[str, str]]:
        """{backend: {kind, signature}}, the form corpus files expect; divergences as `cross:<name>`."""
        out: dict[str, dict[str, str]] = {}
        for r in self.records:
            key = f"{CROSS_PREFIX}{r.backend}" if r.origin == "cross" else r.backend
            out[key] = {"kind": r.kind, "signature": r.signature}
        return out


@dataclass
class CaseDone:
    """One case index of a campaign, generated and run: what an engine hands back to be stored."""

    index: int
    seed: int
    case: Any
    run: CaseRun
    gen_s: float
    gen_error: str = ""

    def slim(self) -> CaseDone:
        """Drop the raw outputs and reference of a case without a finding (only findings keep
        them), so a remote engine ships little more than the verdicts back."""
        if not self.run.has_finding():
            self.run.ref = None
            self.run.results = {}
        return self


def run_index(pipeline: Pipeline, campaign_seed: int, weights: dict[str, float] | None, index: int,
              judge: bool = True) -> CaseDone:
    """Generate case `index` of a campaign and run it through `pipeline` (reference, backends,
    and unless `judge` is False, the oracles)."""
    import generators

    seed = case_seed(campaign_seed, index)
    t = time.perf_counter()
    try:
        case = generators.generate(seed, weights)
    except Exception as e:
        return CaseDone(index, seed, None, CaseRun(valid=False), time.perf_counter() - t,
                        gen_error=f"generator raised {type(e).__name__}: {e}")
    gen_s = time.perf_counter() - t
    return CaseDone(index, seed, case, pipeline.run(case, judge=judge), gen_s)


def finish_index(pipeline: Pipeline, done: CaseDone, judge: bool = True) -> CaseDone:
    """Run `pipeline`'s backends on a case that `run_index(judge=False)` began with other backends
    (elsewhere), then judge every result. Invalid cases pass through untouched, as locally."""
    if done.case is None or not done.run.valid or done.gen_error:
        return done
    pipeline.run_backends(done.case, done.run)
    if judge:
        pipeline.judge(done.case, done.run)
    return done


def _open_backend_fn() -> Callable[..., Any]:
    """`open_backend`, from the registry or the backends package (wherever it lives)."""
    from backends import registry

    fn = getattr(registry, "open_backend", None)
    if fn is None:
        import backends

        fn = backends.open_backend
    return fn


def fallback_signature(backend: str, kind: str, stage: str, message: str) -> str:
    first = (message or "").strip().splitlines()[0][:120] if (message or "").strip() else ""
    return f"{backend}|{kind}|{stage}|{first}"


def _short_exc(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def evaluate_reference(case: Any) -> tuple[Any, bool, str]:
    """(reference or None, valid, reason). UB means the generator erred: invalid, not a finding."""
    from oracles import reference

    try:
        return reference.evaluate(case), True, ""
    except reference.UndefinedBehaviour as e:
        return None, False, str(e) or type(e).__name__
    except Exception as e:  # a reference gap or bug: judge without it, cross-check instead
        return None, True, f"no reference: {_short_exc(e)}"


class Pipeline:
    """Backends opened for one thread; `run(case)` judges the case on each of them."""

    def __init__(self, backend_names: list[str], timeout: float,
                 backend_opts: dict[str, dict[str, Any]] | None = None,
                 opened: dict[str, Any] | None = None, order: list[str] | None = None) -> None:
        self.timeout = timeout
        self.order = list(order or [])  # the campaign's canonical backends: the judging order
        self.backends: dict[str, Any] = {}
        self.backend_s = 0.0  # all time inside Backend.run, kept or dropped cases alike
        self.call_started: float | None = None  # perf_counter() of the call in flight
        # Keyed by each backend's canonical name (`cuda` -> `cuda@3.9.0:sm_90`), as results are.
        if opened is not None:  # instances owned by the caller (replay shares them across cases)
            self.backends = {opened[n].name: opened[n] for n in backend_names}
            return
        open_backend = _open_backend_fn()
        try:
            for name in backend_names:
                try:
                    b = open_backend(name, **(backend_opts or {}).get(name, {}))
                except ValueError as e:  # unknown or malformed name: the registry says why
                    raise UsageError(f"backend {name!r}: {e}") from e
                if b.name in self.backends:
                    b.close()
                    raise UsageError(f"--backends: {name!r} and another name both mean {b.name!r}")
                self.backends[b.name] = b
        except BaseException:
            self.close()
            raise

    def warm(self) -> None:
        for b in self.backends.values():
            b.warm()

    def close(self) -> None:
        for b in self.backends.values():
            try:
                b.close()
            except Exception:
                pass

    def backend_time(self) -> float:
        """Time inside Backend.run so far, counting a call still in flight."""
        started = self.call_started
        return self.backend_s + (time.perf_counter() - started if started is not None else 0.0)

    def kill(self) -> None:
        """Kill the live workers now (a close would wait for the case in flight)."""
        for b in self.backends.values():
            pid = getattr(b, "worker_pid", None)
            if not pid:
                continue
            try:
                os.killpg(pid, signal.SIGKILL)  # workers lead their own process group
            except OSError:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def run(self, case: Any, run_invalid: bool = False, judge: bool = True) -> CaseRun:
        out = CaseRun()
        t0 = time.perf_counter()
        out.ref, out.valid, out.reason = evaluate_reference(case)
        out.ref_s = time.perf_counter() - t0
        if not out.valid and not run_invalid:
            return out
        self.run_backends(case, out)
        if judge:
            self.judge(case, out)
        return out

    def run_backends(self, case: Any, out: CaseRun) -> None:
        """Run the case on each backend of this pipeline, adding results (and the outcomes of
        backends that could not run it) to `out`."""
        from backends.profiles import unsupported_reason
        from oracles.outcome import Outcome

        for name, backend in self.backends.items():
            why = unsupported_reason(name, list(case.features))
            if why is not None:  # outside the backend's profile: never run, never a finding
                out.outcomes.append(Outcome(name, "unsupported", "profile", why))
                out.records.append(OutcomeRecord(name, "unsupported", "profile", "", why, origin="judge"))
                continue
            t = self.call_started = time.perf_counter()
            try:
                out.results[name] = backend.run(case, self.timeout)
            except Exception as e:
                out.records.append(OutcomeRecord(
                    name, "unsupported", "harness", f"harness:{name}:{type(e).__name__}",
                    f"tritondiff backend wrapper raised {_short_exc(e)}\n{traceback.format_exc(limit=4)}",
                    origin="harness"))
            finally:
                dt = time.perf_counter() - t
                out.backend_s += dt
                self.backend_s += dt
                self.call_started = None

    def judge(self, case: Any, out: CaseRun) -> None:
        """Judge every result in `out` against the reference (or each other), in the campaign's
        backend order whichever pipelines produced them."""
        from oracles.judge import cross_check, judge

        rank = {n: i for i, n in enumerate(self.order or list(self.backends))}
        last = len(rank)
        out.records.sort(key=lambda r: rank.get(r.backend, last))
        out.outcomes.sort(key=lambda o: rank.get(o.backend, last))
        out.results = dict(sorted(out.results.items(), key=lambda kv: rank.get(kv[0], last)))
        t = time.perf_counter()
        for name, res in out.results.items():
            if res.status == "harness":  # we failed to run it (outside kill, memory limit): never a finding
                out.records.append(OutcomeRecord(name, "unsupported", "harness", f"harness:{name}:worker",
                                                 res.message, wall_s=res.wall_s, origin="harness"))
                continue
            try:
                o = judge(case, out.ref, res)
            except Exception as e:
                out.records.append(OutcomeRecord(
                    name, "unsupported", "harness", f"harness:judge:{type(e).__name__}",
                    f"oracles.judge raised {_short_exc(e)}\n{traceback.format_exc(limit=4)}",
                    origin="harness"))
                continue
            out.outcomes.append(o)
            out.records.append(self._record(o, res, "judge"))
        if out.ref is None and len(out.results) >= 2:
            try:
                for o in cross_check(case, out.results):
                    out.outcomes.append(o)
                    out.records.append(self._record(o, None, "cross"))
            except Exception as e:
                out.records.append(OutcomeRecord(
                    "+".join(out.results), "unsupported", "harness",
                    f"harness:cross_check:{type(e).__name__}",
                    f"oracles.judge.cross_check raised {_short_exc(e)}", origin="harness"))
        out.judge_s = time.perf_counter() - t

    @staticmethod
    def _record(o: Any, res: Any, origin: str) -> OutcomeRecord:
        sig = o.signature or (fallback_signature(o.backend, o.kind, o.stage, o.message)
                              if o.is_finding else "")
        return OutcomeRecord(
            backend=o.backend, kind=o.kind, stage=o.stage or "", signature=sig, message=o.message or "",
            compile_s=float(getattr(res, "compile_s", 0.0) or 0.0),
            run_s=float(getattr(res, "run_s", 0.0) or 0.0),
            launch_s=float(getattr(res, "launch_s", 0.0) or 0.0),
            wall_s=float(getattr(res, "wall_s", 0.0) or 0.0), origin=origin)

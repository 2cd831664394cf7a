"""One case through reference, backends and oracles: shared by campaigns, replay, reduce, bench.

A pipeline owns one instance of each backend (each a worker subprocess), so J pipelines in J
threads run J cases at once without sharing a worker. Failures of tritondiff's own code (a backend
wrapper or an oracle raising) become `harness` outcomes: visible in summaries, never findings.

Oracles, in order: the reference judges each backend (unless switched off); the cross-backend
oracle compares every pair that produced outputs and votes when there is no reference; the
metamorphic oracle derives `variants` equivalent forms of the case and judges each backend against
itself on them. A variant whose reference differs from the base's is a harness event (a relation
that is not semantics-preserving is tritondiff's bug), never a finding.

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
META_PREFIX = "meta:"
SEED_STRIDE = 1_000_003


def case_seed(campaign_seed: int, index: int) -> int:
    """Seed of case `index`: distinct across indices and (for indices < stride) across campaigns."""
    return campaign_seed * SEED_STRIDE + index


@dataclass
class VariantRun:
    """One metamorphic variant of a case: how it was derived, and what each backend made of it."""

    variant: Any  # oracles.metamorphic.Variant
    case: Any = None  # KernelCase of the variant form, None when it was not derived
    ref: Any = None
    note: str = ""  # why it was not run (not applicable, refused by the reference, ...)
    results: dict[str, Any] = field(default_factory=dict)
    outcomes: list[Any] = field(default_factory=list)
    seconds: float = 0.0  # deriving, proving, running and judging it


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
    variants: list[VariantRun] = field(default_factory=list)
    agreement: dict[str, Any] = field(default_factory=dict)  # cross-backend groups and pairs
    variant_s: float = 0.0  # deriving, proving and running variants (inside backend_s too)
    # Lines of each backend's own Python its worker ran for the first time: {backend: {file: [lines]}}
    coverage: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def ran_variants(self) -> list[VariantRun]:
        return [v for v in self.variants if v.case is not None and not v.note]

    def has_finding(self) -> bool:
        return any(r.is_finding for r in self.records)

    def verdicts(self) -> dict[str, dict[str, str]]:
        """{backend: {kind, signature}}, the form corpus files expect; divergences as `cross:<name>`."""
        out: dict[str, dict[str, str]] = {}
        for r in self.records:
            key = verdict_key(r)
            if key in out and r.origin == "metamorphic" and not r.is_finding:
                continue
            out[key] = {"kind": r.kind, "signature": r.signature}
        return out


def verdict_key(r: OutcomeRecord) -> str:
    """Key of a record in corpus `expected`: the backend, `cross:<b>`, or `meta:<relation>:<b>`."""
    if r.origin == "cross":
        return f"{CROSS_PREFIX}{r.backend}"
    if r.origin == "metamorphic":
        return f"{META_PREFIX}{r.relation}:{r.backend}"
    return r.backend


@dataclass
class CaseDone:
    """One case index of a campaign, generated and run: what an engine hands back to be stored."""

    index: int
    seed: int
    case: Any
    run: CaseRun
    gen_s: float
    gen_error: str = ""
    guided_input: bytes | None = None  # --guided: the libFuzzer input the case was generated from

    def slim(self) -> CaseDone:
        """Drop the raw outputs and reference of a case without a finding (only findings keep
        them), so a remote engine ships little more than the verdicts back."""
        if not self.run.has_finding():
            self.run.ref = None
            self.run.results = {}
            for v in self.run.variants:
                v.results = {}
                v.ref = None
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


CONFIRM_FACTOR = 3.0  # a campaign's second run of a case that timed out gets this times the time


class Pipeline:
    """Backends opened for one thread; `run(case)` judges the case on each of them."""

    def __init__(self, backend_names: list[str], timeout: float,
                 backend_opts: dict[str, dict[str, Any]] | None = None,
                 opened: dict[str, Any] | None = None, variants: int = 0, reference: bool = True,
                 relation_weights: dict[str, float] | None = None, order: list[str] | None = None,
                 regressions: bool = False, confirm_timeouts: bool = False) -> None:
        self.timeout = timeout
        # A campaign's timeout is confirmed by a second run with CONFIRM_FACTOR times the time:
        # on a loaded host a slow compile is the host, and only a second timeout is a finding.
        self.confirm_timeouts = confirm_timeouts
        self.regressions = regressions  # keep only findings another release of the family escapes
        self.order = list(order or [])  # the campaign's canonical backends: the judging order
        self.variants = variants  # metamorphic variants per case chosen here (run() may name its own)
        self.reference = reference  # False: the reference neither judges nor bounds (--no-reference)
        self.relation_weights = dict(relation_weights or {})
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

    def family(self, name: str) -> str:
        """The registry family of an open backend (cuda, hip, ascend, interpreter, fault)."""
        cfg = getattr(self.backends[name], "config", None)
        if cfg is not None:
            return str(cfg.family)
        from oracles.judge import family_of

        return family_of(name)

    def _run_backend(self, out: CaseRun, name: str, backend: Any, case: Any) -> Any:
        """One Backend.run, timed; a wrapper exception becomes a harness record (None returned)."""
        t = self.call_started = time.perf_counter()
        try:
            res = backend.run(case, self.timeout)
            if self.confirm_timeouts and getattr(res, "status", "") == "timeout":
                res = backend.run(case, CONFIRM_FACTOR * self.timeout)
            for f, lines in getattr(res, "coverage", {}).items():
                out.coverage.setdefault(name, {}).setdefault(f, []).extend(lines)
            return res
        except Exception as e:
            out.records.append(OutcomeRecord(
                name, "unsupported", "harness", f"harness:{name}:{type(e).__name__}",
                f"tritondiff backend wrapper raised {_short_exc(e)}\n{traceback.format_exc(limit=4)}",
                origin="harness"))
            return None
        finally:
            dt = time.perf_counter() - t
            out.backend_s += dt
            self.backend_s += dt
            self.call_started = None

    def run(self, case: Any, run_invalid: bool = False, variants: list[Any] | None = None,
            judge: bool = True) -> CaseRun:
        """Judge `case` on every backend; `variants` (oracles.metamorphic.Variant) replaces the
        pipeline's own choice of metamorphic variants (replay, reduce and report name theirs).
        `judge=False` only runs the backends (the rest of the case runs elsewhere: finish_index)."""
        out = CaseRun()
        t0 = time.perf_counter()
        if getattr(case, "captured", False):  # a user's kernel: no spec to evaluate
            out.reason = "captured: judged against the outputs its capture recorded"
        elif self.reference:
            out.ref, out.valid, out.reason = evaluate_reference(case)
        else:
            out.reason = "reference off (--no-reference)"
        out.ref_s = time.perf_counter() - t0
        if not out.valid and not run_invalid:
            return out
        self.run_backends(case, out)
        if judge:
            self.judge(case, out, variants)
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
            res = self._run_backend(out, name, backend, case)
            if res is not None:
                out.results[name] = res

    def judge(self, case: Any, out: CaseRun, variants: list[Any] | None = None) -> None:
        """Judge every result in `out` (in the campaign's backend order, whichever pipelines
        produced them), compare backends, then run and judge the metamorphic variants here."""
        from oracles.judge import judge

        rank = {n: i for i, n in enumerate(self.order or list(self.backends))}
        last = len(rank)
        out.records.sort(key=lambda r: rank.get(r.backend, last))
        out.outcomes.sort(key=lambda o: rank.get(o.backend, last))
        out.results = dict(sorted(out.results.items(), key=lambda kv: rank.get(kv[0], last)))
        t = time.perf_counter()
        base: dict[str, Any] = {}
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
            base[name] = o
            out.outcomes.append(o)
            out.records.append(self._record(o, res, "judge"))
        if not getattr(case, "captured", False):  # captured: each backend was held to the capture
            self._cross(case, out)
        if self.regressions:
            from fuzz.regressions import filter_shared

            filter_shared(out.records)
        out.judge_s = time.perf_counter() - t
        t = time.perf_counter()
        chosen = variants
        if chosen is None and self.variants > 0:
            from oracles.metamorphic import choose_variants

            fams = {self.family(n) for n in self.backends}
            try:
                chosen = choose_variants(case, self.variants, self.relation_weights, fams)
            except Exception as e:  # a relation that cannot read this kernel is tritondiff's gap
                chosen = []
                out.records.append(OutcomeRecord(
                    "+".join(self.backends), "unsupported", "harness", f"harness:metamorphic:choose:{type(e).__name__}",
                    f"choosing variants raised {_short_exc(e)}", origin="harness"))
        for v in chosen or []:
            tv = time.perf_counter()
            vr = self._variant(case, out, base, v)
            vr.seconds = time.perf_counter() - tv
            out.variants.append(vr)
        out.variant_s = time.perf_counter() - t

    def _cross(self, case: Any, out: CaseRun) -> None:
        try:
            from oracles.crossbackend import cross_backend

            found, out.agreement = cross_backend(case, out.ref, out.results)
        except Exception as e:
            out.records.append(OutcomeRecord(
                "+".join(out.results), "unsupported", "harness", f"harness:cross_backend:{type(e).__name__}",
                f"oracles.crossbackend raised {_short_exc(e)}\n{traceback.format_exc(limit=4)}", origin="harness"))
            return
        for o in found:
            out.outcomes.append(o)
            out.records.append(self._record(o, None, "cross"))

    def _variant(self, case: Any, out: CaseRun, base: dict[str, Any], v: Any) -> VariantRun:
        """Derive one variant, prove it where its relation needs it, run and judge it."""
        from backends.profiles import unsupported_reason
        from generators.spec import SpecError
        from oracles import metamorphic as M

        vr = VariantRun(v)
        rel = M.RELATIONS.get(v.relation)
        if rel is None:
            vr.note = f"unknown relation {v.relation!r}"
            return vr
        try:
            vr.case = M.derive(case, v)
        except (M.NotApplicable, SpecError) as e:
            vr.note = f"not applicable: {e}"
            return vr
        except Exception as e:  # a relation that raises is tritondiff's bug
            vr.note = f"harness: {_short_exc(e)}"
            out.records.append(OutcomeRecord(
                "+".join(self.backends), "unsupported", "harness", f"harness:metamorphic:{v.relation}",
                f"deriving {v.label()} raised {_short_exc(e)}\n{traceback.format_exc(limit=4)}", origin="harness"))
            return vr
        if out.ref is not None or rel.needs_proof:
            vref, ok, why = evaluate_reference(vr.case)
            if not ok or (rel.needs_proof and vref is None):
                vr.note = f"refused by the reference: {why or 'no reference to prove it'}"
                if out.ref is not None and not rel.needs_proof:  # equal forms cannot differ in UB
                    out.records.append(OutcomeRecord(
                        "+".join(self.backends), "unsupported", "harness", f"harness:metamorphic:{v.relation}",
                        f"{v.label()}: the reference refuses the variant but not the base: {why}", origin="harness"))
                return vr
            if out.ref is not None and vref is not None and not M.same_reference(out.ref, vref):
                vr.note = "harness: the variant's reference differs from the base's"
                out.records.append(OutcomeRecord(
                    "+".join(self.backends), "unsupported", "harness", f"harness:metamorphic:{v.relation}",
                    f"{v.label()} changed the reference: not semantics-preserving", origin="harness"))
                return vr
            vr.ref = vref if out.ref is not None else None
        for name, backend in self.backends.items():
            b = base.get(name)
            if b is None or b.is_finding or b.kind == "unsupported" or name not in out.results:
                continue  # no base verdict to hold the variant to, or the base is itself a finding
            if not rel.relevant_to(self.family(name)):
                continue
            if unsupported_reason(name, list(vr.case.features)) is not None:
                continue
            res = self._run_backend(out, name, backend, vr.case)
            if res is None:
                continue
            vr.results[name] = res
            try:
                o = M.judge_variant(case, out.ref, out.results[name], vr.case, vr.ref, res, v)
            except Exception as e:
                out.records.append(OutcomeRecord(
                    name, "unsupported", "harness", f"harness:judge_variant:{type(e).__name__}",
                    f"oracles.metamorphic.judge_variant raised {_short_exc(e)}\n{traceback.format_exc(limit=4)}",
                    origin="harness"))
                continue
            if o is not None:
                vr.outcomes.append(o)
                out.outcomes.append(o)
                rec = self._record(o, res, "metamorphic")
                rec.relation = v.relation
                out.records.append(rec)
        return vr

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

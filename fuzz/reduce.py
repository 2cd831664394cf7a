"""Reduce a finding to a minimal kernel that still shows the same signature.

The predicate a candidate must satisfy, so a reduced kernel is as trustworthy as the original:
  1. the reference evaluator accepts it (no undefined behaviour: bounds, overflow, races),
  2. it is inside the failing backend's capability profile,
  3. the failing backend still produces the finding's exact signature,
  4. every healthy backend of the campaign (those that agreed with the reference on the original
     case) still agrees with the reference on the candidate.
Results are cached by case content hash (inside `generators.reduce.Reducer`), so no variant runs
twice.

Metamorphic and cross-backend findings are reduced through the pipeline itself
(`fuzz.pipeline.Pipeline.run`), judged as the campaign judged them (with or without the
reference): a metamorphic candidate is the shrunk base with its other form re-derived by the same
relation and parameters, so both forms shrink together; a cross-backend candidate must still be
outvoted the same way. The reference still refuses candidates with undefined behaviour, even when
it did not judge the campaign.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.profiles import unsupported_reason
from generators.case import KernelCase
from generators.reduce import Reducer, ReduceStats
from oracles.judge import judge
from oracles.reference import UndefinedBehaviour, evaluate

# A timeout finding costs the whole per-case timeout for every candidate that still hangs.
TIMEOUT_CAP_S = 2.0


@dataclass
class ReduceResult:
    case: KernelCase
    stats: ReduceStats
    signature: str = ""
    variant: Any = None  # metamorphic findings: the relation and parameters of the other form


def _open(name: str) -> Any:
    from backends.backend import open_backend

    return open_backend(name, confirm_deaths=False)  # the finding was confirmed when found


class _Backends:
    """The backends one reduction uses: borrowed warm ones (a campaign's, never closed here) by
    canonical name, else opened with `backend_opts` and closed when the reduction ends."""

    def __init__(self, opened: dict[str, Any] | None = None,
                 backend_opts: dict[str, dict[str, Any]] | None = None) -> None:
        self.opened = opened or {}
        self.backend_opts = backend_opts or {}
        self.mine: list[Any] = []

    def get(self, name: str) -> Any:
        if name in self.opened:
            return self.opened[name]
        from backends.backend import open_backend

        b = open_backend(name, **self.backend_opts.get(name, {}))
        if b.name in self.opened:  # another spelling of a borrowed backend
            b.close()
            return self.opened[b.name]
        self.mine.append(b)
        return b

    def drop(self, b: Any) -> None:
        if b in self.mine:
            self.mine.remove(b)
            b.close()

    def close(self) -> None:
        for b in self.mine:
            b.close()
        self.mine = []


def make_predicate(target_backend: Any, signature: str, healthy: list[Any], timeout: float):
    """The 'still interesting' test for candidates (see module docstring)."""

    def interesting(case: KernelCase) -> bool:
        try:
            ref = evaluate(case)
        except UndefinedBehaviour:
            return False
        if unsupported_reason(target_backend.name, list(case.features)):
            return False
        res = target_backend.run(case, timeout)
        if judge(case, ref, res).signature != signature:
            return False
        for b in healthy:
            if unsupported_reason(b.name, list(case.features)):
                continue
            if judge(case, ref, b.run(case, timeout)).kind != "ok":
                return False
        return True

    return interesting


def healthy_backends(case: KernelCase, failing: str, names: list[str], timeout: float,
                     pool: _Backends | None = None) -> list[Any]:
    """Backends other than `failing` that agree with the reference on the original case."""
    pool = pool or _Backends()
    try:
        ref = evaluate(case)
    except UndefinedBehaviour:
        return []
    out = []
    for n in names:
        b = pool.get(n)
        if b.name == failing:
            pool.drop(b)
            continue
        if unsupported_reason(b.name, list(case.features)) is None and \
                judge(case, ref, b.run(case, timeout)).kind == "ok":
            out.append(b)
        else:
            pool.drop(b)
    return out


class DoesNotReproduce(RuntimeError):
    """The finding's case no longer shows the finding's kind on its backend."""


def current_signature(case: KernelCase, target: Any, signature: str, kind: str, timeout: float) -> str:
    """The signature this tritondiff computes for the finding now: stored signatures may come from
    an older normaliser, and reduction must keep what the failing backend shows today."""
    try:
        ref = evaluate(case)
    except UndefinedBehaviour as e:
        raise DoesNotReproduce(f"the reference now refuses the case: {e}") from e
    now = judge(case, ref, target.run(case, timeout))
    if now.signature == signature:
        return signature
    if now.kind != kind:
        raise DoesNotReproduce(f"{target.name} now gives {now.kind}, not {kind}: {now.message[:200]}")
    return now.signature


def reduce_case(case: KernelCase, backend: str, signature: str, kind: str, others: list[str],
                timeout: float = 30.0, budget_s: float = 120.0, max_steps: int = 2000,
                progress: Any = None, backend_opts: dict[str, dict[str, Any]] | None = None,
                opened: dict[str, Any] | None = None) -> ReduceResult:
    """Reduce `case` on `backend` keeping `signature`; `others` are candidate healthy backends.
    `opened`: warm backends to use, by canonical name (a campaign's); the others are opened with
    `backend_opts` (open_backend options by name, e.g. an external env) and closed at the end."""
    if kind == "timeout":
        timeout = min(timeout, TIMEOUT_CAP_S)
    pool = _Backends(opened, backend_opts)
    try:
        target = pool.get(backend)
        signature = current_signature(case, target, signature, kind, timeout)
        healthy = healthy_backends(case, target.name, others, timeout, pool)
        pred = make_predicate(target, signature, healthy, timeout)
        reducer = Reducer(case, pred, budget_s=budget_s, max_steps=max_steps, progress=progress)
        small = reducer.run()
        return ReduceResult(small, reducer.stats, signature)
    finally:
        pool.close()


def _ub_free(case: KernelCase, require: bool) -> bool:
    """No undefined behaviour on its inputs; `require`: the reference must evaluate it at all."""
    try:
        evaluate(case)
    except UndefinedBehaviour:
        return False
    except Exception:  # noqa: BLE001 - a reference gap, as the original may have had
        return not require
    return True


def _evaluates(case: KernelCase) -> bool:
    try:
        evaluate(case)
    except UndefinedBehaviour as e:
        raise DoesNotReproduce(f"the reference refuses the case as undefined: {e}") from e
    except Exception:  # noqa: BLE001
        return False
    return True


def reduce_metamorphic(case: KernelCase, backend: str, signature: str, variants: list[Any], timeout: float = 30.0,
                       budget_s: float = 120.0, reference: bool = True, max_steps: int = 2000,
                       progress: Any = None) -> ReduceResult:
    """Shrink the base form; every candidate re-derives the other form with the finding's variant."""
    from fuzz.pipeline import Pipeline
    from oracles.metamorphic import relation_of

    relation = relation_of(signature)
    cands = [v for v in variants if v.relation == relation]
    if not cands:
        raise DoesNotReproduce(f"no stored variant of relation {relation!r} to re-derive")
    target = _open(backend)
    try:
        pipe = Pipeline([target.name], timeout, opened={target.name: target}, reference=reference)

        def shows(c: KernelCase, v: Any) -> bool:
            run = pipe.run(c, variants=[v])
            return any(r.origin == "metamorphic" and r.signature == signature for r in run.records)

        chosen = next((v for v in cands if shows(case, v)), None)
        if chosen is None:
            raise DoesNotReproduce(f"no stored {relation} variant shows {signature} on {target.name} now")
        strict = _evaluates(case)
        reducer = Reducer(case, lambda c: _ub_free(c, strict) and shows(c, chosen), budget_s=budget_s,
                          max_steps=max_steps, progress=progress)
        small = reducer.run()
        return ReduceResult(small, reducer.stats, signature, chosen)
    finally:
        target.close()


def reduce_cross(case: KernelCase, backend: str, signature: str, others: list[str], timeout: float = 30.0,
                 budget_s: float = 120.0, reference: bool = True, max_steps: int = 2000,
                 progress: Any = None) -> ReduceResult:
    """Shrink a case while `backend` stays outvoted by the same families, the same way."""
    from fuzz.pipeline import Pipeline

    opened: dict[str, Any] = {}
    try:
        for n in [backend, *others]:
            b = _open(n)
            if b.name in opened:
                b.close()
                continue
            opened[b.name] = b
        pipe = Pipeline(list(opened), timeout, opened=opened, reference=reference)
        target = next(iter(opened))

        def shows(c: KernelCase) -> bool:
            run = pipe.run(c)
            return any(r.origin == "cross" and r.backend == target and r.signature == signature
                       for r in run.records)

        if not shows(case):
            raise DoesNotReproduce(f"{target} is no longer outvoted as {signature}")
        strict = _evaluates(case)
        reducer = Reducer(case, lambda c: _ub_free(c, strict) and shows(c), budget_s=budget_s,
                          max_steps=max_steps, progress=progress)
        small = reducer.run()
        return ReduceResult(small, reducer.stats, signature)
    finally:
        for b in opened.values():
            b.close()


def reduce_finding(case: KernelCase, outcome: Any, backends: list[str], timeout: float,
                   corpus_dir: str | Path | None, store_path: str | Path | None,
                   budget_s: float = 120.0, progress: Any = None, reference: bool = True,
                   variants: list[Any] | None = None) -> ReduceResult:
    """CLI entry: reduce, then keep the minimal case in the store and corpus.

    `reference` and `variants` say how the campaign judged the case (metamorphic findings need
    the variants it ran, as stored with the case)."""
    prog = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    result, key, extra, also = reduce_any(case, outcome.backend, outcome.signature, outcome.kind, outcome.stage,
                                          backends, timeout, budget_s, reference, variants, prog)
    job = _job(case, outcome.backend, outcome.signature, outcome.kind, result, key, extra, also)
    prog(f"reduced {outcome.signature[:70]}: {job['summary']}")
    if store_path is not None:
        from fuzz.store import Store

        with Store(store_path) as st:
            keep_reduced(job, st, corpus_dir)
    else:
        keep_reduced(job, None, corpus_dir)
    return result


def reduce_any(case: KernelCase, backend: str, signature: str, kind: str, stage: str, backends: list[str],
               timeout: float, budget_s: float, reference: bool = True, variants: list[Any] | None = None,
               progress: Any = None, backend_opts: dict[str, dict[str, Any]] | None = None,
               opened: dict[str, Any] | None = None
               ) -> tuple[ReduceResult, str, dict[str, Any] | None, dict[str, dict[str, str]]]:
    """Reduce a finding of any oracle: (result, its corpus `expected` key, extra corpus fields,
    other verdicts a replay of the reduced case needs)."""
    key = backend
    extra: dict[str, Any] | None = None
    also: dict[str, dict[str, str]] = {}
    if kind == "metamorphic":
        result = reduce_metamorphic(case, backend, signature, list(variants or []), timeout, budget_s, reference,
                                    progress=progress)
        assert result.variant is not None
        extra = {"variants": [result.variant.to_json()]}
        key = f"meta:{result.variant.relation}:{backend}"
        also = {backend: {"kind": "ok", "signature": ""}}  # the base form: no finding of its own
    elif stage == "cross-backend":
        others = [b for b in backends if b != backend]
        result = reduce_cross(case, backend, signature, others, timeout, budget_s, reference, progress=progress)
        key = f"cross:{backend}"
        from backends.registry import resolve

        also = {resolve(b).name: {"kind": "ok", "signature": ""} for b in [*others, backend]}
    else:
        result = reduce_case(case, backend, signature, kind, backends, timeout, budget_s, progress=progress,
                             backend_opts=backend_opts, opened=opened)
    if not reference:
        extra = {**(extra or {}), "reference": False}
    return result, key, extra, also


def _job(case: KernelCase, backend: str, signature: str, kind: str, result: ReduceResult, key: str | None = None,
         extra: dict[str, Any] | None = None, also: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    return {"signature": signature, "backend": backend, "kind": kind, "kept": result.signature,
            "case": result.case.to_json(), "summary": result.stats.summary(), "from_case": case.case_id,
            "key": key or backend, "extra": extra, "also": dict(also or {})}


def reduce_job(case_json: dict[str, Any], backend: str, signature: str, kind: str, backends: list[str],
               timeout: float, budget_s: float = 120.0, backend_opts: dict[str, dict[str, Any]] | None = None,
               opened: dict[str, Any] | None = None, stage: str = "", reference: bool = True,
               variants: list[Any] | None = None) -> dict[str, Any]:
    """A campaign's background reduction of one new finding, as plain data: it runs in a thread
    or on a Dask worker, and the campaign's own thread keeps the result (`keep_reduced`), so the
    store keeps its single writer. {"error": ...} when the finding no longer reproduces."""
    case = KernelCase.from_json(case_json)
    try:
        result, key, extra, also = reduce_any(case, backend, signature, kind, stage, backends, timeout, budget_s,
                                              reference, variants, lambda _msg: None, backend_opts, opened)
    except DoesNotReproduce as e:
        return {"signature": signature, "backend": backend, "kind": kind, "error": f"does not reproduce: {e}"}
    return _job(case, backend, signature, kind, result, key, extra, also)


def keep_reduced(job: dict[str, Any], store: Any, corpus_dir: str | Path | None) -> None:
    """Keep a reduction next to its finding in the store, and the minimal case in the corpus."""
    case = KernelCase.from_json(job["case"])
    extra = job.get("extra") or None
    if store is not None:
        store.set_reduced(job["signature"], {**job["case"], **(extra or {})}, job["summary"])
    if corpus_dir is not None:
        from fuzz.corpus import save_case

        # expected: the signature the reduced case keeps (today's normaliser)
        expected = {job.get("key") or job["backend"]: {"kind": job["kind"], "signature": job["kept"]},
                    **(job.get("also") or {})}
        save_case(Path(corpus_dir), case, expected, f"reduced from {job['from_case']}: {job['summary']}", extra)

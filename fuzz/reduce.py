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

    return open_backend(name)


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


def healthy_backends(case: KernelCase, failing: str, names: list[str], timeout: float) -> list[Any]:
    """Backends other than `failing` that agree with the reference on the original case."""
    try:
        ref = evaluate(case)
    except UndefinedBehaviour:
        return []
    out = []
    for n in names:
        b = _open(n)
        if b.name == failing:
            b.close()
            continue
        if unsupported_reason(b.name, list(case.features)) is None and \
                judge(case, ref, b.run(case, timeout)).kind == "ok":
            out.append(b)
        else:
            b.close()
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
                progress: Any = None) -> ReduceResult:
    """Reduce `case` on `backend` keeping `signature`; `others` are candidate healthy backends."""
    if kind == "timeout":
        timeout = min(timeout, TIMEOUT_CAP_S)
    target = _open(backend)
    healthy: list[Any] = []
    try:
        signature = current_signature(case, target, signature, kind, timeout)
        healthy = healthy_backends(case, target.name, others, timeout)
        pred = make_predicate(target, signature, healthy, timeout)
        reducer = Reducer(case, pred, budget_s=budget_s, max_steps=max_steps, progress=progress)
        small = reducer.run()
        return ReduceResult(small, reducer.stats, signature)
    finally:
        for b in [target, *healthy]:
            b.close()


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
    """Campaign hook and CLI entry: reduce, then keep the minimal case in the store and corpus.

    `reference` and `variants` say how the campaign judged the case (metamorphic findings need
    the variants it ran, as stored with the case)."""
    prog = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    key = outcome.backend
    extra: dict[str, Any] | None = None
    also: dict[str, dict[str, str]] = {}  # other verdicts a replay of the reduced case needs
    if outcome.kind == "metamorphic":
        result = reduce_metamorphic(case, outcome.backend, outcome.signature, list(variants or []), timeout,
                                    budget_s, reference, progress=prog)
        assert result.variant is not None
        extra = {"variants": [result.variant.to_json()]}
        key = f"meta:{result.variant.relation}:{outcome.backend}"
        also = {outcome.backend: {"kind": "ok", "signature": ""}}  # the base form: no finding of its own
    elif outcome.stage == "cross-backend":
        others = [b for b in backends if b != outcome.backend]
        result = reduce_cross(case, outcome.backend, outcome.signature, others, timeout, budget_s, reference,
                              progress=prog)
        key = f"cross:{outcome.backend}"
        from backends.registry import resolve

        also = {resolve(b).name: {"kind": "ok", "signature": ""} for b in [*others, outcome.backend]}
    else:
        result = reduce_case(case, outcome.backend, outcome.signature, outcome.kind, backends, timeout,
                             budget_s, progress=prog)
    summary = result.stats.summary()
    prog(f"reduced {outcome.signature[:70]}: {summary}")
    # the signature the reduced case keeps (today's normaliser), for the corpus expectation
    kept = result.signature
    if not reference:
        extra = {**(extra or {}), "reference": False}
    if store_path is not None:
        from fuzz.store import Store

        with Store(store_path) as st:
            st.set_reduced(outcome.signature, {**result.case.to_json(), **(extra or {})}, summary)
    if corpus_dir is not None:
        from fuzz.corpus import save_case

        save_case(Path(corpus_dir), result.case, {key: {"kind": outcome.kind, "signature": kept}, **also},
                  f"reduced from {case.case_id}: {summary}", extra)
    return result

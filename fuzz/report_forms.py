"""The parts of a finding report that compare two runs instead of a run and the reference.

A metamorphic finding shows both forms of the kernel (sources and a diff) and their outputs side
by side on the one backend; a cross-backend finding shows the outvoted backend's outputs beside
those of the backends it disagrees with. Both re-run through the pipeline (`fuzz.pipeline`), as
the campaign judged them, so the report says what the oracle says today.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np

from backends.runner_api import GUARD_ELEMS
from generators.case import KernelCase
from generators.numerics import from_storage
from oracles.compare import Divergence, compare_runs, run_tolerance

MAX_ROWS = 12


def rerun_metamorphic(rep: Any, variants: list[Any], backend: Any, reference: bool, timeout: float) -> None:
    """Fill `rep` (a fuzz.report.FindingReport) from the first stored variant that reproduces."""
    from fuzz.pipeline import Pipeline
    from oracles.metamorphic import relation_of

    relation = relation_of(rep.finding.signature)
    cands = [v for v in variants if v.relation == relation] or list(variants)
    if not cands:
        rep.notes.append("no stored variant to re-derive the other form from")
        return
    pipe = Pipeline([backend.name], timeout, opened={backend.name: backend}, reference=reference)
    best = None
    for v in cands:
        run = pipe.run(rep.case, variants=[v])
        vr = run.variants[0]
        hits = [o for o in vr.outcomes if o.signature == rep.finding.signature]
        if best is None or hits:
            best = (run, vr, v, hits)
        if hits:
            break
    assert best is not None
    run, vr, v, hits = best
    rep.variant, rep.variant_case = v, vr.case
    rep.result = run.results.get(backend.name)
    rep.variant_result = vr.results.get(backend.name)
    if vr.note:
        rep.notes.append(f"variant {v.label()}: {vr.note}")
    rep.outcome = hits[0] if hits else (vr.outcomes[0] if vr.outcomes else None)
    if rep.outcome is None and rep.result is not None:
        from oracles.outcome import Outcome

        base = [o for o in run.outcomes if o.backend == backend.name]
        rep.outcome = base[0] if base and base[0].is_finding else Outcome(backend.name, "ok", "run")
    if rep.result is not None and rep.variant_result is not None and rep.result.executed \
            and rep.variant_result.executed and rep.result.status == rep.variant_result.status == "ok":
        rep.divergences = compare_runs(rep.case, rep.reference if reference else None,
                                       rep.result.outputs, rep.variant_result.outputs)
        rep.side = {"base form": rep.result.outputs, "variant form": rep.variant_result.outputs}


def rerun_cross(rep: Any, names: list[str], opened: dict[str, Any], reference: bool, timeout: float) -> None:
    """Fill `rep` from a pipeline run of the case on the outvoted backend and the others."""
    from fuzz.pipeline import Pipeline

    pipe = Pipeline(names, timeout, opened=opened, reference=reference)
    run = pipe.run(rep.case)
    me = rep.config.name
    rep.result = run.results.get(me)
    hits = [o for o in run.outcomes if o.backend == me and o.stage == "cross-backend"]
    same = [o for o in hits if o.signature == rep.finding.signature]
    rep.outcome = (same or hits or [o for o in run.outcomes if o.backend == me] or [None])[0]
    rep.agreement = run.agreement
    ran = {n: r for n, r in run.results.items() if r.status == "ok" and r.executed}
    others = (rep.outcome.details.get("disagrees_with") if rep.outcome is not None and rep.outcome.details else None) \
        or [n for n in ran if n != me]
    if me in ran:
        rep.side = {n: ran[n].outputs for n in [*others, me] if n in ran}
        if others and others[0] in ran:
            rep.divergences = compare_runs(rep.case, None, ran[others[0]].outputs, ran[me].outputs)
    for n, r in run.results.items():
        if n == me:
            continue
        from fuzz.report import Verdict

        o = next((o for o in run.outcomes if o.backend == n), None)
        group = next((g for g in (run.agreement.get("groups") or []) if n in g), [])
        majority = run.agreement.get("majority") or []
        if not r.executed:
            note = "compiles (not executed on this machine)"
        elif n in majority:
            note = "in the majority that outvotes " + me + \
                ("" if len(group) < 2 else " (with " + ", ".join(m for m in group if m != n) + ")")
        elif len(group) > 1:
            note = "agrees with " + ", ".join(m for m in group if m != n)
        else:
            note = "disagrees with every other backend"
        rep.others.append(Verdict(n, o.kind if o else r.status, o.stage if o else "", note,
                                  o is not None and o.signature == rep.finding.signature))


def forms_section(rep: Any) -> list[str]:
    """Markdown: the variant form's source and a diff against the base form."""
    if rep.variant is None or rep.variant_case is None:
        return []
    v, vc, case = rep.variant, rep.variant_case, rep.case
    lines = ["## The two forms", "",
             f"The metamorphic relation **`{v.relation}`** ({relation_doc(v.relation)}) rewrote the kernel "
             f"above into an equivalent form, `{v.label()}`. Both compute the same values by "
             "construction (tritondiff checks that the reference evaluator gives both forms identical "
             "expected outputs), so a backend must give both the same outputs.", "",
             "Variant form:", "", "```python", vc.source.rstrip(), "```", ""]
    launch = []
    if vc.num_warps != case.num_warps:
        launch.append(f"num_warps {case.num_warps} → {vc.num_warps}")
    if tuple(vc.grid) != tuple(case.grid):
        launch.append(f"grid {tuple(case.grid)} → {tuple(vc.grid)}")
    for k, val in sorted(vc.launch.items()):
        launch.append(f"{k}={val}")
    old_args = {a.name: a for a in case.args}
    for a in vc.args:
        o = old_args.get(a.name)
        if a.kind != "ptr" and (o is None or o.kind != a.kind):
            launch.append(f"`{a.name}` {o.kind if o else 'new'} → {a.kind} = {a.value!r}")
    if launch:
        lines += ["Launch differences: " + "; ".join(launch), ""]
    diff = list(difflib.unified_diff(case.source.splitlines(), vc.source.splitlines(), "base form",
                                     "variant form", lineterm="", n=1))
    if diff:
        lines += ["```diff", *diff, "```", ""]
    return lines


def relation_doc(name: str) -> str:
    from oracles.metamorphic import RELATIONS

    rel = RELATIONS.get(name)
    return rel.doc if rel else "unknown relation"


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return repr(x) if abs(x) < 1e6 else f"{x:.6g}"
    return str(x)


def side_by_side(rep: Any) -> list[str]:
    """Markdown: for each differing buffer, the first differing elements of every run, in columns."""
    if not rep.side or not rep.divergences:
        return []
    case: KernelCase = rep.case
    cols = list(rep.side)
    lines = ["## Outputs side by side", ""]
    if rep.variant is not None:
        lines.append("The same backend, the two forms, the same inputs"
                     + (" (and the reference's expected values)." if rep.reference is not None else "."))
    else:
        lines.append("The same kernel and inputs on each backend (no reference judged this case: "
                     "the backends outvoted by the others are the finding).")
    lines.append("")
    for d in rep.divergences:
        buf = case.buffers[d.buffer]
        vals = {c: from_storage(buf.dtype, np.asarray(rep.side[c][d.buffer])[GUARD_ELEMS:GUARD_ELEMS + buf.size])
                for c in cols}
        lines.append(f"**`{d.buffer}`** ({buf.dtype}): **{d.count}** of {d.total} elements differ "
                     f"({_tolerance_note(case, rep, d)})")
        lines.append("")
        ref_col = rep.reference is not None and d.buffer in rep.reference.values
        lines.append("| index | " + " | ".join(f"`{c}`" for c in cols) + (" | reference |" if ref_col else " |"))
        lines.append("|---:|" + "---:|" * (len(cols) + (1 if ref_col else 0)))
        for i, _, _ in d.rows[:MAX_ROWS]:
            row = "| " + str(i) + " | " + " | ".join(_fmt(vals[c][i].item()) for c in cols)
            if ref_col:
                row += f" | {_fmt(rep.reference.values[d.buffer][i].item())}"
            lines.append(row + " |")
        if d.count > len(d.rows):
            lines.append(f"\n… and {d.count - len(d.rows)} more differing element(s).")
        lines.append("")
    return lines


def _tolerance_note(case: KernelCase, rep: Any, d: Divergence) -> str:
    buf = case.buffers[d.buffer]
    if buf.dtype not in ("fp32", "fp16", "bf16", "fp64"):
        return "integers: compared exactly"
    if rep.reference is not None and rep.variant is not None and rep.reference_on:
        return "within twice the reference's per-element error bound"
    return "floats: within dtype tolerances, no reference"


def pseudo_reference(case: KernelCase, outputs: dict[str, np.ndarray]) -> Any:
    """The outputs of the backends that outvoted the finding's, as expected values for repro.py."""
    from oracles.reference import Reference

    values, errs, written = {}, {}, {}
    for name in case.outputs():
        buf = case.buffers[name]
        v = from_storage(buf.dtype, np.asarray(outputs[name])[GUARD_ELEMS:GUARD_ELEMS + buf.size])
        values[name] = v
        errs[name] = run_tolerance(case, None, name, v, v) if v.dtype.kind == "f" else np.zeros(v.shape)
        written[name] = np.ones(v.shape, dtype=bool)
    return Reference(values, errs, written)

"""Cross-backend oracle: backends that ran one kernel must agree with each other.

Every pair of backends that produced outputs is compared, within twice the reference's error
bound where there is a reference and within dtype tolerances where there is none
(`oracles.compare.compare_runs`). Backends that agree form a group. While the reference speaks
it outranks any vote, so the groups are only recorded (a report shows them side by side).
Without it (the reference refused the case, cannot model it, or was switched off) the groups
vote, one vote per backend family (DESIGN.md "Cross-backend votes": releases of one family
share most of their code and often a bug, so three agreeing Ascend releases must not outvote
one interpreter). The biggest vote wins and every backend outside it is blamed. A tie has no
majority; the group holding the stock interpreter (the language's executable semantics, and
DESIGN's test for telling a backend bug from an artefact) then wins, and without one every side
is reported, each naming the others.
"""

from __future__ import annotations

from typing import Any

from backends.result import RunResult
from generators.case import KernelCase
from oracles.compare import compare_runs
from oracles.judge import dtype_class, family_of
from oracles.outcome import Outcome
from oracles.reference import Reference
from oracles.signature import make_signature

TRUSTED_FAMILY = "interpreter"


def agreement_groups(case: KernelCase, ref: Reference | None,
                     results: dict[str, RunResult]) -> tuple[list[list[str]], dict[str, bool]]:
    """Groups of backends that pairwise agree (greedy, in name order) and every pair's verdict."""
    names = sorted(results)
    pairs: dict[str, bool] = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pairs[f"{a}~{b}"] = not compare_runs(case, ref, results[a].outputs, results[b].outputs)
    groups: list[list[str]] = []
    for n in names:
        for g in groups:
            if all(pairs[f"{min(m, n)}~{max(m, n)}"] for m in g):
                g.append(n)
                break
        else:
            groups.append([n])
    return groups, pairs


def cross_backend(case: KernelCase, ref: Reference | None,
                  results: dict[str, RunResult]) -> tuple[list[Outcome], dict[str, Any]]:
    """(blamed backends' outcomes, {"groups", "pairs", "majority"}) over executed ok results."""
    ran = {n: r for n, r in results.items() if r.status == "ok" and r.executed}
    if len(ran) < 2:
        return [], {}
    groups, pairs = agreement_groups(case, ref, ran)
    detail: dict[str, Any] = {"groups": groups, "pairs": pairs, "majority": None}
    if len(groups) < 2 or ref is not None:
        return [], detail
    votes = [len({family_of(n) for n in g}) for g in groups]
    top = [i for i, v in enumerate(votes) if v == max(votes)]
    if len(top) > 1:
        trusted = [i for i in top if any(family_of(n) == TRUSTED_FAMILY for n in groups[i])]
        top = trusted if len(trusted) == 1 else top
    majority = top[0] if len(top) == 1 else None
    detail["majority"] = groups[majority] if majority is not None else None
    out: list[Outcome] = []
    for gi, g in enumerate(groups):
        if gi == majority:
            continue
        others = groups[majority] if majority is not None else [n for j, h in enumerate(groups) if j != gi for n in h]
        against = sorted({family_of(n) for n in others})
        for n in g:
            divs = compare_runs(case, None, ran[others[0]].outputs, ran[n].outputs)
            first = divs[0] if divs else None
            pattern = f"{first.pattern}:{dtype_class(case.buffers[first.buffer].dtype)}" if first else "differ"
            how = "outvoted by" if majority is not None else "no majority; disagrees with"
            where = "; ".join(f"{d.buffer}: {d.pattern} ({d.count}/{d.total})" for d in divs)
            msg = f"cross-backend: {n} {how} {', '.join(others)} (no reference): {where}"
            tag = "vs" if majority is not None else "tie"
            out.append(Outcome(n, "miscompile", "cross-backend", msg,
                               make_signature(family_of(n), "miscompile", "cross-backend",
                                              extra=f"{tag}:{'+'.join(against)}:{pattern}"),
                               {"disagrees_with": others, "agrees_with": [m for m in g if m != n],
                                "majority": majority is not None, "reference_of": others[0],
                                "divergences": [d.to_json() for d in divs]}))
    return out, detail

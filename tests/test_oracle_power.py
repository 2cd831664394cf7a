"""Oracle power: each fault-injection backend (a real interpreter run with one injected defect)
is detected with the right outcome kind within 300 generated cases, and its finding reduces to a
kernel of at most 10 statements that keeps the signature.

These doubles are the only stand-ins in the suite; they exist to prove that the oracles catch
what they claim to catch (DESIGN.md: oracles)."""

from __future__ import annotations

import time

import pytest

from fuzz.pipeline import Pipeline
from fuzz.reduce import reduce_case
from generators import generate
from generators.reduce import size_of
from oracles.judge import judge
from oracles.reference import evaluate

FAULTS = {
    "fault-drop-scalar-mul": "miscompile",
    "fault-mask2d": "miscompile",
    "fault-segfault": "crash",
    "fault-hang": "timeout",
    "fault-oob-store": "oob-write",
}


def first_detection(fault: str, kind: str, limit: int = 300, timeout: float = 5.0):
    pipe = Pipeline([fault], timeout)
    try:
        pipe.warm()
        for seed in range(limit):
            case = generate(10_000 + seed)
            run = pipe.run(case)
            hits = [o for o in run.outcomes if o.is_finding]
            if hits:
                return seed, case, hits[0]
    finally:
        pipe.close()
    return None, None, None


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_is_detected_with_the_right_kind_and_reduces(fault: str) -> None:
    kind = FAULTS[fault]
    seed, case, outcome = first_detection(fault, kind)
    assert outcome is not None, f"{fault}: no finding in 300 cases"
    assert outcome.kind == kind, (fault, outcome.kind, outcome.message[:300])
    t0 = time.monotonic()
    res = reduce_case(case, fault, outcome.signature, outcome.kind, ["interpreter"], timeout=5.0, budget_s=120)
    assert time.monotonic() - t0 < 150
    small = res.case
    assert size_of(small.spec)["statements"] <= 10, small.source
    evaluate(small)  # still UB-free: the reference accepts it
    pipe = Pipeline([fault], 5.0)
    try:
        again = pipe.run(small)
    finally:
        pipe.close()
    assert [o.signature for o in again.outcomes if o.is_finding] == [outcome.signature]


def test_healthy_interpreter_agrees_on_the_reduced_cases() -> None:
    _, case, outcome = first_detection("fault-drop-scalar-mul", "miscompile")
    res = reduce_case(case, "fault-drop-scalar-mul", outcome.signature, outcome.kind, ["interpreter"],
                      timeout=5.0, budget_s=60)
    pipe = Pipeline(["interpreter"], 5.0)
    try:
        run = pipe.run(res.case)
    finally:
        pipe.close()
    assert [o.kind for o in run.outcomes] == ["ok"]
    assert judge  # the healthy verdict comes from oracles.judge through the pipeline

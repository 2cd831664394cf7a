"""The spec reducer shrinks kernels while the predicate holds and never yields UB."""

from __future__ import annotations

from generators import generate
from generators.reduce import Reducer, size_of
from oracles.reference import UndefinedBehaviour, evaluate


def _valid(case) -> bool:
    try:
        evaluate(case)
    except UndefinedBehaviour:
        return False
    return True


def test_reducer_keeps_the_property_and_shrinks() -> None:
    seed = next(s for s in range(200) if "offs_floordiv" in generate(s).features and _valid(generate(s)))
    case = generate(seed)

    def interesting(c) -> bool:
        return "//" in c.source and _valid(c)

    small = Reducer(case, interesting, budget_s=60).run()
    assert "//" in small.source and _valid(small)
    assert size_of(small.spec)["statements"] < size_of(case.spec)["statements"]
    assert size_of(small.spec)["statements"] <= 10, small.source


def test_reducer_rejects_candidates_that_become_undefined() -> None:
    case = next(c for c in (generate(s) for s in range(100)) if "mask_tail_1d" in c.features and _valid(c))
    calls = []

    def interesting(c) -> bool:
        ok = _valid(c)
        calls.append(ok)
        return ok and "mask=" in c.source

    small = Reducer(case, interesting, budget_s=60).run()
    assert _valid(small)
    assert "mask=" in small.source


def test_reducer_keeps_launch_options_a_finding_needs_and_drops_the_rest() -> None:
    case = next(c for c in map(generate, range(200)) if len(c.launch) == 2)
    needs = Reducer(case, lambda c: "maxnreg" in c.launch, budget_s=30, max_steps=40).run()
    assert needs.launch == {"maxnreg": case.launch["maxnreg"]}  # num_stages dropped, maxnreg kept
    free = Reducer(case, lambda c: True, budget_s=30, max_steps=40).run()
    assert free.launch == {}

"""Ascend through the whole stack (worker, runner, judge): memory faults are classified by kind,
and one element past a buffer is caught on the right buffer."""

from __future__ import annotations

import pytest

from backends.backend import open_backend
from generators import spec as S
from oracles.judge import judge
from tests.spec_helpers import make_case

OFFS = S.arange(16)


@pytest.fixture(scope="module")
def ascend():
    with open_backend("ascend@3.2.0") as b:
        yield b


def test_read_one_past_the_end_is_oob_read(ascend) -> None:
    case = make_case([S.store(S.bin_("+", S.arg("o"), OFFS), S.load(S.bin_("+", S.arg("x"), OFFS)))],
                     {"x": ("fp32", [1.0] * 15)}, {"o": ("fp32", 16)})
    out = judge(case, None, ascend.run(case, 60))
    assert out.kind == "oob-read", out.message
    assert "'x'" in out.message and "0 bytes past the end" in out.message


def test_write_one_past_the_end_is_oob_write(ascend) -> None:
    case = make_case([S.store(S.bin_("+", S.arg("o"), OFFS), S.load(S.bin_("+", S.arg("x"), OFFS)))],
                     {"x": ("fp32", [1.0] * 16)}, {"o": ("fp32", 15)})
    out = judge(case, None, ascend.run(case, 60))
    assert out.kind == "oob-write", out.message
    assert "'o'" in out.message


def test_in_bounds_kernel_is_ok_and_matches_the_reference(ascend) -> None:
    from oracles.reference import evaluate

    mask = S.bin_("<", OFFS, S.const(15, "int32"))
    case = make_case([S.store(S.bin_("+", S.arg("o"), OFFS),
                              S.load(S.bin_("+", S.arg("x"), OFFS), mask, S.const(0.0, "fp32")), mask)],
                     {"x": ("fp32", [float(i) for i in range(15)])}, {"o": ("fp32", 16)})
    assert judge(case, evaluate(case), ascend.run(case, 60)).kind == "ok"

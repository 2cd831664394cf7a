"""The numpy reference follows Triton's semantics and refuses undefined behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from generators import spec as S
from oracles.reference import UndefinedBehaviour, evaluate
from tests.spec_helpers import make_case

OFFS = S.arange(8)


def _binop_case(op: str, xs: list[int], ys: list[int], dt: str = "int32"):
    body = [S.store(S.bin_("+", S.arg("o"), OFFS),
                    S.bin_(op, S.load(S.bin_("+", S.arg("x"), OFFS)), S.load(S.bin_("+", S.arg("y"), OFFS))))]
    return make_case(body, {"x": (dt, xs), "y": (dt, ys)}, {"o": (dt, 8)})


def test_integer_division_truncates_and_remainder_takes_dividend_sign() -> None:
    xs = [7, -7, 7, -7, 0, -1, 9, -9]
    ys = [2, 2, -2, -2, 3, 4, 4, -4]
    q = evaluate(_binop_case("//", xs, ys)).values["o"]
    r = evaluate(_binop_case("%", xs, ys)).values["o"]
    assert q.tolist() == [3, -3, -3, 3, 0, 0, 2, 2]
    assert r.tolist() == [1, -1, 1, -1, 0, -1, 1, -1]


def test_arithmetic_shift_and_narrowing_cast_wrap() -> None:
    body = [S.store(S.bin_("+", S.arg("o"), OFFS),
                    S.bin_(">>", S.load(S.bin_("+", S.arg("x"), OFFS)), S.full([8], 1, "int32"))),
            S.store(S.bin_("+", S.arg("p"), OFFS), S.cast(S.load(S.bin_("+", S.arg("x"), OFFS)), "int8"))]
    case = make_case(body, {"x": ("int32", [-5, 5, 300, -300, 127, 128, -129, 0])},
                     {"o": ("int32", 8), "p": ("int8", 8)})
    ref = evaluate(case)
    assert ref.values["o"].tolist() == [-3, 2, 150, -150, 63, 64, -65, 0]
    assert ref.values["p"].tolist() == [-5, 5, 44, -44, 127, -128, 127, 0]


def test_signed_overflow_is_refused() -> None:
    with pytest.raises(UndefinedBehaviour, match="overflow"):
        evaluate(_binop_case("*", [2**20] * 8, [2**12] * 8))


def test_division_by_zero_is_refused() -> None:
    with pytest.raises(UndefinedBehaviour, match="division by zero"):
        evaluate(_binop_case("//", [1] * 8, [1, 1, 1, 0, 1, 1, 1, 1]))


def test_unmasked_out_of_bounds_load_is_refused_and_masked_one_is_fine() -> None:
    offs = S.arange(16)
    ptr = S.bin_("+", S.arg("x"), offs)
    bad = make_case([S.store(S.bin_("+", S.arg("o"), offs), S.load(ptr))], {"x": ("fp32", [1.0] * 10)},
                    {"o": ("fp32", 16)})
    with pytest.raises(UndefinedBehaviour, match="out-of-bounds load"):
        evaluate(bad)
    mask = S.bin_("<", offs, S.const(10, "int32"))
    good = make_case([S.store(S.bin_("+", S.arg("o"), offs), S.load(ptr, mask, S.const(0.0, "fp32")), mask)],
                     {"x": ("fp32", [1.0] * 10)}, {"o": ("fp32", 16)})
    ref = evaluate(good)
    assert ref.values["o"].tolist() == [1.0] * 10 + [-7.0] * 6
    assert ref.written["o"].tolist() == [True] * 10 + [False] * 6


def test_two_programs_writing_one_element_is_a_race() -> None:
    body = [S.store(S.bin_("+", S.arg("o"), OFFS), S.load(S.bin_("+", S.arg("x"), OFFS)))]
    case = make_case(body, {"x": ("int32", list(range(8)))}, {"o": ("int32", 8)}, grid=(2, 1, 1))
    with pytest.raises(UndefinedBehaviour, match="racy store"):
        evaluate(case)


def test_inexact_float_results_carry_an_error_bound() -> None:
    body = [S.store(S.bin_("+", S.arg("o"), OFFS),
                    S.bin_("/", S.load(S.bin_("+", S.arg("x"), OFFS)), S.full([8], 3.0, "fp32")))]
    case = make_case(body, {"x": ("fp32", [1.0, 2.0, 3.0, 6.0, -1.0, 0.5, 9.0, 0.0])}, {"o": ("fp32", 8)})
    ref = evaluate(case)
    assert np.all(ref.errs["o"] > 0)
    assert np.allclose(ref.values["o"], np.array([1, 2, 3, 6, -1, 0.5, 9, 0]) / 3, rtol=1e-6)


def test_exact_products_stay_exact() -> None:
    ref = evaluate(_binop_case("*", [1, 2, 3, 4, 5, 6, 7, 8], [2] * 8, "fp32"))
    assert np.all(ref.errs["o"] == 0)
    assert ref.values["o"].tolist() == [2, 4, 6, 8, 10, 12, 14, 16]


def test_dot_of_small_integers_is_exact() -> None:
    r = S.arange(16)
    a = S.load(S.bin_("+", S.arg("a"), S.bin_("+", S.bin_("*", S.expand(r, 1), S.const(16, "int32")),
                                              S.expand(r, 0))))
    b = S.load(S.bin_("+", S.arg("b"), S.bin_("+", S.bin_("*", S.expand(r, 1), S.const(16, "int32")),
                                              S.expand(r, 0))))
    out = S.bin_("+", S.arg("o"), S.bin_("+", S.bin_("*", S.expand(r, 1), S.const(16, "int32")), S.expand(r, 0)))
    av = [(i % 5) - 2 for i in range(256)]
    bv = [float(i // 16 == i % 16) for i in range(256)]
    case = make_case([S.store(out, S.dot(a, b))], {"a": ("fp16", av), "b": ("fp16", bv)}, {"o": ("fp32", 256)})
    ref = evaluate(case)
    assert ref.values["o"].tolist() == [float(v) for v in av]
    assert np.all(ref.errs["o"] == 0)

"""Group D constructs (numerics and dots): unsigned ints and wrap-around, int1 arithmetic, tl.umulhi,
fp8/fp64 conversions, tl.math extras, tl.fma, tl.clamp, tl.cdiv, the dot variants and maxnreg.

Each construct's example and a few generated kernels run on the real Triton interpreter and
match the reference, and compile for cuda sm_90; the reference's UB checks fire on hand-built
undefined cases; the exact rules (fp8 rounding, unsigned semantics) are pinned on known values.
"""

from __future__ import annotations

import numpy as np
import pytest

from generators import generate
from generators import spec as S
from generators.constructs import ALL
from generators.numerics import FP8, fp8_from_bits, fp8_to_bits, round_fp8
from oracles.compare import compare_buffers
from oracles.reference import UndefinedBehaviour, evaluate
from tests.spec_helpers import make_case

MINE = ("wrap", "umulhi", "fpcast", "mathx", "fma", "clamp", "cdiv", "dotx")
OFFS = S.arange(8)


def _agrees(backend, case) -> None:
    r = backend.run(case)
    assert r.status == "ok", (r.stage, r.message[-800:])
    assert compare_buffers(case, evaluate(case), r.outputs) == [], case.source


@pytest.mark.parametrize("name", MINE)
def test_example_matches_the_interpreter_and_compiles_for_sm90(name: str, interp, cuda90) -> None:
    case = ALL[name].example()
    _agrees(interp, case)
    r = cuda90.run(case)
    assert r.status == "ok", (r.stage, r.message[-800:])


@pytest.mark.parametrize("seed,weights", [
    (3, {"family_bits": 100}),
    (4, {"family_floatmath": 100, "fp8_cast": 0}),  # fp8 ties: the 3.9 interpreter rounds them away (corpus)
    (5, {"family_dotx": 100, "dot_fp8": 0, "dot_3d": 4, "dot_chain": 4}),
])
def test_generated_kernels_match_the_interpreter_and_compile(seed: int, weights: dict, interp, cuda90) -> None:
    case = generate(seed, weights)
    _agrees(interp, case)
    assert cuda90.run(case).status == "ok"


def test_fp8_and_fp64_dots_and_maxnreg_compile_for_sm90(cuda90) -> None:
    for seed in range(40):
        case = generate(seed, {"family_dotx": 100, "dot_fp8": 50, "dot_fp64": 50, "maxnreg": 50})
        feats = set(case.features)
        if "maxnreg" in feats and feats & {"dot_fp8", "dot_fp64"}:
            break
    assert "maxnreg" in feats and case.to_wire()["launch"]["maxnreg"] == case.launch["maxnreg"]
    r = cuda90.run(case)
    assert r.status == "ok", (r.stage, r.message[-800:])
    assert f".maxnreg {case.launch['maxnreg']}" in r.artifacts.get("ptx", "")


def test_maxnreg_is_part_of_the_case_id() -> None:
    case = ALL["wrap"].example()
    before = case.case_id
    case.launch["maxnreg"] = 64
    assert case.case_id != before


def test_fp8_rounding_is_rne_with_subnormals_and_every_pattern_round_trips() -> None:
    for dt in FP8:
        bits = np.arange(256, dtype=np.uint8)
        vals = fp8_from_bits(dt, bits)
        fin = np.isfinite(vals)
        assert (fp8_to_bits(dt, vals[fin]) == bits[fin]).all()
        assert (round_fp8(dt, vals[fin]) == vals[fin]).all()
    # ties go to the even significand (17 -> 16, 19 -> 20, e5m2: 3.25 -> 3.0, 3.75 -> 4.0)
    assert round_fp8("fp8e4nv", np.array([17.0, 19.0, 464.0, 2.0**-10])).tolist() == [16.0, 20.0, 448.0, 0.0]
    assert round_fp8("fp8e5", np.array([3.25, 3.75, 2.0**-17 * 3])).tolist() == [3.0, 4.0, 2.0**-15]
    assert np.isinf(round_fp8("fp8e4nv", np.array([480.0]))).all()


def test_unsigned_semantics() -> None:
    u = S.cast(S.load(S.bin_("+", S.arg("x"), OFFS)), "uint32")
    three = S.full([8], 3, "uint32")
    body = [S.store(S.bin_("+", S.arg("q"), OFFS), S.bin_("//", u, three)),       # unsigned division
            S.store(S.bin_("+", S.arg("s"), OFFS), S.bin_(">>", u, S.full([8], 28, "uint32"))),  # logical
            S.store(S.bin_("+", S.arg("c"), OFFS), S.cast(S.bin_("<", u, three), "int32")),  # unsigned compare
            S.store(S.bin_("+", S.arg("w"), OFFS), S.cast({"e": "wrap", "op": "-", "a": three, "b": u}, "int64"))]
    case = make_case(body, {"x": ("int32", [-1, -3, 0, 2, 5, 7, -8, 100])},
                     {"q": ("uint32", 8), "s": ("uint32", 8), "c": ("int32", 8), "w": ("int64", 8)})
    ref = evaluate(case)
    assert ref.values["q"].tolist() == [1431655765, 1431655764, 0, 0, 1, 2, 1431655762, 33]
    assert ref.values["s"].tolist() == [15, 15, 0, 0, 0, 0, 15, 0]
    assert ref.values["c"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    assert ref.values["w"].tolist() == [4, 6, 3, 1, 2**32 - 2, 2**32 - 4, 11, 2**32 - 97]


def test_signed_wrap_and_int1_arithmetic_and_umulhi() -> None:
    x = S.load(S.bin_("+", S.arg("x"), OFFS))
    h = {"e": "wrap", "op": "+", "a": {"e": "wrap", "op": "*", "a": x, "b": S.const(1103515245, "int32")},
         "b": S.const(12345, "int32")}
    m1, m2 = S.bin_(">", x, S.const(0, "int32")), S.bin_("<", x, S.const(5, "int32"))
    hi = {"e": "umulhi", "a": x, "b": S.full([8], -1, "int32")}  # bit pattern 0xFFFFFFFF
    body = [S.store(S.bin_("+", S.arg("h"), OFFS), h),
            S.store(S.bin_("+", S.arg("b"), OFFS), S.cast({"e": "wrap", "op": "+", "a": m1, "b": m2}, "int32")),
            S.store(S.bin_("+", S.arg("u"), OFFS), hi)]
    xs = [0, 1, 2, 7, -1, -2, 2**31 - 1, -(2**31)]
    ref = evaluate(make_case(body, {"x": ("int32", xs)}, {"h": ("int32", 8), "b": ("int32", 8), "u": ("int32", 8)}))
    wrap = [((v * 1103515245 + 12345 + 2**31) % 2**32) - 2**31 for v in xs]
    assert ref.values["h"].tolist() == wrap
    assert ref.values["b"].tolist() == [int((v > 0) != (v < 5)) for v in xs]  # True + True == False
    hi_ref = [(((v % 2**32) * (2**32 - 1)) >> 32) for v in xs]
    assert ref.values["u"].tolist() == [(h + 2**31) % 2**32 - 2**31 for h in hi_ref]


def _unary(val: S.Expr, xs: list[float], in_dt: str = "fp32", out_dt: str = "fp32"):
    body = [S.store(S.bin_("+", S.arg("o"), OFFS), val)]
    return make_case(body, {"x": (in_dt, xs)}, {"o": (out_dt, 8)})


X = S.load(S.bin_("+", S.arg("x"), OFFS))


@pytest.mark.parametrize("val,xs,in_dt,out_dt,reason", [
    ({"e": "clamp", "x": X, "lo": S.const(2.0, "fp32"), "hi": S.const(1.0, "fp32")}, [0.0] * 8, "fp32", "fp32",
     "clamp bounds cross"),
    ({"e": "fpcast", "x": X, "dt": "fp8e4nv", "rnd": None}, [500.0] + [0.0] * 7, "fp32", "fp8e4nv",
     "float conversion out of range"),
    (S.bin_("//", S.cast(X, "uint16"), S.cast(S.bin_("-", X, X), "uint16")), [1.0] * 8, "int32", "uint16",
     "division by zero"),
    (S.bin_(">>", S.cast(X, "uint8"), S.full([8], 8, "uint8")), [1] * 8, "int32", "uint8", "shift out of range"),
    ({"e": "wrap", "op": "<<", "a": X, "b": S.full([8], 32, "int32")}, [1] * 8, "int32", "int32",
     "shift out of range"),
    ({"e": "cdiv", "x": X, "d": S.const(3, "int32")}, [2**31 - 2] * 8, "int32", "int32", "signed overflow"),
    ({"e": "mathx", "fn": "floor", "args": [S.bin_("/", X, S.const(3.0, "fp32"))]}, [3.0] * 8, "fp32", "fp32",
     "ambiguous floor"),
    ({"e": "mathx", "fn": "log2", "args": [X]}, [0.0] * 8, "fp32", "fp32", "math domain"),
    (S.cast(X, "uint32"), [-1.5] * 8, "fp32", "uint32", "float->int cast overflow"),
])
def test_reference_refuses_undefined_cases(val, xs, in_dt, out_dt, reason) -> None:
    with pytest.raises(UndefinedBehaviour, match=reason):
        evaluate(_unary(val, xs, in_dt, out_dt))


def test_int8_dot_overflow_is_refused() -> None:
    r = S.arange(32)
    off = S.bin_("+", S.bin_("*", S.expand(r, 1), S.const(32, "int32")), S.expand(r, 0))
    a = S.load(S.bin_("+", S.arg("a"), off))
    dot = {"e": "dotx", "a": a, "b": a, "acc": S.full([32, 32], 2**31 - 100, "int32"), "prec": None, "out": None}
    case = make_case([S.store(S.bin_("+", S.arg("o"), off), dot)], {"a": ("int8", [100] * 1024)},
                     {"o": ("int32", 1024)})
    with pytest.raises(UndefinedBehaviour, match="overflow"):
        evaluate(case)


def test_profiles_know_which_releases_and_archs_lack_what() -> None:
    from backends.profiles import unsupported_reason

    assert unsupported_reason("cuda@3.4.0:sm_90", ["dot_fp64"])
    assert unsupported_reason("cuda@3.5.1:sm_90", ["dot_fp64"]) is None
    assert unsupported_reason("ascend@3.2.0:Ascend910B3", ["dot_fp64"])
    assert unsupported_reason("hip@3.6.0:gfx942", ["dot_fp64"])
    assert unsupported_reason("hip@3.9.0:gfx942", ["dot_fp64"]) is None
    assert unsupported_reason("cuda@3.9.0:sm_80", ["fp8_cast"])
    assert unsupported_reason("cuda@3.9.0:sm_90", ["fp8_cast", "dot_fp8", "dot_3d", "int_wrap"]) is None

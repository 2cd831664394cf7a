"""Group A constructs (tensor algorithms: scans, custom reductions, sort/flip, in-tile gather,
histogram, join/split/interleave/permute, ravel, expand_dims) on real backends.

For every construct's example and for generated kernels that together use every feature of the
group, the real Triton interpreter's output equals the reference and cuda sm_90 compiles; each
construct's UB checks fire on a hand-built undefined case, and releases without a construct
are kept away from it by the capability profile.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from backends.profiles import unsupported_reason
from generators import generate
from generators import spec as S
from generators.constructs import ALL
from generators.constructs.examples import make_case, unary_case
from generators.constructs.histogram import histogram
from generators.constructs.reduce_fn import reduce_fn
from generators.constructs.scan import scan
from generators.constructs.sort import sort
from generators.constructs.tgather import tgather
from oracles.judge import judge
from oracles.reference import UndefinedBehaviour, evaluate

CONSTRUCTS = ["scan", "reduce_fn", "reduce", "expand_dims", "sort", "ravel", "flip", "join", "split",
              "interleave", "permute", "tgather", "histogram"]
GROUP_FEATURES = {f for n in CONSTRUCTS for f in ALL[n].features}


def _agree(case: Any, interp: Any, cuda90: Any) -> None:
    ref = evaluate(case)
    res = interp.run(case)
    out = judge(case, ref, res)
    assert out.kind == "ok", f"{out.kind} {out.stage}: {out.message}\n{case.source}"
    c = cuda90.run(case)
    assert c.status == "ok", f"{c.stage} {c.exc_type}: {c.message}\n{case.source}"


@pytest.mark.parametrize("name", CONSTRUCTS)
def test_example_interpreter_equals_reference_and_cuda_compiles(name: str, interp: Any, cuda90: Any) -> None:
    _agree(ALL[name].example(), interp, cuda90)


def _covering_kernels() -> list[Any]:
    """A few generated tensor-algorithm kernels that together use every feature of the group
    (greedy set cover over the first seeds)."""
    todo = set(GROUP_FEATURES) - {"bf16_compute"}
    pool = [generate(seed, {"family_tensor_algo": 50, "dtype_bf16": 0}) for seed in range(160)]
    picked = []
    while todo:
        best = max(pool, key=lambda c: len(todo & set(c.features)))
        new = todo & set(best.features)
        assert new, f"no generated kernel uses {sorted(todo)}"
        picked.append(best)
        todo -= new
    return picked


def test_generated_kernels_interpreter_equals_reference_and_cuda_compiles(interp: Any, cuda90: Any) -> None:
    cases = _covering_kernels()
    assert len(cases) <= 10
    for case in cases:
        _agree(case, interp, cuda90)


def _ub(case: Any, reason: str) -> None:
    with pytest.raises(UndefinedBehaviour) as e:
        evaluate(case)
    assert reason in e.value.reason


def test_scan_ub_checks_fire() -> None:
    x = S.var("x")
    # an int8 running sum leaves int8 (combine scans do not widen)
    big = {"x_ptr": ("int8", [100] * 16)}
    body = [S.let("offs", S.arange(16)), S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs")))),
            S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), scan("add", x, 0))]
    _ub(make_case(body, big, {"o_ptr": ("int8", 16)}), "signed overflow")
    # a running float product overflows fp16
    body[-1] = S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), scan("cumprod", x, 0, True))
    _ub(make_case(body, {"x_ptr": ("fp16", [16.0] * 16)}, {"o_ptr": ("fp16", 16)}), "non-finite")
    # and an exact case is accepted, with every partial sum exact
    ok = unary_case(scan("cumsum", x, 0, True), in_dt="fp16")
    assert not evaluate(ok).errs["o_ptr"].any()


def test_reduce_ub_checks_fire() -> None:
    x = S.var("x")
    body = [S.let("offs", S.arange(16)), S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs")))),
            S.store(S.arg("o_ptr"), reduce_fn("add", x, 0))]
    _ub(make_case(body, {"x_ptr": ("int8", [10] * 16)}, {"o_ptr": ("int8", 1)}), "signed overflow")
    # an argmin whose runner-up is within rounding of the minimum
    near = S.bin_("/", x, S.const(3.0, "fp32"))
    arg = reduce_fn("argmin", near, 0, None, S.arange(16), 1)
    body[-1] = S.store(S.arg("o_ptr"), arg)
    vals = [1.0, 1.0] + [5.0] * 14
    _ub(make_case(body, {"x_ptr": ("fp32", vals)}, {"o_ptr": ("int32", 1)}), "ambiguous")
    # exact ties are fine: the smaller index wins
    body[-1] = S.store(S.arg("o_ptr"), reduce_fn("argmin", x, 0, None, S.arange(16), 1))
    ref = evaluate(make_case(body, {"x_ptr": ("fp32", [3.0, 1.0, 1.0] + [5.0] * 13)}, {"o_ptr": ("int32", 1)}))
    assert ref.values["o_ptr"][0] == 1


def test_gather_and_histogram_ub_checks_fire() -> None:
    x = S.var("x")
    past = S.bin_("+", S.var("offs"), S.const(1, "int32"))  # index 16 of a 16-element source
    _ub(unary_case(tgather(x, past, 0)), "out-of-range gather index")
    _ub(unary_case(histogram(x, 16), in_dt="int32"), "histogram value out of range")  # -3..3: negatives
    ok = unary_case(histogram(S.bin_("%", S.call("abs", x), S.const(16, "int32")), 16), in_dt="int32")
    assert int(np.sum(evaluate(ok).values["o_ptr"])) == 16


def test_shape_rules_refuse_what_triton_rejects() -> None:
    env = {"x": S.Ty("fp32", (16,)), "m": S.Ty("fp32", (4, 4)), "i": S.Ty("int32", (16,))}
    x, m = S.var("x"), S.var("m")
    bad = [(sort(S.full([3], 1.0, "fp32")), "power-of-two"),
           ({"e": "split", "x": m, "pick": 0}, "size 2"),
           ({"e": "permute", "x": m, "dims": [0, 0]}, "permutation"),
           (tgather(m, S.var("i"), 0), "same rank|every other axis"),
           (histogram(x, 16), "int32"),
           (scan("cumsum", S.cast(x, "int8"), 0), "cumsum"),
           (scan("xor", x, 0), "floats"),
           ({"e": "flip", "x": S.full([3, 4], 1.0, "fp32"), "dim": 0}, "power-of-two")]
    for node, why in bad:
        with pytest.raises(S.SpecError, match=why):
            S.typeof(node, env, {})
    assert S.typeof(sort(m, True), env, {}) == S.Ty("fp32", (4, 4))


def test_profiles_keep_releases_away_from_what_they_lack() -> None:
    assert unsupported_reason("interpreter@3.2.0", ["tl_gather"]) is not None
    assert unsupported_reason("cuda@3.3.0", ["tl_gather"]) is None
    assert unsupported_reason("cuda@3.3.0", ["flip_dim"]) is not None
    assert unsupported_reason("cuda@3.4.0", ["flip_dim"]) is None
    assert unsupported_reason("cuda@3.0.0", ["flip", "sort", "histogram", "scan_reverse", "join"]) is None
    assert unsupported_reason("ascend@3.2.0", ["tl_gather"]) is not None

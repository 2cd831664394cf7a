"""Memory constructs (atomics, block pointers, tensor descriptors, scalar pointers, cache hints):
real interpreter output equals the reference and cuda sm_90 compiles, on hand-built and
generated kernels; the reference refuses every undefined or order-dependent use by hand-built
case; the type rules and capability profiles say what each release lacks.

Block pointers were removed in triton 3.9.0, so they run on triton 3.6.0 (the release the GPU
corpus already pins)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from backends.profiles import registry_reason
from generators import generate
from generators import spec as S
from generators.constructs import ALL
from generators.constructs.advance import advance
from generators.constructs.atomic import atomic
from generators.constructs.block_load import block_load
from generators.constructs.block_ptr import make_block_ptr
from generators.constructs.examples import make_case
from generators.constructs.mem_load import mload
from generators.constructs.tdesc_load import tdesc_load
from generators.constructs.tdesc_store import tdesc_store
from generators.constructs.tensor_desc import make_tensor_desc
from oracles.judge import judge
from oracles.reference import UndefinedBehaviour, evaluate

NEW_39 = ["atomic", "mload", "mstore", "tensor_desc", "tdesc_load", "tdesc_store"]
NEW_36 = ["block_ptr", "advance", "block_load", "block_store"]


def _known_bug(case: Any) -> bool:
    """Kernels that hit a bug kept in corpus/ (interpreter fp32 atomic_xchg, PTX hint pairs,
    block-pointer padding without boundary_check): the point here is agreement elsewhere."""
    for n in S.walk(case.spec["body"]):
        if n.get("s") == "atomic" and n["op"] == "xchg" and "fp32" in case.source:
            return True
        if n.get("e") == "mload" and sum(bool(n.get(k)) for k in ("cache", "evict", "volatile")) > 1:
            return True
        if n.get("s") == "mstore" and n.get("cache") and n.get("evict"):
            return True
        if n.get("e") == "block_load" and n.get("pad") and not n.get("check"):
            return True
        if n.get("s") == "for" and n["hi"].get("e") == "arg" and "block_ptr" in case.features:
            return True  # triton 3.6.0's interpreter fails on runtime loop bounds (corpus b1aacb2cdebb87fe)
    return False


def _generated(family: str, count: int) -> list[Any]:
    out = []
    for seed in range(200):
        case = generate(seed, {f"family_{family}": 1000.0})
        if not _known_bug(case) and f"family_{family}" in case.spec.get("tags", []):
            out.append(case)
            if len(out) == count:
                return out
    raise AssertionError(f"no {family} kernels")


def _agrees(backend: Any, case: Any) -> None:
    o = judge(case, evaluate(case), backend.run(case, 120.0))
    assert o.kind == "ok", (backend.name, o.kind, o.message[:800], case.source)


def test_interpreter_agrees_and_cuda_compiles_on_3_9(interp: Any, cuda90: Any) -> None:
    cases = [ALL[n].example() for n in NEW_39]
    cases += _generated("atomic", 2) + _generated("memory", 1) + _generated("tensor_desc", 1)
    for case in cases:
        _agrees(interp, case)
    for case in cases[:len(NEW_39) + 1]:
        r = cuda90.run(case, 120.0)
        assert r.status == "ok", (r.stage, r.message[:800], case.source)


@pytest.fixture(scope="module")
def triton36() -> Iterator[tuple[Any, Any]]:
    from backends import open_backend

    with open_backend("interpreter@3.6.0") as i, open_backend("cuda@3.6.0") as c:
        yield i, c


def test_block_pointers_agree_and_compile_on_3_6(triton36: tuple[Any, Any]) -> None:
    interp36, cuda36 = triton36
    cases = [ALL[n].example() for n in NEW_36] + _generated("block_ptr", 2)
    for case in cases:
        _agrees(interp36, case)
    for case in cases[1::2]:
        r = cuda36.run(case, 120.0)
        assert r.status == "ok", (r.stage, r.message[:800], case.source)


def test_atomic_reference_values() -> None:
    """Histogram adds from 14 lanes of two programs, a bound exchange, a scalar max per program."""
    ref = evaluate(ALL["atomic"].example())
    x = np.array([i * 3 - 7 for i in range(14)])
    hist = np.full(3, -7) + np.array([x[np.arange(14) % 3 == k].sum() for k in range(3)])
    np.testing.assert_array_equal(ref.values["h_ptr"], hist)
    np.testing.assert_array_equal(ref.values["a_ptr"], x)  # the exchange wrote x ...
    np.testing.assert_array_equal(ref.values["o_ptr"], np.full(14, -7))  # ... and returned the init
    assert ref.values["c_ptr"][0] == x.max()


# ---- the reference refuses what is undefined or order-dependent ----
def _atomic_case(stmts: list[Any], dt: str = "int32", grid: int = 2, init: float = 0, n: int = 4) -> Any:
    offs = S.arange(4)
    body = [S.let("offs", offs), S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs"))))] + stmts
    case = make_case(body, {"x_ptr": (dt, [1, 2, 3, 4] if dt != "fp32" else [0.1, 0.2, 0.3, 0.4])},
                     {"a_ptr": (dt, n), "o_ptr": (dt, 4)}, grid=(grid, 1, 1))
    case.buffers["a_ptr"].data[:] = init
    return case


A = S.bin_("+", S.arg("a_ptr"), S.var("offs"))
OUT = S.bin_("+", S.arg("o_ptr"), S.var("offs"))
UB_CASES = {
    "xchg from two programs": (_atomic_case([atomic("xchg", A, S.var("x"))]), "racy atomic"),
    "old value of a shared element": (_atomic_case([atomic("add", A, S.var("x"), name="old")]),
                                      "order-dependent atomic result"),
    "add and max on one element": (_atomic_case([atomic("add", A, S.var("x")), atomic("max", A, S.var("x"))], grid=1),
                                   "order-dependent atomic result"),
    "inexact float adds": (_atomic_case([atomic("add", A, S.var("x"))], dt="fp32"), "order-dependent atomic result"),
    "atomic and store on one buffer": (_atomic_case([atomic("add", A, S.var("x")), S.store(A, S.var("x"))], grid=1),
                                       "atomic and plain store on one buffer"),
    "atomic on an input": (_atomic_case([atomic("add", S.bin_("+", S.arg("x_ptr"), S.var("offs")), S.var("x"))],
                                        grid=1), "atomic to an input buffer"),
    "out-of-bounds atomic": (_atomic_case([atomic("add", S.bin_("+", A, S.const(1, "int32")), S.var("x"))], grid=1),
                             "out-of-bounds atomic"),
}


def _block_case(check: list[int], pad: str, store_all: bool, extent: int = 3) -> Any:
    bp = make_block_ptr(S.arg("x_ptr"), [S.const(extent, "int32")], [S.const(1, "int32")], [S.const(0, "int32")], [4])
    body = [S.let("x", block_load(bp, check, pad))]
    offs = S.arange(4)
    m = None if store_all else S.bin_("<", offs, S.const(extent, "int32"))
    body.append(S.store(S.bin_("+", S.arg("o_ptr"), offs), S.var("x"), m))
    return make_case(body, {"x_ptr": ("fp32", [1.0, 2.0, 3.0])}, {"o_ptr": ("fp32", 4)})


def _desc_case(col: int) -> Any:
    d = make_tensor_desc(S.arg("x_ptr"), [S.const(2, "int32"), S.const(8, "int32")], [S.const(8, "int32")], [2, 4])
    body = [S.store(S.bin_("+", S.arg("o_ptr"), S.arange(4)),
                    S.reduce_("sum", tdesc_load(d, [S.const(0, "int32"), S.const(col, "int32")]), 0))]
    return make_case(body, {"x_ptr": ("fp32", [float(i) for i in range(16)])}, {"o_ptr": ("fp32", 4)})


UB_CASES.update({
    "unchecked block dim past the buffer": (_block_case([], "zero", False), "out-of-bounds load"),
    "NaN-padded lane stored": (_block_case([0], "nan", True), "store of an undefined value"),
    "misaligned descriptor coordinate": (_desc_case(2), "misaligned descriptor access"),
    "descriptor store past a ragged inner extent": (make_case(
        [S.let("d", make_tensor_desc(S.arg("o_ptr"), [S.const(2, "int32"), S.const(3, "int32")], [S.const(8, "int32")],
                                     [2, 4])),
         tdesc_store(S.var("d"), [S.const(0, "int32"), S.const(0, "int32")], S.full([2, 4], 1.0, "fp32"))],
        {}, {"o_ptr": ("fp32", 16)}), "descriptor store past a ragged inner extent"),
    "scalar load past the buffer": (make_case([S.store(S.arg("o_ptr"), mload(S.bin_("+", S.arg("x_ptr"),
                                                                                   S.const(3, "int32"))))],
                                              {"x_ptr": ("int32", [1, 2, 3])}, {"o_ptr": ("int32", 1)}),
                                    "out-of-bounds load"),
})


@pytest.mark.parametrize("what", sorted(UB_CASES))
def test_reference_refuses(what: str) -> None:
    case, reason = UB_CASES[what]
    with pytest.raises(UndefinedBehaviour) as e:
        evaluate(case)
    assert e.value.reason == reason, str(e.value)


def test_defined_neighbours_of_the_refused_cases_evaluate() -> None:
    """The same shapes of code made deterministic are accepted, with the right values."""
    one = evaluate(_atomic_case([atomic("xchg", A, S.var("x"), name="old"), S.store(OUT, S.var("old"))], grid=1,
                                init=5))
    np.testing.assert_array_equal(one.values["o_ptr"], [5, 5, 5, 5])
    np.testing.assert_array_equal(one.values["a_ptr"], [1, 2, 3, 4])
    exact = evaluate(_atomic_case([atomic("add", A, S.var("x"))], dt="int32", grid=3))
    np.testing.assert_array_equal(exact.values["a_ptr"], [3, 6, 9, 12])
    padded = evaluate(_block_case([0], "nan", False))  # NaN lane masked off: fine
    np.testing.assert_array_equal(padded.values["o_ptr"][:3], [1.0, 2.0, 3.0])
    assert evaluate(_desc_case(4)).values["o_ptr"].tolist() == [16.0, 18.0, 20.0, 22.0]  # x[c] + x[8 + c], c = 4..7


def test_type_rules_refuse_what_triton_does() -> None:
    base = _atomic_case([])
    base.spec["params"].append({"name": "f_ptr", "kind": "ptr", "dtype": "fp32"})
    bad = {
        "cas takes no mask": atomic("cas", A, S.var("x"), S.bin_("<", S.var("offs"), S.const(2, "int32")),
                                    cmp=S.var("x")),
        "value dtype differs from the pointer's": atomic("add", A, S.cast(S.var("x"), "int64")),
        "no bitwise atomics on floats": atomic("or", S.bin_("+", S.arg("f_ptr"), S.var("offs")),
                                               S.cast(S.var("x"), "fp32")),
        "bound old value of a masked atomic needs other": atomic(
            "add", A, S.var("x"), S.bin_("<", S.var("offs"), S.const(2, "int32")), name="old"),
        "advance of a plain pointer": S.let("p", advance(S.arg("a_ptr"), [S.const(1, "int32")])),
        "arithmetic on a block pointer": S.let("p", S.bin_("+", make_block_ptr(
            S.arg("x_ptr"), [S.const(4, "int32")], [S.const(1, "int32")], [S.const(0, "int32")], [4]),
            S.const(1, "int32"))),
        "a 1-D descriptor has no leading stride": S.let("d", make_tensor_desc(
            S.arg("x_ptr"), [S.const(4, "int32")], [S.const(2, "int32")], [4])),
        "descriptor leading stride not 16-byte aligned": S.let("d", make_tensor_desc(
            S.arg("x_ptr"), [S.const(2, "int32"), S.const(4, "int32")], [S.const(6, "int32")], [2, 4])),
    }
    for what, stmt in bad.items():
        spec = {**base.spec, "body": base.spec["body"] + [stmt]}
        with pytest.raises(S.SpecError):
            S.check(spec)
            pytest.fail(what)


def test_corpus_validator_accepts_every_memory_construct() -> None:
    """Corpus files are untrusted input: every field of these nodes must pass the validator."""
    from generators.validate import validate_case

    for name in NEW_39 + NEW_36:
        validate_case(ALL[name].example().to_json())
    bp = make_block_ptr(S.arg("x_ptr"), [S.const(4, "int32")] * 3, [S.const(1, "int32")] * 3,
                        [S.const(0, "int32")] * 3, [2, 2, 2], [0, 2, 1])
    case = make_case([S.store(S.bin_("+", S.arg("o_ptr"), S.arange(2)),
                              S.reduce_("sum", S.reduce_("sum", block_load(bp, [0, 2], "zero"), 0), 0))],
                     {"x_ptr": ("fp32", [1.0] * 64)}, {"o_ptr": ("fp32", 2)})
    validate_case(case.to_json())


def test_profiles_follow_release_history() -> None:
    assert "removed in triton 3.9.0" in (registry_reason("cuda", "3.9.0", "block_ptr") or "")
    assert registry_reason("interpreter", "3.6.0", "block_advance") is None
    assert "needs triton >= 3.4.0" in (registry_reason("cuda", "3.2.0", "tensor_desc_load") or "")
    assert registry_reason("ascend", "3.2.0rc2", "tensor_desc") is not None
    assert registry_reason("ascend", "3.2.0", "tensor_desc") is None
    assert registry_reason("ascend", "3.2.0", "block_ptr") is None
    assert registry_reason("cuda", "3.0.0", "atomic_cas") is None

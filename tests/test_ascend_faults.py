"""Failure classification of the Ascend runner: guard pages, timeouts, adapter crashes, poison.

Kernels go through real triton-ascend in its env; the poison/internal-guard tests drive our own
MLIR 19 pipeline directly on hand-written linalg (no triton needed), since the adapter itself
initialises what it allocates.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from backends.ascend.cli import buffer, constexpr, env_python, make_case, ptr, run_in_env, scalar
from backends.linalg_exec import calling, execute, legalize
from backends.linalg_exec import tools as lower
from backends.linalg_exec.convention import Param
from backends.linalg_exec.toolchain import find_toolchain
from backends.runner_api import GUARD_ELEMS, StageError

VERSIONS = ["3.2.0", "3.2.0rc4", "3.2.0rc2"]
H = "import triton\nimport triton.language as tl\n\n"

OOB_READ = H + '''@triton.jit
def oob_read(x_ptr, o_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n + 1, other=0.0)
    tl.store(o_ptr + offs, x, mask=offs < n)
'''

OOB_WRITE = H + '''@triton.jit
def oob_write(x_ptr, o_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    tl.store(o_ptr + offs, x, mask=offs < n + 1)
'''

UNDERRUN = H + '''@triton.jit
def underrun(x_ptr, o_ptr, shift, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(o_ptr + offs, tl.load(x_ptr + offs - shift))
'''

HANG = H + '''@triton.jit
def hang(x_ptr, o_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for i in range(0, n):
        acc += tl.load(x_ptr + offs)
    tl.store(o_ptr + offs, acc)
'''

IDIV0 = H + '''@triton.jit
def idiv0(x_ptr, y_ptr, o_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(o_ptr + offs, tl.load(x_ptr + offs) // tl.load(y_ptr + offs))
'''

CUMREV = H + '''@triton.jit
def cumrev(x_ptr, o_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(o_ptr + offs, tl.cumsum(tl.load(x_ptr + offs), 0, reverse=True))
'''

DIVPTR = H + '''@triton.jit
def div_offsets(x_ptr, o_ptr, start_n, block_size, stride, N: tl.constexpr):
    offs_n = tl.arange(0, N)
    tl.store(o_ptr + offs_n, tl.load(x_ptr + ((start_n + offs_n) // block_size) * stride))
'''

FP64 = H + '''@triton.jit
def fp64_k(x_ptr, o_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(o_ptr + offs, tl.load(x_ptr + offs) * 2.0)
'''


def _io(src: str, name: str, n: int, block: int, extra: list[dict] | None = None,
        dtype: str = "fp32") -> dict:
    args = [ptr("x_ptr", dtype, "x"), ptr("o_ptr", dtype, "o"), *(extra or []), constexpr("BLOCK", block)]
    return make_case(src, name, args, {"x": buffer(dtype, np.arange(n)), "o": buffer(dtype, np.zeros(n), "out")})


def _items() -> dict[str, tuple[dict, dict]]:
    n = scalar("n", "int32", 40)
    shift = scalar("shift", "int32", 2)  # a runtime value: the adapter rejects constant negative offsets
    return {
        "oob_read": (_io(OOB_READ, "oob_read", 40, 64, [n]), {}),
        "oob_write": (_io(OOB_WRITE, "oob_write", 40, 64, [n]), {}),
        "underrun_after": (_io(UNDERRUN, "underrun", 16, 16, [shift]), {}),
        "underrun_before": (_io(UNDERRUN, "underrun", 16, 16, [shift]), {"guards": "before"}),
        "hang": (_io(HANG, "hang", 16, 16, [scalar("n", "int32", 2**31 - 1)]), {"timeout": 1.0}),
        "idiv0": (make_case(IDIV0, "idiv0", [ptr("x_ptr", "int32", "x"), ptr("y_ptr", "int32", "y"),
                                            ptr("o_ptr", "int32", "o"), constexpr("BLOCK", 16)],
                            {"x": buffer("int32", np.arange(16)), "y": buffer("int32", np.arange(16)),
                             "o": buffer("int32", np.zeros(16), "out")}), {}),
        "cumrev": (_io(CUMREV, "cumrev", 16, 16), {}),
        "div_offsets": (make_case(DIVPTR, "div_offsets", [
            ptr("x_ptr", "fp32", "x"), ptr("o_ptr", "fp32", "o"), scalar("start_n", "int32", 2),
            scalar("block_size", "int32", 4), scalar("stride", "int32", 3), constexpr("N", 16)],
            {"x": buffer("fp32", np.arange(64)), "o": buffer("fp32", np.zeros(16), "out")}), {}),
        "fp64_enforced": (_io(FP64, "fp64_k", 16, 16, dtype="fp64"), {"enforce_profile": True}),
        "linearize": (_io(OOB_READ, "oob_read", 40, 64, [scalar("n", "int32", 39)]),
                      {"adapter_options": {"enable_linearize": True}, "opt_level": 2}),
    }


ITEMS = _items()


def _run_version(version: str) -> dict[str, dict] | None:
    py = env_python(version)
    if not os.path.exists(py):
        return None
    names = list(ITEMS)
    return dict(zip(names, run_in_env(py, [ITEMS[n] for n in names])))


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, dict] | None]:
    with ThreadPoolExecutor(len(VERSIONS)) as ex:
        return dict(zip(VERSIONS, ex.map(_run_version, VERSIONS)))


def _get(results: dict, version: str, name: str) -> dict:
    if results[version] is None:
        pytest.skip(f"env ascend-{version} is not installed")
    return results[version][name]


@pytest.mark.parametrize("version", VERSIONS)
def test_read_one_past_the_end_faults_on_that_buffer(results: dict, version: str) -> None:
    r = _get(results, version, "oob_read")
    assert (r["status"], r["stage"], r["exc_type"]) == ("error", "runtime-fault", "SIGSEGV"), r
    assert "out-of-bounds read" in r["message"]
    assert "0 bytes past the end of buffer 'x' (160 bytes)" in r["message"]
    assert "program id (0, 0, 0)" in r["message"] and "linalg" in r["artifacts"]


@pytest.mark.parametrize("version", VERSIONS)
def test_write_one_past_the_end_faults_on_that_buffer(results: dict, version: str) -> None:
    r = _get(results, version, "oob_write")
    assert r["stage"] == "runtime-fault" and "out-of-bounds write" in r["message"], r
    assert "past the end of buffer 'o'" in r["message"]


def test_underrun_needs_guards_before(results: dict) -> None:
    """A guard page sits on one side only: after (default) misses x[-2], before catches it."""
    r = _get(results, "3.2.0", "underrun_after")
    assert r["status"] == "ok", r
    got = np.frombuffer(r["outputs"]["o"], np.float32)[GUARD_ELEMS:GUARD_ELEMS + 16]
    assert got[:2].tobytes() == b"\xa5" * 8  # read the canary slack in front of x
    np.testing.assert_array_equal(got[2:], np.arange(14))
    r = _get(results, "3.2.0", "underrun_before")
    assert r["stage"] == "runtime-fault" and "8 bytes before the start of buffer 'x'" in r["message"], r


def test_runaway_kernel_is_a_runtime_timeout(results: dict) -> None:
    r = _get(results, "3.2.0", "hang")
    assert (r["status"], r["stage"]) == ("error", "runtime-timeout"), r
    assert r["wall_s"] < 15


def test_integer_division_by_zero_is_sigfpe(results: dict) -> None:
    r = _get(results, "3.2.0", "idiv0")
    assert (r["stage"], r["exc_type"]) == ("runtime-fault", "SIGFPE"), r


def test_adapter_crash_rc2_keeps_stack_dump_and_ttir(results: dict) -> None:
    r = _get(results, "3.2.0rc2", "div_offsets")
    assert (r["stage"], r["exc_type"]) == ("adapter-crash", "SIGSEGV"), r
    assert "cannot div 0!" in r["message"] and "Stack dump" in r["message"]
    assert "tt.func" in r["artifacts"]["ttir"] and "triton-adapter-opt" in r["artifacts"]["adapter_cmd"]
    assert _get(results, "3.2.0", "div_offsets")["status"] == "ok"  # fixed by 3.2.0


def test_adapter_error_rc4_is_a_diagnostic(results: dict) -> None:
    r = _get(results, "3.2.0rc4", "cumrev")
    assert (r["stage"], r["exc_type"]) == ("adapter-error", "CalledProcessError"), r
    assert "reverse=True is not yet supported for scan op" in r["message"]
    assert _get(results, "3.2.0", "cumrev")["status"] == "ok"


@pytest.mark.parametrize("version", VERSIONS)
def test_enforce_profile(results: dict, version: str) -> None:
    r = _get(results, version, "fp64_enforced")
    if version == "3.2.0rc4":
        assert r["status"] == "unsupported" and "fp64 (frontend)" in r["message"], r
    else:
        assert r["status"] == "ok", r


@pytest.mark.parametrize("version", VERSIONS)
def test_adapter_options_are_release_specific(results: dict, version: str) -> None:
    r = _get(results, version, "linearize")
    if version != "3.2.0":  # rc4/rc2 NPUOptions have no enable_linearize: refused, not silently dropped
        assert r["status"] == "unsupported" and "enable_linearize" in r["message"], r
        return
    assert r["status"] == "ok", r
    assert "--triton-linearize" in r["artifacts"]["adapter_cmd"]
    got = np.frombuffer(r["outputs"]["o"], np.float32)[GUARD_ELEMS:GUARD_ELEMS + 40]
    np.testing.assert_array_equal(got, np.r_[np.arange(39), 0])


# ---- our pipeline on hand-written linalg: poison and internal guards (no triton) ----

UNINIT = """module {
  func.func @k(%lock: memref<?xi8>, %ws: memref<?xi8>, %o: memref<?xf32>, %i: i32,
               %gx: i32, %gy: i32, %gz: i32, %px: i32, %py: i32, %pz: i32) {
    %c0 = arith.constant 0 : index
    %buf = memref.alloc() : memref<16xf32>
    %ii = arith.index_cast %i : i32 to index
    %v = memref.load %buf[%ii] : memref<16xf32>
    memref.store %v, %o[%c0] : memref<?xf32>
    return
  }
}
"""

needs_tools = pytest.mark.skipif(find_toolchain() is None, reason="MLIR/LLVM 19 tools not installed")


def _run_handwritten(index: int) -> np.ndarray:
    leg = legalize.legalize(UNINIT)
    conv = calling.build(leg.text, leg.kernel, [Param("o", "ptr", "fp32", "o"), Param("i", "scalar", "int32",
                                                                                      value=index)])
    so = lower.lower_to_so(leg.text)
    out = execute.run(so.so_path, conv, {"o": buffer("fp32", np.zeros(1), "out")}, (1, 1, 1), timeout=10)
    return np.frombuffer(out.outputs["o"], np.float32)[GUARD_ELEMS:GUARD_ELEMS + 1]


@needs_tools
def test_uninitialised_internal_allocation_reads_as_poison() -> None:
    got = _run_handwritten(3)
    assert got.view(np.uint32)[0] == 0xFFFFFFFF and np.isnan(got[0])


@needs_tools
def test_overrun_of_internal_allocation_faults() -> None:
    with pytest.raises(StageError) as e:
        _run_handwritten(16)
    assert e.value.stage == "runtime-fault"
    assert "allocation made by the lowered kernel itself" in e.value.message

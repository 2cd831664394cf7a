"""Our legalization of adapter constructs, run through MLIR 19 on hand-written linalg (no triton)."""

from __future__ import annotations

import numpy as np
import pytest

from backends.ascend.cli import buffer
from backends.linalg_exec import calling, execute, legalize
from backends.linalg_exec import tools as lower
from backends.linalg_exec.convention import Param
from backends.linalg_exec.toolchain import find_toolchain
from backends.runner_api import GUARD_ELEMS, Unsupported

needs_tools = pytest.mark.skipif(find_toolchain() is None, reason="MLIR/LLVM 19 tools not installed")

# Shaped like adapter output: leading i8 memrefs, a private helper declared once and called from
# two sites with different constant axes, hints to drop, grid/pid arguments last.
TWO_SITES = """module {
  func.func private @triton_cumsum_0(tensor<4x8xf32>, i32, i1) -> tensor<4x8xf32>
  func.func @k(%arg0: memref<?xi8>, %arg1: memref<?xi8>, %arg2: memref<?xf32> {tt.tensor_kind = 0 : i32},
               %arg3: memref<?xf32> {tt.tensor_kind = 1 : i32}, %arg4: memref<?xf32> {tt.tensor_kind = 1 : i32},
               %arg5: i32, %arg6: i32, %arg7: i32, %arg8: i32, %arg9: i32, %arg10: i32)
               attributes {SyncBlockLockArgIdx = 0 : i64, WorkspaceArgIdx = 1 : i64, mix_mode = "aiv"} {
    %c0_i32 = arith.constant 0 : i32
    %c1_i32 = arith.constant 1 : i32
    %false = arith.constant false
    %true = arith.constant true
    %in = memref.reinterpret_cast %arg2 to offset: [0], sizes: [4, 8], strides: [8, 1]
        : memref<?xf32> to memref<4x8xf32, strided<[8, 1]>>
    %alloc = memref.alloc() : memref<4x8xf32>
    memref.copy %in, %alloc : memref<4x8xf32, strided<[8, 1]>> to memref<4x8xf32>
    %x = bufferization.to_tensor %alloc restrict writable : memref<4x8xf32>
    annotation.mark %x {overflow_mode = "trunc"} : tensor<4x8xf32>
    gpu.barrier
    %r0 = call @triton_cumsum_0(%x, %c0_i32, %false) : (tensor<4x8xf32>, i32, i1) -> tensor<4x8xf32>
    %r1 = call @triton_cumsum_0(%x, %c1_i32, %true) : (tensor<4x8xf32>, i32, i1) -> tensor<4x8xf32>
    %o0 = memref.reinterpret_cast %arg3 to offset: [0], sizes: [4, 8], strides: [8, 1]
        : memref<?xf32> to memref<4x8xf32, strided<[8, 1]>>
    %o1 = memref.reinterpret_cast %arg4 to offset: [0], sizes: [4, 8], strides: [8, 1]
        : memref<?xf32> to memref<4x8xf32, strided<[8, 1]>>
    bufferization.materialize_in_destination %r0 in writable %o0
        : (tensor<4x8xf32>, memref<4x8xf32, strided<[8, 1]>>) -> ()
    bufferization.materialize_in_destination %r1 in writable %o1
        : (tensor<4x8xf32>, memref<4x8xf32, strided<[8, 1]>>) -> ()
    return
  }
}
"""


def test_legalize_specialises_helpers_per_call_site() -> None:
    leg = legalize.legalize(TWO_SITES)
    assert "annotation.mark" not in leg.text and "gpu.barrier" not in leg.text
    assert "@triton_cumsum_0__td0" in leg.text and "@triton_cumsum_0__td1" in leg.text
    assert "llvm.emit_c_interface" in leg.text
    conv = calling.build(leg.text, leg.kernel, [Param("x", "ptr", "fp32", "x"), Param("a", "ptr", "fp32", "a"),
                                                Param("b", "ptr", "fp32", "b")])
    assert conv.n_leading == 2


def test_unknown_constructs_are_ours_to_refuse() -> None:
    with pytest.raises(Unsupported, match="hfusion.cast"):
        legalize.legalize(TWO_SITES.replace("gpu.barrier", "%z = hfusion.cast %x : tensor<4x8xf32>"))
    with pytest.raises(Unsupported, match="adapter left Triton op tt.scan"):
        legalize.legalize(TWO_SITES.replace("gpu.barrier", '%z = "tt.scan"(%x) <{axis = 0 : i32}> ({'))
    with pytest.raises(Unsupported, match="calling convention mismatch"):
        leg = legalize.legalize(TWO_SITES)
        calling.build(leg.text, leg.kernel, [Param("x", "ptr", "fp32", "x")] * 5)


@needs_tools
def test_scan_bodies_along_both_axes_and_reversed() -> None:
    leg = legalize.legalize(TWO_SITES)
    params = [Param("x", "ptr", "fp32", "x"), Param("a", "ptr", "fp32", "a"), Param("b", "ptr", "fp32", "b")]
    conv = calling.build(leg.text, leg.kernel, params)
    x = np.random.default_rng(3).integers(-8, 8, (4, 8)).astype(np.float32)
    x[0, 0] = -0.0
    so = lower.lower_to_so(leg.text)
    res = execute.run(so.so_path, conv, {"x": buffer("fp32", x), "a": buffer("fp32", np.zeros(32), "out"),
                                         "b": buffer("fp32", np.zeros(32), "out")}, (1, 1, 1))
    a = np.frombuffer(res.outputs["a"], np.float32)[GUARD_ELEMS:GUARD_ELEMS + 32].reshape(4, 8)
    b = np.frombuffer(res.outputs["b"], np.float32)[GUARD_ELEMS:GUARD_ELEMS + 32].reshape(4, 8)
    np.testing.assert_array_equal(a, np.cumsum(x, 0))
    np.testing.assert_array_equal(b, np.cumsum(x[:, ::-1], 1)[:, ::-1])
    assert np.signbit(a[0, 0])  # the first element is copied, so -0.0 stays -0.0
    assert lower.lower_to_so(leg.text).cached

"""The interpreter backend runs real kernels and returns padded outputs with intact guards."""

from __future__ import annotations

import numpy as np

from generators.case import Arg


def test_add_kernel_outputs(interp, kernels) -> None:
    r = interp.run(kernels.add_case(n=200, s=2.0))
    assert r.status == "ok", r.message
    assert r.executed and r.backend == "interpreter@3.9.0"
    x = np.arange(200, dtype=np.float32)
    np.testing.assert_array_equal(kernels.data(r, "out"), x * 2 + 1)
    np.testing.assert_array_equal(kernels.data(r, "x"), x)  # inputs come back too
    assert all(kernels.guards_intact(r, b) for b in ("x", "y", "out"))
    assert r.versions["triton"] == "3.9.0" and r.versions["target"] == "interpreter"
    assert "torch" in r.versions and r.wall_s > 0


def test_bf16_buffers_arrive_as_bits(interp, kernels) -> None:
    bits = (np.arange(16, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)  # exact in bf16
    case = kernels.unary_case("y = x.to(tl.float32) * 2.0", n=16, block=16, in_dtype="bf16", x=bits)
    r = interp.run(case)
    assert r.status == "ok", r.message
    assert r.outputs["x"].dtype == np.uint16
    np.testing.assert_array_equal(kernels.data(r, "out"), np.arange(16, dtype=np.float32) * 2)


def test_int_division_truncates_toward_zero(interp, kernels) -> None:
    x = np.array([-7, 7, -8, 9, -1, 0, 5, -5], dtype=np.int32)
    case = kernels.unary_case("y = x // d * 100 + x % d", n=8, block=8, in_dtype="int32",
                              out_dtype="int32", x=x, extra_args="d",
                              extra=[Arg("d", "scalar", "int32", value=2)])
    r = interp.run(case)
    assert r.status == "ok", r.message
    q = np.trunc(x / 2).astype(np.int32)
    np.testing.assert_array_equal(kernels.data(r, "out"), q * 100 + (x - q * 2))


def test_masked_tail_leaves_rest_of_output(interp, kernels) -> None:
    case = kernels.add_case(n=100, block=64)
    case.args[3].value = 90  # n: the last 10 elements stay at their initial -1
    r = interp.run(case)
    out = kernels.data(r, "out")
    assert (out[90:] == -1).all() and out[89] == 89 * 2 + 1


def test_semantic_error_is_frontend(interp, kernels) -> None:
    r = interp.run(kernels.unary_case("y = x + tl.arange(0, 48)"))
    assert (r.status, r.stage) == ("error", "frontend")
    assert r.exc_type and "arange" in r.traceback


def test_name_error_in_kernel_is_frontend(interp, kernels) -> None:
    r = interp.run(kernels.unary_case("y = x + undefined_name"))
    assert (r.status, r.stage, r.exc_type) == ("error", "frontend", "NameError")


def test_syntax_error_is_frontend(interp, kernels) -> None:
    case = kernels.add_case(source=kernels.ADD_SRC.replace("x * s + y", "x * s +"))
    r = interp.run(case)
    assert (r.status, r.stage, r.exc_type) == ("error", "frontend", "SyntaxError")


def test_prints_cannot_corrupt_the_protocol(interp, kernels) -> None:
    noisy = "import os, sys\nprint('x' * 100000)\nos.write(1, b'\\0' * 4096)\nsys.stdout.flush()\n"
    r = interp.run(kernels.add_case(source=noisy + kernels.ADD_SRC))
    assert r.status == "ok", r.message

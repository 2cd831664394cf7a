"""Opt-in (`pytest -m gpu`): cuda compiles AND executes when the env sees a matching GPU.

Runs with an external Python that has triton and torch with CUDA (default: this interpreter;
set TRITONDIFF_GPU_PYTHON to use another) and the arch of the visible GPU
(TRITONDIFF_GPU_ARCH, default sm_90).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from backends import open_backend

pytestmark = pytest.mark.gpu


def _python() -> str:
    return os.environ.get("TRITONDIFF_GPU_PYTHON", sys.executable)


@pytest.fixture(scope="module")
def ref():
    """The interpreter from the same external Python: GPU boxes have no package index."""
    with open_backend("interpreter", env_python=_python()) as b:
        yield b


@pytest.fixture(scope="module")
def gpu():
    py = _python()
    arch = os.environ.get("TRITONDIFF_GPU_ARCH", "sm_90")
    with open_backend(f"cuda:{arch}", env_python=py) as b:
        info = b.warm()
        if not info.get("gpu"):
            pytest.skip(f"no {arch} GPU visible to {py}")
        yield b


def test_executes_with_guards(gpu, kernels) -> None:
    r = gpu.run(kernels.add_case(n=200, s=2.0))
    assert r.status == "ok", f"{r.stage} {r.exc_type}: {r.message}\n{r.stderr_tail}"
    assert r.executed and r.versions["mode"] == "execute" and "gpu" in r.versions
    x = np.arange(200, dtype=np.float32)
    np.testing.assert_array_equal(kernels.data(r, "out"), x * 2 + 1)
    assert all(kernels.guards_intact(r, b) for b in ("x", "y", "out"))
    assert "ptx" in r.artifacts and r.compile_s > 0


def test_bf16_int_and_2d_on_gpu(gpu, ref, kernels) -> None:
    bits = (np.arange(16, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    cases = [kernels.unary_case("y = x.to(tl.float32) * 2.0", n=16, block=16, in_dtype="bf16", x=bits),
             kernels.unary_case("y = x // 3 + x % 3", in_dtype="int32", out_dtype="int32",
                                x=np.arange(-32, 32, dtype=np.int32)),
             kernels.tile_case(causal=True)]
    for case in cases:
        r, want = gpu.run(case), ref.run(case)
        assert r.status == "ok", f"{r.stage} {r.exc_type}: {r.message}"
        np.testing.assert_array_equal(r.outputs["out"], want.outputs["out"])


def test_frontend_error_and_recovery(gpu, kernels) -> None:
    r = gpu.run(kernels.unary_case("y = x + undefined_name"))
    assert (r.status, r.stage, r.exc_type) == ("error", "frontend", "CompilationError")
    assert gpu.run(kernels.add_case()).status == "ok"


def test_device_fault_restarts_worker(gpu, kernels) -> None:
    """An illegal address poisons the CUDA context; the next case must get a fresh worker."""
    wild = kernels.unary_case("y = x", n=64, block=64)
    wild.source = wild.source.replace("tl.store(out_ptr + offs", "tl.store(out_ptr + offs * 1000000000")
    r = gpu.run(wild)
    assert r.status in ("error", "crash")
    r2 = gpu.run(kernels.add_case())
    assert r2.status == "ok", f"{r2.status} {r2.message} {r2.stderr_tail[-2000:]}"

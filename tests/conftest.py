"""Shared fixtures for backend tests: small hand-written kernels as KernelCases, and backends.

The kernels are real Triton source run by real triton in the managed envs; nothing stands in
for a backend except the documented fault-injection backends (backends/faults.py).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from generators.case import Arg, Buffer, KernelCase

HEADER = "import triton\nimport triton.language as tl\n\n"

ADD_SRC = HEADER + textwrap.dedent("""
    @triton.jit
    def add_kernel(x_ptr, y_ptr, out_ptr, n, s, BLOCK: tl.constexpr):
        pid = tl.program_id(0)
        offs = pid * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + offs, mask=m)
        y = tl.load(y_ptr + offs, mask=m)
        tl.store(out_ptr + offs, x * s + y, mask=m)
""")


def add_case(n: int = 200, s: float = 2.0, block: int = 128, source: str = ADD_SRC,
             kernel_name: str = "add_kernel") -> KernelCase:
    """out = x * s + y over n fp32 elements, masked tail in the last program."""
    x = np.arange(n, dtype=np.float32)
    y = np.ones(n, dtype=np.float32)
    return KernelCase(
        spec={}, source=source, kernel_name=kernel_name,
        args=[Arg("x_ptr", "ptr", "fp32", buffer="x"), Arg("y_ptr", "ptr", "fp32", buffer="y"),
              Arg("out_ptr", "ptr", "fp32", buffer="out"), Arg("n", "scalar", "int32", value=n),
              Arg("s", "scalar", "fp32", value=s), Arg("BLOCK", "constexpr", "", value=block)],
        buffers={"x": Buffer("x", "fp32", "in", x), "y": Buffer("y", "fp32", "in", y),
                 "out": Buffer("out", "fp32", "out", np.full(n, -1.0, dtype=np.float32))},
        grid=((n + block - 1) // block, 1, 1))


def unary_case(body: str, n: int = 64, block: int = 64, in_dtype: str = "fp32",
               out_dtype: str = "fp32", x: np.ndarray | None = None, extra_args: str = "",
               extra: list[Arg] | None = None, prelude: str = "") -> KernelCase:
    """A one-input one-output kernel whose body computes `y` from `x` (loaded with mask m)."""
    args_sig = "x_ptr, out_ptr, n" + (", " + extra_args if extra_args else "") + ", BLOCK: tl.constexpr"
    src = HEADER + prelude + textwrap.dedent(f"""
        @triton.jit
        def k({args_sig}):
            pid = tl.program_id(0)
            offs = pid * BLOCK + tl.arange(0, BLOCK)
            m = offs < n
            x = tl.load(x_ptr + offs, mask=m)
        """) + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + \
        "\n    tl.store(out_ptr + offs, y, mask=m)\n"
    from backends.runner_api import STORAGE

    if x is None:
        x = np.arange(n).astype(STORAGE[in_dtype])
    out = np.zeros(n, dtype=STORAGE[out_dtype])
    args = [Arg("x_ptr", "ptr", in_dtype, buffer="x"), Arg("out_ptr", "ptr", out_dtype, buffer="out"),
            Arg("n", "scalar", "int32", value=n), *(extra or []),
            Arg("BLOCK", "constexpr", "", value=block)]
    return KernelCase(spec={}, source=src, kernel_name="k", args=args,
                      buffers={"x": Buffer("x", in_dtype, "in", x),
                               "out": Buffer("out", out_dtype, "out", out)},
                      grid=((n + block - 1) // block, 1, 1))


CAUSAL_SRC = HEADER + textwrap.dedent("""
    @triton.jit
    def tile_kernel(x_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr, CAUSAL: tl.constexpr):
        r = tl.arange(0, BM)
        c = tl.arange(0, BN)
        if CAUSAL:
            mask = (c[None, :] <= r[:, None]) & (r[:, None] < M) & (c[None, :] < N)
        else:
            mask = (r[:, None] < M) & (c[None, :] < N)
        offs = r[:, None] * N + c[None, :]
        x = tl.load(x_ptr + offs, mask=mask, other=0.0)
        tl.store(out_ptr + offs, x + 1.0, mask=mask)
""")


def tile_case(causal: bool, m: int = 4, n: int = 4) -> KernelCase:
    """A single BM×BN tile, masked either causally (rows differ) or by bounds only."""
    x = np.arange(m * n, dtype=np.float32)
    return KernelCase(
        spec={}, source=CAUSAL_SRC, kernel_name="tile_kernel",
        args=[Arg("x_ptr", "ptr", "fp32", buffer="x"), Arg("out_ptr", "ptr", "fp32", buffer="out"),
              Arg("M", "scalar", "int32", value=m), Arg("N", "scalar", "int32", value=n),
              Arg("BM", "constexpr", "", value=4), Arg("BN", "constexpr", "", value=4),
              Arg("CAUSAL", "constexpr", "", value=causal)],
        buffers={"x": Buffer("x", "fp32", "in", x),
                 "out": Buffer("out", "fp32", "out", np.full(m * n, -1.0, dtype=np.float32))},
        grid=(1, 1, 1))


def data(result: Any, name: str) -> np.ndarray:
    """The data region of a padded output buffer."""
    from backends.runner_api import GUARD_ELEMS

    buf = result.outputs[name]
    return buf[GUARD_ELEMS:buf.size - GUARD_ELEMS]


def guards_intact(result: Any, name: str) -> bool:
    from backends.runner_api import CANARY_BYTE, GUARD_ELEMS

    buf = result.outputs[name]
    raw = np.concatenate([buf[:GUARD_ELEMS].view(np.uint8), buf[buf.size - GUARD_ELEMS:].view(np.uint8)])
    return bool((raw == CANARY_BYTE).all())


@pytest.fixture(scope="session")
def kernels() -> Any:
    """Case builders and output helpers, as a namespace (tests may only share via conftest)."""

    class K:
        pass

    k = K()
    for f in (add_case, unary_case, tile_case, data, guards_intact):
        setattr(k, f.__name__, f)
    k.ADD_SRC = ADD_SRC
    k.HEADER = HEADER
    return k


def _session_backend(name: str, **opts: Any) -> Callable[[], Iterator[Any]]:
    def fixture() -> Iterator[Any]:
        from backends import open_backend

        with open_backend(name, **opts) as b:
            b.warm()
            yield b

    return fixture


interp = pytest.fixture(scope="session")(_session_backend("interpreter"))
cuda90 = pytest.fixture(scope="session")(_session_backend("cuda"))

"""Hand-built minimal kernels: every construct's `example` facet and the oracle tests use these.

A case is packaged exactly like a generated one (typed, rendered, with buffers), with pointer
params first (inputs, then outputs), then runtime scalars, then constexprs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from generators import spec as S
from generators.case import Arg, Buffer, KernelCase
from generators.numerics import to_storage


def make_case(body: list[S.Stmt], inputs: dict[str, tuple[str, list[float]]], outputs: dict[str, tuple[str, int]],
              scalars: dict[str, tuple[str, Any]] | None = None, grid: tuple[int, int, int] = (1, 1, 1),
              constexprs: dict[str, Any] | None = None, **spec_extra: Any) -> KernelCase:
    """A case whose pointer params come first (inputs, outputs), then scalars, then constexprs."""
    from generators.generator import case_from_spec

    params: list[dict[str, Any]] = []
    args: list[Arg] = []
    buffers: dict[str, Buffer] = {}
    for name, (dt, vals) in inputs.items():
        params.append({"name": name, "kind": "ptr", "dtype": dt})
        args.append(Arg(name, "ptr", dt, buffer=name))
        buffers[name] = Buffer(name, dt, "in", to_storage(dt, np.array(vals)))
    for name, (dt, n) in outputs.items():
        params.append({"name": name, "kind": "ptr", "dtype": dt})
        args.append(Arg(name, "ptr", dt, buffer=name))
        buffers[name] = Buffer(name, dt, "out", to_storage(dt, np.full(n, -7)))
    for name, (dt, v) in (scalars or {}).items():
        params.append({"name": name, "kind": "scalar", "dtype": dt, "value": v})
        args.append(Arg(name, "scalar", dt, v))
    for name, v in (constexprs or {}).items():
        params.append({"name": name, "kind": "constexpr", "dtype": "", "value": v})
        args.append(Arg(name, "constexpr", "", v))
    spec = {"schema": S.SPEC_SCHEMA, "name": "kernel", "params": params, "grid": list(grid),
            "num_warps": 4, "body": body, **spec_extra}
    return case_from_spec(spec, args, buffers, None)


N = 16


def unary_case(val: S.Expr, in_dt: str = "fp32", out_dt: str | None = None, n: int = N,
               pre: list[S.Stmt] | None = None, **kw: Any) -> KernelCase:
    """`x = load(x_ptr + offs)`, then `pre`, then `store(o_ptr + offs, val)` over `n` lanes."""
    vals = [float(i % 7 - 3) for i in range(n)]
    body = [S.let("offs", S.arange(n)), S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs"))))]
    body += pre or []
    body.append(S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), val))
    return make_case(body, {"x_ptr": (in_dt, vals)}, {"o_ptr": (out_dt or in_dt, n)}, **kw)

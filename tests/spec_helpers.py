"""Hand-built kernels for oracle tests: a spec plus buffers, packaged like generated cases."""

from __future__ import annotations

from typing import Any

import numpy as np

from generators import spec as S
from generators.case import Arg, Buffer, KernelCase
from generators.generator import case_from_spec
from generators.numerics import to_storage


def make_case(body: list[S.Stmt], inputs: dict[str, tuple[str, list[float]]], outputs: dict[str, tuple[str, int]],
              scalars: dict[str, tuple[str, Any]] | None = None, grid: tuple[int, int, int] = (1, 1, 1),
              constexprs: dict[str, Any] | None = None) -> KernelCase:
    """A case whose pointer params come first (inputs, outputs), then scalars, then constexprs."""
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
            "num_warps": 4, "body": body}
    return case_from_spec(spec, args, buffers, None)

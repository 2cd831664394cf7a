"""Float-numerics family: tl.math functions, tl.fma, tl.clamp, fp8 and fp64 in one kernel.

Loads 1-2 tiles of float inputs (fp32, fp16, bf16, fp64 or fp8 storage), optionally a broadcast
bias row, and chains 2-4 of the float constructs (constructs/mathx.py, fma.py, clamp.py,
fpcast.py), each step taking the previous value as an operand, then stores the result in a float
dtype (fp8 and fp64 included): the storage, conversion and libdevice paths of the numeric types.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from generators import spec as S
from generators.constructs.clamp import _clamp
from generators.constructs.fma import _fma
from generators.constructs.fpcast import _fp8, _fp64, _rtz
from generators.constructs.mathx import _mathx, _softmax
from generators.families import family
from generators.families.elementwise import _bias
from generators.values import TV

STEPS = {"math_ext": (_mathx, 1.5), "softmax": (_softmax, 0.4), "fma": (_fma, 1.0), "clamp": (_clamp, 1.0),
         "fp8_cast": (_fp8, 1.0), "downcast_rtz": (_rtz, 1.3), "dtype_fp64": (_fp64, 0.8)}
INPUTS = {"fp32": 2.0, "fp16": 1.0, "bf16": 0.5, "fp64": 0.8, "fp8e4nv": 0.5, "fp8e5": 0.4}


@family("floatmath", 0.9)
def build(g: Any) -> None:
    rank = int(g.ch.weighted({"1": 0.5, "2": 0.5}))
    t = g.tile(rank, 1024)
    shape = tuple(t.blocks)
    leaves: list[TV] = []
    for i in range(g.ch.integer(1, 2)):
        dt = g.ch.weighted({d: w * g.weight(f"dtype_{d}") * (g.weight("fp8_cast") if d in S.FP8_DTYPES else 1.0)
                            for d, w in INPUTS.items()})
        x = g.input_tile(t, dt, f"x{i}")
        x = replace(x, e=g.let(f"x{i}", x.e))
        if dt in S.FP8_DTYPES:  # fp8 values enter arithmetic through a conversion
            x = TV({"e": "fpcast", "x": x.e, "dt": "fp32", "rnd": None}, "fp32", x.shape, x.lo, x.hi, x.q)
        leaves.append(x)
    if rank == 2 and g.on("bias_broadcast", 0.5):
        leaves.append(_bias(g, t))
    v: TV | None = None
    for _ in range(g.ch.integer(2, 4)):
        name = g.ch.weighted({k: w * g.weight(k) for k, (_, w) in STEPS.items()})
        dt = "fp32" if name == "softmax" else g.ch.pick(["fp32", "fp32", "fp16", "bf16", "fp64"])
        if dt == "bf16" and g.weight("dtype_bf16") == 0 or dt == "fp64" and g.weight("dtype_fp64") == 0:
            dt = "fp32"
        if dt == "fp64" and name in ("math_ext", "downcast_rtz", "fp8_cast"):
            dt = "fp32"
        pool = leaves + ([v] if v is not None else [])
        fn = STEPS[name][0]
        nxt = fn(g, [v] * 3 + pool if v is not None else pool, dt, shape, 2)
        if nxt is not None:
            v = replace(nxt, e=g.let("v", nxt.e)) if nxt.e.get("e") not in ("var", "arg") else nxt
    if v is None:
        v = g.expr(leaves, "fp32", shape, 2)
    out = g.ch.weighted({"keep": 3.0, "fp32": 1.0, "fp8": 0.8 * g.weight("fp8_cast"),
                         "fp64": 0.5 * g.weight("dtype_fp64")})
    if out == "fp8" and v.mag < 100:
        f8 = g.ch.pick(list(S.FP8_DTYPES))
        src = v if v.dt in ("fp32", "fp16", "bf16") else g.convert(v, "fp32")
        if src is not None:
            v = TV({"e": "fpcast", "x": src.e, "dt": f8, "rnd": None}, f8, shape, src.lo * 1.125 - 1,
                   src.hi * 1.125 + 1)
    elif out in ("fp32", "fp64"):
        v = g.convert(v, out) or v
    extra = g.extra_mask(t, list(range(rank))) if g.on("masked_store", 0.35) else None
    g.store_tile(t, v, list(range(rank)), extra)

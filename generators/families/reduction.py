"""Reduction family: a random expression over a tile reduced along one axis (sum/max/min/argmax),
with masked-off lanes replaced by the reduction's identity."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from generators import spec as S
from generators.families import family
from generators.naming import DTYPE_WEIGHTS
from generators.values import FLOAT_LIMIT, INT_LIMIT, TV


@family("reduce", 1.7)
def build(g: Any) -> None:
    rank = int(g.ch.weighted({"1": 0.2, "2": 0.6, "3": 0.2}))
    r = g.ch.integer(0, rank - 1)
    t = g.tile(rank, 1024 if rank < 3 else 256, single_axes=(r,))
    leaves = []
    for i in range(g.ch.integer(1, 2)):
        x = g.input_tile(t, g.pick_dtype(tuple(DTYPE_WEIGHTS)), f"x{i}")
        leaves.append(replace(x, e=g.let(f"x{i}", x.e)))
    shape = tuple(t.blocks)
    fn = g.ch.weighted({"sum": 1.6 * g.weight("reduce_sum"), "max": 1.2 * g.weight("reduce_max"),
                           "min": 1.2 * g.weight("reduce_min"), "argmax": 1.8 * g.weight("argmax")})
    dt = g.ch.pick(["fp32", "int32"])
    v = g.expr(leaves, dt, shape, g.ch.integer(0, 3))
    full_mask = g.tile_mask(t)
    if full_mask is not None and g.ch.coin(0.5):
        ident = {"sum": 0, "max": -1000, "min": 1000, "argmax": -1000}[fn]
        lit = g.const_tile(float(ident) if dt == "fp32" else ident, dt, shape)
        v = TV(S.where(full_mask, v.e, lit), dt, shape, min(v.lo, ident), max(v.hi, ident))
    n = t.blocks[r]
    if fn == "argmax" and v.is_float and v.q is None:
        fn = "max"  # the runner-up may be within rounding of the maximum
    if fn == "sum" and v.mag * n >= (FLOAT_LIMIT[dt] if dt == "fp32" else INT_LIMIT[dt]):
        fn = "max"
    red = TV(S.reduce_(fn, v.e, r), "int32" if fn == "argmax" else dt,
             shape[:r] + shape[r + 1:], 0 if fn == "argmax" else v.lo * (n if fn == "sum" else 1),
             n if fn == "argmax" else v.hi * (n if fn == "sum" else 1))
    if fn == "sum":
        red.lo, red.hi = min(v.lo * n, v.lo), max(v.hi * n, v.hi)
    red = replace(red, e=g.let("red", red.e))
    axes = [d for d in range(rank) if d != r]
    g.store_tile(t, red, axes)

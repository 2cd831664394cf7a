"""Elementwise family: 1-3-D tiles of loaded inputs combined by a random expression tree,
optionally with a broadcast bias row, index values, a reshape round trip and extra store masks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from generators import spec as S
from generators.families import family
from generators.geometry import Tile, is64, place
from generators.naming import DTYPE_WEIGHTS
from generators.values import FLOAT_LIMIT, INT_LIMIT, TV


@family("elementwise", 3.0)
def build(g: Any) -> None:
    rank = int(g.ch.weighted({"1": 0.4 * g.weight("tile_1d"), "2": 0.45 * g.weight("tile_2d"),
                                 "3": 0.15 * g.weight("tile_3d")}))
    t = g.tile(rank, 1024 if rank < 3 else 256)
    axes = list(range(rank))
    leaves: list[TV] = []
    for i in range(g.ch.integer(1, 3)):
        dt = g.pick_dtype(tuple(DTYPE_WEIGHTS))
        transposed = rank == 2 and g.on("trans", 0.25)
        x = g.input_tile(t, dt, f"x{i}", transposed=transposed)
        if transposed:
            x = TV(S.trans(x.e), x.dt, (x.shape[1], x.shape[0]), x.lo, x.hi)
        leaves.append(replace(x, e=g.let(f"x{i}", x.e)))
    if rank == 2 and g.on("bias_broadcast", 0.35):
        leaves.append(_bias(g, t))
    if g.on("index_values", 0.2):
        o = place(t.offs[0], 0, rank)
        o32 = S.cast(o, "int32") if is64(t.offs[0]) else o
        shape = tuple(t.blocks[0] if d == 0 else 1 for d in range(rank))
        leaves.append(TV(S.bcast(o32, list(t.blocks)), "int32", tuple(t.blocks), 0,
                         t.blocks[0] * 3 + 3) if shape != tuple(t.blocks) else
                      TV(o32, "int32", tuple(t.blocks), 0, t.blocks[0] * 3 + 3))
    shape = tuple(t.blocks)
    dt = g.ch.pick([x.dt for x in leaves] + ["fp32", "int32"])
    v = g.expr(leaves, dt, shape, g.ch.integer(1, 4))
    if rank == 2 and g.on("reshape", 0.35):
        n = shape[0] * shape[1]
        flat = S.reshape(v.e, [n])
        bump = g.const_tile(1, dt, (n,)) if dt in ("int32", "fp32") else S.full([n], 1, dt)
        if max(abs(v.lo), abs(v.hi)) + 1 < (FLOAT_LIMIT.get(dt) or INT_LIMIT[dt]):
            flat = S.bin_("+", flat, bump)
            v = TV(v.e, dt, shape, v.lo + 1, v.hi + 1)
        v = TV(S.reshape(flat, list(shape)), dt, shape, v.lo, v.hi)
    v = replace(v, e=g.let("y", v.e))
    extra = g.extra_mask(t, axes) if g.on("masked_store", 0.4) else None
    if extra is not None and g.ch.coin(0.4):
        zero = g.const_tile(0, v.dt, shape)
        v = TV(S.where(extra, v.e, zero), v.dt, shape, min(v.lo, 0), max(v.hi, 0))
        extra = None
    g.store_tile(t, v, axes, extra)

def _bias(g: Any, t: Tile) -> TV:
    """A 1-D row vector broadcast over the tile's rows: implicitly or with tl.broadcast_to."""
    dt = g.pick_dtype(tuple(DTYPE_WEIGHTS))
    n = t.extents[1]
    data, lo, hi = g.input_data(dt, n)
    q = g.last_q
    p = g.buffer("bias_ptr", dt, data, "in")
    m = t.masks[1]
    ld = S.load(S.bin_("+", p, t.offs[1]), m, g.other_value(dt) if m is not None else None)
    row = S.expand(g.let("bias", ld), 0)
    if g.on("broadcast_to", 0.6):
        return TV(S.bcast(row, list(t.blocks)), dt, tuple(t.blocks), min(lo, -2), max(hi, 2), q)
    return TV(row, dt, (1, t.blocks[1]), min(lo, -2), max(hi, 2), q)

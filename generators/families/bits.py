"""Bits family: unsigned and wrapping integer kernels over uint8..uint64 buffers.

Loads 1-2 tiles of unsigned (or signed) integer inputs, small values or the whole unsigned range,
mixes them with wrapping hashes, unsigned division, shifts, compares and tl.umulhi
(generators/constructs/wrap.py), and stores the unsigned result as is or narrowed to a signed
type: the storage, signature spelling and zero-extension paths of unsigned types.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from generators import spec as S
from generators.constructs.wrap import bool_expr, narrow, uint_expr
from generators.families import family
from generators.values import TV


@family("bits", 0.65)
def build(g: Any) -> None:
    rank = int(g.ch.weighted({"1": 0.6, "2": 0.4}))
    t = g.tile(rank, 1024)
    leaves = []
    for i in range(g.ch.integer(1, 2)):
        dt = g.ch.pick(list(S.UINT_DTYPES) * 2 + ["int32", "int8", "int64"])
        x = g.input_tile(t, dt, f"x{i}")
        leaves.append(replace(x, e=g.let(f"x{i}", x.e)))
    shape = tuple(t.blocks)
    us = [x.dt for x in leaves if x.dt in S.UINT_DTYPES]
    u = g.ch.pick(us) if us and g.ch.coin(0.6) else g.ch.pick(list(S.UINT_DTYPES))
    v = uint_expr(g, leaves, u, shape, g.ch.integer(2, 4))
    if g.ch.coin(0.4):
        n = narrow(g, v, g.ch.pick(["int32", "int32", "int64", "int16"]))
        v = n if n is not None else v
    if v.dt != "uint64" and g.on("i1_arith", 0.3):  # select by an int1 algebra of comparisons
        m = {"e": "wrap", "op": g.ch.pick(["+", "*", "-"]), "a": bool_expr(g, leaves, shape, 1),
             "b": bool_expr(g, leaves, shape, 1)}
        v = TV(S.where(m, v.e, S.full(list(shape), 1, v.dt)), v.dt, shape, min(v.lo, 1.0), max(v.hi, 1.0))
    v = replace(v, e=g.let("y", v.e))
    if rank == 2 and v.dt == "int32" and g.on("argmax", 0.3):  # the row of each column's maximum
        red = TV(S.reduce_("argmax", v.e, 0), "int32", shape[1:], 0.0, float(shape[0]))
        g.store_tile(t, replace(red, e=g.let("red", red.e)), [1])
        return
    extra = g.extra_mask(t, list(range(rank))) if g.on("masked_store", 0.3) else None
    g.store_tile(t, v, list(range(rank)), extra)

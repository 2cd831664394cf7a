"""Tensor-algorithm family: a tile of loaded inputs run through a chain of two or three tile
algorithms — scans, sorts, flips, in-tile gathers, histograms, even/odd splits and joins,
permutes, broadcast reductions — each step let-bound and fed to the next, then stored.

Why a family as well as expression productions: chained tile algorithms are where layout
conversions pile up (scan -> sort -> flip), and a dedicated family makes every one of these
constructs common in a campaign without diluting the operators of the other families.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from generators.constructs import expr_productions
from generators.families import family
from generators.naming import DTYPE_WEIGHTS
from generators.values import TV

# production name -> weight within this family
STEPS = {"scan": 1.6, "row_stat": 2.8, "sort": 0.8, "flip": 1.4, "tgather": 0.8, "histogram": 1.6,
         "pairs": 1.1, "permute": 1.4, "tile_total": 0.6}


@family("tensor_algo", 1.5)
def build(g: Any) -> None:
    rank = int(g.ch.weighted({"1": 0.45 * g.weight("tile_1d"), "2": 0.45 * g.weight("tile_2d"),
                                 "3": 0.1 * g.weight("tile_3d")}))
    t = g.tile(rank, 1024 if rank < 3 else 256)
    shape = tuple(t.blocks)
    leaves: list[TV] = []
    for i in range(g.ch.integer(1, 2)):
        x = g.input_tile(t, g.pick_dtype(tuple(DTYPE_WEIGHTS)), f"x{i}")
        leaves.append(replace(x, e=g.let(f"x{i}", x.e)))
    dt = g.ch.pick([x.dt for x in leaves] + ["fp32", "int32", "int32"])
    v = replace(g.expr(leaves, dt, shape, g.ch.integer(0, 1)), shape=shape)
    prods = {p.name: p for p in expr_productions() if p.name in STEPS}
    for _ in range(g.ch.integer(2, 3)):
        ok = {n: STEPS[n] * (g.weight(p.knob) if p.knob else 1.0) for n, p in prods.items() if p.applies(dt, shape)}
        if not any(w > 0 for w in ok.values()):
            break
        step = prods[g.ch.weighted(ok)]
        r = step.build(g, [v, v] + leaves, dt, shape, 1)
        if r is None:
            continue
        v = replace(r, e=g.let("t", r.e))
    g.store_tile(t, v, list(range(rank)))

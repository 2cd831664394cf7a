"""Block-pointer family: tiles read through `tl.make_block_ptr` with boundary checks and zero/NaN
padding, mixed with plain pointer loads, written back through a block pointer or a masked store;
or a loop that walks a block pointer along one dim with `tl.advance` and accumulates.

UB-free by construction: coordinates start at 0 or a program's tile start and only grow, every
dim whose block may run past the extent is boundary-checked (padding named), unchecked dims stay
inside the buffer, and NaN padding is used only where every stored lane is in bounds and the
value reaches the store elementwise (a padded NaN lane is never stored).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.advance import advance
from generators.constructs.block_load import block_load
from generators.constructs.block_ptr import make_block_ptr
from generators.constructs.block_store import block_store
from generators.families import FAMILIES, family
from generators.families.memory import hinted_load
from generators.geometry import Tile
from generators.naming import DTYPE_WEIGHTS
from generators.numerics import to_storage
from generators.values import TV, limit

# Nodes through which a value reaches a store lane by lane (a NaN lane stays in its lane).
ELEMENTWISE = {"bin", "un", "call", "cast", "where", "var", "const", "full", "arg", "bcast", "expand"}


def geometry(g: Any, rank: int, max_elems: int, loop_dim: int | None = None,
             min_last: int = 1) -> tuple[Tile, list[S.Expr]]:
    """Blocks, extents, per-program start coordinates and the matching Tile (offsets, masks);
    the last block dim is at least `min_last`."""
    choices = {1: [16, 32, 64, 128], 2: [4, 8, 16, 32], 3: [2, 4, 8]}[rank]
    blocks = [g.ch.pick(choices) for _ in range(rank)]
    blocks[-1] = max(blocks[-1], min_last)
    while int(np.prod(blocks)) > max_elems:
        i = int(np.argmax(blocks[:-1])) if rank > 1 and blocks[-1] <= min_last else int(np.argmax(blocks))
        if blocks[i] == 1:
            break
        blocks[i] //= 2
    starts: list[S.Expr] = []
    offs: list[S.Expr] = []
    masks: list[S.Expr | None] = []
    extents: list[int] = []
    axis = 0
    for d, b in enumerate(blocks):
        room = 12 // int(np.prod(g.grid))
        tiled = d != loop_dim and axis < 3 and room >= 1 and g.ch.coin(0.6)
        nblk = g.ch.integer(1, min(3, room)) if tiled else 1
        tail = b > 1 and g.on("tail_block", 0.5)
        extent = nblk * b - (g.ch.integer(1, b - 1) if tail else 0)
        if tail:
            g.tags.add("tail_block")
        if tiled:
            g.grid[axis] = nblk
            bexpr = g.constexpr(f"BLOCK_{d}", b) if g.ch.coin(0.5) else S.const(b, "int32")
            start = g.let(f"start_{d}", S.bin_("*", g.let(f"pid_{axis}", S.pid(axis)), bexpr))
            axis += 1
        else:
            start = S.const(0, "int32")
        starts.append(start)
        o = g.let(f"offs_{d}", S.bin_("+", start, S.arange(b)) if tiled else S.arange(b))
        offs.append(o)
        masks.append(g.let(f"mask_{d}", S.bin_("<", o, g.int_value(f"n_{d}", extent))) if extent % b else None)
        extents.append(extent)
    batch, nbatch = None, 1
    if axis < 3 and int(np.prod(g.grid)) <= 6 and g.on("grid_batch", 0.4):
        nbatch = g.ch.integer(2, 3)
        g.grid[axis] = nbatch
        batch = g.let(f"pid_{axis}", S.pid(axis))
    return Tile(blocks, extents, offs, masks, batch, nbatch), starts


def _checks(g: Any, t: Tile, extents: list[int], blocks: list[int]) -> list[int]:
    """Dims that may run past their extent, plus a random few that never do."""
    need = [d for d in range(len(blocks)) if extents[d] % blocks[d] or extents[d] < blocks[d]]
    return sorted(set(need) | {d for d in range(len(blocks)) if g.ch.coin(0.25)})


def _block_ptr(g: Any, prefix: str, dtype: str, t: Tile, starts: list[S.Expr], extents: list[int],
               role: str) -> tuple[S.Expr, TV]:
    """A block pointer over a fresh buffer laid out over `extents` (one slice per batch), and the
    value range of its contents (inputs: drawn data; outputs: the sentinel)."""
    strides, size = g.strides_for(extents)
    total = size * t.nbatch
    if role == "in":
        data, lo, hi = g.input_data(dtype, total)
        q = g.last_q
    else:
        sentinel = -7 if dtype in S.INT_DTYPES else -7.5
        data, lo, hi, q = to_storage(dtype, np.full(total, sentinel)), sentinel, sentinel, 2.0
    p = g.buffer(f"{prefix}_ptr", dtype, data, role)
    base = p if t.batch is None else S.bin_("+", p, S.bin_("*", t.batch, g.int_value(f"bstride_{prefix}", size)))
    shape = [g.int_value(f"{prefix}_dim{d}", e) for d, e in enumerate(extents)]
    st = [g.stride_expr(f"stride_{prefix}{d}", s) or S.const(1, "int32") for d, s in enumerate(strides)]
    order = list(range(len(extents)))[::-1]
    for i in range(len(order) - 1, 0, -1):
        if g.ch.coin(0.4):
            j = g.ch.integer(0, i - 1)
            order[i], order[j] = order[j], order[i]
    bp = make_block_ptr(base, shape, st, starts, list(t.blocks), order)
    return bp, TV(S.var("_"), dtype, tuple(t.blocks), float(lo), float(hi), q)


def _elementwise(e: S.Expr) -> bool:
    """Lane by lane, and nothing the reference refuses on a padded lane (a division by it, a
    transcendental whose domain it cannot vouch for)."""
    return all(n.get("e") in ELEMENTWISE and not (n.get("e") == "bin" and n["op"] == "/")
               and not (n.get("e") == "call" and n["fn"] not in ("maximum", "minimum", "abs"))
               for n in S.walk(e) if "e" in n)


def _pad(g: Any, dt: str) -> str:
    return "nan" if dt in S.FLOAT_DTYPES and g.on("block_pad_nan", 1.0) else "zero"


def _tile_kernel(g: Any) -> None:
    rank = int(g.ch.weighted({"1": 0.35, "2": 0.55, "3": 0.1}))
    t, starts = geometry(g, rank, 1024 if rank < 3 else 256)
    leaves: list[TV] = []
    nan_loads: list[S.Expr] = []
    for i in range(g.ch.integer(1, 2)):
        dt = g.pick_dtype(tuple(DTYPE_WEIGHTS))
        if i == 0 or g.on("block_ptr", 0.7):
            bp, r = _block_ptr(g, f"x{i}", dt, t, starts, list(t.extents), "in")
            check = _checks(g, t, t.extents, t.blocks)
            pad = _pad(g, dt) if check else "zero"
            ld = block_load(g.let(f"x{i}_block", bp), check, pad if check or g.ch.coin(0.3) else None)
            if pad == "nan":
                nan_loads.append(ld)
            leaves.append(TV(g.let(f"x{i}", ld), dt, r.shape, min(r.lo, 0), max(r.hi, 0),
                             None if pad == "nan" else r.q))
        else:
            x = g.input_tile(t, dt, f"x{i}")
            leaves.append(replace(x, e=g.let(f"x{i}", hinted_load(g, x.e) if g.ch.coin(0.3) else x.e)))
    shape = tuple(t.blocks)
    out_dt = g.ch.pick([x.dt for x in leaves] + ["fp32", "int32"])
    v = g.expr(leaves, out_dt, shape, g.ch.integer(1, 4))
    for depth in (2, 1, 0):
        if not nan_loads or _elementwise(v.e):
            break
        v = g.expr(leaves, out_dt, shape, depth)
    if nan_loads and not _elementwise(v.e):
        for ld in nan_loads:
            ld["pad"] = "zero"
    _store(g, t, starts, v)


def _store(g: Any, t: Tile, starts: list[S.Expr], v: TV) -> None:
    if g.on("block_store", 0.55):
        bp, _ = _block_ptr(g, "out", v.dt, t, starts, list(t.extents), "out")
        val = v.e
        if v.dt in ("fp16", "bf16") and any(n.get("e") == "bin" and n["op"] == "/" for n in S.walk(val)):
            val = S.cast(val, v.dt)  # Triton divides half floats in fp32; a block store does not convert
        g.body.append(block_store(g.let("out_block", bp), val, _checks(g, t, t.extents, t.blocks)))
        return
    g.store_tile(t, v, list(range(t.rank)))


def _loop_kernel(g: Any) -> None:
    """acc += f(load(bp)); bp = tl.advance(bp, ...) over `trips` blocks along one dim."""
    rank = int(g.ch.weighted({"1": 0.3, "2": 0.7}))
    ld_dim = rank - 1 if g.ch.coin(0.7) else 0
    t, starts = geometry(g, rank, 512, loop_dim=ld_dim)
    trips = g.ch.integer(1, 4)
    b = t.blocks[ld_dim]
    ext = list(t.extents)
    tail = b > 1 and g.on("tail_block", 0.4)
    ext[ld_dim] = trips * b - (g.ch.integer(1, b - 1) if tail else 0)
    dt = g.pick_dtype(tuple(DTYPE_WEIGHTS))
    acc_dt = "fp32" if dt in S.FLOAT_DTYPES else ("int64" if dt == "int64" else "int32")
    bp, r = _block_ptr(g, "x", dt, t, starts, ext, "in")
    bpv = g.let("x_block", bp)
    check = _checks(g, t, ext, t.blocks)
    if ld_dim not in check and ext[ld_dim] % b:
        check = sorted(set(check) | {ld_dim})
    acc = g.let("acc", S.full(list(t.blocks), 0, acc_dt))
    body: list[S.Stmt] = [S.let("x", block_load(bpv, check, "zero" if check else None))]
    xv = TV(S.var("x"), dt, tuple(t.blocks), min(r.lo, 0), max(r.hi, 0), r.q)
    term = g.convert(xv, acc_dt) or TV(S.cast(xv.e, acc_dt), acc_dt, xv.shape, xv.lo, xv.hi)
    if g.ch.coin(0.5):
        f = g.expr([term], acc_dt, tuple(t.blocks), 1)
        if f.mag * trips < limit(acc_dt) / 4:
            term = f
    body.append(S.let(acc["name"], S.bin_("+", acc, term.e)))
    step = [S.const(0, "int32")] * rank
    step[ld_dim] = g.int_value("step", b) if g.ch.coin(0.5) else S.const(b, "int32")
    body.append(S.let(bpv["name"], advance(bpv, step)))
    g.loop("i", trips, body)
    span = term.mag * trips
    v = TV(acc, acc_dt, tuple(t.blocks), -span, span)
    # the loop walked the block along ld_dim: the result covers one block there
    t.extents[ld_dim] = t.blocks[ld_dim]
    t.masks[ld_dim] = None
    _store(g, t, starts, v)


@family("block_ptr", 1.2)
def build(g: Any) -> None:
    if g.weight("block_ptr") <= 0:  # a campaign none of whose releases has block pointers
        FAMILIES["elementwise"].build(g)
        return
    if g.on("block_advance", 0.45):
        _loop_kernel(g)
    else:
        _tile_kernel(g)

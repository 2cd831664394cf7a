"""Tensor-descriptor family: tiles read with `desc.load([...])` from `tl.make_tensor_descriptor`
views (out-of-shape lanes read zero), mixed with plain loads, written with `desc.store` or a
masked store; or a loop loading block after block at `[start, i * BK]`.

UB-free by construction, within the descriptor rules: the last stride is the literal 1, leading
strides and batch offsets are multiples of 16 bytes (rows padded to that), the last block dim
spans at least 16 bytes, and every coordinate along the last dim is a multiple of the block
(hence of 16 bytes).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.tdesc_load import tdesc_load
from generators.constructs.tdesc_store import tdesc_store
from generators.constructs.tensor_desc import ITEMSIZE, make_tensor_desc
from generators.families import FAMILIES, family
from generators.families.block_ptr import geometry
from generators.families.memory import as_tile, hinted_load
from generators.geometry import Tile
from generators.naming import DTYPE_WEIGHTS
from generators.numerics import to_storage
from generators.values import TV, limit


def _layout(g: Any, dt: str, extents: list[int]) -> tuple[list[int], int]:
    """Row-major strides whose leading ones are 16-byte multiples; the buffer size."""
    align = max(1, 16 // ITEMSIZE[dt])
    strides = [1] * len(extents)
    acc = 1
    for d in range(len(extents) - 1, 0, -1):
        acc *= extents[d]
        acc = -(-acc // align) * align + (align * g.ch.integer(0, 1) if g.on("layout_padded", 0.2) else 0)
        strides[d - 1] = acc
    size = sum((e - 1) * s for e, s in zip(extents, strides)) + 1
    return strides, -(-size // align) * align


def _desc(g: Any, prefix: str, dt: str, t: Tile, extents: list[int], role: str) -> tuple[S.Expr, TV]:
    strides, size = _layout(g, dt, extents)
    total = size * t.nbatch
    if role == "in":
        data, lo, hi = g.input_data(dt, total)
        q = g.last_q
    else:
        sentinel = -7 if dt in S.INT_DTYPES else -7.5
        data, lo, hi, q = to_storage(dt, np.full(total, sentinel)), sentinel, sentinel, 2.0
    p = g.buffer(f"{prefix}_ptr", dt, data, role)
    base = p if t.batch is None else S.bin_("+", p, S.bin_("*", t.batch, g.int_value(f"bstride_{prefix}", size)))
    shape = [g.int_value(f"{prefix}_dim{d}", e) for d, e in enumerate(extents)]
    st = [g.int_value(f"stride_{prefix}{d}", s) for d, s in enumerate(strides[:-1])]
    d = make_tensor_desc(base, shape, st, list(t.blocks))
    return g.let(f"{prefix}_desc", d), TV(S.var("_"), dt, tuple(t.blocks), float(lo), float(hi), q)


def _pick(g: Any) -> str:
    return g.pick_dtype(tuple(d for d in DTYPE_WEIGHTS if d in ITEMSIZE))


def _store(g: Any, t: Tile, starts: list[S.Expr], v: TV) -> None:
    ragged = t.extents[-1] * ITEMSIZE.get(v.dt, 1) % 16 and t.extents[-1] % t.blocks[-1]
    if (g.on("tensor_desc_store", 0.9) and v.dt in ITEMSIZE and t.blocks[-1] * ITEMSIZE[v.dt] >= 16
            and not ragged):  # TMA would write the padding past a ragged inner extent
        od, _ = _desc(g, "out", v.dt, t, list(t.extents), "out")
        g.body.append(tdesc_store(od, starts, as_tile(g, v.e, tuple(t.blocks))))
        return
    g.store_tile(t, v, list(range(t.rank)))


def _tile_kernel(g: Any) -> None:
    rank = int(g.ch.weighted({"1": 0.3, "2": 0.6, "3": 0.1}))
    dts = [_pick(g) for _ in range(g.ch.integer(1, 2))]
    min_last = max(16 // ITEMSIZE[d] for d in dts)
    t, starts = geometry(g, rank, 1024 if rank < 3 else 256, min_last=min_last)
    leaves: list[TV] = []
    for i, dt in enumerate(dts):
        if i == 0 or g.ch.coin(0.7):
            d, r = _desc(g, f"x{i}", dt, t, list(t.extents), "in")
            leaves.append(TV(g.let(f"x{i}", tdesc_load(d, starts)), dt, r.shape, min(r.lo, 0), max(r.hi, 0), r.q))
        else:
            x = g.input_tile(t, dt, f"x{i}")
            leaves.append(replace(x, e=g.let(f"x{i}", hinted_load(g, x.e) if g.ch.coin(0.3) else x.e)))
    out_dt = g.ch.pick([x.dt for x in leaves] + ["fp32", "int32"])
    v = g.expr(leaves, out_dt, tuple(t.blocks), g.ch.integer(1, 4))
    _store(g, t, starts, v)


def _loop_kernel(g: Any) -> None:
    """acc += f(desc.load([start, i * BK])) over `trips` blocks along the last dim."""
    rank = int(g.ch.weighted({"1": 0.3, "2": 0.7}))
    dt = _pick(g)
    ld = rank - 1
    t, starts = geometry(g, rank, 512, loop_dim=ld, min_last=16 // ITEMSIZE[dt])
    trips = g.ch.integer(1, 4)
    b = t.blocks[ld]
    ext = list(t.extents)
    ext[ld] = trips * b - (g.ch.integer(1, b - 1) if b > 1 and g.on("tail_block", 0.4) else 0)
    d, r = _desc(g, "x", dt, t, ext, "in")
    acc_dt = "fp32" if dt in S.FLOAT_DTYPES else ("int64" if dt == "int64" else "int32")
    acc = g.let("acc", S.full(list(t.blocks), 0, acc_dt))
    bk = g.constexpr("BK", b) if g.ch.coin(0.5) else S.const(b, "int32")
    at = list(starts)
    at[ld] = S.bin_("*", S.var("i"), bk)
    body: list[S.Stmt] = [S.let("x", tdesc_load(d, at))]
    xv = TV(S.var("x"), dt, tuple(t.blocks), min(r.lo, 0), max(r.hi, 0), r.q)
    term = g.convert(xv, acc_dt) or TV(S.cast(xv.e, acc_dt), acc_dt, xv.shape, xv.lo, xv.hi)
    if g.ch.coin(0.5):
        f = g.expr([term], acc_dt, tuple(t.blocks), 1)
        if f.mag * trips < limit(acc_dt) / 4:
            term = f
    body.append(S.let(acc["name"], S.bin_("+", acc, term.e)))
    g.loop("i", trips, body)
    span = term.mag * trips
    t.extents[ld] = t.blocks[ld]
    t.masks[ld] = None
    _store(g, t, starts, TV(acc, acc_dt, tuple(t.blocks), -span, span))


@family("tensor_desc", 0.6)
def build(g: Any) -> None:
    if g.weight("tensor_desc") <= 0:  # a campaign none of whose releases has tensor descriptors
        FAMILIES["elementwise"].build(g)
        return
    if g.ch.coin(0.35):
        _loop_kernel(g)
    else:
        _tile_kernel(g)

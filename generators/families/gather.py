"""Gather family: rows fetched through a loaded index tensor; block-table style with // and %
(the paged-attention pattern of the Ascend field reports)."""

from __future__ import annotations

from typing import Any

import numpy as np

from generators import spec as S
from generators.families import family
from generators.geometry import place
from generators.naming import DTYPE_WEIGHTS
from generators.numerics import to_storage
from generators.values import TV


@family("gather", 1.0)
def build(g: Any) -> None:
    """Rows fetched through a loaded index tensor; block-table style with // and %."""
    t = g.tile(2, 1024)
    rows_n, cols = t.extents
    dt = g.pick_dtype(tuple(DTYPE_WEIGHTS))
    block_table = g.on("block_table", 0.5)
    if block_table:
        bs = g.ch.pick([2, 4, 8])
        nlog = -(-rows_n // bs)
        nphys = nlog + g.ch.integer(0, 2)
        perm = list(range(nphys))
        for i in range(nphys - 1, 0, -1):
            j = g.ch.integer(0, i)
            perm[i], perm[j] = perm[j], perm[i]
        table = np.array(perm[:nlog], dtype=np.int32)
        src_rows = nphys * bs
    else:
        src_rows = g.ch.integer(1, rows_n + 4)
        table = np.array([g.ch.integer(0, src_rows - 1) for _ in range(rows_n)], dtype=np.int32)
    idx_dt = "int64" if g.on("offs_int64", 0.2) else "int32"
    tp = g.buffer("table_ptr", idx_dt, to_storage(idx_dt, table), "in")
    m0 = t.masks[0]
    o0 = t.offs[0]
    if block_table:
        bse = g.int_value("BS", bs) if g.ch.coin(0.6) else S.const(bs, "int32")
        ent = S.bin_("+", tp, S.bin_("//", o0, bse))
        blk = g.let("blk", S.load(ent, m0, S.const(0, "int32")) if m0 is not None else S.load(ent))
        row = g.let("row", S.bin_("+", S.bin_("*", blk, bse), S.bin_("%", o0, bse)))
    else:
        ent = S.bin_("+", tp, o0)
        row = g.let("row", S.load(ent, m0, S.const(0, "int32")) if m0 is not None else S.load(ent))
    strides, size = g.strides_for([src_rows, cols])
    data, lo, hi = g.input_data(dt, size)
    sp = g.buffer("src_ptr", dt, data, "in")
    off = g.offsets([place(row, 0, 2), place(t.offs[1], 1, 2)], strides, "s", None, size)
    ptrs = g.let("src_ptrs", S.bin_("+", sp, off))
    m = g.tile_mask(t)
    gat = S.load(ptrs, m, g.other_value(dt)) if m is not None else S.load(ptrs)
    x = TV(g.let("g", gat), dt, tuple(t.blocks), min(lo, -2), max(hi, 2), g.last_q)
    v = g.expr([x], g.ch.pick([dt, "fp32", "int32"]), tuple(t.blocks), g.ch.integer(0, 2))
    g.store_tile(t, v, [0, 1])

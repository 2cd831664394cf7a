"""Tile geometry: block sizes, extents with tail blocks, grids, strides, offsets and masks.

Buffers are sized exactly to their logical extent, so a missing mask is an out-of-bounds access
the reference refuses; each output element is written by exactly one program.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generators import spec as S
from generators.naming import DTYPE_WEIGHTS
from generators.numerics import to_storage
from generators.values import TV


@dataclass
class Tile:
    """Geometry of the tile each program computes."""

    blocks: list[int]
    extents: list[int]
    offs: list[S.Expr]  # per axis: int offsets expression (1-D)
    masks: list[S.Expr | None]  # per axis: 1-D bounds mask or None
    batch: S.Expr | None  # program id of the batch axis, if any
    nbatch: int

    @property
    def rank(self) -> int:
        return len(self.blocks)


class GeometryMixin:
    """Tiles, layouts, pointer offsets, masks and output stores."""

    def tile(self, rank: int, max_elems: int, min_block: int = 1, single_axes: tuple[int, ...] = (),
             blocks: list[int] | None = None) -> Tile:
        choices = {1: [16, 32, 64, 128], 2: [2, 4, 8, 16, 32], 3: [2, 4, 8]}[rank]
        choices = [b for b in choices if b >= min_block] or [min_block]
        if blocks is None:
            blocks = []
            for _ in range(rank):
                blocks.append(self.ch.pick(choices))
            while int(np.prod(blocks)) > max_elems:
                i = int(np.argmax(blocks))
                blocks[i] = max(min_block, blocks[i] // 2)
                if all(b == min_block for b in blocks):
                    break
        axis = 0
        extents, offs, masks = [], [], []
        for d, b in enumerate(blocks):
            room = 12 // int(np.prod(self.grid))
            tiled = d not in single_axes and axis < 3 and room >= 1 and self.ch.coin(0.6)
            nblk = self.ch.integer(1, min(3, room)) if tiled else 1
            tail = self.on("tail_block", 0.5) and b > 1
            extent = nblk * b - (self.ch.integer(1, b - 1) if tail else 0)
            if tail:
                self.tags.add("tail_block")
            bexpr = self.constexpr(f"BLOCK_{d}", b) if self.ch.coin(0.6) else S.const(b, "int32")
            cx = bexpr["name"] if bexpr["e"] == "arg" else None
            ar = S.arange(b, cx)
            if tiled:
                self.grid[axis] = nblk
                p = self.let(f"pid_{axis}", S.pid(axis))
                o = S.bin_("+", S.bin_("*", p, bexpr), ar)
                axis += 1
            else:
                o = ar
            ov = self.let(f"offs_{d}", o)
            if self.on("offs_int64", 0.15):
                ov = self.let(f"offs64_{d}", S.cast(ov, "int64"))
            offs.append(ov)
            need = extent % b != 0 or tiled and self.ch.coin(0.15)
            masks.append(self.let(f"mask_{d}", S.bin_("<", ov, self.int_value(f"n_{d}", extent)))
                         if need else None)
            extents.append(extent)
        batch, nbatch = None, 1
        if axis < 3 and int(np.prod(self.grid)) <= 6 and self.on("grid_batch", 0.5):
            nbatch = self.ch.integer(2, 3)
            self.grid[axis] = nbatch
            batch = self.let(f"pid_{axis}", S.pid(axis))
        return Tile(blocks, extents, offs, masks, batch, nbatch)

    def tile_mask(self, t: Tile, axes: list[int] | None = None) -> S.Expr | None:
        """Bounds mask of the tile from per-axis 1-D masks (2-D masks by broadcast comparison)."""
        axes = list(range(t.rank)) if axes is None else axes
        rank = len(axes)
        m = None
        for i, d in enumerate(axes):
            if t.masks[d] is None:
                continue
            part = place(t.masks[d], i, rank)
            m = part if m is None else S.bin_("&", m, part)
        return m

    def strides_for(self, extents: list[int]) -> tuple[list[int], int]:
        """Row-major, column-major or padded layouts; returns strides and the buffer size."""
        rank = len(extents)
        order = list(range(rank))[::-1]
        if rank >= 2 and self.on("layout_transposed", 0.25):
            order = list(range(rank))
        strides = [0] * rank
        acc = 1
        for d in order:
            strides[d] = acc
            pad = self.ch.integer(1, 3) if self.on("layout_padded", 0.2) else 0
            acc *= extents[d] + pad
        size = sum((e - 1) * s for e, s in zip(extents, strides)) + 1
        return strides, size

    def stride_expr(self, prefix: str, s: int) -> S.Expr | None:
        if s == 1 and self.ch.coin(0.5):
            return None
        return self.int_scalar(prefix, s, "ptr_runtime_stride", "ptr_constexpr_stride", 0.7)

    def offsets(self, idx: list[S.Expr], strides: list[int], prefix: str, t: Tile | None,
                batch_size: int) -> S.Expr:
        """sum_d idx_d * stride_d (+ batch offset); idx are already placed on their axes."""
        off: S.Expr | None = None
        for d, (i, s) in enumerate(zip(idx, strides)):
            se = self.stride_expr(f"stride_{prefix}{d}", s)
            term = i if se is None else S.bin_("*", i, se)
            off = term if off is None else S.bin_("+", off, term)
        assert off is not None
        if t is not None and t.batch is not None:
            bs = self.int_value(f"bstride_{prefix}", batch_size)
            off = S.bin_("+", S.bin_("*", t.batch, bs), off)
        return off

    def input_tile(self, t: Tile, dtype: str, prefix: str, axes: list[int] | None = None,
                   transposed: bool = False) -> TV:
        """Load a tile of a fresh input buffer laid out over the tile's extents (exact size)."""
        axes = list(range(t.rank)) if axes is None else axes
        ext = [t.extents[d] for d in axes]
        if transposed:
            ext = ext[::-1]
        strides, size = self.strides_for(ext)
        total = size * t.nbatch
        data, lo, hi = self.input_data(dtype, total)
        p = self.buffer(f"{prefix}_ptr", dtype, data, "in")
        rank = len(axes)
        order = axes[::-1] if transposed else axes
        idx = [place(t.offs[d], i, rank) for i, d in enumerate(order)]
        ptrs = self.let(f"{prefix}_ptrs", S.bin_("+", p, self.offsets(idx, strides, prefix, t, size)))
        mask_axes = order
        m = self.tile_mask(t, mask_axes)
        if m is None and self.on("load_other", 0.1):
            m = place(S.bin_(">=", t.offs[mask_axes[0]], S.const(0, "int32")), 0, rank)
        shape = tuple(t.blocks[d] for d in order)
        q = self.last_q
        if m is None:
            return TV(S.load(ptrs), dtype, shape, lo, hi, q)
        other = self.other_value(dtype)
        return TV(S.load(ptrs, m, other), dtype, shape, min(lo, other["v"]), max(hi, other["v"]), q)

    def other_value(self, dtype: str) -> S.Expr:
        v = self.ch.pick([0, 0, 1, -1, 2])
        if dtype in S.UINT_DTYPES:  # a literal of the pointer's own type: never negative
            return S.const(abs(v), dtype)
        if dtype in S.FLOAT_DTYPES or dtype in S.FP8_DTYPES:  # fp8 converts from floats only
            return S.const(float(v), "fp32")
        return S.const(v, "int32")

    def extra_mask(self, t: Tile, axes: list[int]) -> S.Expr | None:
        """Causal, multi-range or negated masks, as the field reports use them."""
        rank = len(axes)
        kinds = {"none": 2.0, "multirange": 1.0 * self.weight("mask_multirange"),
                 "not": 1.0 * self.weight("mask_not")}
        if rank == 2:
            kinds["causal"] = 1.9 * self.weight("mask_causal")
        k = self.ch.weighted(kinds)
        if k == "none":
            return None
        if k == "causal":
            start = self.int_value("start_n", self.ch.integer(-4, 4))
            lhs = place(t.offs[axes[0]], 0, 2)
            rhs = S.bin_("+", start, place(t.offs[axes[1]], 1, 2))
            op = self.ch.pick([">=", ">=", "<=", ">", "<"])
            return self.let("causal", S.bin_(op, lhs, rhs))
        d = self.ch.integer(0, rank - 1)
        ext = t.extents[axes[d]]
        o = t.offs[axes[d]]
        if k == "not":
            c = self.int_value("cut", self.ch.integer(0, ext))
            return self.let("keep", place(S.un("~", S.bin_("<", o, c)), d, rank))
        pts = sorted(self.ch.integer(0, ext) for _ in range(4))
        ranges = []
        for lo, hi in ((pts[0], pts[1]), (pts[2], pts[3])):
            ranges.append(S.bin_("&", S.bin_(">=", o, S.const(lo, "int32")),
                                 S.bin_("<", o, self.int_value("hi", hi))))
        return self.let("in_ranges", place(S.bin_("|", ranges[0], ranges[1]), d, rank))

    def store_tile(self, t: Tile, v: TV, axes: list[int], extra: S.Expr | None = None) -> None:
        """Store `v` (shape of the tile on `axes`) to a fresh output buffer, one writer per element."""
        out_dt = v.dt
        if out_dt not in S.FP8_DTYPES and self.on("cast_out", 0.25):  # fp8 converts to floats only
            target = self.pick_dtype(tuple(DTYPE_WEIGHTS))
            c = self.convert(v, target)
            if c is not None:
                v, out_dt = c, target
        ext = [t.extents[d] for d in axes]
        if axes:
            strides, size = self.strides_for(ext)
        else:
            strides, size = [], 1
        total = size * t.nbatch
        sentinel = -7 if out_dt in S.INT_DTYPES else 7 if out_dt in S.UINT_DTYPES else -7.5
        data = to_storage(out_dt, np.full(total, sentinel))
        p = self.buffer("out_ptr", out_dt, data, "out")
        rank = len(axes)
        if axes:
            idx = [place(t.offs[d], i, rank) for i, d in enumerate(axes)]
            off = self.offsets(idx, strides, "o", t, size)
        elif t.batch is not None:
            off = t.batch
        else:
            off = None
        ptrs = S.bin_("+", p, off) if off is not None else p
        m = self.tile_mask(t, axes)
        if extra is not None:
            m = extra if m is None else S.bin_("&", m, extra)
        self.body.append(S.store(ptrs, v.e, m))


def place(x: S.Expr, axis: int, rank: int) -> S.Expr:
    """Put a 1-D vector on `axis` of a rank-`rank` tile (x[:, None], x[None, :], …)."""
    e = x
    for d in range(rank):
        if d != axis:
            e = S.expand(e, d)
    return e


def and_(a: S.Expr | None, b: S.Expr | None) -> S.Expr | None:
    if a is None:
        return b
    if b is None:
        return a
    return S.bin_("&", a, b)


def is64(e: S.Expr) -> bool:
    return e.get("e") == "var" and e["name"].startswith("offs64")

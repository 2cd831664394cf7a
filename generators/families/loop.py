"""Loop-accumulation family: a loop over slices of an input accumulating a random expression,
runtime/constexpr/static_range trip counts, pointer increments, a scalar epilogue."""

from __future__ import annotations

from typing import Any

from generators import spec as S
from generators.families import family
from generators.geometry import place
from generators.naming import DTYPE_WEIGHTS
from generators.values import FLOAT_LIMIT, INT_LIMIT, TV


@family("loop", 1.2)
def build(g: Any) -> None:
    rank = int(g.ch.weighted({"1": 0.6, "2": 0.4}))
    t = g.tile(rank, 512)
    trips = g.ch.integer(1, 4)
    dt = g.pick_dtype(tuple(DTYPE_WEIGHTS))
    ext = list(t.extents)
    strides, size = g.strides_for(ext)
    slice_size = size + g.ch.integer(0, 3)
    data, lo, hi = g.input_data(dt, slice_size * trips * t.nbatch)
    p = g.buffer("x_ptr", dt, data, "in")
    idx = [place(o, i, rank) for i, o in enumerate(t.offs)]
    off = g.offsets(idx, strides, "x", None, size)
    if t.batch is not None:
        off = S.bin_("+", S.bin_("*", t.batch, S.const(slice_size * trips, "int32")), off)
    ptrs = g.let("x_ptrs", S.bin_("+", p, off))
    acc_dt = "fp32" if dt in S.FLOAT_DTYPES else ("int64" if dt == "int64" else "int32")
    acc = g.let("acc", S.full(list(t.blocks), 0, acc_dt))
    m = g.tile_mask(t)
    step = g.int_value("slice", slice_size)
    lo_i = g.ch.pick([0, 0, 1])
    incr = g.on("ptr_loop_increment", 0.5)
    if incr:
        pv = ptrs
    else:
        it = S.var("i") if lo_i == 0 else S.bin_("-", S.var("i"), S.const(lo_i, "int32"))
        pv = S.bin_("+", ptrs, S.bin_("*", it, step))
    ld = S.load(pv, m, g.other_value(dt)) if m is not None else S.load(pv)
    body: list[S.Stmt] = [S.let("x", ld)]
    xv = TV(S.var("x"), dt, tuple(t.blocks), min(lo, -2), max(hi, 2), g.last_q)
    term = g.convert(xv, acc_dt) or TV(S.cast(xv.e, acc_dt), acc_dt, xv.shape, xv.lo, xv.hi)
    if g.ch.coin(0.5):
        f = g.expr([term], acc_dt, tuple(t.blocks), 1)
        if f.mag * trips < (FLOAT_LIMIT.get(acc_dt) or INT_LIMIT[acc_dt]) / 4:
            term = f
    body.append(S.let(acc["name"], S.bin_("+", acc, term.e)))
    if incr:
        body.append(S.let(ptrs["name"], S.bin_("+", ptrs, step)))
    g.loop("i", trips, body, lo_i)
    span = term.mag * trips
    v = TV(acc, acc_dt, tuple(t.blocks), -span, span)
    if acc_dt == "fp32" and g.on("scalar_scale_acc", 0.6):
        s = g.scalar_operand("fp32")
        assert s is not None
        v = TV(g.let("out", S.bin_("*", acc, s.e)), "fp32", v.shape, -span * 3, span * 3)
    extra = g.extra_mask(t, list(range(rank))) if g.on("masked_store", 0.3) else None
    g.store_tile(t, v, list(range(rank)), extra)

"""Dot-variants family: the tl.dot shapes of attention and batched-GEMM kernels (constructs/dotx.py).

A K loop of masked operand loads into one accumulator, with independent variations: a batch
dimension (3-D dots), a transposed operand loaded as (K, M) or (N, K) and fed through tl.trans,
an operand or the accumulator's start from tl.zeros / tl.full, fp16 accumulation
(out_dtype=tl.float16), fp8 and fp64 operands, and a second dot chained through the first one's
accumulator (`acc2 = tl.dot(acc.to(tl.float16), c)`, the P @ V step of attention).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from generators import spec as S
from generators.families import family
from generators.families.elementwise import _bias
from generators.geometry import and_, place
from generators.numerics import to_storage
from generators.values import TV

BASE = {"fp16": 1.4, "bf16": 0.6, "fp32": 0.5, "int8": 0.5, "fp8e4nv": 1.1, "fp8e5": 0.9, "fp64": 2.2}
KNOB = {"fp8e4nv": "dot_fp8", "fp8e5": "dot_fp8", "fp64": "dot_fp64"}


def _dot(a: S.Expr, b: S.Expr, acc: S.Expr | None, dt: str, out: str | None) -> S.Expr:
    return {"e": "dotx", "a": a, "b": b, "acc": acc, "prec": "ieee" if dt == "fp32" else None, "out": out}


def _zero(dt: str) -> S.Expr:
    return S.const(0, "int32") if dt == "int8" else S.const(0.0, "fp32")


class Operand:
    """One dot operand tile: logical axes (batch?, rows, cols) over a fresh input buffer."""

    def __init__(self, g: Any, dt: str, prefix: str, axes: list[tuple[S.Expr, int, S.Expr | None]],
                 t: Any, trans: bool) -> None:
        self.rank = len(axes)
        mem = list(axes)
        if trans:  # stored the other way round: load (cols, rows), then tl.trans
            mem[-2], mem[-1] = mem[-1], mem[-2]
        self.mem = mem
        self.trans = trans
        strides, size = g.strides_for([e for _, e, _ in mem])
        self.strides = strides
        data, _, _ = g.input_data(dt, size * t.nbatch)
        self.q = g.last_q  # inputs on a 1/q grid (None: rounded decimals)
        p = g.buffer(f"{prefix}_ptr", dt, data, "in")
        idx = [place(o, i, self.rank) for i, (o, _, _) in enumerate(mem)]
        self.ptrs = g.let(f"{prefix}_ptrs", S.bin_("+", p, g.offsets(idx, strides, prefix, t, size)))

    def load(self, step: S.Expr | None, kaxis_logical: int, kmask: S.Expr | None, bk: int = 0,
             zero: S.Expr | None = None) -> S.Expr:
        """The tile at K step `step` (None: no K loop; else `bk` elements of K per step), masked
        on every axis that has a tail."""
        kmem = kaxis_logical if not self.trans or kaxis_logical < self.rank - 2 else (
            self.rank - 1 if kaxis_logical == self.rank - 2 else self.rank - 2)
        m = None
        for i, (_, _, mk) in enumerate(self.mem):
            mk = kmask if i == kmem and kmask is not None else mk
            if mk is not None:
                m = and_(m, place(mk, i, self.rank))
        ptr = self.ptrs
        if step is not None:
            ptr = S.bin_("+", ptr, S.bin_("*", step, S.const(bk * self.strides[kmem], "int32")))
        x = S.load(ptr, m, zero or S.const(0.0, "fp32")) if m is not None else S.load(ptr)
        return S.trans(x) if self.trans else x


def _const_operand(g: Any, dt: str, shape: list[int]) -> S.Expr:
    v = g.ch.pick([1, 2, -1, 0.5]) if dt not in ("int8",) else g.ch.pick([1, 2, -1])
    if dt == "int8":
        v = int(v)
    if g.ch.coin(0.25):
        return S.full(shape, 0, dt)  # tl.zeros
    if dt in S.FP8_DTYPES:  # converted from fp32: tl.full of an fp8 dtype is refused before 3.9
        return {"e": "fpcast", "x": S.full(shape, float(v), "fp32"), "dt": dt, "rnd": None}
    return S.full(shape, v, dt)


@family("dotx", 1.5)
def build(g: Any) -> None:
    dt = g.ch.weighted({d: w * g.weight(KNOB.get(d, f"dot_{d}")) * g.weight(f"dtype_{d}")
                        for d, w in BASE.items()})
    eight = dt == "int8" or dt in S.FP8_DTYPES
    bm, bn = g.ch.pick([16, 32]), g.ch.pick([16, 32])
    bk = 32 if eight else g.ch.pick([16, 32])
    batched = g.on("dot_3d", 0.35)
    chain = g.on("dot_chain", 0.3)
    top1 = not batched and not chain and g.on("argmax", 0.3)
    # a chained dot or a row argmax consumes whole rows: N is not split across programs
    t = g.tile(2, 1024, min_block=16, blocks=[bm, bn], single_axes=(1,) if chain or top1 else ())
    out16 = (dt == "fp16" or dt in S.FP8_DTYPES) and g.on("dot_out_fp16", 0.6)
    acc_dt = "int32" if dt == "int8" else "fp64" if dt == "fp64" else "fp16" if out16 else "fp32"
    # batch axis (inside the tile): nb rows, the last one possibly masked off
    ob, bext, bmask = None, 0, None
    if batched:
        nb = g.ch.pick([2, 4])
        bext = nb - (1 if g.ch.coin(0.3) else 0)
        ob = g.let("offs_b", S.arange(nb))
        if bext < nb:
            bmask = g.let("mask_b", S.bin_("<", ob, g.int_value("n_b", bext)))
    nk = g.ch.integer(1, 2)
    ktail = g.on("tail_block", 0.3)
    kext = nk * bk - (g.ch.integer(1, bk // 2) if ktail else 0)
    offs_k = g.let("offs_k", S.arange(bk))
    kk = S.bin_("+", S.bin_("*", S.var("k"), S.const(bk, "int32")), offs_k)
    kmask = S.bin_("<", kk, S.const(kext, "int32")) if ktail else None
    lead = [(ob, bext, bmask)] if batched else []
    k_ax = len(lead) + 1  # K is axis -1 of A and axis -2 of B (logical)
    trans_a = not batched and g.on("dot_trans", 0.4)
    trans_b = not batched and not trans_a and g.on("dot_trans", 0.3)
    const = g.on("dot_const_operand", 0.45)
    const_which = g.ch.pick(["a", "b", "acc"]) if const else None
    shp = [nb] if batched else []
    ash, bsh, csh = shp + [bm, bk], shp + [bk, bn], shp + [bm, bn]
    A = None if const_which == "a" else Operand(g, dt, "a", lead + [(t.offs[0], t.extents[0], t.masks[0]),
                                                                     (offs_k, kext, None)], t, trans_a)
    B = None if const_which == "b" else Operand(g, dt, "b", lead + [(offs_k, kext, None),
                                                                     (t.offs[1], t.extents[1], t.masks[1])], t, trans_b)
    if const_which in ("a", "b"):
        cexpr = g.let(f"{const_which}_const", _const_operand(g, dt, ash if const_which == "a" else bsh))
    if const_which == "acc" and dt != "int8":
        acc0 = S.full(csh, g.ch.pick([1.0, -2.0, 0.5]), acc_dt)
    elif const_which == "acc":
        acc0 = S.full(csh, g.ch.pick([1, -2, 3]), acc_dt)
    else:
        acc0 = S.full(csh, 0, acc_dt)
    acc = g.let("acc", acc0)
    body: list[S.Stmt] = []
    step = S.var("k") if nk > 1 or g.ch.coin(0.5) else None
    if step is None:
        nk = 1
    a_e = cexpr if A is None else A.load(step, k_ax, kmask, bk, _zero(dt))
    b_e = cexpr if B is None else B.load(step, k_ax - 1, kmask, bk, _zero(dt))
    body.append(S.let("a", a_e))
    body.append(S.let("b", b_e))
    out = "fp16" if out16 else None
    if dt == "int8" or g.ch.coin(0.6):
        body.append(S.let(acc["name"], _dot(S.var("a"), S.var("b"), acc, dt, out)))
    else:
        body.append(S.let(acc["name"], S.bin_("+", acc, _dot(S.var("a"), S.var("b"), None, dt, out))))
    if g.on("cdiv", 0.3):  # for k in range(0, tl.cdiv(K, BLOCK_K)) with a runtime K
        hi = {"e": "cdiv", "x": g.scalar_param("K", kext, "int32"), "d": S.const(bk, "int32")}
        g.body.append(S.for_("k", S.const(0, "int32"), hi, body))
    else:
        g.loop("k", nk, body)
    span = float(4 * 4 * kext + 4) if dt != "int8" else float(8 * 8 * kext + 4)
    v = TV(acc, acc_dt, tuple(csh), -span, span)
    n_ext, n_offs, n_mask = t.extents[1], t.offs[1], t.masks[1]
    if chain:
        v, n_ext, n_offs, n_mask = _chain(g, t, v, dt, lead, shp, bm, bn)
    elif not batched and acc_dt in ("fp32", "fp64", "int32") and g.on("bias_broadcast", 0.3):
        b = g.convert(_bias(g, t), acc_dt)  # GEMM epilogue: acc + bias[None, :]
        if b is not None:
            v = TV(g.let("acc", S.bin_("+", v.e, b.e)), acc_dt, v.shape, v.lo + b.lo, v.hi + b.hi)
    exact = all(o is None or o.q is not None for o in (A, B)) and const_which != "acc"
    if top1 and acc_dt in ("fp32", "int32") and (exact or dt == "int8"):
        # the column of each row's maximum (exact dots only: no runner-up within rounding)
        red = g.let("red", S.reduce_("argmax", v.e, 1))
        _store(g, t, TV(red, "int32", (bm,), 0.0, float(bn)), [(t.offs[0], t.extents[0], t.masks[0])])
        return
    _store(g, t, v, lead + [(t.offs[0], t.extents[0], t.masks[0]), (n_offs, n_ext, n_mask)])


def _chain(g: Any, t: Any, v: TV, dt: str, lead: list[Any], shp: list[int], bm: int,
           bn: int) -> tuple[TV, int, S.Expr, S.Expr | None]:
    """acc2 = tl.dot(acc.to(dt2), c) with c: (.., BN, BN2) from a fresh buffer (no tail)."""
    dt2 = {"int8": "int8", "fp64": g.ch.pick(["fp64", "fp32"])}.get(
        dt, "fp16" if v.dt == "fp16" else g.ch.pick(["fp16", "fp16", "bf16", "fp32"]))
    if dt2 == "bf16" and g.weight("dtype_bf16") == 0:
        dt2 = "fp16"
    bn2 = g.ch.pick([16, 32])
    if dt2 == "int8" and bn < 32:  # 8-bit dots need K >= 32: the first dot's N is the second's K
        dt2 = "fp16" if g.weight("dtype_fp16") else "fp32"
    offs_n2 = g.let("offs_n2", S.arange(bn2))
    offs_c = g.let("offs_c", S.arange(bn))
    C = Operand(g, dt2, "c", lead + [(offs_c, bn, None), (offs_n2, bn2, None)], t, False)
    x = v.e if v.dt == dt2 else S.cast(v.e, dt2)
    span = v.mag * 4 * bn + 4
    half = v.dt == "fp16" and span < 60000  # fp16 accumulation only where it cannot overflow
    acc2_dt = "int32" if dt2 == "int8" else "fp64" if dt2 == "fp64" else "fp16" if half else "fp32"
    out = "fp16" if acc2_dt == "fp16" else None
    e = _dot(x, C.load(None, 0, None), None, dt2, out)
    return TV(g.let("acc2", e), acc2_dt, tuple(shp + [bm, bn2]), -span, span), bn2, offs_n2, None


def _store(g: Any, t: Any, v: TV, axes: list[tuple[S.Expr, int, S.Expr | None]]) -> None:
    """Store the result tile to a fresh output buffer laid out over `axes` (one writer each)."""
    rank = len(axes)
    strides, size = g.strides_for([e for _, e, _ in axes])
    total = size * t.nbatch
    sentinel = -7 if v.dt == "int32" else -7.5
    p = g.buffer("out_ptr", v.dt, to_storage(v.dt, np.full(total, sentinel)), "out")
    idx = [place(o, i, rank) for i, (o, _, _) in enumerate(axes)]
    m = None
    for i, (_, _, mk) in enumerate(axes):
        if mk is not None:
            m = and_(m, place(mk, i, rank))
    g.body.append(S.store(S.bin_("+", p, g.offsets(idx, strides, "o", t, size)), v.e, m))

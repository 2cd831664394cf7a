"""Dot family: a K loop of masked A/B tile loads into tl.dot with an accumulator, pointer
increments or recomputed offsets, an optional scalar epilogue (`acc * scale`, the SMT field report)."""

from __future__ import annotations

from typing import Any

from generators import spec as S
from generators.families import family
from generators.geometry import and_, place
from generators.values import TV


@family("dot", 1.6)
def build(g: Any) -> None:
    base = {"fp16": 2.0, "bf16": 1.3, "fp32": 1.5, "int8": 1.6}
    dt = g.ch.weighted({d: w * g.weight(f"dot_{d}") * g.weight(f"dtype_{d}") for d, w in base.items()})
    bm, bn, bk = (g.ch.pick([16, 32]) for _ in range(3))
    if dt == "int8":
        bk = 32  # int8 MMA instructions need K >= 32 (Triton rejects smaller K on sm_80+)
    t = g.tile(2, 1024, min_block=16, blocks=[bm, bn])
    nk = g.ch.integer(1, 3)
    ktail = g.on("tail_block", 0.3)
    kext = nk * bk - (g.ch.integer(1, bk - 1) if ktail else 0)
    acc_dt = "int32" if dt == "int8" else "fp32"
    offs_k = g.let("offs_k", S.arange(bk))
    # A (M, K) and B (K, N), row-major with runtime or constexpr strides.
    a_str, a_size = g.strides_for([t.extents[0], kext])
    b_str, b_size = g.strides_for([kext, t.extents[1]])
    a_data, _, _ = g.input_data(dt, a_size * t.nbatch)
    b_data, _, _ = g.input_data(dt, b_size * t.nbatch)
    a_p = g.buffer("a_ptr", dt, a_data, "in")
    b_p = g.buffer("b_ptr", dt, b_data, "in")
    a_off = g.offsets([place(t.offs[0], 0, 2), place(offs_k, 1, 2)], a_str, "a", t, a_size)
    b_off = g.offsets([place(offs_k, 0, 2), place(t.offs[1], 1, 2)], b_str, "b", t, b_size)
    a_ptrs = g.let("a_ptrs", S.bin_("+", a_p, a_off))
    b_ptrs = g.let("b_ptrs", S.bin_("+", b_p, b_off))
    acc = g.let("acc", S.full([bm, bn], 0, acc_dt))
    kvar = "k"
    incr = g.on("ptr_loop_increment", 0.5)
    body: list[S.Stmt] = []
    kk = S.bin_("+", S.bin_("*", S.var(kvar), S.const(bk, "int32")), offs_k)
    kmask = S.bin_("<", kk, S.const(kext, "int32")) if ktail else None
    ma = and_(t.masks[0] and place(t.masks[0], 0, 2), kmask and place(kmask, 1, 2))
    mb = and_(kmask and place(kmask, 0, 2), t.masks[1] and place(t.masks[1], 1, 2))
    if incr:
        pa, pb = a_ptrs, b_ptrs
    else:
        step_a = S.bin_("*", S.var(kvar), S.const(bk * a_str[1], "int32"))
        step_b = S.bin_("*", S.var(kvar), S.const(bk * b_str[0], "int32"))
        pa, pb = S.bin_("+", a_ptrs, step_a), S.bin_("+", b_ptrs, step_b)
    zero = S.const(0.0 if acc_dt == "fp32" else 0, "fp32" if acc_dt == "fp32" else "int32")
    body.append(S.let("a", S.load(pa, ma, zero) if ma is not None else S.load(pa)))
    body.append(S.let("b", S.load(pb, mb, zero) if mb is not None else S.load(pb)))
    prec = "ieee" if dt == "fp32" else None
    if g.ch.coin(0.5):
        body.append(S.let(acc["name"], S.dot(S.var("a"), S.var("b"), acc, prec)))
    else:
        body.append(S.let(acc["name"], S.bin_("+", acc, S.dot(S.var("a"), S.var("b"), None, prec))))
    if incr:
        body.append(S.let(a_ptrs["name"], S.bin_("+", a_ptrs, S.const(bk * a_str[1], "int32"))))
        body.append(S.let(b_ptrs["name"], S.bin_("+", b_ptrs, S.const(bk * b_str[0], "int32"))))
    g.loop(kvar, nk, body)
    span = 16.0 * kext * (4 if dt != "int8" else 8)
    v = TV(acc, acc_dt, (bm, bn), -span, span)
    if acc_dt == "fp32" and g.on("scalar_scale_acc", 0.7):
        s = g.scalar_operand("fp32")
        assert s is not None
        v = TV(g.let("acc", S.bin_("*", v.e, s.e)), "fp32", v.shape, -span * 3, span * 3)
    extra = g.extra_mask(t, [0, 1]) if g.on("masked_store", 0.4) else None
    if extra is not None and g.ch.coin(0.5):
        zero_t = g.const_tile(0.0 if acc_dt == "fp32" else 0, acc_dt, v.shape)
        v = TV(S.where(extra, v.e, zero_t), acc_dt, v.shape, v.lo, v.hi)
        extra = None
    g.store_tile(t, v, [0, 1], extra)

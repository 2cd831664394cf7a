"""Atomic family: a tile of loaded inputs feeds one to three atomic updates, each on its own
atomic buffer (an output with known initial contents that no plain store touches):

- scatter: every lane of every program updates one of K buckets (`h + idx`, idx from the lane
  position, a loaded index tensor, or one shared bucket) with a commutative op;
- owned: each lane updates its own element (add/max/min/bitwise/xchg, cas on unmasked tiles),
  binds the old value and stores an expression of it, so returned values are checked;
- scalar total: every program adds/maxes a scalar (a reduction of its tile, a scalar pointer
  load, a runtime scalar) into one element, optionally under a scalar mask;
- scalar owned: each program exchanges/updates its own element and stores the old value.

Determinism is by construction (see generators/constructs/atomic.py for the rules the reference
checks): multi-hit elements see one commutative op, float adds only on exact values whose every
partial sum is exact, old values only where one lane of one program touches the element.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.atomic import OP_DTYPES, SCOPES, SEMS, atomic
from generators.constructs.mem_store import mstore
from generators.families import family
from generators.families.memory import as_tile, hinted_load, hints, scalar_load, splat_leaf
from generators.geometry import Tile, place
from generators.naming import DTYPE_WEIGHTS
from generators.numerics import to_storage
from generators.values import MANTISSA_BITS, TV, limit

OP_WEIGHTS = {"add": 3.0, "max": 1.0, "min": 1.0, "and": 0.8, "or": 0.8, "xor": 1.0, "xchg": 3.4, "cas": 2.6}
ATOMIC_DTYPE_WEIGHTS = {"int32": 3.0, "fp32": 2.0, "int64": 1.0, "fp16": 0.8}


def _sem_scope(g: Any) -> dict[str, str | None]:
    out: dict[str, str | None] = {"sem": None, "scope": None}
    if g.on("atomic_sem", 0.35):
        if g.ch.coin(0.7):
            out["sem"] = g.ch.pick(list(SEMS))
        if g.ch.coin(0.5):
            out["scope"] = g.ch.pick(list(SCOPES))
    return out


def _pick_op(g: Any, allowed: tuple[str, ...], boost: tuple[str, ...] = ()) -> str:
    """An op among `allowed` by weight; `boost` ones (needing one writer) three times as likely."""
    feat = {"add": "atomic_add", "max": "atomic_minmax", "min": "atomic_minmax", "and": "atomic_bitwise",
            "or": "atomic_bitwise", "xor": "atomic_bitwise", "xchg": "atomic_xchg", "cas": "atomic_cas"}
    return g.ch.weighted({o: OP_WEIGHTS[o] * (3.0 if o in boost else 1.0) * g.weight(feat[o]) for o in allowed})


def _pick_dtype(g: Any, op: str) -> str:
    return g.ch.weighted({d: ATOMIC_DTYPE_WEIGHTS[d] * g.weight(f"dtype_{d}") for d in OP_DTYPES[op]})


def _init_data(g: Any, dt: str, n: int) -> tuple[np.ndarray, float, float]:
    """Initial contents of an atomic buffer: small integers (halves for floats)."""
    if dt in S.FLOAT_DTYPES:
        vals = np.array([g.ch.integer(-8, 8) / 2.0 for _ in range(n)])
    else:
        vals = np.array([g.ch.integer(-20, 20) for _ in range(n)], dtype=np.int64)
    return to_storage(dt, vals), float(vals.min()), float(vals.max())


def _value(g: Any, leaves: list[TV], dt: str, shape: tuple[int, ...], op: str, hits: int) -> TV | None:
    """An operand of `dt` and `shape` whose updates stay deterministic when `hits` lanes share an element."""
    for depth in (g.ch.integer(0, 3), 0):
        v = g.expr(leaves, dt, shape, depth)
        if dt in S.FLOAT_DTYPES and op == "add" and hits > 1:
            # every partial sum exact: on the value's grid 1/q, all magnitudes within the significand
            if v.q is None or v.q > 256 or (hits * v.mag + 16) * max(v.q, 2.0) >= 2.0 ** MANTISSA_BITS[dt]:
                continue
        if dt in S.FLOAT_DTYPES and v.mag * hits + 16 >= limit(dt):
            continue
        return v
    if dt in S.FLOAT_DTYPES and op == "add" and hits > 1:
        one = S.full(list(shape), 0.5, dt) if shape else _scalar_of(g, dt, 0.5)
        return TV(one, dt, shape, 0.5, 0.5, 2.0)
    return g.expr(leaves, dt, shape, 0)


def _scalar_of(g: Any, dt: str, v: int | float) -> S.Expr:
    """A scalar of exactly `dt`: a literal (int32/fp32), else read from a one-element buffer.

    Not `arg.to(dt)`: the interpreter hands float arguments over as Python floats (no `.to`),
    and compiled Triton specializes an int argument equal to 1 into a constexpr."""
    if dt in ("int32", "fp32"):
        return S.const(float(v) if dt == "fp32" else int(v), dt)
    p = g.buffer("c_ptr", dt, to_storage(dt, np.array([v])), "in")
    return g.let("c", {"e": "mload", "ptr": p, "mask": None, "other": None, **hints(g, True)})


def _other(g: Any, dt: str, shape: tuple[int, ...]) -> tuple[S.Expr, float]:
    v = g.ch.pick([0, 0, 1, -1])
    if dt in ("int32", "fp32") and g.ch.coin(0.7):
        return _scalar_of(g, dt, v), float(v)
    return (S.full(list(shape), v, dt) if shape else _scalar_of(g, dt, v)), float(v)


def _linear_pid(g: Any) -> tuple[S.Expr, int]:
    """This program's linear index over the grid, and the number of programs."""
    gx, gy, gz = g.grid
    e: S.Expr = S.pid(0)
    if gy > 1:
        e = S.bin_("+", e, S.bin_("*", S.pid(1), S.const(gx, "int32")))
    if gz > 1:
        e = S.bin_("+", e, S.bin_("*", S.pid(2), S.const(gx * gy, "int32")))
    return g.let("prog", e) if e.get("e") != "pid" or g.ch.coin(0.5) else e, gx * gy * gz


def _lanes(t: Tile) -> int:
    return int(np.prod(t.blocks)) * t.nbatch


def _scatter(g: Any, t: Tile, leaves: list[TV]) -> None:
    op = _pick_op(g, ("add", "max", "min", "and", "or", "xor"))
    dt = _pick_dtype(g, op)
    shape = tuple(t.blocks)
    nprog = int(np.prod(g.grid))
    hits = _lanes(t) * nprog
    v = _value(g, leaves, dt, shape, op, hits)
    if v is None:
        return
    k = g.ch.pick([1, 2, 3, 4, 8])
    data, _, _ = _init_data(g, dt, k)
    h = g.buffer("hist_ptr", dt, data, "out")
    how = g.ch.weighted({"position": 2.0, "loaded": 1.5, "shared": 0.6})
    m = g.tile_mask(t)
    if how == "shared" or k == 1:
        ptr = S.bin_("+", h, S.full(list(shape), g.ch.integer(0, k - 1), "int32"))
    elif how == "position":
        lin = place(t.offs[0], 0, t.rank)
        if t.rank == 2:
            lin = S.bin_("+", S.bin_("*", lin, S.const(t.blocks[1] * 4, "int32")), place(t.offs[1], 1, 2))
        kk = g.int_value("n_buckets", k)
        ptr = S.bin_("+", h, g.let("bucket", S.bin_("%", lin, kk)))
    else:
        idx = np.array([g.ch.integer(0, k - 1) for _ in range(_extent_size(t))], dtype=np.int64)
        ip = g.buffer("idx_ptr", "int32", to_storage("int32", idx), "in")
        off = _tile_offsets(g, t, "i")
        ld = S.load(S.bin_("+", ip, off), m, S.const(0, "int32")) if m is not None else S.load(S.bin_("+", ip, off))
        ptr = S.bin_("+", h, g.let("bucket", ld))
    g.body.append(atomic(op, ptr, v.e, m, **_sem_scope(g)))


def _extent_size(t: Tile) -> int:
    """Elements of a row-major buffer over the tile's extents, batches included."""
    return int(np.prod(t.extents)) * t.nbatch


def _tile_offsets(g: Any, t: Tile, prefix: str) -> S.Expr:
    """Row-major offsets of the tile into a buffer of `_extent_size(t)` elements."""
    strides = [int(np.prod(t.extents[d + 1:])) for d in range(t.rank)]
    idx = [place(t.offs[d], d, t.rank) for d in range(t.rank)]
    return g.offsets(idx, strides, prefix, t, int(np.prod(t.extents)))


def _owned(g: Any, t: Tile, leaves: list[TV]) -> None:
    m = g.tile_mask(t)
    op = _pick_op(g, ("add", "max", "min", "and", "or", "xor", "xchg", "cas"), ("xchg", "cas"))
    dt = _pick_dtype(g, op)
    shape = tuple(t.blocks)
    size = _extent_size(t)
    off = g.let("a_offs", _tile_offsets(g, t, "a"))
    spare = 0
    if op == "cas" and m is not None:
        # atomic_cas takes no mask: a masked-off lane works on a spare slot of its own past the
        # data (one per lane of each program), so every element still has one writer
        lanes = int(np.prod(t.blocks))
        lin, nprog = _linear_pid(g)
        lane = place(S.arange(t.blocks[0]), 0, t.rank)
        if t.rank == 2:
            lane = S.bin_("+", S.bin_("*", lane, S.const(t.blocks[1], "int32")), place(S.arange(t.blocks[1]), 1, 2))
        slot = S.bin_("+", S.bin_("+", S.const(size, "int32"), S.bin_("*", lin, S.const(lanes, "int32"))), lane)
        if _is64(g, off):
            slot = S.cast(slot, "int64")
        off = g.let("cas_offs", S.where(m, off, slot))
        spare = nprog * lanes
    data, lo, hi = _init_data(g, dt, size + spare)
    a = g.buffer("acc_ptr", dt, data, "out")
    v = _value(g, leaves, dt, shape, op, 1)
    kw: dict[str, Any] = _sem_scope(g)
    name = g.fresh("old")
    olo, ohi = lo, hi
    if op == "cas":
        # cmp equals the initial contents on about half the lanes, so some swaps happen
        init = np.asarray(data).astype(np.float64)
        cmpv = np.where([g.ch.coin(0.5) for _ in range(size + spare)], init, init + 1)
        cp = g.buffer("cmp_ptr", dt, to_storage(dt, cmpv), "in")
        kw["cmp"] = g.let("expected", S.load(S.bin_("+", cp, off)))
        g.body.append(atomic(op, S.bin_("+", a, off), as_tile(g, v.e, shape), name=name, **kw))
    elif m is not None:
        other, ov = _other(g, dt, shape)
        olo, ohi = min(lo, ov), max(hi, ov)
        g.body.append(atomic(op, S.bin_("+", a, off), v.e, m, name=name, other=other, **kw))
    else:
        g.body.append(atomic(op, S.bin_("+", a, off), v.e, name=name, **kw))
    old = TV(S.var(name), dt, shape, olo, ohi, 2.0 if dt in S.FLOAT_DTYPES else 1.0)
    out_dt = g.ch.pick([dt, dt, "fp32", "int32"])
    g.store_tile(t, _using(g, old, leaves, out_dt, shape, name), list(range(t.rank)))


def _is64(g: Any, e: S.Expr) -> bool:
    tc = S.TypeCtx({}, S.params_by_name({"params": g.params}))
    tc.block(g.body)
    return tc.ty(e).dtype == "int64"


def _using(g: Any, old: TV, leaves: list[TV], dt: str, shape: tuple[int, ...], name: str) -> TV:
    """An expression of `dt` over the leaves that certainly reads the bound old value `name`."""
    y = g.expr([old] + leaves, dt, shape, g.ch.integer(0, 2))
    if any(n.get("e") == "var" and n["name"] == name for n in S.walk(y.e)):
        return y
    oc = g.convert(old, dt)
    if oc is None or y.mag + oc.mag >= limit(dt) / 2:
        oc = g.convert(old, "fp32") if dt == "fp32" else None
        if oc is None:
            return TV(S.cast(old.e, dt), dt, old.shape, old.lo, old.hi) if not old.shape and not shape else y
    e = S.bin_("+", y.e, oc.e)
    return TV(e, dt, shape, y.lo + oc.lo, y.hi + oc.hi, None if dt in S.FLOAT_DTYPES and (y.q is None or oc.q is None)
              else max(y.q or 1.0, oc.q or 1.0))


def _scalar_value(g: Any, leaves: list[TV], t: Tile, dt: str, op: str, hits: int) -> TV | None:
    """A scalar operand: a reduction of the tile, a scalar pointer load, or a scalar argument."""
    how = g.ch.weighted({"reduce": 2.0, "load": 1.5, "arg": 1.0})
    if how == "reduce" and dt in ("int32", "fp32"):
        m = g.tile_mask(t)
        fn = "sum" if op == "add" else g.ch.pick(["max", "min", "sum"])
        v = _value(g, leaves, dt, tuple(t.blocks), op, hits * int(np.prod(t.blocks)))
        if v is None:
            return None
        e = as_tile(g, v.e, tuple(t.blocks))
        if m is not None:
            e = S.where(m, e, _scalar_of(g, dt, 0))
        n = int(np.prod(t.blocks))
        for _ in range(t.rank):
            e = S.reduce_(fn, e, 0)
        lo, hi = (min(v.lo, 0) * n, max(v.hi, 0) * n) if fn == "sum" else (min(v.lo, 0), max(v.hi, 0))
        if max(abs(lo), abs(hi)) * hits >= limit(dt) / 4:
            return None
        return TV(g.let("part", e), dt, (), lo, hi, v.q)
    if how == "load":
        v = scalar_load(g, dt)
        if dt in S.FLOAT_DTYPES and op == "add" and hits > 1 and (
                v.q is None or (hits * v.mag + 16) * v.q >= 2.0 ** MANTISSA_BITS[dt]):
            return None
        return v
    if dt in ("int32", "fp32"):
        s = g.scalar_operand(dt)
        if s is not None and (dt == "int32" or op != "add" or s.q is not None and hits * s.mag * s.q < 2.0**20):
            return s
    return None


def _scalar_total(g: Any, t: Tile, leaves: list[TV]) -> None:
    op = _pick_op(g, ("add", "max", "min", "and", "or", "xor"))
    dt = _pick_dtype(g, op)
    nprog = int(np.prod(g.grid))
    v = _scalar_value(g, leaves, t, dt, op, nprog)
    if v is None:
        v = TV(_scalar_of(g, dt, 1), dt, (), 1, 1, 1.0)
    k = g.ch.pick([1, 1, 2, 3])
    data, _, _ = _init_data(g, dt, k)
    c = g.buffer("total_ptr", dt, data, "out")
    j = g.ch.integer(0, k - 1)
    ptr = c if j == 0 and g.ch.coin(0.5) else S.bin_("+", c, S.const(j, "int32"))
    mask = None
    if nprog > 1 and g.ch.coin(0.3):
        mask = S.bin_("<", S.pid(0), g.int_value("active", g.ch.integer(1, max(1, g.grid[0]))))
    g.body.append(atomic(op, ptr, v.e, mask, **_sem_scope(g)))


def _scalar_owned(g: Any, t: Tile, leaves: list[TV]) -> None:
    op = _pick_op(g, ("add", "max", "min", "and", "or", "xor", "xchg", "cas"), ("xchg", "cas"))
    dt = _pick_dtype(g, op)
    lin, nprog = _linear_pid(g)
    data, lo, hi = _init_data(g, dt, nprog)
    c = g.buffer("slot_ptr", dt, data, "out")
    v = _scalar_value(g, leaves, t, dt, op, 1) or TV(_scalar_of(g, dt, 2), dt, (), 2, 2, 1.0)
    name = g.fresh("prev")
    kw = _sem_scope(g)
    if op == "cas":
        init = np.asarray(data).astype(np.float64)
        cmpv = np.where([g.ch.coin(0.5) for _ in range(nprog)], init, init - 1)
        cp = g.buffer("cmp_ptr", dt, to_storage(dt, cmpv), "in")
        kw["cmp"] = g.let("expected", S.load(S.bin_("+", cp, lin)))
    g.body.append(atomic(op, S.bin_("+", c, lin), v.e, name=name, **kw))
    old = TV(S.var(name), dt, (), lo, hi, 2.0 if dt in S.FLOAT_DTYPES else 1.0)
    if g.ch.coin(0.5):
        # the old value as a scalar leaf of the tile's expression
        out_dt = g.ch.pick([dt, "fp32", "int32"])
        tile = splat_leaf(g, old, leaves, tuple(t.blocks))
        g.store_tile(t, _using(g, tile, leaves, out_dt, tuple(t.blocks), name), list(range(t.rank)))
        return
    out_dt = dt
    sentinel = -7 if dt in S.INT_DTYPES else -7.5
    o = g.buffer("prev_out_ptr", out_dt, to_storage(out_dt, np.full(nprog, sentinel)), "out")
    val = S.bin_("+", old.e, v.e) if old.mag + v.mag < limit(dt) / 2 and g.ch.coin(0.5) else old.e
    g.body.append(mstore(S.bin_("+", o, lin), val, **(hints(g, False) if g.ch.coin(0.5) else {})))


ACTIONS = {"scatter": (_scatter, 1.5), "owned": (_owned, 1.5), "scalar_total": (_scalar_total, 1.0),
           "scalar_owned": (_scalar_owned, 1.3)}


@family("atomic", 1.2)
def build(g: Any) -> None:
    rank = int(g.ch.weighted({"1": 0.6, "2": 0.4}))
    t = g.tile(rank, 512)
    leaves: list[TV] = []
    for i in range(g.ch.integer(1, 2)):
        x = g.input_tile(t, g.pick_dtype(tuple(DTYPE_WEIGHTS)), f"x{i}")
        leaves.append(replace(x, e=g.let(f"x{i}", hinted_load(g, x.e) if g.ch.coin(0.25) else x.e)))
    n = g.ch.weighted({"1": 1.0, "2": 1.2, "3": 0.6})
    for _ in range(int(n)):
        kind = g.ch.weighted({k: w for k, (_, w) in ACTIONS.items()})
        ACTIONS[kind][0](g, t, leaves)

"""Memory family: scalar (0-D) pointer loads and stores, and cache/eviction/volatile hints on
tile loads and stores; the hints must not change any value.

Shape of the kernel: scalars read through `tl.load(s_ptr + k)` (k a literal, an argument or the
program id) scale or shift a tile loaded with hints; the result is stored through a hinted
tile store, or reduced and stored per program through a scalar pointer (`o_ptr + pid`), the
split-reduction pattern. NVIDIA's PTX has no form for some hint pairs (a cache operator with an
L1 eviction priority, volatile with a cache operator); those pairs are drawn rarely, since ptxas
rejecting what the frontend accepted is a finding of its own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.mem_load import EVICT, LOAD_CACHE
from generators.constructs.mem_store import STORE_CACHE, mstore
from generators.families import family
from generators.naming import DTYPE_WEIGHTS
from generators.numerics import to_storage
from generators.values import TV, exact_q, limit


def hints(g: Any, load: bool) -> dict[str, Any]:
    """Cache modifier, eviction policy or volatile: usually one, rarely a pair."""
    out: dict[str, Any] = {"cache": None, "evict": None}
    if load:
        out["volatile"] = False
    kinds = {"cache": 1.0 * g.weight("cache_modifier"), "evict": 1.0 * g.weight("eviction_policy"),
             "none": 0.6}
    if load:
        kinds["volatile"] = 0.8 * g.weight("volatile_load")
    k = g.ch.weighted(kinds)
    pair = g.ch.coin(0.06)
    if k == "cache" or pair and k == "evict":
        out["cache"] = g.ch.pick(list(LOAD_CACHE if load else STORE_CACHE))
    if k == "evict" or pair and k == "cache":
        out["evict"] = g.ch.pick(list(EVICT))
    if load and (k == "volatile" or pair and k == "none"):
        out["volatile"] = True
        if pair and k == "none":
            out["cache"] = g.ch.pick(list(LOAD_CACHE))
    return out


def hinted_load(g: Any, e: S.Expr) -> S.Expr:
    """The same load with hints (a `load` node becomes an `mload`)."""
    return {**e, "e": "mload", **hints(g, True)} if e.get("e") == "load" else e


def as_tile(g: Any, e: S.Expr, shape: tuple[int, ...]) -> S.Expr:
    """`e` broadcast to `shape` when it is a scalar (an expression tree may end in a scalar leaf)."""
    tc = S.TypeCtx({}, S.params_by_name({"params": g.params}))
    tc.block(g.body)
    return e if tc.ty(e).shape == shape else S.bcast(e, list(shape))


def splat_leaf(g: Any, s: TV, tiles: list[TV], shape: tuple[int, ...]) -> TV:
    """A scalar as a tile leaf: combined with a tile (`x * s`, implicit splat) or broadcast.

    Expression trees take leaves at face value: a scalar leaf standing for a tile would reach
    tile-only constructs (sorts, scans, reductions) as a scalar."""
    xs = [x for x in tiles if x.shape == shape and x.dt == s.dt]
    if xs and g.ch.coin(0.6):
        x = g.ch.pick(xs)
        op = g.ch.pick(["+", "*", "-"])
        lo, hi = ((min(x.lo * s.lo, x.lo * s.hi, x.hi * s.lo, x.hi * s.hi),
                   max(x.lo * s.lo, x.lo * s.hi, x.hi * s.lo, x.hi * s.hi)) if op == "*" else
                  (x.lo + s.lo, x.hi + s.hi) if op == "+" else (x.lo - s.hi, x.hi - s.lo))
        if max(abs(lo), abs(hi)) < limit(s.dt) / 4:
            q = None if x.q is None or s.q is None else (x.q * s.q if op == "*" else max(x.q, s.q))
            pair = (x.e, s.e) if g.ch.coin(0.6) or op == "-" else (s.e, x.e)
            return TV(S.bin_(op, *pair), s.dt, shape, lo, hi, exact_q(s.dt, q, max(abs(lo), abs(hi))))
    return TV(S.bcast(s.e, list(shape)), s.dt, shape, s.lo, s.hi, s.q)


def scalar_load(g: Any, dt: str, prefix: str = "s") -> TV:
    """A scalar read through a scalar pointer: `tl.load(s_ptr + k)` with hints."""
    n = g.ch.integer(1, 6)
    data, lo, hi = g.input_data(dt, n)
    q = g.last_q
    sp = g.buffer(f"{prefix}_ptr", dt, data, "in")
    k = g.ch.integer(0, n - 1)
    how = g.ch.weighted({"literal": 1.0, "arg": 1.0, "pid": 0.6 if g.grid[0] <= n else 0.0, "base": 0.4})
    if how == "pid":
        ptr = S.bin_("+", sp, S.pid(0))
    elif how == "base" or k == 0 and how == "literal":
        ptr = sp
    else:
        ptr = S.bin_("+", sp, S.const(k, "int32") if how == "literal" else g.int_value("k", k))
    return TV(g.let(prefix, {"e": "mload", "ptr": ptr, "mask": None, "other": None, **hints(g, True)}),
              dt, (), lo, hi, q)


@family("memory", 0.6)
def build(g: Any) -> None:
    rank = int(g.ch.weighted({"1": 0.6, "2": 0.4}))
    t = g.tile(rank, 1024)
    leaves: list[TV] = []
    for i in range(g.ch.integer(1, 2)):
        x = g.input_tile(t, g.pick_dtype(tuple(DTYPE_WEIGHTS)), f"x{i}")
        e = hinted_load(g, x.e) if g.ch.coin(0.8) else x.e
        leaves.append(replace(x, e=g.let(f"x{i}", e)))
    shape = tuple(t.blocks)
    for j in range(g.ch.integer(1, 2)):
        s = scalar_load(g, g.pick_dtype(tuple(DTYPE_WEIGHTS)), f"s{j}" if j else "s")
        leaves.append(splat_leaf(g, s, leaves, shape))
    if g.on("scalar_ptr_store", 0.55):
        _per_program(g, t, leaves)
        return
    dt = g.ch.pick([x.dt for x in leaves] + ["fp32", "int32"])
    v = g.expr(leaves, dt, shape, g.ch.integer(1, 3))
    g.store_tile(t, v, list(range(rank)))
    st = g.body[-1]
    if g.ch.coin(0.8):
        g.body[-1] = {**st, "s": "mstore", **hints(g, False)}


def _per_program(g: Any, t: Any, leaves: list[TV]) -> None:
    """Each program reduces its tile and stores one scalar at o_ptr + its linear index."""
    dt = g.ch.pick(["fp32", "int32"])
    v = g.expr(leaves, dt, tuple(t.blocks), g.ch.integer(1, 3))
    m = g.tile_mask(t)
    fn = g.ch.pick(["sum", "max", "min"])
    n = int(np.prod(t.blocks))
    if fn == "sum" and v.mag * n >= limit(dt) / 4:
        fn = "max"
    e = as_tile(g, v.e, tuple(t.blocks))
    if m is not None:
        e = S.where(m, e, S.const(0.0 if dt == "fp32" else 0, dt))
    for _ in range(t.rank):
        e = S.reduce_(fn, e, 0)
    red = g.let("part", e)
    gx, gy, gz = g.grid
    lin: S.Expr = S.pid(0)
    if gy > 1:
        lin = S.bin_("+", lin, S.bin_("*", S.pid(1), S.const(gx, "int32")))
    if gz > 1:
        lin = S.bin_("+", lin, S.bin_("*", S.pid(2), S.const(gx * gy, "int32")))
    nprog = gx * gy * gz
    sentinel = -7 if dt == "int32" else -7.5
    o = g.buffer("part_ptr", dt, to_storage(dt, np.full(nprog, sentinel)), "out")
    ptr = o if nprog == 1 and g.ch.coin(0.5) else S.bin_("+", o, lin)
    g.body.append(mstore(ptr, red, None, **hints(g, False)))

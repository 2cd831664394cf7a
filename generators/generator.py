"""Grammar-driven generator: choices in, a UB-free KernelCase out.

The grammar is organised the way kernel authors write Triton: a tile geometry (block sizes,
extents with partial tail blocks, a grid of 1-3 axes, an optional batch axis), index vectors from
`tl.arange` and program ids, pointer arithmetic with runtime/constexpr/literal strides, bounds
masks, then one of several kernel families (elementwise, reduction, dot with a K loop, loop
accumulation, gather through an index tensor) whose values come from a random expression tree.

UB-freedom by construction, as Csmith does it: every buffer is sized exactly to its logical
extent (so a missing mask is an out-of-bounds access the reference evaluator refuses), value
ranges are tracked through every expression so integer arithmetic never overflows and divisors
never reach zero, each output element has exactly one writer, and float inputs are small
integers and halves so most results are exact. The reference evaluator re-checks all of it on the
concrete inputs and rejects what slips through.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from generators import spec as S
from generators.case import Arg, Buffer, KernelCase
from generators.choices import ChoiceSource, seeded
from generators.features import features_of
from generators.numerics import round_to, to_storage
from generators.render import render

GENERATOR_VERSION = "2"

FAMILIES = {"elementwise": 3.0, "reduce": 1.7, "dot": 1.6, "loop": 1.2, "gather": 1.0}
INT_LIMIT = {"int8": 100, "int16": 30000, "int32": 2**30, "int64": 2**40}
FLOAT_LIMIT = {"fp32": 1e6, "fp16": 2000.0, "bf16": 2000.0}
DTYPE_WEIGHTS = {"fp32": 3.0, "fp16": 1.5, "bf16": 0.6, "int8": 0.8, "int16": 0.7, "int32": 2.0,
                 "int64": 0.8}


# Weight knobs beyond FEATURES: kernel families and generator-only shapes of code.
KNOBS = [f"family_{f}" for f in FAMILIES] + ["bias_broadcast", "block_table", "grid_batch", "layout_padded",
                                             "layout_transposed", "index_values", "cast_out", "int_divmod"]


@dataclass
class TV:
    """A tile value under construction: expression, dtype, shape and a conservative value range."""

    e: S.Expr
    dt: str
    shape: tuple[int, ...]
    lo: float
    hi: float
    # Floats: every value is a multiple of 1/q and exact in dt; None once rounding may have happened.
    # Casts to int, comparisons and argmax are only generated on exact values (no ambiguity).
    q: float | None = None

    @property
    def is_float(self) -> bool:
        return self.dt in S.FLOAT_DTYPES

    @property
    def mag(self) -> float:
        return max(abs(self.lo), abs(self.hi))


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


class Generator:
    def __init__(self, ch: ChoiceSource, weights: dict[str, float] | None = None) -> None:
        self.ch = ch
        self.w = dict(weights or {})
        self.params: list[dict[str, Any]] = []
        self.args: list[Arg] = []
        self.buffers: dict[str, Buffer] = {}
        self.body: list[S.Stmt] = []
        self.tags: set[str] = set()
        self.grid = [1, 1, 1]
        # names the families bind by hand inside loops are never handed out by fresh()
        self.last_q: float | None = 1.0
        self.names: dict[str, int] = {n: 1 for n in ("a", "b", "i", "k", "x", "kernel", "tl", "triton")}

    # ---- small helpers ----
    def weight(self, feature: str) -> float:
        return float(self.w.get(feature, 1.0))

    def on(self, feature: str, p: float) -> bool:
        w = self.weight(feature)
        return w > 0 and self.ch.coin(min(1.0, p * w))

    def fresh(self, prefix: str) -> str:
        n = self.names.get(prefix, 0)
        self.names[prefix] = n + 1
        return prefix if n == 0 else f"{prefix}_{n}"

    def let(self, prefix: str, e: S.Expr) -> S.Expr:
        name = self.fresh(prefix)
        self.body.append(S.let(name, e))
        return S.var(name)

    def scalar_param(self, prefix: str, value: int | float, dtype: str) -> S.Expr:
        name = self.fresh(prefix)
        self.params.append({"name": name, "kind": "scalar", "dtype": dtype, "value": value})
        self.args.append(Arg(name, "scalar", dtype, value))
        return S.arg(name)

    def constexpr(self, prefix: str, value: int | float) -> S.Expr:
        name = self.fresh(prefix)
        self.params.append({"name": name, "kind": "constexpr", "dtype": "", "value": value})
        self.args.append(Arg(name, "constexpr", "", value))
        return S.arg(name)

    def int_value(self, prefix: str, value: int) -> S.Expr:
        """An int32 scalar the kernel sees as a runtime argument, a constexpr or a literal."""
        return self.int_scalar(prefix, value, "splat_runtime_scalar", "splat_constexpr", 1.0)

    def int_scalar(self, prefix: str, value: int, runtime_knob: str, constexpr_knob: str,
                   literal_weight: float) -> S.Expr:
        how = self.ch.weighted({"runtime": 2.0 * self.weight(runtime_knob),
                                "constexpr": 1.0 * self.weight(constexpr_knob), "literal": literal_weight})
        if how == "runtime":
            return self.scalar_param(prefix.lower(), value, "int32")
        if how == "constexpr":
            return self.constexpr(prefix.upper(), value)
        return S.const(value, "int32")

    def buffer(self, prefix: str, dtype: str, data: np.ndarray, role: str) -> S.Expr:
        name = self.fresh(prefix)
        self.params.append({"name": name, "kind": "ptr", "dtype": dtype})
        self.args.append(Arg(name, "ptr", dtype, buffer=name))
        self.buffers[name] = Buffer(name, dtype, role, data)
        return S.arg(name)

    def input_data(self, dtype: str, n: int) -> tuple[np.ndarray, float, float]:
        data, lo, hi, self.last_q = self._input_data(dtype, n)
        return data, lo, hi

    def _input_data(self, dtype: str, n: int) -> tuple[np.ndarray, float, float, float | None]:
        """Small integers (and halves for floats): exact in every dtype, so results stay exact."""
        if dtype in S.FLOAT_DTYPES:
            if self.ch.coin(0.25):
                raw = np.array([self.ch.integer(-400, 400) / 100.0 for _ in range(n)])
                vals = round_to(dtype, raw)
                q = None
            else:
                vals = np.array([self.ch.integer(-8, 8) / 2.0 for _ in range(n)])
                q = 2.0
            lo, hi = (float(vals.min()), float(vals.max())) if n else (0.0, 0.0)
            return to_storage(dtype, vals), lo, hi, q
        r = {"int8": 8, "int16": 50, "int32": 100, "int64": 100}[dtype]
        vals = np.array([self.ch.integer(-r, r) for _ in range(n)], dtype=np.int64)
        return to_storage(dtype, vals), float(-r), float(r), 1.0

    def const_tile(self, v: int | float, dt: str, shape: tuple[int, ...]) -> S.Expr:
        """A constant meeting a tile of dtype dt: a literal only where every release types it
        the same way (int32, fp32), else tl.full of the tile's shape."""
        if dt in ("int32", "fp32") and self.ch.coin(0.7):
            self.tags.add("float_literal" if dt == "fp32" else "int_literal")
            return S.const(v, dt)
        return S.full(list(shape) if shape else [1], v, dt) if shape else S.const(v, dt)

    def pick_dtype(self, allowed: tuple[str, ...]) -> str:
        return self.ch.weighted({d: DTYPE_WEIGHTS[d] * self.weight(f"dtype_{d}") for d in allowed})

    # ---- geometry ----
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
            part = _place(t.masks[d], i, rank)
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
        idx = [_place(t.offs[d], i, rank) for i, d in enumerate(order)]
        ptrs = self.let(f"{prefix}_ptrs", S.bin_("+", p, self.offsets(idx, strides, prefix, t, size)))
        mask_axes = order
        m = self.tile_mask(t, mask_axes)
        if m is None and self.on("load_other", 0.1):
            m = _place(S.bin_(">=", t.offs[mask_axes[0]], S.const(0, "int32")), 0, rank)
        shape = tuple(t.blocks[d] for d in order)
        q = self.last_q
        if m is None:
            return TV(S.load(ptrs), dtype, shape, lo, hi, q)
        other = self.other_value(dtype)
        return TV(S.load(ptrs, m, other), dtype, shape, min(lo, other["v"]), max(hi, other["v"]), q)

    def other_value(self, dtype: str) -> S.Expr:
        v = self.ch.pick([0, 0, 1, -1, 2])
        if dtype in S.FLOAT_DTYPES:
            return S.const(float(v), "fp32")
        return S.const(v, "int32")

    # ---- expressions ----
    def convert(self, x: TV, dt: str) -> TV | None:
        """Cast keeping the range representable; None if it would not be."""
        if x.dt == dt:
            return x
        if dt in S.INT_DTYPES:
            lim = INT_LIMIT[dt]
            if x.mag >= lim or x.is_float and x.q is None:  # truncating a rounded value: ambiguous
                return None
            lo, hi = (float(np.trunc(x.lo)), float(np.trunc(x.hi)))
            q: float | None = 1.0
        else:
            if x.mag >= FLOAT_LIMIT[dt]:
                return None
            lo, hi = x.lo, x.hi
            q = _exact_q(dt, x.q if x.is_float else 1.0, x.mag)
        self.tags.add("cast")
        return TV(S.cast(x.e, dt), dt, x.shape, lo, hi, q)

    def expr(self, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV:
        """A random expression of dtype `dt` and `shape` over `leaves`, within safe ranges."""
        if depth <= 0 or self.ch.coin(0.25):
            return self.leaf(leaves, dt, shape)
        for _ in range(6):
            r = self.try_op(leaves, dt, shape, depth)
            if r is not None:
                return r
        return self.leaf(leaves, dt, shape)

    def leaf(self, leaves: list[TV], dt: str, shape: tuple[int, ...]) -> TV:
        cands = [x for x in leaves if x.shape == shape or not x.shape]
        for _ in range(4):
            if cands and self.ch.coin(0.85):
                x = self.ch.pick(cands)
                y = self.convert(x, dt)
                if y is not None:
                    if not y.shape and shape:
                        y = TV(S.bcast(y.e, list(shape)) if self.ch.coin(0.3) else y.e, dt, shape, y.lo, y.hi)
                    return y
        v = self.ch.integer(-3, 3)
        if dt in S.FLOAT_DTYPES:
            v = v / 2.0
        self.tags.add("full")
        return TV(S.full(list(shape), v, dt), dt, shape, float(v), float(v), 2.0)

    def scalar_operand(self, dt: str) -> TV | None:
        """A scalar splatted into a tensor expression: runtime arg, constexpr or literal."""
        if dt == "fp32":
            v = self.ch.pick([0.5, 0.25, 2.0, 1.5, -0.75, 3.0])
            how = self.ch.weighted({"runtime": 1.0 * self.weight("splat_runtime_scalar"),
                                    "constexpr": 1.0 * self.weight("splat_constexpr"),
                                    "literal": 1.0 * self.weight("float_literal")})
            e = (self.scalar_param("alpha", v, "fp32") if how == "runtime"
                 else self.constexpr("SCALE", v) if how == "constexpr" else S.const(v, "fp32"))
            return TV(e, dt, (), v, v, 4.0)
        if dt == "int32":
            v = self.ch.integer(-5, 5) or 1
            return TV(self.int_value("k", v), dt, (), v, v)
        return None

    def try_op(self, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV | None:
        fl = dt in S.FLOAT_DTYPES
        ops = {"arith": 4.0, "minmax": 1.0 * self.weight("minmax"), "where": 1.0 * self.weight("where"),
               "unary": 1.0, "scalar": 1.5, "cast": 1.0 * self.weight("cast")}
        if fl:
            ops["div"] = 0.6
            if dt == "fp32":
                ops["math"] = 1.2 * self.weight("math_fn")
        else:
            ops["divmod"] = 1.0 * self.weight("int_divmod")
            ops["bitwise"] = 1.5 * self.weight("bitwise")
            ops["shift"] = 0.8 * self.weight("shift")
        kind = self.ch.weighted(ops)
        sub = (lambda: self.expr(leaves, dt, shape, depth - 1))  # noqa: E731
        lim = FLOAT_LIMIT[dt] if fl else INT_LIMIT[dt]
        if kind == "arith":
            a, b = sub(), sub()
            op = self.ch.pick(["+", "-", "*"])
            if op == "*":
                lo, hi = _mul_range(a, b)
            elif op == "+":
                lo, hi = a.lo + b.lo, a.hi + b.hi
            else:
                lo, hi = a.lo - b.hi, a.hi - b.lo
            if max(abs(lo), abs(hi)) >= lim:
                return None
            q = _both(a, b, lambda x, y: x * y if op == "*" else max(x, y))
            return TV(S.bin_(op, a.e, b.e), dt, shape, lo, hi, _exact_q(dt, q, max(abs(lo), abs(hi))))
        if kind == "scalar":
            s = self.scalar_operand(dt)
            if s is None:
                return None
            a = sub()
            op = self.ch.pick(["*", "+"] if fl else ["*", "+", "-"])
            lo, hi = _mul_range(a, s) if op == "*" else (a.lo + s.lo, a.hi + s.hi) if op == "+" else (
                a.lo - s.hi, a.hi - s.lo)
            if max(abs(lo), abs(hi)) >= lim:
                return None
            pair = (a.e, s.e) if self.ch.coin(0.7) or op == "-" else (s.e, a.e)
            q = _both(a, s, lambda x, y: x * y if op == "*" else max(x, y))
            return TV(S.bin_(op, *pair), dt, shape, lo, hi, _exact_q(dt, q, max(abs(lo), abs(hi))))
        if kind == "minmax":
            a, b = sub(), sub()
            fn = self.ch.pick(["maximum", "minimum"])
            return TV(S.call(fn, a.e, b.e), dt, shape, min(a.lo, b.lo), max(a.hi, b.hi), _both(a, b, max))
        if kind == "where":
            a, b = sub(), sub()
            c = self.condition(leaves, shape, depth)
            return TV(S.where(c, a.e, b.e), dt, shape, min(a.lo, b.lo), max(a.hi, b.hi), _both(a, b, max))
        if kind == "unary":
            a = sub()
            if self.ch.coin(0.5):
                if not fl and a.lo <= -INT_LIMIT[dt]:
                    return None
                return TV(S.un("-", a.e), dt, shape, -a.hi, -a.lo, a.q)
            return TV(S.call("abs", a.e), dt, shape, 0.0, a.mag, a.q)
        if kind == "cast":
            via = self.pick_dtype(tuple(d for d in DTYPE_WEIGHTS if d != dt))
            a = self.expr(leaves, via, shape, depth - 1)
            r = self.convert(a, dt)
            return r
        if kind == "div":
            a, b = sub(), sub()
            one = self.const_tile(1.0, dt, shape)
            den = S.bin_("+", S.call("abs", b.e), one)
            return TV(S.bin_("/", a.e, den), dt, shape, -a.mag, a.mag)
        if kind == "math":
            a = sub()
            fn = self.ch.pick(["exp", "log", "sqrt", "sin", "cos"])
            if fn == "exp":
                if a.mag > 8:
                    return None
                return TV(S.call("exp", a.e), dt, shape, 0.0, float(np.exp(a.mag)))
            if fn == "log":
                arg_ = S.bin_("+", S.call("abs", a.e), S.const(1.0, "fp32"))
                return TV(S.call("log", arg_), dt, shape, 0.0, float(np.log(a.mag + 1)) + 1)
            if fn == "sqrt":
                return TV(S.call("sqrt", S.call("abs", a.e)), dt, shape, 0.0, float(np.sqrt(a.mag)) + 1)
            if a.mag > 50:
                return None
            return TV(S.call(fn, a.e), dt, shape, -1.0, 1.0)
        if kind == "divmod":
            a, b = sub(), sub()
            op = self.ch.pick(["//", "%"])
            if self.ch.coin(0.5):
                d = self.ch.integer(1, 7)
                den = self.const_tile(d, dt, shape)
                dmax = float(d)
            else:
                one = self.const_tile(1, dt, shape)
                den = S.call("maximum", b.e, one)
                dmax = max(1.0, b.hi)
            if op == "//":
                return TV(S.bin_(op, a.e, den), dt, shape, -a.mag, a.mag)
            m = min(a.mag, dmax - 1)
            return TV(S.bin_(op, a.e, den), dt, shape, -m, m)
        if kind == "bitwise":
            a, b = sub(), sub()
            op = self.ch.pick(["&", "|", "^"])
            bits = int(max(a.mag, b.mag)).bit_length() + 1
            m = float(2**bits)
            if m >= lim:
                return None
            return TV(S.bin_(op, a.e, b.e), dt, shape, -m, m)
        if kind == "shift":
            a = sub()
            k = self.ch.integer(0, 3)
            amt = self.const_tile(k, dt, shape)
            if self.ch.coin(0.5):
                if a.mag * 2**k >= lim:
                    return None
                return TV(S.bin_("<<", a.e, amt), dt, shape, a.lo * 2**k, a.hi * 2**k)
            return TV(S.bin_(">>", a.e, amt), dt, shape, float(np.floor(a.lo / 2**k)),
                      float(np.floor(a.hi / 2**k)))
        return None

    def condition(self, leaves: list[TV], shape: tuple[int, ...], depth: int) -> S.Expr:
        """An int1 tile from comparing two sub-expressions of one dtype."""
        cands = [x for x in leaves if x.shape == shape] or leaves
        x = self.ch.pick(cands)
        dt = x.dt if x.dt != "int1" else "int32"
        a = self.expr(leaves, dt, shape, max(0, depth - 2))
        b = self.expr(leaves, dt, shape, max(0, depth - 2))
        if a.is_float and (a.q is None or b.q is None):  # rounded floats: compare exact ints instead
            a = self.expr(leaves, "int32", shape, 0)
            b = self.expr(leaves, "int32", shape, 0)
        return S.bin_(self.ch.pick(list(S.CMP_OPS)), a.e, b.e)

    # ---- masks beyond bounds ----
    def extra_mask(self, t: Tile, axes: list[int]) -> S.Expr | None:
        """Causal, multi-range or negated masks, as the field reports use them."""
        rank = len(axes)
        kinds = {"none": 2.0, "multirange": 1.0 * self.weight("mask_multirange"),
                 "not": 1.0 * self.weight("mask_not")}
        if rank == 2:
            kinds["causal"] = 1.5 * self.weight("mask_causal")
        k = self.ch.weighted(kinds)
        if k == "none":
            return None
        if k == "causal":
            start = self.int_value("start_n", self.ch.integer(-4, 4))
            lhs = _place(t.offs[axes[0]], 0, 2)
            rhs = S.bin_("+", start, _place(t.offs[axes[1]], 1, 2))
            op = self.ch.pick([">=", ">=", "<=", ">", "<"])
            return self.let("causal", S.bin_(op, lhs, rhs))
        d = self.ch.integer(0, rank - 1)
        ext = t.extents[axes[d]]
        o = t.offs[axes[d]]
        if k == "not":
            c = self.int_value("cut", self.ch.integer(0, ext))
            return self.let("keep", _place(S.un("~", S.bin_("<", o, c)), d, rank))
        pts = sorted(self.ch.integer(0, ext) for _ in range(4))
        ranges = []
        for lo, hi in ((pts[0], pts[1]), (pts[2], pts[3])):
            ranges.append(S.bin_("&", S.bin_(">=", o, S.const(lo, "int32")),
                                 S.bin_("<", o, self.int_value("hi", hi))))
        return self.let("in_ranges", _place(S.bin_("|", ranges[0], ranges[1]), d, rank))

    # ---- output ----
    def store_tile(self, t: Tile, v: TV, axes: list[int], extra: S.Expr | None = None) -> None:
        """Store `v` (shape of the tile on `axes`) to a fresh output buffer, one writer per element."""
        out_dt = v.dt
        if self.on("cast_out", 0.25):
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
        sentinel = -7 if out_dt in S.INT_DTYPES else -7.5
        data = to_storage(out_dt, np.full(total, sentinel))
        p = self.buffer("out_ptr", out_dt, data, "out")
        rank = len(axes)
        if axes:
            idx = [_place(t.offs[d], i, rank) for i, d in enumerate(axes)]
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

    # ---- families ----
    def family(self) -> str:
        return self.ch.weighted({f: w * self.weight(f"family_{f}") for f, w in FAMILIES.items()})

    def elementwise(self) -> None:
        rank = int(self.ch.weighted({"1": 0.4 * self.weight("tile_1d"), "2": 0.45 * self.weight("tile_2d"),
                                     "3": 0.15 * self.weight("tile_3d")}))
        t = self.tile(rank, 1024 if rank < 3 else 256)
        axes = list(range(rank))
        leaves: list[TV] = []
        for i in range(self.ch.integer(1, 3)):
            dt = self.pick_dtype(tuple(DTYPE_WEIGHTS))
            transposed = rank == 2 and self.on("trans", 0.25)
            x = self.input_tile(t, dt, f"x{i}", transposed=transposed)
            if transposed:
                x = TV(S.trans(x.e), x.dt, (x.shape[1], x.shape[0]), x.lo, x.hi)
            leaves.append(replace(x, e=self.let(f"x{i}", x.e)))
        if rank == 2 and self.on("bias_broadcast", 0.35):
            leaves.append(self.bias(t))
        if self.on("index_values", 0.2):
            o = _place(t.offs[0], 0, rank)
            o32 = S.cast(o, "int32") if _is64(t.offs[0]) else o
            shape = tuple(t.blocks[0] if d == 0 else 1 for d in range(rank))
            leaves.append(TV(S.bcast(o32, list(t.blocks)), "int32", tuple(t.blocks), 0,
                             t.blocks[0] * 3 + 3) if shape != tuple(t.blocks) else
                          TV(o32, "int32", tuple(t.blocks), 0, t.blocks[0] * 3 + 3))
        shape = tuple(t.blocks)
        dt = self.ch.pick([x.dt for x in leaves] + ["fp32", "int32"])
        v = self.expr(leaves, dt, shape, self.ch.integer(1, 4))
        if rank == 2 and self.on("reshape", 0.35):
            n = shape[0] * shape[1]
            flat = S.reshape(v.e, [n])
            bump = self.const_tile(1, dt, (n,)) if dt in ("int32", "fp32") else S.full([n], 1, dt)
            if max(abs(v.lo), abs(v.hi)) + 1 < (FLOAT_LIMIT.get(dt) or INT_LIMIT[dt]):
                flat = S.bin_("+", flat, bump)
                v = TV(v.e, dt, shape, v.lo + 1, v.hi + 1)
            v = TV(S.reshape(flat, list(shape)), dt, shape, v.lo, v.hi)
        v = replace(v, e=self.let("y", v.e))
        extra = self.extra_mask(t, axes) if self.on("masked_store", 0.4) else None
        if extra is not None and self.ch.coin(0.4):
            zero = self.const_tile(0, v.dt, shape)
            v = TV(S.where(extra, v.e, zero), v.dt, shape, min(v.lo, 0), max(v.hi, 0))
            extra = None
        self.store_tile(t, v, axes, extra)

    def bias(self, t: Tile) -> TV:
        """A 1-D row vector broadcast over the tile's rows: implicitly or with tl.broadcast_to."""
        dt = self.pick_dtype(tuple(DTYPE_WEIGHTS))
        n = t.extents[1]
        data, lo, hi = self.input_data(dt, n)
        q = self.last_q
        p = self.buffer("bias_ptr", dt, data, "in")
        m = t.masks[1]
        ld = S.load(S.bin_("+", p, t.offs[1]), m, self.other_value(dt) if m is not None else None)
        row = S.expand(self.let("bias", ld), 0)
        if self.on("broadcast_to", 0.6):
            return TV(S.bcast(row, list(t.blocks)), dt, tuple(t.blocks), min(lo, -2), max(hi, 2), q)
        return TV(row, dt, (1, t.blocks[1]), min(lo, -2), max(hi, 2), q)

    def reduce(self) -> None:
        rank = int(self.ch.weighted({"1": 0.2, "2": 0.6, "3": 0.2}))
        r = self.ch.integer(0, rank - 1)
        t = self.tile(rank, 1024 if rank < 3 else 256, single_axes=(r,))
        leaves = []
        for i in range(self.ch.integer(1, 2)):
            x = self.input_tile(t, self.pick_dtype(tuple(DTYPE_WEIGHTS)), f"x{i}")
            leaves.append(replace(x, e=self.let(f"x{i}", x.e)))
        shape = tuple(t.blocks)
        fn = self.ch.weighted({"sum": 1.6 * self.weight("reduce_sum"), "max": 1.2 * self.weight("reduce_max"),
                               "min": 1.2 * self.weight("reduce_min"), "argmax": 1.8 * self.weight("argmax")})
        dt = self.ch.pick(["fp32", "int32"])
        v = self.expr(leaves, dt, shape, self.ch.integer(0, 3))
        full_mask = self.tile_mask(t)
        if full_mask is not None and self.ch.coin(0.5):
            ident = {"sum": 0, "max": -1000, "min": 1000, "argmax": -1000}[fn]
            lit = self.const_tile(float(ident) if dt == "fp32" else ident, dt, shape)
            v = TV(S.where(full_mask, v.e, lit), dt, shape, min(v.lo, ident), max(v.hi, ident))
        n = t.blocks[r]
        if fn == "argmax" and v.is_float and v.q is None:
            fn = "max"  # the runner-up may be within rounding of the maximum
        if fn == "sum" and v.mag * n >= (FLOAT_LIMIT[dt] if dt == "fp32" else INT_LIMIT[dt]):
            fn = "max"
        red = TV(S.reduce_(fn, v.e, r), "int32" if fn == "argmax" else dt,
                 shape[:r] + shape[r + 1:], 0 if fn == "argmax" else v.lo * (n if fn == "sum" else 1),
                 n if fn == "argmax" else v.hi * (n if fn == "sum" else 1))
        if fn == "sum":
            red.lo, red.hi = min(v.lo * n, v.lo), max(v.hi * n, v.hi)
        red = replace(red, e=self.let("red", red.e))
        axes = [d for d in range(rank) if d != r]
        self.store_tile(t, red, axes)

    def dot(self) -> None:
        base = {"fp16": 2.0, "bf16": 1.0, "fp32": 1.5, "int8": 1.3}
        dt = self.ch.weighted({d: w * self.weight(f"dot_{d}") * self.weight(f"dtype_{d}") for d, w in base.items()})
        bm, bn, bk = (self.ch.pick([16, 32]) for _ in range(3))
        if dt == "int8":
            bk = 32  # int8 MMA instructions need K >= 32 (Triton rejects smaller K on sm_80+)
        t = self.tile(2, 1024, min_block=16, blocks=[bm, bn])
        nk = self.ch.integer(1, 3)
        ktail = self.on("tail_block", 0.3)
        kext = nk * bk - (self.ch.integer(1, bk - 1) if ktail else 0)
        acc_dt = "int32" if dt == "int8" else "fp32"
        offs_k = self.let("offs_k", S.arange(bk))
        # A (M, K) and B (K, N), row-major with runtime or constexpr strides.
        a_str, a_size = self.strides_for([t.extents[0], kext])
        b_str, b_size = self.strides_for([kext, t.extents[1]])
        a_data, _, _ = self.input_data(dt, a_size * t.nbatch)
        b_data, _, _ = self.input_data(dt, b_size * t.nbatch)
        a_p = self.buffer("a_ptr", dt, a_data, "in")
        b_p = self.buffer("b_ptr", dt, b_data, "in")
        a_off = self.offsets([_place(t.offs[0], 0, 2), _place(offs_k, 1, 2)], a_str, "a", t, a_size)
        b_off = self.offsets([_place(offs_k, 0, 2), _place(t.offs[1], 1, 2)], b_str, "b", t, b_size)
        a_ptrs = self.let("a_ptrs", S.bin_("+", a_p, a_off))
        b_ptrs = self.let("b_ptrs", S.bin_("+", b_p, b_off))
        acc = self.let("acc", S.full([bm, bn], 0, acc_dt))
        kvar = "k"
        incr = self.on("ptr_loop_increment", 0.5)
        body: list[S.Stmt] = []
        kk = S.bin_("+", S.bin_("*", S.var(kvar), S.const(bk, "int32")), offs_k)
        kmask = S.bin_("<", kk, S.const(kext, "int32")) if ktail else None
        ma = _and(t.masks[0] and _place(t.masks[0], 0, 2), kmask and _place(kmask, 1, 2))
        mb = _and(kmask and _place(kmask, 0, 2), t.masks[1] and _place(t.masks[1], 1, 2))
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
        if self.ch.coin(0.5):
            body.append(S.let(acc["name"], S.dot(S.var("a"), S.var("b"), acc, prec)))
        else:
            body.append(S.let(acc["name"], S.bin_("+", acc, S.dot(S.var("a"), S.var("b"), None, prec))))
        if incr:
            body.append(S.let(a_ptrs["name"], S.bin_("+", a_ptrs, S.const(bk * a_str[1], "int32"))))
            body.append(S.let(b_ptrs["name"], S.bin_("+", b_ptrs, S.const(bk * b_str[0], "int32"))))
        self.loop(kvar, nk, body)
        span = 16.0 * kext * (4 if dt != "int8" else 8)
        v = TV(acc, acc_dt, (bm, bn), -span, span)
        if acc_dt == "fp32" and self.on("scalar_scale_acc", 0.7):
            s = self.scalar_operand("fp32")
            assert s is not None
            v = TV(self.let("acc", S.bin_("*", v.e, s.e)), "fp32", v.shape, -span * 3, span * 3)
        extra = self.extra_mask(t, [0, 1]) if self.on("masked_store", 0.4) else None
        if extra is not None and self.ch.coin(0.5):
            zero_t = self.const_tile(0.0 if acc_dt == "fp32" else 0, acc_dt, v.shape)
            v = TV(S.where(extra, v.e, zero_t), acc_dt, v.shape, v.lo, v.hi)
            extra = None
        self.store_tile(t, v, [0, 1], extra)

    def loop(self, var: str, trips: int, body: list[S.Stmt], lo: int = 0) -> None:
        """A `for` over `trips` iterations: runtime, constexpr or tl.static_range bounds."""
        kind = self.ch.weighted({"runtime": 1.0 * self.weight("loop_runtime"),
                                 "constexpr": 1.0 * self.weight("loop_constexpr"),
                                 "static": 0.7 * self.weight("static_range")})
        if kind == "runtime":
            hi = self.scalar_param("n_iter", lo + trips, "int32")
        elif kind == "constexpr":
            hi = self.constexpr("N_ITER", lo + trips)
        else:
            hi = self.constexpr("N_ITER", lo + trips) if self.ch.coin(0.5) else S.const(lo + trips, "int32")
        self.body.append(S.for_(var, S.const(lo, "int32"), hi, body,
                                "static_range" if kind == "static" else "range"))

    def loop_acc(self) -> None:
        rank = int(self.ch.weighted({"1": 0.6, "2": 0.4}))
        t = self.tile(rank, 512)
        trips = self.ch.integer(1, 4)
        dt = self.pick_dtype(tuple(DTYPE_WEIGHTS))
        ext = list(t.extents)
        strides, size = self.strides_for(ext)
        slice_size = size + self.ch.integer(0, 3)
        data, lo, hi = self.input_data(dt, slice_size * trips * t.nbatch)
        p = self.buffer("x_ptr", dt, data, "in")
        idx = [_place(o, i, rank) for i, o in enumerate(t.offs)]
        off = self.offsets(idx, strides, "x", None, size)
        if t.batch is not None:
            off = S.bin_("+", S.bin_("*", t.batch, S.const(slice_size * trips, "int32")), off)
        ptrs = self.let("x_ptrs", S.bin_("+", p, off))
        acc_dt = "fp32" if dt in S.FLOAT_DTYPES else ("int64" if dt == "int64" else "int32")
        acc = self.let("acc", S.full(list(t.blocks), 0, acc_dt))
        m = self.tile_mask(t)
        step = self.int_value("slice", slice_size)
        lo_i = self.ch.pick([0, 0, 1])
        incr = self.on("ptr_loop_increment", 0.5)
        if incr:
            pv = ptrs
        else:
            it = S.var("i") if lo_i == 0 else S.bin_("-", S.var("i"), S.const(lo_i, "int32"))
            pv = S.bin_("+", ptrs, S.bin_("*", it, step))
        ld = S.load(pv, m, self.other_value(dt)) if m is not None else S.load(pv)
        body: list[S.Stmt] = [S.let("x", ld)]
        xv = TV(S.var("x"), dt, tuple(t.blocks), min(lo, -2), max(hi, 2), self.last_q)
        term = self.convert(xv, acc_dt) or TV(S.cast(xv.e, acc_dt), acc_dt, xv.shape, xv.lo, xv.hi)
        if self.ch.coin(0.5):
            f = self.expr([term], acc_dt, tuple(t.blocks), 1)
            if f.mag * trips < (FLOAT_LIMIT.get(acc_dt) or INT_LIMIT[acc_dt]) / 4:
                term = f
        body.append(S.let(acc["name"], S.bin_("+", acc, term.e)))
        if incr:
            body.append(S.let(ptrs["name"], S.bin_("+", ptrs, step)))
        self.loop("i", trips, body, lo_i)
        span = term.mag * trips
        v = TV(acc, acc_dt, tuple(t.blocks), -span, span)
        if acc_dt == "fp32" and self.on("scalar_scale_acc", 0.6):
            s = self.scalar_operand("fp32")
            assert s is not None
            v = TV(self.let("out", S.bin_("*", acc, s.e)), "fp32", v.shape, -span * 3, span * 3)
        extra = self.extra_mask(t, list(range(rank))) if self.on("masked_store", 0.3) else None
        self.store_tile(t, v, list(range(rank)), extra)

    def gather(self) -> None:
        """Rows fetched through a loaded index tensor; block-table style with // and %."""
        t = self.tile(2, 1024)
        rows_n, cols = t.extents
        dt = self.pick_dtype(tuple(DTYPE_WEIGHTS))
        block_table = self.on("block_table", 0.5)
        if block_table:
            bs = self.ch.pick([2, 4, 8])
            nlog = -(-rows_n // bs)
            nphys = nlog + self.ch.integer(0, 2)
            perm = list(range(nphys))
            for i in range(nphys - 1, 0, -1):
                j = self.ch.integer(0, i)
                perm[i], perm[j] = perm[j], perm[i]
            table = np.array(perm[:nlog], dtype=np.int32)
            src_rows = nphys * bs
        else:
            src_rows = self.ch.integer(1, rows_n + 4)
            table = np.array([self.ch.integer(0, src_rows - 1) for _ in range(rows_n)], dtype=np.int32)
        idx_dt = "int64" if self.on("offs_int64", 0.2) else "int32"
        tp = self.buffer("table_ptr", idx_dt, to_storage(idx_dt, table), "in")
        m0 = t.masks[0]
        o0 = t.offs[0]
        if block_table:
            bse = self.int_value("BS", bs) if self.ch.coin(0.6) else S.const(bs, "int32")
            ent = S.bin_("+", tp, S.bin_("//", o0, bse))
            blk = self.let("blk", S.load(ent, m0, S.const(0, "int32")) if m0 is not None else S.load(ent))
            row = self.let("row", S.bin_("+", S.bin_("*", blk, bse), S.bin_("%", o0, bse)))
        else:
            ent = S.bin_("+", tp, o0)
            row = self.let("row", S.load(ent, m0, S.const(0, "int32")) if m0 is not None else S.load(ent))
        strides, size = self.strides_for([src_rows, cols])
        data, lo, hi = self.input_data(dt, size)
        sp = self.buffer("src_ptr", dt, data, "in")
        off = self.offsets([_place(row, 0, 2), _place(t.offs[1], 1, 2)], strides, "s", None, size)
        ptrs = self.let("src_ptrs", S.bin_("+", sp, off))
        m = self.tile_mask(t)
        g = S.load(ptrs, m, self.other_value(dt)) if m is not None else S.load(ptrs)
        x = TV(self.let("g", g), dt, tuple(t.blocks), min(lo, -2), max(hi, 2), self.last_q)
        v = self.expr([x], self.ch.pick([dt, "fp32", "int32"]), tuple(t.blocks), self.ch.integer(0, 2))
        self.store_tile(t, v, [0, 1])

    # ---- assembly ----
    def build(self, seed: int | None) -> KernelCase:
        fam = self.family()
        {"elementwise": self.elementwise, "reduce": self.reduce, "dot": self.dot, "loop": self.loop_acc,
         "gather": self.gather}[fam]()
        self.tags.add(f"family_{fam}")
        num_warps = self.ch.pick([1, 2, 4, 4, 8])
        spec = {"schema": S.SPEC_SCHEMA, "name": "kernel", "params": self.params, "grid": list(self.grid),
                "num_warps": num_warps, "body": self.body, "tags": sorted(self.tags)}
        return case_from_spec(spec, self.args, self.buffers, seed)


def case_from_spec(spec: dict[str, Any], args: list[Arg], buffers: dict[str, Buffer],
                   seed: int | None) -> KernelCase:
    """Type-check, render and package; used by the generator and the reducer alike."""
    S.check(spec)
    return KernelCase(spec=spec, source=render(spec), kernel_name=spec["name"], args=args,
                      buffers=buffers, grid=(spec["grid"][0], spec["grid"][1], spec["grid"][2]),
                      num_warps=spec.get("num_warps", 4), features=features_of(spec),
                      seed=seed, generator_version=GENERATOR_VERSION)


def _place(x: S.Expr, axis: int, rank: int) -> S.Expr:
    """Put a 1-D vector on `axis` of a rank-`rank` tile (x[:, None], x[None, :], …)."""
    e = x
    for d in range(rank):
        if d != axis:
            e = S.expand(e, d)
    return e


MANTISSA_BITS = {"fp32": 24, "fp16": 11, "bf16": 8}


def _exact_q(dt: str, q: float | None, mag: float) -> float | None:
    """q if every multiple of 1/q up to `mag` is exact in dt (ints are always exact)."""
    if dt not in MANTISSA_BITS:
        return 1.0
    if q is None or q * max(mag, 1.0) >= 2.0 ** MANTISSA_BITS[dt]:
        return None
    return q


def _both(a: TV, b: TV, f: Any) -> float | None:
    qa = a.q if a.is_float else 1.0
    qb = b.q if b.is_float else 1.0
    return None if qa is None or qb is None else f(qa, qb)


def _and(a: S.Expr | None, b: S.Expr | None) -> S.Expr | None:
    if a is None:
        return b
    if b is None:
        return a
    return S.bin_("&", a, b)


def _is64(e: S.Expr) -> bool:
    return e.get("e") == "var" and e["name"].startswith("offs64")


def _mul_range(a: TV, b: TV) -> tuple[float, float]:
    ps = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    return min(ps), max(ps)


def generate(seed: int, weights: dict[str, float] | None = None) -> KernelCase:
    """The kernel for `seed` under this generator version and feature weights."""
    return Generator(seeded(seed), weights).build(seed)

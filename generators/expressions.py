"""Random expression trees of a given dtype and shape, within safe value ranges.

The operators themselves are productions registered by their constructs (generators/
constructs/): this module draws one by weight, recursing for operands, and falls back to a leaf.
"""

from __future__ import annotations

import numpy as np

from generators import spec as S
from generators.constructs import expr_productions
from generators.values import FLOAT_LIMIT, INT_LIMIT, TV, exact_q


class ExpressionMixin:
    """expr() and its helpers: leaves, scalar operands, conditions, casts."""

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
            q = exact_q(dt, x.q if x.is_float else 1.0, x.mag)
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
                        # a scalar stands for a tile by implicit broadcast, except inside operands of
                        # shape-sensitive constructs (scans, sorts, reshapes), which need a real tile
                        explicit = self.ch.coin(0.3) or getattr(self, "real_shapes", False)
                        y = TV(_splat(y.e, dt, shape) if explicit else y.e, dt, shape, y.lo, y.hi)
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
        """One operator production, drawn by weight from the registry among those for `dt`."""
        prods = {p.name: p for p in expr_productions() if p.applies(dt, shape)}
        if not prods:
            return None
        kind = self.ch.weighted({n: p.weight * (self.weight(p.knob) if p.knob else 1.0) for n, p in prods.items()})
        p = prods[kind]
        if p.min_rank < 1 or getattr(self, "real_shapes", False):
            return p.build(self, leaves, dt, shape, depth)
        self.real_shapes = True
        try:
            return p.build(self, leaves, dt, shape, depth)
        finally:
            self.real_shapes = False

    def sub(self, leaves: list[TV], dt: str, shape: tuple[int, ...], depth: int) -> TV:
        """An operand: an expression one level shallower."""
        return self.expr(leaves, dt, shape, depth - 1)

    def condition(self, leaves: list[TV], shape: tuple[int, ...], depth: int) -> S.Expr:
        """An int1 tile from comparing two sub-expressions of one dtype."""
        cands = [x for x in leaves if x.shape == shape] or leaves
        dt = "int32"  # no leaves (a production over constants only): compare int tiles
        if cands:
            x = self.ch.pick(cands)
            dt = x.dt if x.dt not in ("int1", *S.UINT_DTYPES, *S.FP8_DTYPES) else "int32"
        a = self.expr(leaves, dt, shape, max(0, depth - 2))
        b = self.expr(leaves, dt, shape, max(0, depth - 2))
        if a.is_float and (a.q is None or b.q is None):  # rounded floats: compare exact ints instead
            a = self.expr(leaves, "int32", shape, 0)
            b = self.expr(leaves, "int32", shape, 0)
        return S.bin_(self.ch.pick(list(S.CMP_OPS)), a.e, b.e)


def _splat(e: S.Expr, dt: str, shape: tuple[int, ...]) -> S.Expr:
    """A scalar made a tile explicitly (tl.broadcast_to; compile-time constants through tl.full)."""
    if e.get("e") == "const":
        return S.full(list(shape), e["v"], dt)
    if e.get("e") == "arg":
        return S.bin_("+", S.full(list(shape), 0, dt), e)  # a constexpr is not a tensor to broadcast
    return S.bcast(e, list(shape))

"""tl.load(ptrs[, mask, other]): masked loads always carry `other` (masked-off lanes are undefined).

An unmasked out-of-bounds lane, or a load from an output buffer, is UB for the reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, register
from generators.constructs.examples import make_case
from generators.numerics import UNIT_ROUNDOFF
from generators.semantics import UndefinedBehaviour, Val


def lane_mask(n: Node, p: Any, shape: tuple[int, ...]) -> np.ndarray:
    if n.get("mask") is None:
        return np.ones(shape, dtype=bool)
    return np.broadcast_to(p.expr(n["mask"]).a, shape)


@register
class Load(Construct):
    name = "load"
    node = "load"
    fields = {"ptr": expr_f(), "mask": expr_f(optional=True), "other": expr_f(optional=True)}
    features = ("tile_1d", "tile_2d", "tile_3d", "mask_tail_1d", "mask_2d_broadcast", "load_other")

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        p = tc.ty(n["ptr"])
        if not p.ptr or p.handle:
            raise S.SpecError("load of a non-pointer")
        if n.get("mask") is not None:
            m = tc.ty(n["mask"])
            if m.dtype != "int1" or S.broadcast_shapes(p.shape, m.shape) != p.shape:
                raise S.SpecError("load mask must be int1 of the pointer's shape")
            if n.get("other") is None:
                raise S.SpecError("masked loads always carry other= (masked-off lanes are undefined)")
        if n.get("other") is not None:
            o = tc.ty(n["other"])
            if o.ptr or S.broadcast_shapes(p.shape, o.shape) != p.shape:
                raise S.SpecError("load other= must be a value of the pointer's shape")
        return S.Ty(p.dtype, p.shape)

    def render(self, n: Node, r: Any) -> str:
        args = [r.e(n["ptr"])]
        if n.get("mask") is not None:
            args.append(f"mask={r.e(n['mask'])}")
        if n.get("other") is not None:
            args.append(f"other={r.e(n['other'])}")
        return f"tl.load({', '.join(args)})"

    def evaluate(self, n: Node, p: Any) -> Val:
        ptr = p.expr(n["ptr"])
        shape = ptr.a.shape
        mask = lane_mask(n, p, shape)
        buf = p.ev.buffers[ptr.buf]
        if p.ev.roles[ptr.buf] != "in":
            raise UndefinedBehaviour("load from an output buffer", ptr.buf)
        offs = ptr.a
        active = offs[mask]
        if active.size and (active.min() < 0 or active.max() >= buf.size):
            raise UndefinedBehaviour("out-of-bounds load", f"{ptr.buf}[{active.min()}..{active.max()}] of {buf.size}")
        vals = buf[np.where(mask, offs, 0)]
        if n.get("other") is not None:
            o = p.expr(n["other"])
            vals = np.where(mask, vals, o.a)
        vals = np.asarray(vals)
        if ptr.dt in UNIT_ROUNDOFF:
            return Val(vals.astype(np.float64), ptr.dt, np.zeros(shape))
        return Val(vals, ptr.dt)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        f = fw.found
        p = fw.ty(n["ptr"])
        if len(p.shape) in (1, 2, 3):
            f.add(f"tile_{len(p.shape)}d")
        if n.get("mask") is not None:
            m = fw.ty(n["mask"])
            f.add("mask_tail_1d" if len(m.shape) <= 1 else "mask_2d_broadcast")
        if n.get("other") is not None:
            f.add("load_other")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n.get("mask") is not None:
            yield {**n, "mask": None, "other": None}, "drop mask"

    def example(self) -> Any:
        offs = S.arange(16)
        m = S.bin_("<", S.var("offs"), S.arg("n"))
        body = [S.let("offs", offs),
                S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs")), m, S.const(0.0, "fp32"))),
                S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), S.var("x"), m)]
        return make_case(body, {"x_ptr": ("fp32", [1.0] * 10)}, {"o_ptr": ("fp32", 10)}, scalars={"n": ("int32", 10)})

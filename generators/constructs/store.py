"""tl.store(ptrs, val[, mask]): each element written by exactly one program and one statement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, register
from generators.constructs.examples import unary_case
from generators.constructs.load import lane_mask


@register
class Store(Construct):
    name = "store"
    node = "store"
    kind = "stmt"
    fields = {"ptr": expr_f(), "val": expr_f(), "mask": expr_f(optional=True)}
    features = ("masked_store",)

    def check(self, s: Node, tc: Any) -> None:
        p = tc.ty(s["ptr"])
        v = tc.ty(s["val"])
        if not p.ptr or p.handle or v.ptr or v.dtype != p.dtype or S.broadcast_shapes(p.shape, v.shape) != p.shape:
            raise S.SpecError("store value must match the pointer's dtype and shape")
        if s.get("mask") is not None:
            m = tc.ty(s["mask"])
            if m.dtype != "int1" or S.broadcast_shapes(p.shape, m.shape) != p.shape:
                raise S.SpecError("store mask must be int1 of the pointer's shape")

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        args = [r.e(s["ptr"]), r.e(s["val"])]
        if s.get("mask") is not None:
            args.append(f"mask={r.e(s['mask'])}")
        r.lines.append(f"{'    ' * indent}tl.store({', '.join(args)})")

    def run(self, s: Node, p: Any, path: str) -> None:
        ptr = p.expr(s["ptr"])
        v = p.expr(s["val"])
        shape = ptr.a.shape
        mask = lane_mask(s, p, shape)
        offs = ptr.a[mask]
        vals = np.broadcast_to(v.a, shape)[mask]
        errs = np.broadcast_to(v.err, shape)[mask] if v.err is not None else np.zeros(offs.shape)
        p.ev.write(ptr.buf, offs, vals, errs, (p.pid, path))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        p = fw.ty(n["ptr"])
        if len(p.shape) in (1, 2, 3):
            fw.found.add(f"tile_{len(p.shape)}d")
        if n.get("mask") is not None:
            fw.found.add("masked_store")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n.get("mask") is not None:
            yield {**n, "mask": None}, "drop store mask"

    def example(self) -> Any:
        return unary_case(S.var("x"))

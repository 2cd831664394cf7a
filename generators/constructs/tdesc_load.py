"""desc.load([offsets]): one block of a tensor descriptor; out-of-shape lanes read as zero."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, exprs_f, register
from generators.constructs.block_ptr import BlockPtrVal, check_index_exprs, materialize, scalar_ints
from generators.constructs.tensor_desc import MAX_RANK, SINCE, TENSOR_DESC, coords, desc_example, list_src
from generators.numerics import UNIT_ROUNDOFF
from generators.semantics import UndefinedBehaviour, Val


def tdesc_load(desc: S.Expr, offsets: list[S.Expr]) -> S.Expr:
    return {"e": "tdesc_load", "desc": desc, "offsets": list(offsets)}


@register
class TensorDescLoad(Construct):
    name = "tdesc_load"
    node = "tdesc_load"
    fields = {"desc": expr_f(), "offsets": exprs_f(1, MAX_RANK)}
    features = ("tensor_desc_load",)
    since = SINCE

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        d = tc.ty(n["desc"])
        if d.handle != TENSOR_DESC:
            raise S.SpecError("desc.load takes a tensor descriptor")
        check_index_exprs(n["offsets"], len(d.shape), tc, "descriptor offsets")
        return S.Ty(d.dtype, d.shape)

    def render(self, n: Node, r: Any) -> str:
        return f"{r.atom(n['desc'])}.load({list_src([r.e(x) for x in n['offsets']])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        d = p.expr(n["desc"])
        if not isinstance(d, BlockPtrVal):
            raise UndefinedBehaviour("ill-formed spec", "desc.load of a non-descriptor")
        if p.ev.roles[d.buf] != "in":
            raise UndefinedBehaviour("load from an output buffer", d.buf)
        at = coords(d, scalar_ints(n["offsets"], p, "descriptor offsets"), d.dt)
        addr, mask = materialize(at, list(range(len(d.block))))
        buf = p.ev.buffers[d.buf]
        active = addr[mask]
        if active.size and (active.min() < 0 or active.max() >= buf.size):
            raise UndefinedBehaviour("out-of-bounds load", f"descriptor block of {d.buf}[{active.min()}.."
                                     f"{active.max()}] of {buf.size}")
        vals = np.where(mask, buf[np.where(mask, addr, 0)], 0)
        if d.dt in UNIT_ROUNDOFF:
            return Val(vals.astype(np.float64), d.dt, np.zeros(vals.shape))
        return Val(vals.astype(np.int64), d.dt)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("tensor_desc_load")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())

    def example(self) -> Any:
        return desc_example()

"""desc.store([offsets], value): one block written through a tensor descriptor; lanes outside
the descriptor's shape are dropped. The value has exactly the block's shape; one writer per
element, as for plain stores.

NVIDIA's TMA writes whole 16-byte chunks: when the inner extent (shape[-1] elements) is not a
multiple of 16 bytes, a block reaching past it also writes the elements up to the next 16-byte
boundary (triton-lang/triton#11583, documented as a hardware limitation). Such a store is
refused by the reference: what lands in that padding is not defined."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, exprs_f, register
from generators.constructs.block_ptr import BlockPtrVal, check_index_exprs, materialize, scalar_ints
from generators.constructs.tensor_desc import ITEMSIZE, MAX_RANK, SINCE, TENSOR_DESC, coords, desc_example, list_src
from generators.semantics import UndefinedBehaviour


def tdesc_store(desc: S.Expr, offsets: list[S.Expr], val: S.Expr) -> S.Stmt:
    return {"s": "tdesc_store", "desc": desc, "offsets": list(offsets), "val": val}


@register
class TensorDescStore(Construct):
    name = "tdesc_store"
    node = "tdesc_store"
    kind = "stmt"
    fields = {"desc": expr_f(), "offsets": exprs_f(1, MAX_RANK), "val": expr_f()}
    features = ("tensor_desc_store",)
    since = SINCE

    def check(self, s: Node, tc: Any) -> None:
        d = tc.ty(s["desc"])
        if d.handle != TENSOR_DESC:
            raise S.SpecError("desc.store takes a tensor descriptor")
        check_index_exprs(s["offsets"], len(d.shape), tc, "descriptor offsets")
        v = tc.ty(s["val"])
        if v.ptr or v.dtype != d.dtype or v.shape != d.shape:
            raise S.SpecError("desc.store takes a block of the descriptor's dtype and block shape")

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        r.lines.append(f"{'    ' * indent}{r.atom(s['desc'])}.store("
                       f"{list_src([r.e(x) for x in s['offsets']])}, {r.e(s['val'])})")

    def run(self, s: Node, p: Any, path: str) -> None:
        d = p.expr(s["desc"])
        if not isinstance(d, BlockPtrVal):
            raise UndefinedBehaviour("ill-formed spec", "desc.store of a non-descriptor")
        at = coords(d, scalar_ints(s["offsets"], p, "descriptor offsets"), d.dt)
        inner = d.shape[-1]
        if inner * ITEMSIZE[d.dt] % 16 and int(at.a[-1]) + d.block[-1] > inner:
            raise UndefinedBehaviour("descriptor store past a ragged inner extent",
                                     f"{d.buf}: inner extent of {inner} elements is not 16-byte sized (TMA)")
        addr, mask = materialize(at, list(range(len(d.block))))
        v = p.expr(s["val"])
        vals = np.broadcast_to(v.a, addr.shape)[mask]
        errs = np.broadcast_to(v.err, addr.shape)[mask] if v.err is not None else np.zeros(vals.shape)
        p.ev.write(d.buf, addr[mask], vals, errs, (p.pid, path))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("tensor_desc_store")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())

    def example(self) -> Any:
        return desc_example(store=True)

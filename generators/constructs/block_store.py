"""tl.store(block_ptr, value, boundary_check=dims): lanes outside a checked dim are not written;
unchecked dims must stay inside the buffer. Ownership follows plain stores (one writer)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, register
from generators.constructs.block_load import boundary_src, check_f
from generators.constructs.block_ptr import BLOCK_PTR, BlockPtrVal, block_example, check_dims, materialize
from generators.semantics import UndefinedBehaviour


def block_store(ptr: S.Expr, val: S.Expr, check: list[int] | None = None) -> S.Stmt:
    return {"s": "block_store", "ptr": ptr, "val": val, "check": list(check or [])}


@register
class BlockStore(Construct):
    name = "block_store"
    node = "block_store"
    kind = "stmt"
    fields = {"ptr": expr_f(), "val": expr_f(), "check": check_f()}
    features = ("block_store",)
    until = {"triton": "3.9.0"}

    def check(self, s: Node, tc: Any) -> None:
        p = tc.ty(s["ptr"])
        if p.handle != BLOCK_PTR:
            raise S.SpecError("block_store takes a block pointer")
        v = tc.ty(s["val"])
        if v.ptr or v.dtype != p.dtype or v.shape not in (p.shape, ()):
            raise S.SpecError("block store value must be a scalar or a block of the block's dtype and shape")
        check_dims(s.get("check"), len(p.shape))

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        args = [r.e(s["ptr"]), r.e(s["val"])]
        if s.get("check"):
            args.append(boundary_src(s["check"]))
        r.lines.append(f"{'    ' * indent}tl.store({', '.join(args)})")

    def run(self, s: Node, p: Any, path: str) -> None:
        bp = p.expr(s["ptr"])
        if not isinstance(bp, BlockPtrVal):
            raise UndefinedBehaviour("ill-formed spec", "block_store of a non-block pointer")
        v = p.expr(s["val"])
        addr, mask = materialize(bp, s.get("check") or [])
        shape = addr.shape
        vals = np.broadcast_to(v.a, shape)[mask]
        errs = np.broadcast_to(v.err, shape)[mask] if v.err is not None else np.zeros(vals.shape)
        p.ev.write(bp.buf, addr[mask], vals, errs, (p.pid, path))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("block_store")
        if n.get("check"):
            fw.found.add("block_boundary_check")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n.get("check"):
            yield {**n, "check": []}, "drop boundary check"

    def example(self) -> Any:
        return block_example(store=True)

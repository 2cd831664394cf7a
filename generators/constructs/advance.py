"""tl.advance(block_ptr, offsets): the same block pointer moved by per-dim (int32) deltas.

It has no side effect: the result must be bound (`bp = tl.advance(bp, ...)`, typically
loop-carried). Removed with block pointers in triton 3.9.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, exprs_f, register
from generators.constructs.block_ptr import (
    BLOCK_PTR,
    MAX_RANK,
    BlockPtrVal,
    block_example,
    check_index_exprs,
    scalar_ints,
    tuple_src,
)
from generators.semantics import UndefinedBehaviour, Val


def advance(ptr: S.Expr, offsets: list[S.Expr]) -> S.Expr:
    return {"e": "advance", "ptr": ptr, "offsets": list(offsets)}


@register
class Advance(Construct):
    name = "advance"
    node = "advance"
    fields = {"ptr": expr_f(), "offsets": exprs_f(1, MAX_RANK)}
    features = ("block_advance",)
    until = {"triton": "3.9.0"}

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        p = tc.ty(n["ptr"])
        if p.handle != BLOCK_PTR:
            raise S.SpecError("tl.advance takes a block pointer")
        check_index_exprs(n["offsets"], len(p.shape), tc, "advance offsets")
        return p

    def render(self, n: Node, r: Any) -> str:
        return f"tl.advance({r.e(n['ptr'])}, {tuple_src([r.e(x) for x in n['offsets']])})"

    def evaluate(self, n: Node, p: Any) -> Val:
        bp = p.expr(n["ptr"])
        if not isinstance(bp, BlockPtrVal):
            raise UndefinedBehaviour("ill-formed spec", "tl.advance of a non-block pointer")
        return bp.moved(scalar_ints(n["offsets"], p, "advance offsets"))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("block_advance")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["ptr"], "drop advance"

    def example(self) -> Any:
        return block_example(advance=True)

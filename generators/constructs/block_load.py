"""tl.load(block_ptr, boundary_check=dims, padding_option="zero"|"nan").

Checked dims mask lanes outside [0, shape_d) and pad them: "zero" gives 0, "nan" gives NaN
(floats only). A padded NaN lane must never reach a store: the reference carries such lanes as
0 with an infinite error bound, so a comparison on one is ambiguous and a store of one is UB
(the generator uses "nan" only where every stored lane is in bounds). A masked block load
always names its padding: without one the padded lanes are undefined.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Field, Node, enum_f, expr_f, register
from generators.constructs.block_ptr import (
    BLOCK_PTR,
    DIM_SETS,
    BlockPtrVal,
    block_example,
    check_dims,
    materialize,
    tuple_src,
)
from generators.numerics import UNIT_ROUNDOFF
from generators.semantics import UndefinedBehaviour, Val

PADS = ("zero", "nan")


def check_f() -> Field:
    """boundary_check: a sorted list of distinct dims (the validator knows every such list)."""
    return enum_f(DIM_SETS)


def block_load(ptr: S.Expr, check: list[int] | None = None, pad: str | None = None) -> S.Expr:
    check = list(check or [])
    return {"e": "block_load", "ptr": ptr, "check": check, "pad": pad if check or pad else None}


def boundary_src(check: list[int]) -> str:
    return f"boundary_check={tuple_src([str(d) for d in check])}"


@register
class BlockLoad(Construct):
    name = "block_load"
    node = "block_load"
    fields = {"ptr": expr_f(), "check": check_f(), "pad": enum_f(PADS, optional=True)}
    features = ("block_boundary_check", "block_pad_nan")
    until = {"triton": "3.9.0"}

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        p = tc.ty(n["ptr"])
        if p.handle != BLOCK_PTR:
            raise S.SpecError("block_load takes a block pointer")
        check = check_dims(n.get("check"), len(p.shape))
        pad = n.get("pad")
        if pad not in (None,) + PADS:
            raise S.SpecError(f"unknown padding option {pad!r}")
        if check and pad is None:
            raise S.SpecError("a boundary-checked block load names its padding (masked lanes are undefined)")
        if pad == "nan" and p.dtype not in UNIT_ROUNDOFF:
            raise S.SpecError("padding_option='nan' is for float blocks only")
        return S.Ty(p.dtype, p.shape)

    def render(self, n: Node, r: Any) -> str:
        args = [r.e(n["ptr"])]
        if n.get("check"):
            args.append(boundary_src(n["check"]))
        if n.get("pad") is not None:
            args.append(f'padding_option="{n["pad"]}"')
        return f"tl.load({', '.join(args)})"

    def evaluate(self, n: Node, p: Any) -> Val:
        bp = p.expr(n["ptr"])
        if not isinstance(bp, BlockPtrVal):
            raise UndefinedBehaviour("ill-formed spec", "block_load of a non-block pointer")
        if p.ev.roles[bp.buf] != "in":
            raise UndefinedBehaviour("load from an output buffer", bp.buf)
        addr, mask = materialize(bp, n.get("check") or [])
        buf = p.ev.buffers[bp.buf]
        active = addr[mask]
        if active.size and (active.min() < 0 or active.max() >= buf.size):
            raise UndefinedBehaviour("out-of-bounds load", f"block of {bp.buf}[{active.min()}..{active.max()}] "
                                     f"of {buf.size}")
        vals = np.where(mask, buf[np.where(mask, addr, 0)], 0)
        if bp.dt in UNIT_ROUNDOFF:
            err = np.where(mask, 0.0, np.inf if n.get("pad") == "nan" else 0.0)
            return Val(vals.astype(np.float64), bp.dt, err)
        return Val(vals.astype(np.int64) if bp.dt != "int1" else vals.astype(bool), bp.dt)

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        if n.get("check"):
            fw.found.add("block_boundary_check")
        if n.get("pad") == "nan":
            fw.found.add("block_pad_nan")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n.get("pad") == "nan":
            yield {**n, "pad": "zero"}, "zero padding"
        if n.get("check"):
            yield {**n, "check": [], "pad": None}, "drop boundary check"

    def example(self) -> Any:
        return block_example(pad="nan")

"""tl.make_block_ptr(base, shape, strides, offsets, block_shape, order): a handle on one block of a
strided N-D view of a buffer, loaded and stored with boundary checks (block_load, block_store) and
moved with tl.advance.

Semantics (triton 3.0-3.7 lower it to tt.make_tensor_ptr; 3.8 emulates it in the frontend with a
deprecation warning; 3.9 removed it): element i of the block sits at coordinate
c_d = offsets_d + i_d in every dim d and address base + sum_d c_d * strides_d; a dim listed in
`boundary_check` masks lanes whose coordinate leaves [0, shape_d); an unchecked dim has no mask,
so its address must lie inside the buffer (else UB for the reference). `order` is a layout hint
(a permutation) with no effect on values. The generator keeps checked coordinates non-negative:
whether the lower bound is checked differs between releases' interpreters (3.0's checks only
c_d < shape_d), so negative coordinates would test an unspecified corner.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Field, Node, enum_f, expr_f, exprs_f, register, shape_f
from generators.constructs.examples import make_case
from generators.semantics import UndefinedBehaviour, Val

BLOCK_PTR = "block_ptr"
MAX_RANK = 3


# Every permutation of 1-3 dims, and every (sorted) set of dims, as the JSON lists a spec holds.
ORDERS = tuple(list(p) for r in range(1, MAX_RANK + 1) for p in itertools.permutations(range(r)))
DIM_SETS = tuple(list(c) for k in range(MAX_RANK + 1) for c in itertools.combinations(range(MAX_RANK), k))


def order_f() -> Field:
    return enum_f(ORDERS)


def make_block_ptr(base: S.Expr, shape: list[S.Expr], strides: list[S.Expr], offsets: list[S.Expr],
                   block: list[int], order: list[int] | None = None) -> S.Expr:
    return {"e": "block_ptr", "base": base, "shape": list(shape), "strides": list(strides),
            "offsets": list(offsets), "block": list(block),
            "order": list(order) if order is not None else list(range(len(block)))[::-1]}


@dataclass
class BlockPtrVal(Val):
    """A block pointer in the reference: `a` holds the offsets (int64, one per dim)."""

    base: int = 0  # element offset of the base pointer into its buffer
    shape: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    block: tuple[int, ...] = ()

    def moved(self, deltas: np.ndarray) -> BlockPtrVal:
        return BlockPtrVal(self.a + deltas, self.dt, None, self.buf, self.base, self.shape, self.strides, self.block)


def tuple_src(items: list[str]) -> str:
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def scalar_ints(vals: list[Any], p: Any, what: str) -> np.ndarray:
    out = []
    for v in vals:
        x = p.expr(v)
        if np.asarray(x.a).shape:
            raise UndefinedBehaviour("ill-formed spec", f"block pointer {what} must be scalars")
        out.append(int(x.a))
    return np.asarray(out, dtype=np.int64)


def check_index_exprs(vals: Any, rank: int, tc: Any, what: str) -> None:
    if not isinstance(vals, list) or len(vals) != rank:
        raise S.SpecError(f"block pointer {what} needs {rank} entries")
    for v in vals:
        t = tc.ty(v)
        if t.ptr or t.shape or t.dtype not in ("int32", "int64"):
            raise S.SpecError(f"block pointer {what} are int32/int64 scalars")


def materialize(bp: BlockPtrVal, check: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Element addresses of the block and the boundary mask of the checked dims."""
    rank = len(bp.block)
    addr = np.full(bp.block, bp.base, dtype=np.int64)
    mask = np.ones(bp.block, dtype=bool)
    for d in range(rank):
        c = (bp.a[d] + np.arange(bp.block[d])).reshape([-1 if i == d else 1 for i in range(rank)])
        addr = addr + c * bp.strides[d]
        if d in check:
            mask = mask & (c >= 0) & (c < bp.shape[d])
    return addr, mask


def check_dims(check: Any, rank: int) -> list[int]:
    if not isinstance(check, list) or len(set(check)) != len(check) or any(
            not isinstance(d, int) or not 0 <= d < rank for d in check):
        raise S.SpecError("boundary_check lists distinct dims of the block")
    return sorted(check)


@register
class MakeBlockPtr(Construct):
    name = "block_ptr"
    node = "block_ptr"
    fields = {"base": expr_f(), "shape": exprs_f(1, MAX_RANK), "strides": exprs_f(1, MAX_RANK),
              "offsets": exprs_f(1, MAX_RANK), "block": shape_f(MAX_RANK, 1024), "order": order_f()}
    features = ("block_ptr",)
    until = {"triton": "3.9.0"}  # 3.9.0 raises NotImplementedError("Block pointers have been removed ...")

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        b = tc.ty(n["base"])
        if not b.ptr or b.shape or b.handle:
            raise S.SpecError("block pointer base must be a scalar pointer")
        if b.dtype == "int1":
            raise S.SpecError("block pointers over int1 are not generated")
        block = n["block"]
        if not isinstance(block, list) or not 1 <= len(block) <= MAX_RANK or any(
                not isinstance(x, int) or x < 1 or x > 1024 or x & (x - 1) for x in block):
            raise S.SpecError("block_shape holds 1-3 powers of two up to 1024")
        rank = len(block)
        for what in ("shape", "strides", "offsets"):
            check_index_exprs(n[what], rank, tc, what)
        if sorted(n.get("order") or []) != list(range(rank)):
            raise S.SpecError("order must be a permutation of the block's dims")
        return S.Ty(b.dtype, tuple(block), True, BLOCK_PTR)

    def render(self, n: Node, r: Any) -> str:
        parts = [f"base={r.e(n['base'])}"]
        for what in ("shape", "strides", "offsets"):
            parts.append(f"{what}={tuple_src([r.e(x) for x in n[what]])}")
        parts.append(f"block_shape={tuple_src([str(x) for x in n['block']])}")
        parts.append(f"order={tuple_src([str(x) for x in n['order']])}")
        return f"tl.make_block_ptr({', '.join(parts)})"

    def evaluate(self, n: Node, p: Any) -> Val:
        base = p.expr(n["base"])
        shape = scalar_ints(n["shape"], p, "shape")
        strides = scalar_ints(n["strides"], p, "strides")
        offs = scalar_ints(n["offsets"], p, "offsets")
        if np.any(shape < 0):
            raise UndefinedBehaviour("negative block pointer shape")
        return BlockPtrVal(offs, base.dt, None, base.buf, int(base.a), tuple(int(x) for x in shape),
                           tuple(int(x) for x in strides), tuple(n["block"]))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("block_ptr")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # its loads and stores carry the simplifications (drop boundary checks)

    def example(self) -> Any:
        return block_example()


def block_example(advance: bool = False, store: bool = False, pad: str = "zero") -> Any:
    """A 6x5 fp32 matrix read through 4x4 block pointers of a 2x2 grid, plus 1.0, stored back."""
    from generators.constructs.block_load import block_load
    from generators.constructs.block_store import block_store

    m, n = 6, 5
    offs = [S.bin_("*", S.pid(0), S.const(4, "int32")), S.bin_("*", S.pid(1), S.const(4, "int32"))]
    shape = [S.arg("M"), S.const(n, "int32")]
    bp = make_block_ptr(S.arg("x_ptr"), shape, [S.const(n, "int32"), S.const(1, "int32")],
                        [S.const(0, "int32"), offs[1]] if advance else offs, [4, 4], [1, 0])
    body: list[S.Stmt] = [S.let("bp", bp)]
    if advance:
        from generators.constructs.advance import advance as adv

        body.append(S.let("bp", adv(S.var("bp"), [offs[0], S.const(0, "int32")])))
    body.append(S.let("x", block_load(S.var("bp"), [0, 1], pad)))
    y = S.bin_("+", S.var("x"), S.const(1.0, "fp32"))
    if store:
        ob = make_block_ptr(S.arg("o_ptr"), shape, [S.const(n, "int32"), S.const(1, "int32")], offs, [4, 4], [0, 1])
        body.append(block_store(ob, y, [0, 1]))
    else:
        rows = S.bin_("+", offs[0], S.arange(4))
        cols = S.bin_("+", offs[1], S.arange(4))
        o = S.bin_("+", S.bin_("*", S.expand(rows, 1), S.const(n, "int32")), S.expand(cols, 0))
        msk = S.bin_("&", S.expand(S.bin_("<", rows, S.arg("M")), 1),
                     S.expand(S.bin_("<", cols, S.const(n, "int32")), 0))
        body.append(S.store(S.bin_("+", S.arg("o_ptr"), o), y, msk))
    return make_case(body, {"x_ptr": ("fp32", [float(i % 9) - 4 for i in range(m * n)])}, {"o_ptr": ("fp32", m * n)},
                     scalars={"M": ("int32", m)}, grid=(2, 2, 1))

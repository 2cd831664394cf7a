"""tl.make_tensor_descriptor(base, shape, strides, block_shape): a handle for loading and storing
whole blocks at given coordinates (`desc.load([m, n])`, `desc.store([m, n], v)`), backed by TMA
on NVIDIA Hopper and later.

Semantics: block element i sits at coordinate c_d = offsets_d + i_d and address
base + sum_d c_d * strides_d; every dim is bounds-checked: lanes with c_d outside [0, shape_d) read
as zero and are not written. Constraints the frontend or the interpreter enforce, kept by the
type rule or refused by the reference: 1-3 dims here (Triton allows 1-5), the last stride the
literal 1, the last block dim at least 16 bytes, other strides and the base 16-byte aligned, and
the last coordinate a multiple of 16 bytes. `tl.make_tensor_descriptor` is public from triton
3.4.0 (3.3 has it as `_experimental_`), and in triton-ascend from 3.2.0rc4.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, expr_f, exprs_f, register, shape_f
from generators.constructs.block_ptr import BlockPtrVal, check_index_exprs, scalar_ints
from generators.constructs.examples import make_case
from generators.semantics import UndefinedBehaviour, Val

TENSOR_DESC = "tensor_desc"
MAX_RANK = 3
ITEMSIZE = {"fp32": 4, "fp16": 2, "bf16": 2, "fp64": 8, "int8": 1, "int16": 2, "int32": 4, "int64": 8}
SINCE = {"triton": "3.4.0", "triton-ascend": "3.2.0rc4"}


def make_tensor_desc(base: S.Expr, shape: list[S.Expr], strides: list[S.Expr], block: list[int]) -> S.Expr:
    """`strides` are the leading ones: the last stride is always the literal 1 (Triton requires it)."""
    return {"e": "tensor_desc", "base": base, "shape": list(shape), "strides": list(strides), "block": list(block)}


def leading_strides(n: Node) -> list[Any]:
    """The leading strides of a descriptor node (a legacy spec also lists the last, literal 1)."""
    st = list(n.get("strides") or [])
    last = st[-1] if st else None
    if (len(st) == len(n.get("block") or []) and isinstance(last, dict) and last.get("e") == "const"
            and last.get("v") == 1):
        return st[:-1]
    return st


def list_src(items: list[str]) -> str:
    return f"[{', '.join(items)}]"


def coords(desc: BlockPtrVal, offs: np.ndarray, dt: str) -> BlockPtrVal:
    """The descriptor positioned at `offs` (a block pointer whose every dim is checked)."""
    if offs.size and int(offs[-1]) * ITEMSIZE[dt] % 16:
        raise UndefinedBehaviour("misaligned descriptor access", "last coordinate not 16-byte aligned")
    return BlockPtrVal(offs, desc.dt, None, desc.buf, desc.base, desc.shape, desc.strides, desc.block)


@register
class MakeTensorDesc(Construct):
    name = "tensor_desc"
    node = "tensor_desc"
    # `strides` holds the leading strides; the last one is the literal 1, rendered, never an
    # expression (a rewrite that turned it into a runtime value would make the kernel invalid).
    # Specs written before this rule list all strides, the last a literal 1: still accepted.
    fields = {"base": expr_f(), "shape": exprs_f(1, MAX_RANK), "strides": exprs_f(0, MAX_RANK),
              "block": shape_f(MAX_RANK, 1024)}
    features = ("tensor_desc",)
    since = SINCE

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        b = tc.ty(n["base"])
        if not b.ptr or b.shape or b.handle or b.dtype not in ITEMSIZE:
            raise S.SpecError("tensor descriptor base must be a scalar pointer (not int1)")
        block = n["block"]
        if not isinstance(block, list) or not 1 <= len(block) <= MAX_RANK or any(
                not isinstance(x, int) or x < 1 or x > 1024 or x & (x - 1) for x in block):
            raise S.SpecError("descriptor block_shape holds 1-3 powers of two up to 1024")
        rank = len(block)
        check_index_exprs(n["shape"], rank, tc, "shape")
        lead = leading_strides(n)
        if len(lead) != rank - 1:
            raise S.SpecError(f"a {rank}-D descriptor takes {rank - 1} leading strides")
        if lead:
            check_index_exprs(lead, rank - 1, tc, "leading strides")
        if block[-1] * ITEMSIZE[b.dtype] < 16:
            raise S.SpecError("a descriptor's last block dim spans at least 16 bytes")
        for s in lead:
            if s.get("e") == "const" and s["v"] * ITEMSIZE[b.dtype] % 16:
                raise S.SpecError("descriptor strides are 16-byte aligned")
        return S.Ty(b.dtype, tuple(block), True, TENSOR_DESC)

    def render(self, n: Node, r: Any) -> str:
        return (f"tl.make_tensor_descriptor({r.e(n['base'])}, shape={list_src([r.e(x) for x in n['shape']])}, "
                f"strides={list_src([r.e(x) for x in leading_strides(n)] + ['1'])}, "
                f"block_shape={list_src([str(x) for x in n['block']])})")

    def evaluate(self, n: Node, p: Any) -> Val:
        base = p.expr(n["base"])
        shape = scalar_ints(n["shape"], p, "shape")
        strides = np.append(scalar_ints(leading_strides(n), p, "strides"), 1).astype(np.int64)
        size = ITEMSIZE[base.dt]
        if int(base.a) * size % 16 or np.any(strides[:-1] * size % 16):
            raise UndefinedBehaviour("misaligned tensor descriptor", "base and strides must be 16-byte aligned")
        if np.any(shape < 0):
            raise UndefinedBehaviour("negative tensor descriptor shape")
        return BlockPtrVal(np.zeros(len(shape), dtype=np.int64), base.dt, None, base.buf, int(base.a),
                           tuple(int(x) for x in shape), tuple(int(x) for x in strides), tuple(n["block"]))

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("tensor_desc")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())

    def example(self) -> Any:
        return desc_example()


def desc_example(store: bool = False) -> Any:
    """A 6x12 fp32 matrix (leading stride 12) read through 4x4 descriptor blocks by a 2x3 grid, plus 1."""
    from generators.constructs.tdesc_load import tdesc_load
    from generators.constructs.tdesc_store import tdesc_store

    m, n = 6, 10
    n_out = 12  # a store's inner extent is 16-byte sized (TMA writes whole 16-byte chunks)
    offs = [S.bin_("*", S.pid(0), S.const(4, "int32")), S.bin_("*", S.pid(1), S.const(4, "int32"))]
    d = make_tensor_desc(S.arg("x_ptr"), [S.arg("M"), S.const(n, "int32")], [S.const(12, "int32")], [4, 4])
    body: list[S.Stmt] = [S.let("d", d), S.let("x", tdesc_load(S.var("d"), offs))]
    y = S.bin_("+", S.var("x"), S.const(1.0, "fp32"))
    if store:
        od = make_tensor_desc(S.arg("o_ptr"), [S.arg("M"), S.const(n_out, "int32")], [S.const(12, "int32")], [4, 4])
        body.append(tdesc_store(od, offs, y))
    else:
        rows = S.bin_("+", offs[0], S.arange(4))
        cols = S.bin_("+", offs[1], S.arange(4))
        o = S.bin_("+", S.bin_("*", S.expand(rows, 1), S.const(12, "int32")), S.expand(cols, 0))
        msk = S.bin_("&", S.expand(S.bin_("<", rows, S.arg("M")), 1),
                     S.expand(S.bin_("<", cols, S.const(n, "int32")), 0))
        body.append(S.store(S.bin_("+", S.arg("o_ptr"), o), y, msk))
    return make_case(body, {"x_ptr": ("fp32", [float(i % 9) - 4 for i in range(m * 12)])}, {"o_ptr": ("fp32", m * 12)},
                     scalars={"M": ("int32", m)}, grid=(2, 3, 1))

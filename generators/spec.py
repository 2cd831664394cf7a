"""KernelSpec: a small typed AST of one Triton kernel, as plain JSON.

Why plain dicts: the spec is stored in corpus files and SQLite, replayed without the generator
that made it, and edited by the reducer; dicts with a schema version are the simplest form that
serialises exactly. This module holds the node constructors and the type checker that gives every
expression its (dtype, shape) — the renderer, the reference evaluator and the reducer all use it.

Spec layout:
    {"schema": 1, "name": "kernel",
     "params": [{"name", "kind": "ptr"|"scalar"|"constexpr", "dtype", "value"?}],
     "grid": [x, y, z], "num_warps": 4,
     "buffers": [{"name", "dtype", "role": "in"|"out", "size", "init": {...}}],
     "body": [stmt, ...]}
Statements: {"s": "let", "name", "e"} | {"s": "store", "ptr", "val", "mask"?}
          | {"s": "for", "var", "lo", "hi", "kind": "range"|"static_range", "body"}
Expressions have a key "e" naming the node (see `typeof`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SPEC_SCHEMA = 1

Expr = dict[str, Any]
Stmt = dict[str, Any]

FLOAT_DTYPES = ("fp32", "fp16", "bf16", "fp64")
INT_DTYPES = ("int8", "int16", "int32", "int64")
# Unsigned ints and fp8 appear only where a construct asks for them (wrap.py, fpcast.py).
UINT_DTYPES = ("uint8", "uint16", "uint32", "uint64")
FP8_DTYPES = ("fp8e4nv", "fp8e5")
INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "int1": 1,
            "uint8": 8, "uint16": 16, "uint32": 32, "uint64": 64}

# Dtypes a value, cast, constant, parameter or buffer may have (int1 only where noted).
VALUE_DTYPES = tuple(dict.fromkeys(FLOAT_DTYPES + INT_DTYPES + UINT_DTYPES + FP8_DTYPES + ("fp64",)))
# Top-level fields of a spec (launch options included).
SPEC_FIELDS = ("schema", "name", "params", "grid", "num_warps", "body", "tags")

ARITH_OPS = ("+", "-", "*", "/", "//", "%")
BIT_OPS = ("&", "|", "^", "<<", ">>")
CMP_OPS = ("<", "<=", ">", ">=", "==", "!=")
MATH_FNS = ("exp", "log", "sqrt", "sin", "cos", "abs")
REDUCE_FNS = ("sum", "max", "min", "argmax")


class SpecError(ValueError):
    """The spec is ill-typed: a generator or reducer bug, never a backend finding."""


@dataclass(frozen=True)
class Ty:
    dtype: str
    shape: tuple[int, ...] = ()
    ptr: bool = False
    # "" for values and (tensors of) pointers; "block_ptr" / "tensor_desc" for the opaque handles
    # tl.make_block_ptr and tl.make_tensor_descriptor return (ptr=True, shape = the block's).
    handle: str = ""

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def is_int(self) -> bool:
        return self.dtype in INT_DTYPES or self.dtype in UINT_DTYPES


# ---- constructors (short names keep generator code readable) ----

def arg(name: str) -> Expr:
    return {"e": "arg", "name": name}


def var(name: str) -> Expr:
    return {"e": "var", "name": name}


def const(v: int | float, dtype: str) -> Expr:
    return {"e": "const", "v": v, "dt": dtype}


def pid(axis: int) -> Expr:
    return {"e": "pid", "axis": axis}


def arange(n: int, cx: str | None = None) -> Expr:
    return {"e": "arange", "n": n, "cx": cx}


def full(shape: list[int], v: int | float, dtype: str) -> Expr:
    return {"e": "full", "shape": list(shape), "v": v, "dt": dtype}


def bin_(op: str, a: Expr, b: Expr) -> Expr:
    return {"e": "bin", "op": op, "a": a, "b": b}


def un(op: str, x: Expr) -> Expr:
    return {"e": "un", "op": op, "x": x}


def call(fn: str, *args: Expr) -> Expr:
    return {"e": "call", "fn": fn, "args": list(args)}


def cast(x: Expr, dtype: str) -> Expr:
    return {"e": "cast", "x": x, "dt": dtype}


def expand(x: Expr, axis: int) -> Expr:
    return {"e": "expand", "x": x, "axis": axis}


def bcast(x: Expr, shape: list[int]) -> Expr:
    return {"e": "bcast", "x": x, "shape": list(shape)}


def reshape(x: Expr, shape: list[int]) -> Expr:
    return {"e": "reshape", "x": x, "shape": list(shape)}


def trans(x: Expr) -> Expr:
    return {"e": "trans", "x": x}


def reduce_(fn: str, x: Expr, axis: int) -> Expr:
    return {"e": "reduce", "fn": fn, "x": x, "axis": axis}


def dot(a: Expr, b: Expr, acc: Expr | None = None, prec: str | None = None) -> Expr:
    return {"e": "dot", "a": a, "b": b, "acc": acc, "prec": prec}


def load(ptr: Expr, mask: Expr | None = None, other: Expr | None = None) -> Expr:
    return {"e": "load", "ptr": ptr, "mask": mask, "other": other}


def where(c: Expr, a: Expr, b: Expr) -> Expr:
    return {"e": "where", "c": c, "a": a, "b": b}


def let(name: str, e: Expr) -> Stmt:
    return {"s": "let", "name": name, "e": e}


def store(ptr: Expr, val: Expr, mask: Expr | None = None) -> Stmt:
    return {"s": "store", "ptr": ptr, "val": val, "mask": mask}


def for_(var_name: str, lo: Expr, hi: Expr, body: list[Stmt], kind: str = "range") -> Stmt:
    return {"s": "for", "var": var_name, "lo": lo, "hi": hi, "kind": kind, "body": body}


# ---- typing ----

def broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Triton's broadcast: scalars splat; tensors of equal rank broadcast size-1 dims."""
    if not a:
        return b
    if not b:
        return a
    if len(a) != len(b):
        raise SpecError(f"rank mismatch {a} vs {b}")
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise SpecError(f"incompatible shapes {a} vs {b}")
        out.append(max(x, y))
    return tuple(out)


def promote(a: str, b: str) -> str | None:
    """Operand dtypes must match, except int32 with int64 (int64 wins in every Triton release).

    Narrow ints meeting int32 literals are avoided on purpose: releases disagree on whether a
    Python literal is weakly typed.
    """
    if a == b:
        return a
    if {a, b} == {"int32", "int64"}:
        return "int64"
    return None


def params_by_name(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in spec["params"]}


def _param_ty(p: dict[str, Any]) -> Ty:
    if p["kind"] == "ptr":
        return Ty(p["dtype"], (), True)
    if p["kind"] == "constexpr":
        return Ty("fp32" if isinstance(p["value"], float) else "int32")
    return Ty(p["dtype"])


class TypeCtx:
    """Variables in scope and the kernel's parameters; constructs type sub-expressions with ty()."""

    def __init__(self, env: dict[str, Ty], params: dict[str, dict[str, Any]]) -> None:
        self.env = env
        self.params = params

    def ty(self, e: Any) -> Ty:
        if not isinstance(e, dict):
            raise SpecError(f"expected an expression node, got {type(e).__name__}")
        from generators.constructs import expr_construct

        return expr_construct(e.get("e")).typeof(e, self)

    def block(self, body: Any) -> None:
        if not isinstance(body, list):
            raise SpecError("a block is a list of statements")
        from generators.constructs import stmt_construct

        for s in body:
            if not isinstance(s, dict):
                raise SpecError("a statement is an object")
            stmt_construct(s.get("s")).check(s, self)

    def nested(self) -> TypeCtx:
        return TypeCtx(dict(self.env), self.params)


def param_ty(p: dict[str, Any]) -> Ty:
    return _param_ty(p)


def typeof(e: Expr, env: dict[str, Ty], params: dict[str, dict[str, Any]]) -> Ty:
    """Type of an expression under `env` (variables) and `params`; raises SpecError.

    Each node's rule lives with its construct (generators/constructs/)."""
    return TypeCtx(env, params).ty(e)


def check(spec: dict[str, Any]) -> dict[str, Ty]:
    """Type-check a whole spec; returns the types of top-level variables."""
    if spec.get("schema") != SPEC_SCHEMA:
        raise SpecError(f"spec schema {spec.get('schema')!r} != {SPEC_SCHEMA}")
    params = params_by_name(spec)
    tc = TypeCtx({}, params)
    tc.block(spec["body"])
    return tc.env


def walk(node: Any):
    """Yield every expression and statement dict under `node` (pre-order)."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            if isinstance(v, (dict, list)):
                yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)

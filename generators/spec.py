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

FLOAT_DTYPES = ("fp32", "fp16", "bf16")
INT_DTYPES = ("int8", "int16", "int32", "int64")
INT_BITS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64, "int1": 1}

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

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def is_int(self) -> bool:
        return self.dtype in INT_DTYPES


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


def typeof(e: Expr, env: dict[str, Ty], params: dict[str, dict[str, Any]]) -> Ty:
    """Type of an expression under `env` (variables) and `params`; raises SpecError."""
    k = e["e"]
    if k == "arg":
        if e["name"] not in params:
            raise SpecError(f"unknown parameter {e['name']}")
        return _param_ty(params[e["name"]])
    if k == "var":
        if e["name"] not in env:
            raise SpecError(f"unbound variable {e['name']}")
        return env[e["name"]]
    if k == "const":
        return Ty(e["dt"])
    if k == "pid":
        return Ty("int32")
    if k == "arange":
        return Ty("int32", (e["n"],))
    if k == "full":
        return Ty(e["dt"], tuple(e["shape"]))
    if k == "bin":
        a, b = typeof(e["a"], env, params), typeof(e["b"], env, params)
        shape = broadcast_shapes(a.shape, b.shape)
        op = e["op"]
        if a.ptr or b.ptr:
            if op != "+" or b.ptr or not b.is_int:
                raise SpecError("pointer arithmetic is ptr + int offsets only")
            return Ty(a.dtype, shape, True)
        dt = promote(a.dtype, b.dtype)
        if dt is None:
            raise SpecError(f"operand dtypes differ: {a.dtype} {op} {b.dtype}")
        if op in CMP_OPS:
            return Ty("int1", shape)
        a = Ty(dt, a.shape)
        if op in BIT_OPS and a.is_float:
            raise SpecError("bitwise op on floats")
        if op in ("//", "%") and a.is_float:
            raise SpecError("// and % are generated on integers only")
        if op == "/" and not a.is_float:
            raise SpecError("/ is generated on floats only")
        if a.dtype == "int1" and op not in ("&", "|", "^"):
            raise SpecError(f"{op} on int1")
        return Ty(dt, shape)
    if k == "un":
        x = typeof(e["x"], env, params)
        if e["op"] == "~" and x.is_float:
            raise SpecError("~ on floats")
        return x
    if k == "call":
        ts = [typeof(a, env, params) for a in e["args"]]
        if e["fn"] in ("maximum", "minimum"):
            if ts[0].dtype != ts[1].dtype:
                raise SpecError("maximum/minimum dtypes differ")
            return Ty(ts[0].dtype, broadcast_shapes(ts[0].shape, ts[1].shape))
        if e["fn"] in MATH_FNS:
            if e["fn"] != "abs" and ts[0].dtype != "fp32":
                raise SpecError(f"{e['fn']} is generated on fp32 only")
            return ts[0]
        raise SpecError(f"unknown function {e['fn']}")
    if k == "where":
        c, a, b = (typeof(e[x], env, params) for x in ("c", "a", "b"))
        if c.dtype != "int1" or a.dtype != b.dtype:
            raise SpecError("where needs an int1 condition and equal branch dtypes")
        return Ty(a.dtype, broadcast_shapes(c.shape, broadcast_shapes(a.shape, b.shape)))
    if k == "cast":
        x = typeof(e["x"], env, params)
        return Ty(e["dt"], x.shape)
    if k == "expand":
        x = typeof(e["x"], env, params)
        ax = e["axis"]
        if not 0 <= ax <= len(x.shape):
            raise SpecError("expand axis out of range")
        return Ty(x.dtype, x.shape[:ax] + (1,) + x.shape[ax:], x.ptr)
    if k == "bcast":
        x = typeof(e["x"], env, params)
        shape = tuple(e["shape"])
        if broadcast_shapes(x.shape, shape) != shape:
            raise SpecError("broadcast_to to an incompatible shape")
        return Ty(x.dtype, shape, x.ptr)
    if k == "reshape":
        x = typeof(e["x"], env, params)
        n = 1
        for d in x.shape:
            n *= d
        m = 1
        for d in e["shape"]:
            m *= d
        if n != m or x.ptr:
            raise SpecError("reshape changes element count")
        return Ty(x.dtype, tuple(e["shape"]))
    if k == "trans":
        x = typeof(e["x"], env, params)
        if len(x.shape) != 2 or x.ptr:
            raise SpecError("trans of a non-2-D tensor")
        return Ty(x.dtype, (x.shape[1], x.shape[0]))
    if k == "reduce":
        x = typeof(e["x"], env, params)
        if not 0 <= e["axis"] < len(x.shape):
            raise SpecError("reduce axis out of range")
        if x.dtype not in ("fp32", "int32"):
            raise SpecError("reductions are generated on fp32/int32 only")
        shape = x.shape[:e["axis"]] + x.shape[e["axis"] + 1:]
        return Ty("int32" if e["fn"] == "argmax" else x.dtype, shape)
    if k == "dot":
        a, b = typeof(e["a"], env, params), typeof(e["b"], env, params)
        if len(a.shape) != 2 or len(b.shape) != 2 or a.shape[1] != b.shape[0] or a.dtype != b.dtype:
            raise SpecError("dot needs (M,K)x(K,N) of one dtype")
        if min(a.shape[0], a.shape[1], b.shape[1]) < 16:
            raise SpecError("dot shapes must be >= 16")
        out = "int32" if a.dtype == "int8" else "fp32"
        if e.get("acc") is not None:
            acc = typeof(e["acc"], env, params)
            if acc.dtype != out or acc.shape != (a.shape[0], b.shape[1]):
                raise SpecError("dot accumulator type mismatch")
        return Ty(out, (a.shape[0], b.shape[1]))
    if k == "load":
        p = typeof(e["ptr"], env, params)
        if not p.ptr:
            raise SpecError("load of a non-pointer")
        if e.get("mask") is not None:
            m = typeof(e["mask"], env, params)
            if m.dtype != "int1" or broadcast_shapes(p.shape, m.shape) != p.shape:
                raise SpecError("load mask must be int1 of the pointer's shape")
            if e.get("other") is None:
                raise SpecError("masked loads always carry other= (masked-off lanes are undefined)")
        return Ty(p.dtype, p.shape)
    raise SpecError(f"unknown expression node {k!r}")


def check(spec: dict[str, Any]) -> dict[str, Ty]:
    """Type-check a whole spec; returns the types of top-level variables."""
    if spec.get("schema") != SPEC_SCHEMA:
        raise SpecError(f"spec schema {spec.get('schema')!r} != {SPEC_SCHEMA}")
    params = params_by_name(spec)
    env: dict[str, Ty] = {}
    _check_block(spec["body"], env, params)
    return env


def _check_block(body: list[Stmt], env: dict[str, Ty], params: dict[str, dict[str, Any]]) -> None:
    for s in body:
        k = s["s"]
        if k == "let":
            t = typeof(s["e"], env, params)
            old = env.get(s["name"])
            if old is not None and old != t:
                raise SpecError(f"{s['name']} changes type {old} -> {t}")
            env[s["name"]] = t
        elif k == "store":
            p = typeof(s["ptr"], env, params)
            v = typeof(s["val"], env, params)
            if not p.ptr or v.dtype != p.dtype or broadcast_shapes(p.shape, v.shape) != p.shape:
                raise SpecError("store value must match the pointer's dtype and shape")
            if s.get("mask") is not None:
                m = typeof(s["mask"], env, params)
                if m.dtype != "int1" or broadcast_shapes(p.shape, m.shape) != p.shape:
                    raise SpecError("store mask must be int1 of the pointer's shape")
        elif k == "for":
            for b in ("lo", "hi"):
                t = typeof(s[b], env, params)
                if t.shape or t.dtype != "int32":
                    raise SpecError("loop bounds are int32 scalars")
            inner = dict(env)
            inner[s["var"]] = Ty("int32")
            _check_block(s["body"], inner, params)
            for name, t in inner.items():
                if name in env and env[name] != t:
                    raise SpecError(f"loop-carried {name} changes type")
        else:
            raise SpecError(f"unknown statement {k!r}")


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

"""Numpy reference evaluator of a KernelSpec with Triton's semantics, program by program.

It is the ground truth that judges a single backend alone, and the dynamic half of UB-freedom:
the generator builds kernels that are in bounds by construction, and this evaluator refuses any
case that would still do something undefined on its inputs (an out-of-bounds unmasked access,
signed overflow, division by zero, a racy store, a float comparison too close to call). A refused
case is `invalid` — a generator defect counted against validity — never a finding.

Semantics followed (checked against Triton's frontend): integer `//` truncates toward zero
(arith.divsi), `%` takes the dividend's sign (arith.remsi), `>>` on signed ints is arithmetic,
narrowing int casts wrap, float->int casts truncate, float->float casts round to nearest even.

Floats carry a first-order error bound next to every value: zero while the math is exact, grown
by one rounding of the result's dtype whenever an op's exact result is not representable, and
propagated through every op. The comparator accepts a backend value within that bound, so fused
multiply-adds, reassociated sums and approximate transcendentals never raise a false alarm, while
exact computations (the common case with small-integer inputs) are compared bit for bit.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generators.case import KernelCase
from generators.numerics import (
    INT_RANGE,
    MAX_FINITE,
    TINY,
    UNIT_ROUNDOFF,
    from_storage,
    round_to,
    to_storage,
)
from generators.spec import Expr, Stmt, params_by_name

MAX_LOOP_TRIPS = 4096
# Budget of one evaluation: a case beyond it is refused as `invalid: too large`, never run for
# hours (a corpus file may ask for 2**31 programs). Static: programs x spec nodes x the largest
# tensor; dynamic: wall clock and growth of this process's resident memory, checked per program.
MAX_STATIC_WORK = 2_000_000_000
TIME_BUDGET_S = 60.0
MEMORY_BUDGET_BYTES = 2 << 30


class UndefinedBehaviour(Exception):
    """The case is invalid on its inputs; `reason` is a short category for statistics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Val:
    a: np.ndarray  # float64 (floats, rounded to dt), int64 (ints), bool (int1), int64 offsets (ptr)
    dt: str
    err: np.ndarray | None = None  # abs error bound, floats only
    buf: str | None = None  # pointers: the buffer they point into

    @property
    def is_float(self) -> bool:
        return self.dt in UNIT_ROUNDOFF


@dataclass
class Reference:
    """Expected final contents of every buffer, with per-element error bounds."""

    values: dict[str, np.ndarray]  # float64 / int64 / bool, unpadded
    errs: dict[str, np.ndarray]  # float64 abs bound (zeros for ints)
    written: dict[str, np.ndarray]  # bool: element written by some store
    stats: dict[str, Any] = field(default_factory=dict)

    def expected_storage(self, name: str, dtype: str) -> np.ndarray:
        return to_storage(dtype, self.values[name])


def _round_term(dt: str, r: np.ndarray, r64: np.ndarray, prop: np.ndarray) -> np.ndarray:
    """Error added by rounding an op's result: none when inputs are exact and r is representable.

    Two roundings, not one: the bound is on |reference - backend|, and both round independently
    (a backend that fuses a*b+c into one FMA rounds once where the reference rounds twice).
    """
    inexact = (prop > 0) | (r != r64)
    return np.where(inexact, 2 * UNIT_ROUNDOFF[dt] * (np.abs(r) + prop) + TINY[dt], 0.0)


def _fl(dt: str, r64: np.ndarray, prop: np.ndarray, extra: np.ndarray | float = 0.0) -> Val:
    r64 = np.asarray(r64, dtype=np.float64)
    if not np.all(np.isfinite(r64)) or np.any(np.abs(r64) > MAX_FINITE[dt]):
        raise UndefinedBehaviour("non-finite float", f"{dt} result overflows or is NaN")
    r = round_to(dt, r64)
    err = prop + _round_term(dt, r, r64, prop) + extra
    return Val(r, dt, np.broadcast_to(err, r.shape).astype(np.float64))


def _int(dt: str, r: np.ndarray, what: str) -> Val:
    lo, hi = INT_RANGE[dt]
    r = np.asarray(r)
    if r.size and (r.min() < lo or r.max() > hi):
        raise UndefinedBehaviour("signed overflow", f"{what} leaves {dt}")
    return Val(r.astype(np.int64), dt)


def _overflow_guard(dt: str, est: np.ndarray, what: str) -> None:
    """For int64 arithmetic, check in float64 before numpy would silently wrap."""
    if dt == "int64" and est.size and np.max(np.abs(est)) >= 2.0**62:
        raise UndefinedBehaviour("signed overflow", f"{what} may leave int64")


class _Program:
    """Evaluates the spec body for one program id."""

    def __init__(self, ev: Evaluator, pid: tuple[int, int, int]) -> None:
        self.ev = ev
        self.pid = pid
        self.env: dict[str, Val] = {}

    # ---- statements ----
    def run(self, body: list[Stmt], path: str = "") -> None:
        for i, s in enumerate(body):
            k = s["s"]
            if k == "let":
                self.env[s["name"]] = self.expr(s["e"])
            elif k == "store":
                self.store(s, f"{path}{i}")
            elif k == "for":
                lo = int(self.expr(s["lo"]).a)
                hi = int(self.expr(s["hi"]).a)
                if hi - lo > MAX_LOOP_TRIPS:
                    raise UndefinedBehaviour("loop too long", f"{hi - lo} trips")
                outer = set(self.env)
                for it in range(lo, hi):
                    self.env[s["var"]] = Val(np.asarray(it, dtype=np.int64), "int32")
                    self.run(s["body"], f"{path}{i}.")
                for name in list(self.env):
                    if name not in outer:
                        del self.env[name]
            else:
                raise ValueError(f"unknown statement {k}")

    def store(self, s: Stmt, sid: str) -> None:
        p = self.expr(s["ptr"])
        v = self.expr(s["val"])
        shape = p.a.shape
        mask = np.ones(shape, dtype=bool)
        if s.get("mask") is not None:
            mask = np.broadcast_to(self.expr(s["mask"]).a, shape)
        offs = p.a[mask]
        vals = np.broadcast_to(v.a, shape)[mask]
        errs = np.broadcast_to(v.err, shape)[mask] if v.err is not None else np.zeros(offs.shape)
        self.ev.write(p.buf, offs, vals, errs, (self.pid, sid))

    # ---- expressions ----
    def expr(self, e: Expr) -> Val:
        return getattr(self, "_" + e["e"])(e)

    def _arg(self, e: Expr) -> Val:
        p = self.ev.params[e["name"]]
        if p["kind"] == "ptr":
            return Val(np.asarray(0, dtype=np.int64), p["dtype"], buf=e["name"])
        v = p["value"]
        if isinstance(v, float) or p.get("dtype") == "fp32":
            return Val(np.asarray(float(v)), "fp32", np.zeros(()))
        return Val(np.asarray(int(v), dtype=np.int64), p.get("dtype") or "int32")

    def _var(self, e: Expr) -> Val:
        return self.env[e["name"]]

    def _const(self, e: Expr) -> Val:
        dt = e["dt"]
        if dt in UNIT_ROUNDOFF:
            return Val(round_to(dt, np.asarray(float(e["v"]))), dt, np.zeros(()))
        if dt == "int1":
            return Val(np.asarray(bool(e["v"])), dt)
        return Val(np.asarray(int(e["v"]), dtype=np.int64), dt)

    def _pid(self, e: Expr) -> Val:
        return Val(np.asarray(self.pid[e["axis"]], dtype=np.int64), "int32")

    def _arange(self, e: Expr) -> Val:
        return Val(np.arange(e["n"], dtype=np.int64), "int32")

    def _full(self, e: Expr) -> Val:
        c = self._const({"v": e["v"], "dt": e["dt"]})
        a = np.broadcast_to(c.a, tuple(e["shape"])).copy()
        return Val(a, c.dt, np.zeros(a.shape) if c.is_float else None)

    def _bin(self, e: Expr) -> Val:
        x, y = self.expr(e["a"]), self.expr(e["b"])
        op = e["op"]
        if x.buf is not None:
            _overflow_guard("int64", x.a + np.abs(y.a).astype(np.float64), "pointer offset")
            return Val(x.a + y.a, x.dt, buf=x.buf)
        if op in ("<", "<=", ">", ">=", "==", "!="):
            return self._compare(op, x, y)
        if x.is_float:
            return self._float_bin(op, x, y)
        if x.dt != y.dt:  # int32 meets int64: int64 wins
            x, y = Val(x.a, "int64"), Val(y.a, "int64")
        if x.dt == "int1":
            f = {"&": np.logical_and, "|": np.logical_or, "^": np.logical_xor}[op]
            return Val(f(x.a, y.a), "int1")
        return self._int_bin(op, x, y)

    def _compare(self, op: str, x: Val, y: Val) -> Val:
        f = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
             "==": np.equal, "!=": np.not_equal}[op]
        if x.is_float:
            tol = x.err + y.err
            if np.any((tol > 0) & (np.abs(x.a - y.a) <= tol)):
                raise UndefinedBehaviour("ambiguous float comparison",
                                         "operands closer than their error bound")
        return Val(f(x.a, y.a), "int1")

    def _float_bin(self, op: str, x: Val, y: Val) -> Val:
        a, b, ea, eb = x.a, y.a, x.err, y.err
        with np.errstate(all="ignore"):
            if op == "+":
                return _fl(x.dt, a + b, ea + eb)
            if op == "-":
                return _fl(x.dt, a - b, ea + eb)
            if op == "*":
                return _fl(x.dt, a * b, np.abs(a) * eb + np.abs(b) * ea + ea * eb)
            if op == "/":
                if np.any(np.abs(b) <= eb) or np.any(b == 0):
                    raise UndefinedBehaviour("division by zero", "float divisor may be zero")
                r = a / b
                prop = (ea + np.abs(r) * eb) / (np.abs(b) - eb)
                # Division may be approximate on GPUs (2 ulp): always allow two roundings.
                return _fl(x.dt, r, prop, 2 * UNIT_ROUNDOFF[x.dt] * np.abs(r) + TINY[x.dt])
        raise ValueError(f"float op {op}")

    def _int_bin(self, op: str, x: Val, y: Val) -> Val:
        a, b, dt = x.a, y.a, x.dt
        fa, fb = a.astype(np.float64), b.astype(np.float64)
        if op in ("+", "-"):
            _overflow_guard(dt, np.abs(fa) + np.abs(fb), op)
            return _int(dt, a + b if op == "+" else a - b, op)
        if op == "*":
            _overflow_guard(dt, fa * fb, op)
            return _int(dt, a * b, op)
        if op in ("//", "%"):
            if np.any(b == 0):
                raise UndefinedBehaviour("division by zero", f"integer {op}")
            q = np.abs(a) // np.abs(b) * np.sign(a) * np.sign(b)
            if op == "//":
                return _int(dt, q, op)
            return _int(dt, a - b * q, op)
        if op in ("&", "|", "^"):
            f = {"&": np.bitwise_and, "|": np.bitwise_or, "^": np.bitwise_xor}[op]
            return Val(f(a, b), dt)
        if op in ("<<", ">>"):
            bits = int(dt[3:])
            if np.any(b < 0) or np.any(b >= bits):
                raise UndefinedBehaviour("shift out of range", f"{op} by {b.min()}..{b.max()}")
            if op == ">>":
                return Val(a >> b, dt)
            _overflow_guard(dt, fa * np.exp2(fb), op)
            return _int(dt, a * (np.int64(1) << b), op)
        raise ValueError(f"int op {op}")

    def _un(self, e: Expr) -> Val:
        x = self.expr(e["x"])
        if e["op"] == "-":
            if x.is_float:
                return Val(-x.a, x.dt, x.err)
            return _int(x.dt, -x.a, "negation")
        if e["op"] == "~":
            if x.dt == "int1":
                return Val(~x.a, "int1")
            return Val(~x.a, x.dt)
        raise ValueError(f"unary {e['op']}")

    def _call(self, e: Expr) -> Val:
        fn = e["fn"]
        xs = [self.expr(a) for a in e["args"]]
        x = xs[0]
        if fn in ("maximum", "minimum"):
            y = xs[1]
            f = np.maximum if fn == "maximum" else np.minimum
            if x.is_float:
                return Val(f(x.a, y.a), x.dt, np.maximum(x.err, y.err))
            return Val(f(x.a, y.a), x.dt)
        if fn == "abs":
            if x.is_float:
                return Val(np.abs(x.a), x.dt, x.err)
            return _int(x.dt, np.abs(x.a), "abs")
        a, ea = x.a, x.err
        approx = 2.0**-19
        with np.errstate(all="ignore"):
            if fn == "exp":
                r = np.exp(a)
                return _fl(x.dt, r, r * np.expm1(ea), np.abs(r) * (approx + np.abs(a) * 2.0**-22))
            if fn == "log":
                if np.any(a - ea <= 0):
                    raise UndefinedBehaviour("math domain", "log of a non-positive value")
                return _fl(x.dt, np.log(a), ea / (a - ea), approx * np.maximum(1.0, np.abs(np.log(a))))
            if fn == "sqrt":
                if np.any(a < 0):
                    raise UndefinedBehaviour("math domain", "sqrt of a negative value")
                r = np.sqrt(a)
                prop = np.minimum(np.sqrt(ea), ea / (2 * np.sqrt(np.maximum(a - ea, 1e-300))))
                return _fl(x.dt, r, prop, approx * r)
            if fn in ("sin", "cos"):
                r = np.sin(a) if fn == "sin" else np.cos(a)
                return _fl(x.dt, r, ea, approx * (1.0 + np.abs(a)))
        raise ValueError(f"call {fn}")

    def _where(self, e: Expr) -> Val:
        c, x, y = self.expr(e["c"]), self.expr(e["a"]), self.expr(e["b"])
        a = np.where(c.a, x.a, y.a)
        if x.is_float:
            return Val(a, x.dt, np.where(c.a, x.err, y.err))
        return Val(a, x.dt)

    def _cast(self, e: Expr) -> Val:
        x = self.expr(e["x"])
        dt = e["dt"]
        if dt == x.dt:
            return x
        if dt == "int1":
            return Val(x.a != 0, "int1")
        if dt in UNIT_ROUNDOFF:
            if x.dt == "int1":
                return Val(x.a.astype(np.float64), dt, np.zeros(x.a.shape))
            prop = x.err if x.err is not None else np.zeros(x.a.shape)
            return _fl(dt, x.a.astype(np.float64), prop)
        # to an integer dtype
        lo, hi = INT_RANGE[dt]
        if x.is_float:
            t = np.trunc(x.a)
            if np.any((x.err > 0) & (np.trunc(x.a - x.err) != np.trunc(x.a + x.err))):
                raise UndefinedBehaviour("ambiguous float->int cast", "value within error of an integer")
            if t.size and (t.min() < lo or t.max() > hi):
                raise UndefinedBehaviour("float->int cast overflow", f"to {dt}")
            return Val(t.astype(np.int64), dt)
        if x.dt == "int1":
            return Val(x.a.astype(np.int64), dt)
        bits = int(dt[3:])
        if bits == 64:
            return Val(x.a.astype(np.int64), dt)
        span = 1 << bits
        return Val(((x.a - lo) % span) + lo, dt)

    def _shape_op(self, e: Expr, f: Any) -> Val:
        x = self.expr(e["x"])
        return Val(f(x.a), x.dt, None if x.err is None else f(x.err), x.buf)

    def _expand(self, e: Expr) -> Val:
        return self._shape_op(e, lambda t: np.expand_dims(t, e["axis"]))

    def _bcast(self, e: Expr) -> Val:
        return self._shape_op(e, lambda t: np.broadcast_to(t, tuple(e["shape"])).copy())

    def _reshape(self, e: Expr) -> Val:
        return self._shape_op(e, lambda t: np.reshape(t, tuple(e["shape"])))

    def _trans(self, e: Expr) -> Val:
        x = self.expr(e["x"])
        return Val(x.a.T.copy(), x.dt, None if x.err is None else x.err.T.copy())

    def _reduce(self, e: Expr) -> Val:
        x = self.expr(e["x"])
        ax, fn = e["axis"], e["fn"]
        n = x.a.shape[ax]
        if fn == "argmax":
            idx = np.argmax(x.a, axis=ax)
            if x.is_float:
                top = np.take_along_axis(x.a, np.expand_dims(idx, ax), ax)
                etop = np.take_along_axis(x.err, np.expand_dims(idx, ax), ax)
                pos = np.arange(n).reshape([-1 if i == ax else 1 for i in range(x.a.ndim)])
                tol = x.err + etop
                if np.any((pos != np.expand_dims(idx, ax)) & (tol > 0) & (np.abs(x.a - top) <= tol)):
                    raise UndefinedBehaviour("ambiguous argmax", "runner-up within error bound")
            return Val(idx.astype(np.int64), "int32")
        if fn in ("max", "min"):
            f = np.max if fn == "max" else np.min
            if x.is_float:
                return Val(f(x.a, axis=ax), x.dt, np.max(x.err, axis=ax))
            return Val(f(x.a, axis=ax), x.dt)
        # sum
        if not x.is_float:
            _overflow_guard("int64", np.sum(np.abs(x.a).astype(np.float64), axis=ax), "sum")
            _int(x.dt, np.sum(np.abs(x.a), axis=ax), "sum of magnitudes")  # no partial overflow
            return _int(x.dt, np.sum(x.a, axis=ax), "sum")
        s64 = np.sum(x.a, axis=ax)
        mag = np.sum(np.abs(x.a) + x.err, axis=ax)
        prop = np.sum(x.err, axis=ax)
        exact = _exact_sum(x.a, ax, x.dt) & (prop == 0)
        slack = np.where(exact, 0.0, (n + 1) * UNIT_ROUNDOFF[x.dt] * mag + TINY[x.dt])
        return _fl(x.dt, s64, prop + slack)

    def _dot(self, e: Expr) -> Val:
        a, b = self.expr(e["a"]), self.expr(e["b"])
        acc = self.expr(e["acc"]) if e.get("acc") is not None else None
        if a.dt == "int8":
            _overflow_guard("int64", np.abs(a.a).astype(np.float64) @ np.abs(b.a).astype(np.float64), "dot")
            r = a.a @ b.a
            if acc is not None:
                r = r + acc.a
            bound = np.abs(a.a) @ np.abs(b.a) + (np.abs(acc.a) if acc is not None else 0)
            _int("int32", bound, "int8 dot")
            return _int("int32", r, "int8 dot")
        k = a.a.shape[1]
        mag = np.abs(a.a) @ np.abs(b.a)
        r64 = a.a @ b.a
        prop = a.err @ (np.abs(b.a) + b.err) + np.abs(a.a) @ b.err
        terms = [a.a, b.a]
        if acc is not None:
            r64 = r64 + acc.a
            mag = mag + np.abs(acc.a)
            prop = prop + acc.err
            terms.append(acc.a)
        exact = (prop == 0) & _exact_dot(terms, mag)
        slack = np.where(exact, 0.0, (k + 2) * UNIT_ROUNDOFF["fp32"] * (mag + prop) + TINY["fp32"])
        return _fl("fp32", r64, prop + slack)

    def _load(self, e: Expr) -> Val:
        p = self.expr(e["ptr"])
        shape = p.a.shape
        mask = np.ones(shape, dtype=bool)
        if e.get("mask") is not None:
            mask = np.broadcast_to(self.expr(e["mask"]).a, shape)
        buf = self.ev.buffers[p.buf]
        if self.ev.roles[p.buf] != "in":
            raise UndefinedBehaviour("load from an output buffer", p.buf)
        offs = p.a
        active = offs[mask]
        if active.size and (active.min() < 0 or active.max() >= buf.size):
            raise UndefinedBehaviour("out-of-bounds load", f"{p.buf}[{active.min()}..{active.max()}] "
                                     f"of {buf.size}")
        vals = buf[np.where(mask, offs, 0)]
        if e.get("other") is not None:
            o = self.expr(e["other"])
            vals = np.where(mask, vals, o.a)
        vals = np.asarray(vals)
        if p.dt in UNIT_ROUNDOFF:
            return Val(vals.astype(np.float64), p.dt, np.zeros(shape))
        return Val(vals, p.dt)


def _exact_sum(a: np.ndarray, ax: int, dt: str) -> np.ndarray:
    """True where every partial sum, in any order, is exact: all terms are multiples of 2^-8 and
    the sum of magnitudes fits the significand."""
    q = a * 256.0
    on_grid = np.all(q == np.round(q), axis=ax)
    bits = {"fp32": 24, "fp16": 11, "bf16": 8}[dt]
    return on_grid & (np.sum(np.abs(q), axis=ax) < 2.0**bits)


def _exact_dot(terms: list[np.ndarray], mag: np.ndarray) -> np.ndarray:
    """Products and sums of a float dot are exact when inputs sit on a 2^-8 grid and the sum of
    magnitudes (in units of 2^-16) fits fp32's significand."""
    for t in terms:
        q = t * 256.0
        if not np.all(q == np.round(q)):
            return np.zeros(mag.shape, dtype=bool)
    return mag * 65536.0 < 2.0**24


class Evaluator:
    """Runs every program of a case and collects the expected buffers."""

    def __init__(self, case: KernelCase) -> None:
        self.case = case
        self.spec = case.spec
        self.params = params_by_name(self.spec)
        for a in case.args:  # launch values override the spec's defaults
            if a.kind != "ptr":
                self.params[a.name] = {**self.params[a.name], "value": a.value}
        ptr_buf = {a.name: a.buffer for a in case.args if a.kind == "ptr"}
        self.buffers: dict[str, np.ndarray] = {}
        self.roles: dict[str, str] = {}
        self.dtypes: dict[str, str] = {}
        for pname, bname in ptr_buf.items():
            b = case.buffers[bname]
            self.buffers[pname] = from_storage(b.dtype, b.data).copy()
            self.roles[pname] = b.role
            self.dtypes[pname] = b.dtype
        self.ptr_buf = ptr_buf
        self.errs = {n: np.zeros(v.shape) for n, v in self.buffers.items()}
        self.owner = {n: np.full(v.shape, -1, dtype=np.int64) for n, v in self.buffers.items()}
        self.owner_stmt: dict[str, dict[int, str]] = {n: {} for n in self.buffers}
        self.stores = 0

    def write(self, pname: str, offs: np.ndarray, vals: np.ndarray, errs: np.ndarray,
              who: tuple[tuple[int, int, int], str]) -> None:
        buf = self.buffers[pname]
        if self.roles[pname] != "out":
            raise UndefinedBehaviour("store to an input buffer", pname)
        if offs.size and (offs.min() < 0 or offs.max() >= buf.size):
            raise UndefinedBehaviour("out-of-bounds store", f"{pname}[{offs.min()}..{offs.max()}] "
                                     f"of {buf.size}")
        uniq, first = np.unique(offs, return_index=True)
        if uniq.size != offs.size:
            order = np.argsort(offs, kind="stable")
            so, sv = offs[order], vals[order]
            same_off = so[1:] == so[:-1]
            if np.any(same_off & (sv[1:] != sv[:-1])):
                raise UndefinedBehaviour("racy store", "lanes of one store write different values "
                                         "to one element")
        pid, sid = who
        g = self.case.grid
        prog = (pid[2] * g[1] + pid[1]) * g[0] + pid[0]
        prev = self.owner[pname][uniq]
        if np.any((prev != -1) & (prev != prog)):
            raise UndefinedBehaviour("racy store", "two programs write one element")
        stmts = self.owner_stmt[pname]
        for o in uniq[prev == prog]:
            if stmts.get(int(o), sid) != sid:
                raise UndefinedBehaviour("racy store", "two stores of one program write one element")
        for o in uniq:
            stmts[int(o)] = sid
        dt = self.dtypes[pname]
        self.owner[pname][uniq] = prog
        buf[offs[first]] = vals[first] if dt not in UNIT_ROUNDOFF else vals[first].astype(np.float64)
        self.errs[pname][offs[first]] = errs[first]
        self.stores += 1

    def run(self, time_budget_s: float = TIME_BUDGET_S,
            memory_budget: int = MEMORY_BUDGET_BYTES) -> Reference:
        gx, gy, gz = self.case.grid
        static_bound(self.case)
        deadline = time.monotonic() + time_budget_s
        rss0 = _rss()
        for z in range(gz):
            for y in range(gy):
                for x in range(gx):
                    _Program(self, (x, y, z)).run(self.spec["body"])
                    if time.monotonic() > deadline:
                        raise UndefinedBehaviour("too large", f"reference ran past {time_budget_s:g}s")
                    if _rss() - rss0 > memory_budget:
                        raise UndefinedBehaviour("too large", f"reference grew past {memory_budget >> 20} MiB")
        values, errs, written = {}, {}, {}
        for pname, bname in self.ptr_buf.items():
            values[bname] = self.buffers[pname]
            errs[bname] = self.errs[pname]
            written[bname] = self.owner[pname] >= 0
        return Reference(values, errs, written, {"stores": self.stores})


def _rss() -> int:
    """Resident bytes of this process (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _count_nodes(node: Any) -> tuple[int, int]:
    """(nodes, largest tensor) of a spec body, iteratively: bodies may come from untrusted files."""
    nodes, largest, stack = 0, 1, [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            nodes += 1
            shape = n.get("shape") if "e" in n else None
            if n.get("e") == "arange" and isinstance(n.get("n"), int):
                shape = [n["n"]]
            if isinstance(shape, list) and all(isinstance(d, int) for d in shape):
                size = 1
                for d in shape:
                    size *= max(d, 1)
                largest = max(largest, size)
            stack.extend(v for v in n.values() if isinstance(v, (dict, list)))
        elif isinstance(n, list):
            stack.extend(n)
    return nodes, largest


def static_bound(case: KernelCase) -> None:
    """Refuse before running a case whose programs x nodes x elements is beyond the budget."""
    gx, gy, gz = case.grid
    programs = gx * gy * gz
    if programs < 1:
        raise UndefinedBehaviour("too large", f"grid {case.grid} has no programs")
    nodes, largest = _count_nodes(case.spec.get("body", []))
    work = programs * max(nodes, 1) * largest
    if work > MAX_STATIC_WORK:
        raise UndefinedBehaviour("too large", f"{programs} programs x {nodes} nodes x {largest} elements")
    elems = sum(b.size for b in case.buffers.values())
    if elems * 40 > MEMORY_BUDGET_BYTES:  # float64 value + error + owner + flags per element
        raise UndefinedBehaviour("too large", f"{elems} buffer elements")


def evaluate(case: KernelCase, time_budget_s: float = TIME_BUDGET_S,
             memory_budget: int = MEMORY_BUDGET_BYTES) -> Reference:
    """Expected buffers of `case`, or UndefinedBehaviour if the case is invalid on its inputs
    (reason "too large" when it is beyond the time or memory budget)."""
    try:
        return Evaluator(case).run(time_budget_s, memory_budget)
    except UndefinedBehaviour:
        raise
    except MemoryError:
        raise UndefinedBehaviour("too large", "the reference ran out of memory") from None
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise UndefinedBehaviour("ill-formed spec", f"{type(exc).__name__}: {exc}") from exc

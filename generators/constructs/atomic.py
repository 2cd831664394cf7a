"""tl.atomic_add/max/min/and/or/xor/xchg/cas on scalar or tensor pointers, masked, with `sem` and
`scope`, optionally binding the old value they return.

Determinism, enforced by the reference (the generator builds only cases that keep it):
- an atomic buffer is an output never touched by plain stores; its elements start from the
  buffer's known initial contents;
- an element hit more than once (by several lanes of one op, several programs or several
  statements) may only see one commutative op: add/max/min/and/or/xor on ints, max/min on
  floats, float add only when every partial sum in any order is exact (all terms on a common
  power-of-two grain, magnitudes within the significand); xchg and cas need one writer;
- an old value that is bound to a name must come from an element touched exactly once in the
  whole grid (else it depends on the order the hardware picks); masked-off lanes of a bound old
  value take `other` (rendered as `tl.where(mask, tl.atomic_*(...), other)`): what an atomic
  returns on a masked-off lane is unspecified.
Integer add wraps (atomicrmw add is modular). Float max/min follow Triton's lowering (signed max
on the bits of non-negative values, unsigned min on negative ones), which orders -0.0 below 0.0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, enum_f, expr_f, ident_f, register
from generators.constructs.examples import make_case
from generators.constructs.load import lane_mask
from generators.numerics import INT_RANGE, MAX_FINITE, UNIT_ROUNDOFF, round_to
from generators.semantics import UndefinedBehaviour, Val, round_term

OPS = ("add", "max", "min", "and", "or", "xor", "xchg", "cas")
# Element dtypes each op accepts in every triton 3.x release (fp16 only for add; no 8/16-bit ints).
OP_DTYPES = {"add": ("int32", "int64", "fp32", "fp16"), "max": ("int32", "int64", "fp32"),
             "min": ("int32", "int64", "fp32"), "and": ("int32", "int64"), "or": ("int32", "int64"),
             "xor": ("int32", "int64"), "xchg": ("int32", "int64", "fp32"), "cas": ("int32", "int64")}
COMMUTATIVE = ("add", "max", "min", "and", "or", "xor")
SEMS = ("acquire", "release", "acq_rel", "relaxed")
SCOPES = ("gpu", "cta", "sys")
OP_FEATURE = {"add": "atomic_add", "max": "atomic_minmax", "min": "atomic_minmax", "and": "atomic_bitwise",
              "or": "atomic_bitwise", "xor": "atomic_bitwise", "xchg": "atomic_xchg", "cas": "atomic_cas"}
SIGNIFICAND = {"fp32": 24, "fp16": 11, "bf16": 8, "fp64": 53}


def atomic(op: str, ptr: S.Expr, val: S.Expr, mask: S.Expr | None = None, name: str | None = None,
           other: S.Expr | None = None, cmp: S.Expr | None = None, sem: str | None = None,
           scope: str | None = None) -> S.Stmt:
    return {"s": "atomic", "op": op, "ptr": ptr, "val": val, "cmp": cmp, "mask": mask, "other": other,
            "sem": sem, "scope": scope, "name": name}


def grain(v: np.ndarray) -> np.ndarray:
    """Largest power of two dividing each value (inf for zero): the value's exactness grid."""
    v = np.abs(np.asarray(v, dtype=np.float64))
    m, e = np.frexp(v)
    big = np.ldexp(m, 53).astype(np.int64)  # v = big * 2^(e-53), big an integer below 2^53
    low = (big & -big).astype(np.float64)
    return np.where(v > 0, np.ldexp(low, e - 53), np.inf)


@dataclass
class AtomicLog:
    """Per atomic buffer: who touched each element and how, for the end-of-grid checks."""

    dt: str
    count: np.ndarray  # accesses (active lanes) per element
    op: np.ndarray  # index into OPS of the element's op, -1 while untouched
    observed: np.ndarray  # some access bound the old value
    mag: np.ndarray  # floats: sum of |init| and |every operand|
    grain: np.ndarray  # floats: finest power-of-two grain among init and operands
    inexact: np.ndarray  # floats: some operand or result carried an error
    name: str = ""
    notes: list[str] = field(default_factory=list)

    def finish(self) -> None:
        multi = self.count > 1
        if np.any(multi & self.observed):
            raise UndefinedBehaviour("order-dependent atomic result",
                                     f"old value of {self.name} bound where the element is hit more than once")
        if self.dt in UNIT_ROUNDOFF:
            adds = multi & (self.op == OPS.index("add"))
            bits = SIGNIFICAND[self.dt]
            bad = adds & (self.inexact | ~(self.mag / self.grain < 2.0**bits))
            if np.any(bad):
                raise UndefinedBehaviour("order-dependent atomic result",
                                         f"float atomic_add on {self.name} is not exact in every order")


def _log(ev: Any, pname: str) -> AtomicLog:
    logs = ev.state.setdefault("atomic", {})
    if pname not in logs:
        init = ev.buffers[pname]
        dt = ev.dtypes[pname]
        lg = AtomicLog(dt, np.zeros(init.shape, np.int64), np.full(init.shape, -1), np.zeros(init.shape, bool),
                       np.abs(init).astype(np.float64) if dt in UNIT_ROUNDOFF else np.zeros(init.shape),
                       grain(init) if dt in UNIT_ROUNDOFF else np.ones(init.shape),
                       np.zeros(init.shape, bool), name=pname)
        logs[pname] = lg
        ev.finish.append(lg.finish)
    return logs[pname]


def _wrap(dt: str, a: np.ndarray) -> np.ndarray:
    lo, hi = INT_RANGE[dt]
    span = hi - lo + 1
    if dt == "int64":
        return a.astype(np.int64)
    return ((a - lo) % span + lo).astype(np.int64)


def apply(ev: Any, pname: str, op: str, offs: np.ndarray, vals: np.ndarray, verr: np.ndarray,
          cmps: np.ndarray | None, bind: bool, who: tuple[tuple[int, int, int], str]) -> tuple[np.ndarray, np.ndarray]:
    """Perform one atomic statement's active lanes on buffer `pname`; returns (old, old_err)."""
    ev.claim(pname, "atomic")
    buf, errs = ev.buffers[pname], ev.errs[pname]
    if offs.size and (offs.min() < 0 or offs.max() >= buf.size):
        raise UndefinedBehaviour("out-of-bounds atomic", f"{pname}[{offs.min()}..{offs.max()}] of {buf.size}")
    lg = _log(ev, pname)
    code = OPS.index(op)
    prev = lg.op[offs]
    if np.any((prev != -1) & (prev != code)):
        raise UndefinedBehaviour("order-dependent atomic result", f"different atomic ops on one element of {pname}")
    uniq = np.unique(offs)
    dup = uniq.size != offs.size
    np.add.at(lg.count, offs, 1)
    lg.op[offs] = code
    if op not in COMMUTATIVE and np.any(lg.count[offs] > 1):
        raise UndefinedBehaviour("racy atomic", f"atomic_{op} with more than one writer on {pname}")
    if bind:
        if dup:
            raise UndefinedBehaviour("order-dependent atomic result", "lanes of one atomic share an element")
        lg.observed[offs] = True
    old, old_err = buf[offs].copy(), errs[offs].copy()
    dt = lg.dt
    is_float = dt in UNIT_ROUNDOFF
    if is_float and op == "add":
        np.add.at(lg.mag, offs, np.abs(vals))
        np.minimum.at(lg.grain, offs, grain(vals))
        np.logical_or.at(lg.inexact, offs, verr > 0)
        acc, prop = buf.copy(), errs.copy()
        np.add.at(acc, offs, vals)
        np.add.at(prop, offs, verr)
        r64, prop = acc[uniq], prop[uniq]
        if not np.all(np.isfinite(r64)) or np.any(np.abs(r64) > MAX_FINITE[dt]):
            raise UndefinedBehaviour("non-finite float", f"atomic_add on {pname} overflows {dt}")
        r = round_to(dt, r64)
        lg.inexact[uniq] |= r != r64
        buf[uniq], errs[uniq] = r, prop + round_term(dt, r, r64, prop)
    elif op in ("add", "and", "or", "xor"):
        f = {"add": np.add, "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}[op]
        acc = buf.copy()
        f.at(acc, offs, vals.astype(np.int64))
        buf[uniq] = _wrap(dt, acc[uniq]) if op == "add" else acc[uniq]
    elif op in ("max", "min"):
        if is_float:
            # Triton's bit-level max/min orders -0.0 below +0.0: compare (value, not signbit).
            for i, o in enumerate(offs):
                ka, kb = (buf[o], not np.signbit(buf[o])), (vals[i], not np.signbit(vals[i]))
                if (kb > ka) if op == "max" else (kb < ka):
                    buf[o] = vals[i]
                errs[o] = max(errs[o], verr[i])
        else:
            f = np.maximum if op == "max" else np.minimum
            f.at(buf, offs, vals.astype(buf.dtype))
    elif op == "xchg":
        buf[offs] = vals
        if is_float:
            errs[offs] = verr
    else:  # cas: store val where the element equals cmp
        assert cmps is not None
        hit = old == cmps
        buf[offs[hit]] = vals[hit]
    pid, _ = who
    g = ev.case.grid
    ev.owner[pname][uniq] = (pid[2] * g[1] + pid[1]) * g[0] + pid[0]  # marks them written
    return old, old_err


@register
class Atomic(Construct):
    name = "atomic"
    node = "atomic"
    kind = "stmt"
    fields = {"op": enum_f(OPS), "ptr": expr_f(), "val": expr_f(), "cmp": expr_f(optional=True),
              "mask": expr_f(optional=True), "other": expr_f(optional=True), "sem": enum_f(SEMS, optional=True),
              "scope": enum_f(SCOPES, optional=True), "name": ident_f(optional=True)}
    features = ("atomic_add", "atomic_minmax", "atomic_bitwise", "atomic_xchg", "atomic_cas", "atomic_scalar",
                "atomic_old", "atomic_sem")

    # ---- type rule ----
    def check(self, s: Node, tc: Any) -> None:
        op = s["op"]
        if op not in OPS:
            raise S.SpecError(f"unknown atomic op {op!r}")
        p = tc.ty(s["ptr"])
        if not p.ptr or p.handle:
            raise S.SpecError("atomic on a non-pointer")
        if p.dtype not in OP_DTYPES[op]:
            raise S.SpecError(f"atomic_{op} does not take {p.dtype}")
        v = tc.ty(s["val"])
        if v.ptr or v.dtype != p.dtype or S.broadcast_shapes(p.shape, v.shape) != p.shape:
            raise S.SpecError("atomic value must match the pointer's dtype and shape")
        if op == "cas":
            c = tc.ty(s["cmp"]) if s.get("cmp") is not None else None
            if c is None or c.ptr or c != S.Ty(p.dtype, p.shape) or v != S.Ty(p.dtype, p.shape):
                raise S.SpecError("atomic_cas takes cmp and val of exactly the pointer's dtype and shape")
            if s.get("mask") is not None:
                raise S.SpecError("atomic_cas takes no mask")
        elif s.get("cmp") is not None:
            raise S.SpecError("only atomic_cas takes cmp")
        if s.get("mask") is not None:
            m = tc.ty(s["mask"])
            if m.dtype != "int1" or m.ptr or S.broadcast_shapes(p.shape, m.shape) != p.shape:
                raise S.SpecError("atomic mask must be int1 of the pointer's shape")
        if s.get("sem") not in (None,) + SEMS or s.get("scope") not in (None,) + SCOPES:
            raise S.SpecError("unknown atomic sem/scope")
        name = s.get("name")
        if name is None:
            if s.get("other") is not None:
                raise S.SpecError("atomic other= only comes with a bound old value")
            return
        if s.get("mask") is not None:
            if s.get("other") is None:
                raise S.SpecError("a masked atomic's bound old value needs other= for masked-off lanes")
            o = tc.ty(s["other"])
            if o.ptr or o.dtype != p.dtype or S.broadcast_shapes(p.shape, o.shape) != p.shape:
                raise S.SpecError("atomic other= must be a value of the pointer's dtype and shape")
        elif s.get("other") is not None:
            raise S.SpecError("atomic other= needs a mask")
        if name in tc.params:
            raise S.SpecError(f"{name} shadows a parameter")
        t = S.Ty(p.dtype, p.shape)
        if tc.env.get(name, t) != t:
            raise S.SpecError(f"{name} changes type")
        tc.env[name] = t

    # ---- rendering ----
    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        args = [r.e(s["ptr"])]
        if s["op"] == "cas":
            args.append(r.e(s["cmp"]))
        args.append(r.e(s["val"]))
        if s.get("mask") is not None:
            args.append(f"mask={r.e(s['mask'])}")
        for k in ("sem", "scope"):
            if s.get(k) is not None:
                args.append(f'{k}="{s[k]}"')
        call = f"tl.atomic_{s['op']}({', '.join(args)})"
        pad = "    " * indent
        if s.get("name") is None:
            r.lines.append(f"{pad}{call}")
            return
        if s.get("mask") is not None:
            call = f"tl.where({r.e(s['mask'])}, {call}, {r.e(s['other'])})"
        r.lines.append(f"{pad}{s['name']} = {call}")
        p = r.ty(s["ptr"])
        r.env[s["name"]] = S.Ty(p.dtype, p.shape)

    # ---- reference semantics ----
    def run(self, s: Node, p: Any, path: str) -> None:
        ptr = p.expr(s["ptr"])
        shape = ptr.a.shape
        mask = lane_mask(s, p, shape)
        v = p.expr(s["val"])
        vals = np.broadcast_to(v.a, shape)
        verr = np.broadcast_to(v.err, shape) if v.err is not None else np.zeros(shape)
        cmps = None
        if s["op"] == "cas":
            cmps = np.broadcast_to(p.expr(s["cmp"]).a, shape)[mask]
        bind = s.get("name") is not None
        old, old_err = apply(p.ev, ptr.buf, s["op"], np.asarray(ptr.a)[mask], vals[mask], verr[mask], cmps, bind,
                             (p.pid, path))
        if not bind:
            return
        dt = p.ev.dtypes[ptr.buf]
        full = np.zeros(shape, dtype=np.float64 if dt in UNIT_ROUNDOFF else np.int64)
        ferr = np.zeros(shape)
        if s.get("other") is not None:
            o = p.expr(s["other"])
            full[...] = np.broadcast_to(o.a, shape)
            if o.err is not None:
                ferr[...] = np.broadcast_to(o.err, shape)
        full[mask] = old
        ferr[mask] = old_err
        p.env[s["name"]] = Val(full, dt, ferr) if dt in UNIT_ROUNDOFF else Val(full, dt)

    # ---- features ----
    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        f = fw.found
        f.add(OP_FEATURE.get(n["op"], "atomic_add"))
        p = fw.ty(n["ptr"])
        if not p.shape:
            f.add("atomic_scalar")
        if n.get("sem") is not None or n.get("scope") is not None:
            f.add("atomic_sem")
        if n.get("name") is not None:
            f.add("atomic_old")
            fw.env[n["name"]] = S.Ty(p.dtype, p.shape)

    # ---- reduction ----
    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n.get("sem") is not None or n.get("scope") is not None:
            yield {**n, "sem": None, "scope": None}, "default atomic sem/scope"
        if n.get("name") is not None:
            yield {**n, "name": None, "other": None}, "drop atomic result"
        if n.get("mask") is not None:
            yield {**n, "mask": None, "other": None}, "drop atomic mask"
        if n["op"] not in ("add", "cas"):
            yield {**n, "op": "add"}, "atomic_add"

    # ---- example ----
    def example(self) -> Any:
        """Histogram-style adds from every lane of two programs, and a bound exchange per lane."""
        offs = S.bin_("+", S.bin_("*", S.pid(0), S.const(8, "int32")), S.arange(8))
        m = S.bin_("<", S.var("offs"), S.arg("n"))
        body = [S.let("offs", offs),
                S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs")), m, S.const(0, "int32"))),
                atomic("add", S.bin_("+", S.arg("h_ptr"), S.bin_("%", S.var("offs"), S.const(3, "int32"))),
                       S.var("x"), m, sem="relaxed"),
                atomic("xchg", S.bin_("+", S.arg("a_ptr"), S.var("offs")), S.var("x"), m, name="old",
                       other=S.const(0, "int32")),
                atomic("max", S.arg("c_ptr"), S.reduce_("max", S.var("x"), 0), scope="gpu"),
                S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), S.var("old"), m)]
        return make_case(body, {"x_ptr": ("int32", [i * 3 - 7 for i in range(14)])},
                         {"h_ptr": ("int32", 3), "a_ptr": ("int32", 14), "c_ptr": ("int32", 1), "o_ptr": ("int32", 14)},
                         scalars={"n": ("int32", 14)}, grid=(2, 1, 1))

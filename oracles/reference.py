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
from collections.abc import Callable
from typing import Any

import numpy as np

from generators.case import KernelCase
from generators.constructs import expr_construct, stmt_construct
from generators.numerics import UNIT_ROUNDOFF, from_storage
from generators.semantics import MAX_LOOP_TRIPS, EarlyReturn, Reference, UndefinedBehaviour, Val
from generators.spec import Expr, Stmt, params_by_name

__all__ = ["MAX_LOOP_TRIPS", "Evaluator", "Program", "Reference", "UndefinedBehaviour", "Val", "evaluate",
           "static_bound"]

# Budget of one evaluation: a case beyond it is refused as `invalid: too large`, never run for
# hours (a corpus file may ask for 2**31 programs). Static: programs x spec nodes x the largest
# tensor; dynamic: wall clock and growth of this process's resident memory, checked per program.
MAX_STATIC_WORK = 2_000_000_000
TIME_BUDGET_S = 60.0
MEMORY_BUDGET_BYTES = 2 << 30


class Program:
    """Evaluates the spec body for one program id; each node's semantics is its construct's."""

    def __init__(self, ev: Evaluator, pid: tuple[int, int, int]) -> None:
        self.ev = ev
        self.pid = pid
        self.env: dict[str, Val] = {}

    def run(self, body: list[Stmt], path: str = "") -> None:
        for i, s in enumerate(body):
            stmt_construct(s["s"]).run(s, self, f"{path}{i}")

    def expr(self, e: Expr) -> Val:
        return expr_construct(e["e"]).evaluate(e, self)


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
        # Ownership of an output buffer: plain stores ("store") or atomics ("atomic"), never both,
        # so an atomic buffer's elements evolve from their known initial contents only.
        self.access: dict[str, str] = {}
        # Checks that need the whole grid (atomic old values, order-independence), run at the end.
        self.finish: list[Callable[[], None]] = []
        self.state: dict[str, Any] = {}  # per-construct bookkeeping across programs

    def claim(self, pname: str, how: str) -> None:
        """Mark output buffer `pname` as written by `how` ("store" or "atomic"); mixing is UB."""
        if self.roles[pname] != "out":
            raise UndefinedBehaviour(f"{how} to an input buffer", pname)
        if self.access.setdefault(pname, how) != how:
            raise UndefinedBehaviour("atomic and plain store on one buffer", pname)

    def write(self, pname: str, offs: np.ndarray, vals: np.ndarray, errs: np.ndarray,
              who: tuple[tuple[int, int, int], str]) -> None:
        buf = self.buffers[pname]
        self.claim(pname, "store")
        if offs.size and (offs.min() < 0 or offs.max() >= buf.size):
            raise UndefinedBehaviour("out-of-bounds store", f"{pname}[{offs.min()}..{offs.max()}] "
                                     f"of {buf.size}")
        if errs.size and not np.all(np.isfinite(errs)):
            raise UndefinedBehaviour("store of an undefined value", f"{pname}: a NaN-padded lane reaches a store")
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
                    try:
                        Program(self, (x, y, z)).run(self.spec["body"])
                    except EarlyReturn:  # `return` ends this program only
                        pass
                    if time.monotonic() > deadline:
                        raise UndefinedBehaviour("too large", f"reference ran past {time_budget_s:g}s")
                    if _rss() - rss0 > memory_budget:
                        raise UndefinedBehaviour("too large", f"reference grew past {memory_budget >> 20} MiB")
        for check in self.finish:
            check()
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

"""Spec-level test-case reduction: delta debugging on KernelSpec, not on text.

Like C-Reduce, it runs simplification passes to a fixpoint and keeps a change only when the
caller's `interesting` predicate still holds (same finding signature, still UB-free, healthy
backends still agree with the reference). Working on the typed AST means every candidate is a
well-formed kernel: ill-typed candidates are rejected by the type checker before any backend
runs, and the predicate's reference evaluation rejects any that would be undefined.

Passes: drop statements (ddmin over chunks), unroll or shorten loops, each statement's own simpler
forms (an `if` by one branch), inline let-bound values,
replace expressions by their operands or by constants/splats, drop masks, shrink the grid, drop
unused parameters and buffers.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from generators import spec as S
from generators.case import KernelCase
from generators.constructs import expr_construct, stmt_construct
from generators.generator import case_from_spec

Predicate = Callable[[KernelCase], bool]


@dataclass
class ReduceStats:
    steps: int = 0  # predicate evaluations that ran backends
    cached: int = 0
    ill_typed: int = 0
    accepted: dict[str, int] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    stopped: str = "fixpoint"

    def summary(self) -> str:
        moves = ", ".join(f"{k} x{v}" for k, v in sorted(self.accepted.items())) or "nothing"
        b, a = self.before, self.after
        return (f"statements {b.get('statements')} -> {a.get('statements')}, expression nodes "
                f"{b.get('nodes')} -> {a.get('nodes')}, params {b.get('params')} -> {a.get('params')}, "
                f"programs {b.get('programs')} -> {a.get('programs')}; accepted: {moves}; "
                f"{self.steps} runs, {self.cached} cached, {self.ill_typed} ill-typed skipped, "
                f"{self.seconds:.1f}s ({self.stopped})")


def size_of(spec: dict[str, Any]) -> dict[str, int]:
    stmts = sum(1 for n in S.walk(spec["body"]) if "s" in n)
    nodes = sum(1 for n in S.walk(spec["body"]) if "e" in n)
    g = spec["grid"]
    return {"statements": stmts, "nodes": nodes, "params": len(spec["params"]), "programs": g[0] * g[1] * g[2]}


def rebuild(case: KernelCase, spec: dict[str, Any], launch: dict[str, Any] | None = None) -> KernelCase:
    """A case for an edited spec: unused params, args and buffers dropped, source re-rendered;
    the case's launch options kept unless `launch` replaces them."""
    spec = copy.deepcopy(spec)
    used = {n["name"] for n in S.walk(spec["body"]) if n.get("e") == "arg"}
    for n in S.walk(spec["body"]):  # constexpr block sizes named by tl.arange
        if n.get("e") == "arange" and n.get("cx"):
            used.add(n["cx"])
    spec["params"] = [p for p in spec["params"] if p["name"] in used]
    args = [copy.copy(a) for a in case.args if a.name in used]
    values = {p["name"]: p.get("value") for p in spec["params"] if p["kind"] != "ptr"}
    for a in args:  # launch values follow the spec's (the reducer edits those)
        if a.name in values:
            a.value = values[a.name]
    bufs = {a.buffer: case.buffers[a.buffer] for a in args if a.kind == "ptr" and a.buffer}
    return case_from_spec(spec, args, bufs, case.seed, case.launch if launch is None else launch)


class Reducer:
    def __init__(self, case: KernelCase, interesting: Predicate, budget_s: float = 120.0, max_steps: int = 2000,
                 progress: Callable[[str], None] | None = None) -> None:
        self.best = case
        self.interesting = interesting
        self.deadline = time.monotonic() + budget_s
        self.max_steps = max_steps
        self.progress = progress or (lambda _msg: None)
        self.seen: dict[str, bool] = {}
        self.stats = ReduceStats(before=size_of(case.spec))
        self.t0 = time.monotonic()

    # ---- driver ----
    def out_of_budget(self) -> bool:
        if time.monotonic() > self.deadline:
            self.stats.stopped = "time budget"
            return True
        if self.stats.steps >= self.max_steps:
            self.stats.stopped = "step budget"
            return True
        return False

    def attempt(self, spec: dict[str, Any], move: str, launch: dict[str, Any] | None = None) -> bool:
        """Try a candidate spec (and launch options); adopt it when the predicate holds."""
        try:
            cand = rebuild(self.best, spec, launch)
        except S.SpecError:
            self.stats.ill_typed += 1
            return False
        key = cand.case_id
        if key in self.seen:
            self.stats.cached += 1
            return False
        if self.out_of_budget():
            return False
        self.stats.steps += 1
        ok = bool(self.interesting(cand))
        self.seen[key] = ok
        if ok and size_key(cand) < size_key(self.best):
            self.best = cand
            self.stats.accepted[move] = self.stats.accepted.get(move, 0) + 1
            sz = size_of(cand.spec)
            self.progress(f"reduce: {move} -> {sz['statements']} statements, {sz['nodes']} nodes "
                          f"({self.stats.steps} runs)")
            return True
        return False

    def run(self) -> KernelCase:
        passes = [self.pass_grid, self.pass_drop_statements, self.pass_loops, self.pass_statements,
                  self.pass_inline, self.pass_expressions, self.pass_constexpr_values]
        changed = True
        while changed and not self.out_of_budget():
            changed = False
            for p in passes:
                if self.out_of_budget():
                    break
                if p():
                    changed = True
        self.stats.after = size_of(self.best.spec)
        self.stats.seconds = time.monotonic() - self.t0
        return self.best

    # ---- passes (each returns True if it made progress) ----
    def pass_grid(self) -> bool:
        progress = False
        for key in sorted(self.best.launch):  # a compile option is the simplest thing to drop
            launch = {k: v for k, v in self.best.launch.items() if k != key}
            progress = self.attempt(copy.deepcopy(self.best.spec), f"drop {key}", launch) or progress
        for axis in range(3):
            while self.best.spec["grid"][axis] > 1:
                spec = copy.deepcopy(self.best.spec)
                spec["grid"][axis] = 1 if spec["grid"][axis] > 2 else spec["grid"][axis] - 1
                if not self.attempt(spec, "shrink grid"):
                    break
                progress = True
        return progress

    def pass_drop_statements(self) -> bool:
        """ddmin over each statement list, largest chunks first."""
        progress = False
        for path in list(_block_paths(self.best.spec["body"])):
            block = _get(self.best.spec["body"], path)
            if block is None:
                continue
            n = len(block)
            chunk = max(1, n // 2)
            while chunk >= 1:
                i = 0
                while i < len(_get(self.best.spec["body"], path) or []):
                    spec = copy.deepcopy(self.best.spec)
                    blk = _get(spec["body"], path)
                    if blk is None:
                        break
                    del blk[i:i + chunk]
                    if self.attempt(spec, "drop statements"):
                        progress = True
                    else:
                        i += chunk
                chunk //= 2
        return progress

    def pass_loops(self) -> bool:
        progress = False
        for path in list(_stmt_paths(self.best.spec["body"])):
            s = _get(self.best.spec["body"], path)
            if not isinstance(s, dict) or s.get("s") != "for":
                continue
            # unroll one iteration: the body with the loop variable replaced by its lower bound
            spec = copy.deepcopy(self.best.spec)
            parent, idx = _parent(spec["body"], path)
            loop = parent[idx]
            body = [_subst(st, loop["var"], loop["lo"]) for st in loop["body"]]
            parent[idx:idx + 1] = body
            if self.attempt(spec, "unroll loop"):
                progress = True
                continue
            spec = copy.deepcopy(self.best.spec)
            parent, idx = _parent(spec["body"], path)
            lo = parent[idx]["lo"]
            parent[idx]["hi"] = S.bin_("+", lo, S.const(1, "int32")) if lo["e"] != "const" else S.const(
                lo["v"] + 1, "int32")
            if self.attempt(spec, "one loop trip"):
                progress = True
        return progress

    def pass_statements(self) -> bool:
        """Each statement's own simpler forms (an `if` by one branch, a `while` by one trip...)."""
        progress = False
        for path in list(_stmt_paths(self.best.spec["body"])):
            s = _get(self.best.spec["body"], path)
            if not isinstance(s, dict) or "s" not in s:
                continue
            for repl, move in stmt_construct(s["s"]).simplify(s):
                spec = copy.deepcopy(self.best.spec)
                parent, idx = _parent(spec["body"], path)
                parent[idx:idx + 1] = copy.deepcopy(repl if isinstance(repl, list) else [repl])
                if self.attempt(spec, move):
                    progress = True
                    break
        return progress

    def pass_inline(self) -> bool:
        """Replace a variable by its defining expression and drop the `let` (fewer statements)."""
        progress = False
        for path in list(_stmt_paths(self.best.spec["body"])):
            spec = copy.deepcopy(self.best.spec)
            try:
                parent, idx = _parent(spec["body"], path)
            except (IndexError, KeyError, TypeError):
                continue
            s = parent[idx] if isinstance(parent, list) and idx < len(parent) else None
            if not isinstance(s, dict) or s.get("s") != "let":
                continue
            name = s["name"]
            # only single definitions (not loop-carried) are inlined
            defs = [n for n in S.walk(spec["body"]) if n.get("s") == "let" and n["name"] == name]
            if len(defs) != 1:
                continue
            rest = parent[idx + 1:]
            parent[idx + 1:] = [_subst(st, name, s["e"]) for st in rest]
            del parent[idx]
            if self.attempt(spec, "inline let"):
                progress = True
        return progress

    def pass_expressions(self) -> bool:
        progress = False
        i = 0
        while True:
            sites = list(_expr_sites(self.best.spec["body"]))
            if i >= len(sites) or self.out_of_budget():
                break
            path = sites[i]
            node = _get(self.best.spec["body"], path)
            replaced = False
            for cand, move in _replacements(node):
                spec = copy.deepcopy(self.best.spec)
                _set(spec["body"], path, cand)
                if self.attempt(spec, move):
                    progress = replaced = True
                    break
            if not replaced:
                i += 1
        return progress

    def pass_constexpr_values(self) -> bool:
        """Smaller scalar arguments (not block sizes): strides, bounds, scales."""
        progress = False
        for k, p in enumerate(self.best.spec["params"]):
            if p["kind"] == "ptr" or not isinstance(p.get("value"), int) or p["value"] in (0, 1):
                continue
            if any(n.get("cx") == p["name"] for n in S.walk(self.best.spec["body"])):
                continue
            spec = copy.deepcopy(self.best.spec)
            spec["params"][k]["value"] = 1
            if self.attempt(spec, "simplify scalar"):
                progress = True
        return progress


def size_key(case: KernelCase) -> tuple[int, int, int, int, int]:
    s = size_of(case.spec)
    return (s["statements"], s["nodes"], s["params"], s["programs"], len(case.launch))


# ---- tree paths ----
Path = tuple[Any, ...]


def _get(root: Any, path: Path) -> Any:
    cur = root
    for p in path:
        try:
            cur = cur[p]
        except (IndexError, KeyError, TypeError):
            return None
    return cur


def _set(root: Any, path: Path, value: Any) -> None:
    _get(root, path[:-1])[path[-1]] = value


def _parent(root: Any, path: Path) -> tuple[list[Any], int]:
    return _get(root, path[:-1]), path[-1]


def _blocks(s: Any) -> Iterator[tuple[str, list[Any]]]:
    if not isinstance(s, dict) or "s" not in s:
        return iter(())
    return stmt_construct(s["s"]).blocks(s)


def _block_paths(body: list[Any], prefix: Path = ()) -> Iterator[Path]:
    yield prefix
    for i, s in enumerate(body):
        for key, blk in _blocks(s):
            yield from _block_paths(blk, prefix + (i, key))


def _stmt_paths(body: list[Any], prefix: Path = ()) -> Iterator[Path]:
    """Statement paths, last first, so deleting one leaves earlier paths valid."""
    paths: list[Path] = []
    for i, s in enumerate(body):
        paths.append(prefix + (i,))
        for key, blk in _blocks(s):
            paths.extend(_stmt_paths(blk, prefix + (i, key)))
    yield from reversed(paths)


def _expr_sites(body: list[Any], prefix: Path = ()) -> Iterator[Path]:
    """Paths of expression slots in statement order, outermost first."""
    for i, s in enumerate(body):
        base = prefix + (i,)
        c = stmt_construct(s["s"])
        for key, sub in c.children(s):
            if key[0] not in ("lo", "hi"):  # loop bounds have their own pass
                yield from _expr_tree(sub, base + key)
        for key, blk in c.blocks(s):
            yield from _expr_sites(blk, base + (key,))


def _expr_tree(e: dict[str, Any], path: Path) -> Iterator[Path]:
    yield path
    for key, sub in expr_construct(e["e"]).children(e):
        yield from _expr_tree(sub, path + key)


def _replacements(e: dict[str, Any] | None) -> Iterator[tuple[Any, str]]:
    """Simpler candidates for one expression: each construct's own simplifications."""
    if not isinstance(e, dict) or "e" not in e:
        return iter(())
    return expr_construct(e["e"]).simplify(e)


def _subst(node: Any, name: str, value: dict[str, Any]) -> Any:
    """Replace variable `name` by `value` (stops where a let or loop rebinds it)."""
    if isinstance(node, list):
        out = []
        for s in node:
            out.append(_subst(s, name, value))
            if isinstance(s, dict) and s.get("s") == "let" and s["name"] == name:
                out.extend(copy.deepcopy(node[len(out):]))
                return out
        return out
    if isinstance(node, dict):
        if node.get("e") == "var" and node["name"] == name:
            return copy.deepcopy(value)
        binds = stmt_construct(node["s"]).binds if "s" in node else None
        if binds and node.get(binds) == name:
            return copy.deepcopy(node)
        return {k: _subst(v, name, value) for k, v in node.items()}
    return node

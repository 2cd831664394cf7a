"""Typed positions in a kernel spec, for the metamorphic relations that rewrite it.

Why its own module: every relation needs "each expression with its type and the place that holds
it" (to wrap an operand, replace a literal, cast an offset), and block splitting needs which tile
dimensions are tied together. Both read the spec exactly as `generators.spec` types it, so a
rewrite that type-checks means the same shapes and dtypes as the original.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from generators import spec as S

CHILD_KEYS = ("a", "b", "x", "c", "acc", "ptr", "mask", "other")


@dataclass
class Site:
    """One expression: `holder[key] is node`; `parent` is the enclosing expression (or None)."""

    holder: Any
    key: Any
    node: dict[str, Any]
    ty: S.Ty
    ctx: str  # "let" | "store" | "bound" (a range bound) | "static" (a static_range bound)
    parent: dict[str, Any] | None

    def replace(self, new: dict[str, Any]) -> None:
        self.holder[self.key] = new


def sites(spec: dict[str, Any]) -> list[Site]:
    """Every expression of the body in statement order, outermost first, with its type."""
    params = S.params_by_name(spec)
    out: list[Site] = []

    def expr(holder: Any, key: Any, env: dict[str, S.Ty], ctx: str, parent: dict[str, Any] | None) -> None:
        node = holder[key]
        out.append(Site(holder, key, node, S.typeof(node, env, params), ctx, parent))
        for k in CHILD_KEYS:
            sub = node.get(k)
            if isinstance(sub, dict) and "e" in sub:
                expr(node, k, env, ctx, node)
        for i in range(len(node.get("args", []) or [])):
            expr(node["args"], i, env, ctx, node)

    def block(body: list[dict[str, Any]], env: dict[str, S.Ty]) -> None:
        for s in body:
            k = s["s"]
            if k == "let":
                expr(s, "e", env, "let", None)
                env[s["name"]] = S.typeof(s["e"], env, params)
            elif k == "store":
                for key in ("ptr", "val", "mask"):
                    if s.get(key) is not None:
                        expr(s, key, env, "store", None)
            elif k == "for":
                ctx = "static" if s.get("kind") == "static_range" else "bound"
                expr(s, "lo", env, ctx, None)
                expr(s, "hi", env, ctx, None)
                inner = dict(env)
                inner[s["var"]] = S.Ty("int32")
                block(s["body"], inner)
                for name in env:
                    env[name] = inner[name]
            else:  # a construct these relations do not rewrite: only learn what it binds
                from generators.constructs import stmt_construct

                tc = S.TypeCtx(env, params)
                stmt_construct(k).check(s, tc)

    block(spec["body"], {})
    return out


def names_in_use(spec: dict[str, Any]) -> set[str]:
    """Parameter, variable and loop-variable names (fresh names must avoid all of them)."""
    names = {p["name"] for p in spec["params"]} | {spec.get("name", "kernel"), "tl", "triton"}
    for n in S.walk(spec["body"]):
        if n.get("s") == "let":
            names.add(n["name"])
        elif n.get("s") == "for":
            names.add(n["var"])
        elif n.get("e") in ("var", "arg"):
            names.add(n["name"])
    return names


def fresh(spec: dict[str, Any], prefix: str) -> str:
    used = names_in_use(spec)
    i = 0
    while f"{prefix}{i}" in used:
        i += 1
    return f"{prefix}{i}"


def reads(node: Any) -> set[str]:
    """Variable names an expression or statement (recursively) reads."""
    return {n["name"] for n in S.walk(node) if isinstance(n, dict) and n.get("e") == "var"}


def writes(stmt: dict[str, Any]) -> set[str]:
    """Variable names a statement binds (a loop: its variable and every let inside)."""
    if stmt["s"] == "let":
        return {stmt["name"]}
    if stmt["s"] == "for":
        return {stmt["var"]} | {n["name"] for n in S.walk(stmt["body"]) if n.get("s") == "let"}
    return set()


# Expression constructs with a side effect: never moved past anything.
EFFECTFUL_EXPRS = frozenset({"atomic"})


def _expr_kind(n: Any) -> str | None:
    """The construct name of an expression node (a let statement's "e" is its expression)."""
    e = n.get("e") if isinstance(n, dict) else None
    return e if isinstance(e, str) else None


def is_barrier(stmt: dict[str, Any]) -> bool:
    """A statement no reordering may move across: anything but let/for/store (while, if, return,
    descriptor and block-pointer stores, ...), or one that holds an atomic."""
    if stmt["s"] not in ("let", "for", "store"):
        return True
    if any(_expr_kind(n) in EFFECTFUL_EXPRS for n in S.walk(stmt)):
        return True
    return stmt["s"] == "for" and any(is_barrier(b) for b in stmt["body"])


def pointer_roots(spec: dict[str, Any]) -> dict[str, set[str]]:
    """For every variable, the pointer parameters its value is computed from (so a statement
    that reads `p` is known to touch the buffer of `x_ptr` when `p = x_ptr + offs`)."""
    ptrs = {p["name"] for p in spec["params"] if p["kind"] == "ptr"}
    roots: dict[str, set[str]] = {}

    def of(node: Any) -> set[str]:
        out: set[str] = set()
        for n in S.walk(node):
            if _expr_kind(n) == "arg" and n.get("name") in ptrs:
                out.add(n["name"])
            elif _expr_kind(n) == "var":
                out |= roots.get(n["name"], set())
        return out

    def block(body: list[dict[str, Any]]) -> None:
        for st in body:
            if st["s"] == "let":
                roots[st["name"]] = roots.get(st["name"], set()) | of(st["e"])
            elif st["s"] == "for":
                for _ in range(2):  # loop-carried pointers: once more for what the body feeds back
                    block(st["body"])
            else:  # any other statement may bind names from anything it reads
                found = of(st)
                for name in writes_any(st):
                    roots[name] = roots.get(name, set()) | found

    block(spec["body"])
    return roots


def buffers_touched(node: Any, roots: dict[str, set[str]]) -> set[str]:
    """Pointer parameters an expression or statement reaches, directly or through variables."""
    out: set[str] = set()
    for n in S.walk(node):
        if _expr_kind(n) == "arg":
            out.add(n["name"])
        elif _expr_kind(n) == "var":
            out |= roots.get(n["name"], set())
    return out


def writes_any(stmt: dict[str, Any]) -> set[str]:
    """Every name a statement of any kind may bind (lets, loop variables, tuple targets, ...)."""
    out = writes(stmt)
    for n in S.walk(stmt):
        if isinstance(n, dict) and isinstance(n.get("s"), str):
            for key in ("name", "var"):
                if isinstance(n.get(key), str):
                    out.add(n[key])
            for key in ("names", "targets"):
                if isinstance(n.get(key), list):
                    out |= {x for x in n[key] if isinstance(x, str)}
    return out


def uses_of_arg(spec: dict[str, Any], name: str) -> tuple[int, int, int]:
    """(expression uses, uses as an arange's constexpr size, uses inside static_range bounds)."""
    expr_uses = sum(1 for n in S.walk(spec["body"]) if n.get("e") == "arg" and n["name"] == name)
    cx = sum(1 for n in S.walk(spec["body"]) if n.get("e") == "arange" and n.get("cx") == name)
    static = 0
    for n in S.walk(spec["body"]):
        if n.get("s") == "for" and n.get("kind") == "static_range":
            static += sum(1 for m in S.walk([n["lo"], n["hi"]]) if m.get("e") == "arg" and m["name"] == name)
    return expr_uses, cx, static


# ---- tile dimensions: which axes of which tensors are one dimension of the tile ----


class Dims:
    """Union-find over tensor dimensions, with the facts block splitting needs.

    Every dimension of every tensor gets an id; broadcasting two equal non-1 sizes ties their ids,
    `dot` ties the contraction dims, and dims that lanes mix across (reduced, contracted,
    reshaped) are tainted. The shape entries of `full`, `broadcast_to` and `reshape` nodes and the
    sizes of `arange` nodes are remembered by id, so a class can be resized consistently.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.parent: list[int] = []
        self.size: list[int] = []
        self.tainted: set[int] = set()
        self.aranges: list[tuple[dict[str, Any], int]] = []
        self.shape_entries: list[tuple[list[int], int, int]] = []  # (shape list, index, dim id)
        self.dots: list[tuple[int, ...]] = []  # dims of every dot's operands and result
        self.params = S.params_by_name(spec)
        self._block(spec["body"], {})

    def new(self, size: int) -> int:
        self.parent.append(len(self.parent))
        self.size.append(size)
        return len(self.parent) - 1

    def find(self, d: int) -> int:
        while self.parent[d] != d:
            self.parent[d] = self.parent[self.parent[d]]
            d = self.parent[d]
        return d

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def taint(self, d: int) -> None:
        self.tainted.add(d)

    def is_tainted(self, d: int) -> bool:
        root = self.find(d)
        return any(self.find(t) == root for t in self.tainted)

    def members(self, d: int) -> list[int]:
        root = self.find(d)
        return [i for i in range(len(self.parent)) if self.find(i) == root]

    def _bcast(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
        if not a:
            return b
        if not b:
            return a
        out = []
        for x, y in zip(a, b):
            if self.size[x] == self.size[y]:
                if self.size[x] != 1:
                    self.union(x, y)
                out.append(x)
            else:
                out.append(x if self.size[y] == 1 else y)
        return tuple(out)

    def _fresh_shape(self, shape: list[int]) -> tuple[int, ...]:
        ids = []
        for i, n in enumerate(shape):
            d = self.new(int(n))
            self.shape_entries.append((shape, i, d))
            ids.append(d)
        return tuple(ids)

    def expr(self, e: dict[str, Any], env: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
        k = e["e"]
        if k == "var":
            return env[e["name"]]
        if k in ("arg", "const", "pid"):
            return ()
        if k == "arange":
            d = self.new(int(e["n"]))
            self.aranges.append((e, d))
            return (d,)
        if k == "full":
            return self._fresh_shape(e["shape"])
        if k == "bin":
            return self._bcast(self.expr(e["a"], env), self.expr(e["b"], env))
        if k == "where":
            c = self.expr(e["c"], env)
            return self._bcast(c, self._bcast(self.expr(e["a"], env), self.expr(e["b"], env)))
        if k == "call":
            ds = [self.expr(a, env) for a in e["args"]]
            out = ds[0]
            for d in ds[1:]:
                out = self._bcast(out, d)
            return out
        if k in ("un", "cast"):
            return self.expr(e["x"], env)
        if k == "expand":
            x = list(self.expr(e["x"], env))
            x.insert(e["axis"], self.new(1))
            return tuple(x)
        if k == "bcast":
            x = self.expr(e["x"], env)
            new = self._fresh_shape(e["shape"])
            for a, b in zip(x, new):
                if self.size[a] != 1:
                    self.union(a, b)
            return new
        if k == "reshape":
            for d in self.expr(e["x"], env):
                if self.size[d] != 1:
                    self.taint(d)
            new = self._fresh_shape(e["shape"])
            for d in new:
                if self.size[d] != 1:
                    self.taint(d)
            return new
        if k == "trans":
            return tuple(reversed(self.expr(e["x"], env)))
        if k == "reduce":
            x = self.expr(e["x"], env)
            self.taint(x[e["axis"]])
            return x[:e["axis"]] + x[e["axis"] + 1:]
        if k == "dot":
            a, b = self.expr(e["a"], env), self.expr(e["b"], env)
            self.union(a[1], b[0])
            self.taint(a[1])
            out = (a[0], b[1])
            if e.get("acc") is not None:
                out = self._bcast(out, self.expr(e["acc"], env))
            self.dots.append((*a, *b, *out))
            return out
        if k == "load":
            p = self.expr(e["ptr"], env)
            if e.get("mask") is not None:
                p = self._bcast(p, self.expr(e["mask"], env))
            if e.get("other") is not None:
                p = self._bcast(p, self.expr(e["other"], env))
            return p
        raise S.SpecError(f"unknown expression node {k!r}")

    def _block(self, body: list[dict[str, Any]], env: dict[str, tuple[int, ...]]) -> None:
        for s in body:
            k = s["s"]
            if k == "let":
                d = self.expr(s["e"], env)
                old = env.get(s["name"])
                if old is not None:
                    self._bcast(old, d)
                env[s["name"]] = d
            elif k == "store":
                d = self.expr(s["ptr"], env)
                d = self._bcast(d, self.expr(s["val"], env))
                if s.get("mask") is not None:
                    self._bcast(d, self.expr(s["mask"], env))
            elif k == "for":
                self.expr(s["lo"], env)
                self.expr(s["hi"], env)
                inner = dict(env)
                inner[s["var"]] = ()
                self._block(s["body"], inner)
                for name in env:
                    if inner[name] is not env[name]:
                        self._bcast(env[name], inner[name])
            elif k == "if":  # both branches are seen: a reduction in either taints its dims
                self.expr(s["c"], env)
                merged: dict[str, tuple[int, ...]] = {}
                for key in ("then", "else"):
                    inner = dict(env)
                    self._block(s[key], inner)
                    for name, d in inner.items():
                        if env.get(name) is d:
                            continue
                        if name in env:
                            self._bcast(env[name], d)
                        elif name in merged:
                            self._bcast(merged[name], d)
                        else:
                            merged[name] = d
                env.update(merged)
            elif k == "assume":
                self.expr(s["c"], env)
            else:  # an unseen statement could mix lanes of a dim: no proof, no split
                raise S.SpecError(f"block splitting does not see through a {k!r} statement")


def iter_stmts(body: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for s in body:
        yield s
        if s["s"] == "for":
            yield from iter_stmts(s["body"])

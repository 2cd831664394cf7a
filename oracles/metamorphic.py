"""Metamorphic oracle: equivalent forms of one kernel must agree on the same backend.

Why: where the reference cannot speak (a construct it does not model, a user's own kernel, a
backend whose numerics differ) a backend can still be judged against itself. The SpacemiT report
in the seeds was found exactly this way: `acc * sm_scale` broke or worked as `sm_scale` was a
runtime argument, a constexpr or a literal.

A relation is a named rewrite of a kernel spec that is equal *by construction*: it changes how
the kernel is written or launched, never what it computes. Each one is small and registered with a
weight; `choose` picks JSON parameters from a seeded RNG, `apply` rewrites a spec with them and
raises NotApplicable where they no longer fit (the reducer re-derives a variant from every
shrunk base with the same relation and parameters, so both forms shrink together). A relation
marked `needs_proof` is right only where the variant stays in bounds; the pipeline then asks the
reference evaluator (as a bounds prover) and drops the variant when it refuses.
tests/test_metamorphic.py checks, over many generated kernels and every relation, that the
reference of each variant equals the reference of its base: the no-false-alarm argument.

Verdicts (`judge_variant`): only when the base form is not already a finding on that backend. With
a reference, the variant is judged against it (the variant's expected values are the base's);
without one, its outputs are compared with the base form's within dtype tolerances. A
disagreement, or a variant that fails where the base compiled and ran, is a finding of kind
`metamorphic` whose signature carries the relation.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from generators import spec as S
from generators.case import LAUNCH_KEYS, Arg, KernelCase
from oracles.spec_sites import (
    Dims,
    buffers_touched,
    fresh,
    is_barrier,
    iter_stmts,
    pointer_roots,
    reads,
    sites,
    uses_of_arg,
    writes,
)

Spec = dict[str, Any]
Params = dict[str, Any]


class NotApplicable(Exception):
    """The relation (with these parameters) does not fit this spec."""


@dataclass(frozen=True)
class Relation:
    """One semantics-preserving rewrite; see the module docstring."""

    name: str
    weight: float
    doc: str
    choose: Callable[[Spec, random.Random], Params | None]  # None: not applicable to this spec
    apply: Callable[[Spec, Params], Spec]  # may raise NotApplicable
    families: frozenset[str] | None = None  # backend families where it can change anything
    needs_proof: bool = False
    # A rewrite of the rendered source where the spec cannot say it (a helper @triton.jit
    # function): (rendered source, kernel name, params) -> source. The spec, and so the
    # reference, stays the base's.
    source: Callable[[str, str, Params], str] | None = None

    def applies(self, spec: Spec) -> bool:
        try:
            return self.choose(spec, random.Random(0)) is not None
        except (S.SpecError, KeyError, IndexError, TypeError, ValueError):
            return False

    def relevant_to(self, family: str) -> bool:
        return self.families is None or family in self.families


RELATIONS: dict[str, Relation] = {}


def register(rel: Relation) -> Relation:
    if rel.name in RELATIONS:
        raise ValueError(f"relation {rel.name!r} registered twice")
    RELATIONS[rel.name] = rel
    return rel


@dataclass(frozen=True)
class Variant:
    """A relation with its parameters: everything needed to re-derive the other form."""

    relation: str
    params: Params = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"relation": self.relation, "params": dict(self.params)}

    @staticmethod
    def from_json(d: Any) -> Variant:
        """From a case or corpus file (untrusted data): a known relation and plain parameters."""
        if not isinstance(d, dict) or not isinstance(d.get("relation"), str):
            raise ValueError("a variant is an object {relation, params}")
        if d["relation"] not in RELATIONS:
            raise ValueError(f"unknown relation {d['relation']!r} (known: {', '.join(RELATIONS)})")
        params = d.get("params") or {}
        plain = (bool, int, float, str)
        if not isinstance(params, dict) or not all(
                isinstance(k, str) and (v is None or isinstance(v, plain)) for k, v in params.items()):
            raise ValueError(f"variant {d['relation']!r}: params must map names to plain values")
        return Variant(d["relation"], dict(params))

    def label(self) -> str:
        ps = ", ".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
        return f"{self.relation}({ps})"


def stored_variants(case_json: dict[str, Any] | None) -> list[Variant]:
    """The variants a stored case (finding, reduced case, corpus file) carries; ValueError if bad."""
    raw = (case_json or {}).get("variants") or []
    if not isinstance(raw, list):
        raise ValueError("'variants' must be a list of {relation, params}")
    return [Variant.from_json(v) for v in raw]


# ------------------------------------------------------------------------------------------
# deriving the other form


def derive(case: KernelCase, v: Variant) -> KernelCase:
    """The variant's case: the relation's spec rewrite, re-rendered, with the same buffers.

    Raises NotApplicable (or SpecError) when the relation does not fit this case's spec.
    """
    from generators.generator import case_from_spec

    rel = RELATIONS[v.relation]
    # a relation sees the base's launch options as spec keys (num_stages, maxnreg, ascend_options)
    spec = rel.apply({**copy.deepcopy(case.launch), **copy.deepcopy(case.spec)}, dict(v.params))
    launch = {k: spec.pop(k) for k in LAUNCH_KEYS if spec.get(k) is not None}
    old = {a.name: a for a in case.args}
    args: list[Arg] = []
    for p in spec["params"]:
        if p["kind"] == "ptr":
            if p["name"] not in old:
                raise NotApplicable(f"pointer {p['name']} has no buffer")
            args.append(copy.copy(old[p["name"]]))
        else:
            args.append(Arg(p["name"], p["kind"], p.get("dtype", "") if p["kind"] == "scalar" else "",
                            p.get("value")))
    buffers = {a.buffer: case.buffers[a.buffer] for a in args if a.kind == "ptr" and a.buffer}
    new = case_from_spec(spec, args, buffers, case.seed, launch)
    new = replace(new, generator_version=case.generator_version)
    if rel.source is not None:
        new = replace(new, source=rel.source(new.source, new.kernel_name, dict(v.params)))
    return new


def choose_variants(case: KernelCase, n: int, weights: dict[str, float] | None = None,
                    families: set[str] | None = None, salt: str = "") -> list[Variant]:
    """Up to n distinct variants for the case, by relation weight; deterministic per case id."""
    rng = random.Random(f"{case.case_id}:{salt}")
    w = {name: rel.weight * float((weights or {}).get(name, 1.0)) for name, rel in RELATIONS.items()}
    if families is not None:
        w = {k: x for k, x in w.items() if any(RELATIONS[k].relevant_to(f) for f in families)}
    out: list[Variant] = []
    tried: set[str] = set()
    while len(out) < n:
        pool = {k: x for k, x in w.items() if x > 0 and k not in tried}
        if not pool:
            break
        name = rng.choices(sorted(pool), [pool[k] for k in sorted(pool)])[0]
        tried.add(name)
        try:
            params = RELATIONS[name].choose(case.spec, rng)
        except (S.SpecError, KeyError, IndexError, TypeError, ValueError):
            params = None
        if params is not None:
            out.append(Variant(name, params))
    return out


# ------------------------------------------------------------------------------------------
# helpers shared by relations

def _f32_exact(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and float(np.float32(v)) == float(v)


def _scalar_dt(p: dict[str, Any]) -> str | None:
    """int32 or fp32 for a scalar/constexpr parameter this module can re-spell, else None."""
    v = p.get("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if p["kind"] == "scalar":
        dt = p.get("dtype")
        if dt == "fp32" and _f32_exact(v):
            return "fp32"
        if dt == "int32" and isinstance(v, int) and -(2**31) <= v < 2**31:
            return "int32"
        return None
    if isinstance(v, float):
        return "fp32" if _f32_exact(v) else None
    return "int32" if -(2**31) <= v < 2**31 else None


def _param(spec: Spec, name: str) -> dict[str, Any]:
    for p in spec["params"]:
        if p["name"] == name:
            return p
    raise NotApplicable(f"no parameter {name}")


def _pick(rng: random.Random, items: list[Any]) -> Any:
    return items[rng.randrange(len(items))] if items else None


def _checked(spec: Spec) -> Spec:
    try:
        S.check(spec)
    except S.SpecError as e:
        raise NotApplicable(f"rewrite does not type-check: {e}") from e
    return spec


# ------------------------------------------------------------------------------------------
# runtime scalar <-> constexpr <-> literal


def _scalars(spec: Spec, kinds: tuple[str, ...]) -> list[str]:
    """Candidate parameters, float ones listed three times: a block times a float scale is the
    pattern of the field report, integers are mostly strides and bounds."""
    out = []
    for p in spec["params"]:
        dt = _scalar_dt(p) if p["kind"] in kinds else None
        if dt is not None:
            out += [p["name"]] * (3 if dt == "fp32" else 1)
    return out


ALL = "*"  # a `name` parameter meaning every eligible scalar at once


def _choose_name(spec: Spec, rng: random.Random, names: list[str]) -> Params | None:
    """One scalar, or (half the time, when there are several) all of them: a bug that depends
    on how any one scalar is passed shows on the all-at-once form, and reduction names it."""
    if not names:
        return None
    if len(set(names)) > 1 and rng.random() < 0.5:
        return {"name": ALL}
    return {"name": _pick(rng, names)}


def _targets(spec: Spec, ps: Params, names: list[str]) -> list[str]:
    want = sorted(set(names)) if ps["name"] == ALL else [ps["name"]]
    if not want or any(n not in names for n in want):
        raise NotApplicable(f"no eligible scalar {ps['name']!r}")
    return want


def _choose_to_constexpr(spec: Spec, rng: random.Random) -> Params | None:
    return _choose_name(spec, rng, _scalars(spec, ("scalar",)))


def _apply_to_constexpr(spec: Spec, ps: Params) -> Spec:
    for name in _targets(spec, ps, _scalars(spec, ("scalar",))):
        p = _param(spec, name)
        dt = _scalar_dt(p)
        p.update(kind="constexpr", dtype="", value=float(p["value"]) if dt == "fp32" else int(p["value"]))
    return _checked(spec)


def _runtime_ok(spec: Spec, name: str) -> bool:
    _, cx, static = uses_of_arg(spec, name)
    return cx == 0 and static == 0


def _runtime_names(spec: Spec) -> list[str]:
    return [n for n in _scalars(spec, ("constexpr",)) if _runtime_ok(spec, n)]


def _choose_to_runtime(spec: Spec, rng: random.Random) -> Params | None:
    return _choose_name(spec, rng, _runtime_names(spec))


def _apply_to_runtime(spec: Spec, ps: Params) -> Spec:
    for name in _targets(spec, ps, _runtime_names(spec)):
        p = _param(spec, name)
        dt = _scalar_dt(p)
        p.update(kind="scalar", dtype=dt, value=float(p["value"]) if dt == "fp32" else int(p["value"]))
    return _checked(spec)


def _choose_to_literal(spec: Spec, rng: random.Random) -> Params | None:
    return _choose_name(spec, rng, _scalars(spec, ("scalar", "constexpr")))


def _apply_to_literal(spec: Spec, ps: Params) -> Spec:
    names = _targets(spec, ps, _scalars(spec, ("scalar", "constexpr")))
    for name in names:
        p = _param(spec, name)
        dt = _scalar_dt(p)
        value = float(p["value"]) if dt == "fp32" else int(p["value"])
        for s in reversed(sites(spec)):
            if s.node.get("e") == "arg" and s.node["name"] == name:
                s.replace(S.const(value, dt))
        for n in S.walk(spec["body"]):
            if n.get("e") == "arange" and n.get("cx") == name:
                n["cx"] = None
    spec["params"] = [q for q in spec["params"] if q["name"] not in names]
    return _checked(spec)


def _literal_sites(spec: Spec, to: str) -> list[Any]:
    out = []
    for s in sites(spec):
        n = s.node
        if n.get("e") != "const" or n["dt"] not in ("int32", "fp32") or isinstance(n["v"], bool):
            continue
        if n["dt"] == "fp32" and not _f32_exact(n["v"]):
            continue
        if s.ctx == "static" and to == "runtime":
            continue
        out.append(s)
    return out


def _choose_literal_to_scalar(spec: Spec, rng: random.Random) -> Params | None:
    to = rng.choice(["runtime", "constexpr"])
    s = _pick(rng, _literal_sites(spec, to))
    if s is None:
        return None
    return {"value": s.node["v"], "dt": s.node["dt"], "to": to}


def _apply_literal_to_scalar(spec: Spec, ps: Params) -> Spec:
    dt, to = ps["dt"], ps["to"]
    value = float(ps["value"]) if dt == "fp32" else int(ps["value"])
    hits = [s for s in _literal_sites(spec, to) if s.node["dt"] == dt and s.node["v"] == value]
    if not hits:
        raise NotApplicable(f"no literal {value!r} ({dt})")
    name = fresh(spec, "lit_" if to == "runtime" else "LIT_")
    for s in reversed(hits):  # innermost first keeps outer holders valid
        s.replace(S.arg(name))
    if to == "runtime":
        spec["params"].append({"name": name, "kind": "scalar", "dtype": dt, "value": value})
    else:
        spec["params"].append({"name": name, "kind": "constexpr", "dtype": "", "value": value})
    return _checked(spec)


# ------------------------------------------------------------------------------------------
# implicit <-> explicit broadcast, expand_dims as reshape


def _children(all_sites: list[Any]) -> dict[int, dict[Any, Any]]:
    """id(parent expression) -> {key: child site}."""
    out: dict[int, dict[Any, Any]] = {}
    for x in all_sites:
        if x.parent is not None:
            out.setdefault(id(x.parent), {})[x.key] = x
    return out


def _explicit_sites(spec: Spec) -> list[tuple[Any, str]]:
    """(site of a bin/where, operand key) where a tensor operand is broadcast implicitly."""
    all_sites = sites(spec)
    kids = _children(all_sites)
    out = []
    for s in all_sites:
        n = s.node
        if n.get("e") not in ("bin", "where") or s.ty.ptr or not s.ty.shape:
            continue
        for key in ("a", "b") if n["e"] == "bin" else ("c", "a", "b"):
            sub = kids.get(id(n), {}).get(key)
            if sub is not None and sub.ty.shape and sub.ty.shape != s.ty.shape and not sub.ty.ptr:
                out.append((s, key))
    return out


def _choose_explicit(spec: Spec, rng: random.Random) -> Params | None:
    n = len(_explicit_sites(spec))
    return None if n == 0 else {"site": rng.randrange(n)}


def _apply_explicit(spec: Spec, ps: Params) -> Spec:
    cands = _explicit_sites(spec)
    if not cands:
        raise NotApplicable("no implicit broadcast")
    s, key = cands[int(ps["site"]) % len(cands)]
    s.node[key] = S.bcast(s.node[key], list(s.ty.shape))
    return _checked(spec)


_SHAPE_SENSITIVE = ("reduce", "dot", "reshape", "trans", "expand", "bcast", "arange", "full", "load")


def _implicit_sites(spec: Spec) -> list[Any]:
    """broadcast_to nodes of non-pointer values (removal candidates; `_apply_implicit` proves it)."""
    all_sites = sites(spec)
    kids = _children(all_sites)
    out = []
    for s in all_sites:
        if s.node.get("e") != "bcast" or s.ty.ptr or s.parent is None:
            continue
        x = kids.get(id(s.node), {}).get("x")
        if x is None:
            continue
        literal = x.node.get("e") == "const" or (x.node.get("e") == "arg" and S.params_by_name(spec).get(
            x.node["name"], {}).get("kind") == "constexpr")
        if not x.ty.shape and literal and s.parent.get("e") not in ("bin", "where"):
            continue  # a Python number has no .to() and is no tensor for tl.abs & co.
        out.append(s)
    return out


def _choose_implicit(spec: Spec, rng: random.Random) -> Params | None:
    n = len(_implicit_sites(spec))
    return None if n == 0 else {"site": rng.randrange(n)}


def _apply_implicit(spec: Spec, ps: Params) -> Spec:
    """Drop one broadcast_to. Elementwise ops commute with broadcasting and tl.store broadcasts
    its value to the pointer's shape, so this is equal wherever every shape-sensitive expression
    (reductions, dot, reshape, expand, loads, pointers, loop-carried values) keeps its type."""
    cands = _implicit_sites(spec)
    if not cands:
        raise NotApplicable("no explicit broadcast")
    k = int(ps["site"]) % len(cands)
    target = cands[k].node
    before = [(x.node.get("e"), x.ty) for x in sites(spec) if x.node is not target]
    cands[k].replace(target["x"])
    _checked(spec)
    after = [(x.node.get("e"), x.ty) for x in sites(spec)]
    if len(after) != len(before):
        raise NotApplicable("the expression tree changed shape")
    for (kind, t0), (_, t1) in zip(before, after):
        if t0 != t1 and (kind in _SHAPE_SENSITIVE or t0.ptr or t1.ptr):
            raise NotApplicable("a shape-sensitive expression would see another shape")
    return spec


def _expand_sites(spec: Spec) -> list[Any]:
    all_sites = sites(spec)
    kids = _children(all_sites)
    out = []
    for s in all_sites:
        if s.node.get("e") == "expand":
            x = kids.get(id(s.node), {}).get("x")
            if x is not None and x.ty.shape and not x.ty.ptr:
                out.append(s)
    return out


def _choose_expand(spec: Spec, rng: random.Random) -> Params | None:
    n = len(_expand_sites(spec))
    return None if n == 0 else {"site": rng.randrange(n)}


def _apply_expand(spec: Spec, ps: Params) -> Spec:
    cands = _expand_sites(spec)
    if not cands:
        raise NotApplicable("no expand_dims of a tensor")
    s = cands[int(ps["site"]) % len(cands)]
    s.replace(S.reshape(s.node["x"], list(s.ty.shape)))
    return _checked(spec)


# ------------------------------------------------------------------------------------------
# mask + other <-> tl.where on an in-bounds load


def _masked_loads(spec: Spec) -> list[Any]:
    return [s for s in sites(spec) if s.node.get("e") == "load" and s.node.get("mask") is not None]


def _choose_mask_where(spec: Spec, rng: random.Random) -> Params | None:
    n = len(_masked_loads(spec))
    return None if n == 0 else {"site": rng.randrange(n)}


def _apply_mask_where(spec: Spec, ps: Params) -> Spec:
    cands = _masked_loads(spec)
    if not cands:
        raise NotApplicable("no masked load")
    s = cands[int(ps["site"]) % len(cands)]
    n = s.node
    other = n["other"]
    dt = s.ty.dtype
    if not (other.get("e") == "const" and other["dt"] == dt):
        if other.get("e") != "const":
            raise NotApplicable("other= is not a literal")
        other = S.full(list(s.ty.shape), other["v"], dt) if s.ty.shape else S.const(other["v"], dt)
    s.replace(S.where(n["mask"], S.load(n["ptr"]), other))
    return _checked(spec)


# ------------------------------------------------------------------------------------------
# block size / grid decomposition: half the block on one program axis, twice the programs


def _split_plan(spec: Spec, axis: int) -> dict[str, Any] | None:
    """What to rewrite to halve the block of grid axis `axis`, or None when not provably equal.

    Provable when the axis' program id is used only as `pid * B + tl.arange(0, B)` (so every
    element's global index, and everything computed from it, is unchanged), and the tile
    dimension those aranges start is never reduced, contracted or reshaped (no lane of it
    depends on another lane).
    """
    g = spec["grid"]
    if g[axis] < 1:
        return None
    body = spec["body"]
    params = S.params_by_name(spec)
    pid_vars = [s["name"] for s in iter_stmts(body) if s["s"] == "let" and s["e"] == S.pid(axis)]
    for name in pid_vars:  # bound once, never reassigned
        if sum(1 for s in iter_stmts(body) if s["s"] == "let" and s["name"] == name) != 1:
            return None
    patterns = []
    for n in S.walk(body):
        if not (isinstance(n, dict) and n.get("e") == "bin" and n["op"] == "+"):
            continue
        mul, ar = n["a"], n["b"]
        if not (mul.get("e") == "bin" and mul["op"] == "*" and ar.get("e") == "arange"):
            continue
        x, bexpr = mul["a"], mul["b"]
        if not (x == S.pid(axis) or (x.get("e") == "var" and x["name"] in pid_vars)):
            continue
        if bexpr.get("e") == "const" and bexpr["dt"] == "int32":
            b = bexpr["v"]
        elif bexpr.get("e") == "arg" and params.get(bexpr["name"], {}).get("kind") == "constexpr":
            b = params[bexpr["name"]]["value"]
        else:
            return None
        if not isinstance(b, int) or isinstance(b, bool) or b != ar["n"]:
            return None
        patterns.append((n, mul, bexpr, ar))
    if not patterns:
        return None
    uses = sum(1 for n in S.walk(body) if n == S.pid(axis) or (n.get("e") == "var" and n["name"] in pid_vars))
    lets = sum(1 for s in iter_stmts(body) if s["s"] == "let" and s["e"] == S.pid(axis))
    if uses - lets != len(patterns):  # the program id is used outside the pattern
        return None
    blocks = {ar["n"] for _, _, _, ar in patterns}
    if len(blocks) != 1:
        return None
    b = blocks.pop()
    if b < 4 or b % 2:
        return None
    dims = Dims(spec)
    by_node = {id(node): d for node, d in dims.aranges}
    root = dims.find(by_node[id(patterns[0][3])])
    pattern_aranges = {id(ar) for _, _, _, ar in patterns}
    for node, d in dims.aranges:
        if dims.find(d) == root and id(node) not in pattern_aranges:
            return None
    for _, _, _, ar in patterns:
        if dims.find(by_node[id(ar)]) != root:
            return None
    if dims.is_tainted(root):
        return None
    if any(dims.size[d] != b for d in dims.members(root)):
        return None
    entries = [(shape, i) for shape, i, d in dims.shape_entries if dims.find(d) == root]
    return {"block": b, "patterns": patterns, "entries": entries}


def _split_axes(spec: Spec) -> list[int]:
    out = []
    for axis in range(3):
        try:
            _apply_split(copy.deepcopy(spec), {"axis": axis})
        except (NotApplicable, S.SpecError, KeyError, IndexError):
            continue
        out.append(axis)
    return out


def _choose_split(spec: Spec, rng: random.Random) -> Params | None:
    axis = _pick(rng, _split_axes(spec))
    return None if axis is None else {"axis": axis}


def _apply_split(spec: Spec, ps: Params) -> Spec:
    axis = int(ps["axis"])
    plan = _split_plan(spec, axis)
    if plan is None:
        raise NotApplicable(f"grid axis {axis} cannot be split provably")
    half = plan["block"] // 2
    cx_names = {bexpr["name"] for _, _, bexpr, _ in plan["patterns"] if bexpr.get("e") == "arg"}
    for name in cx_names:
        expr_uses, cx, static = uses_of_arg(spec, name)
        in_patterns = sum(1 for _, _, bexpr, _ in plan["patterns"] if bexpr.get("e") == "arg"
                          and bexpr["name"] == name)
        own = sum(1 for _, _, _, ar in plan["patterns"] if ar.get("cx") == name)
        if expr_uses != in_patterns or cx != own or static:
            raise NotApplicable(f"constexpr {name} is used outside the block pattern")
        _param(spec, name)["value"] = half
    for _, mul, bexpr, ar in plan["patterns"]:
        if bexpr.get("e") == "const":
            mul["b"] = S.const(half, "int32")
        ar["n"] = half
    for shape, i in plan["entries"]:
        shape[i] = half
    spec["grid"][axis] *= 2
    return _checked(spec)


# ------------------------------------------------------------------------------------------
# launch options: num_warps, num_stages, maxnreg, triton-ascend compile options


def _choose_warps(spec: Spec, rng: random.Random) -> Params | None:
    return {"num_warps": rng.choice([w for w in (1, 2, 4, 8) if w != spec.get("num_warps", 4)])}


def _apply_warps(spec: Spec, ps: Params) -> Spec:
    w = int(ps["num_warps"])
    if w not in (1, 2, 4, 8, 16) or w == spec.get("num_warps", 4):
        raise NotApplicable(f"num_warps {w} is the base's own")
    spec["num_warps"] = w
    return spec


def _choose_stages(spec: Spec, rng: random.Random) -> Params | None:
    return {"num_stages": rng.choice([s for s in (1, 2, 3, 4, 5) if s != spec.get("num_stages")])}


def _apply_stages(spec: Spec, ps: Params) -> Spec:
    spec["num_stages"] = int(ps["num_stages"])
    return spec


def _choose_maxnreg(spec: Spec, rng: random.Random) -> Params | None:
    return {"maxnreg": rng.choice([64, 128, 255])}


def _apply_maxnreg(spec: Spec, ps: Params) -> Spec:
    spec["maxnreg"] = int(ps["maxnreg"])
    return spec


# NPUOptions fields that change triton-ascend's adapter pipeline but must not change results
# (docs/ascend.md, DESIGN.md "Ascend on CPU"); a release without the field reports the variant
# unsupported, never a finding.
ASCEND_OPTIONS: dict[str, list[Any]] = {
    "enable_linearize": [True],
    "enable_nd2nz_on_vector": [True],
    "enable_select_analysis": [True],
    "compile_on_910_95": [True],
    "enable_fp_fusion": [False],
    "compile_mode": ["unstructured_in_simt"],
}


def _choose_ascend(spec: Spec, rng: random.Random) -> Params | None:
    opt = rng.choice(sorted(ASCEND_OPTIONS))
    return {"option": opt, "value": rng.choice(ASCEND_OPTIONS[opt])}


def _apply_ascend(spec: Spec, ps: Params) -> Spec:
    if ps["option"] not in ASCEND_OPTIONS or ps["value"] not in ASCEND_OPTIONS[ps["option"]]:
        raise NotApplicable(f"option {ps['option']}={ps['value']!r} is not one tritondiff varies")
    spec["ascend_options"] = {**(spec.get("ascend_options") or {}), ps["option"]: ps["value"]}
    return spec


# ------------------------------------------------------------------------------------------
# int32 <-> int64 pointer offsets


def _offset_sites(spec: Spec, src: str) -> list[Any]:
    """Offsets added to a pointer that are `src`-typed tensors (scalars and literals left alone)."""
    all_sites = sites(spec)
    kids = _children(all_sites)
    out = []
    for s in all_sites:
        n = s.node
        if n.get("e") != "bin" or n["op"] != "+" or not s.ty.ptr:
            continue
        a, b = kids.get(id(n), {}).get("a"), kids.get(id(n), {}).get("b")
        if a is not None and b is not None and a.ty.ptr and b.ty.dtype == src and b.ty.shape:
            out.append(b)
    return out


def _choose_offsets(spec: Spec, rng: random.Random) -> Params | None:
    ways = [to for to, src in (("int64", "int32"), ("int32", "int64")) if _offset_sites(spec, src)]
    to = _pick(rng, ways)
    return None if to is None else {"to": to}


def _apply_offsets(spec: Spec, ps: Params) -> Spec:
    to = ps["to"]
    src = "int32" if to == "int64" else "int64"
    cands = _offset_sites(spec, src)
    if not cands:
        raise NotApplicable(f"no {src} pointer offsets")
    for s in reversed(cands):
        s.replace(S.cast(s.node, to))
    return _checked(spec)


# ------------------------------------------------------------------------------------------
# reordering independent statements


def _independent(a: dict[str, Any], b: dict[str, Any], roots: dict[str, set[str]]) -> bool:
    """Statements that commute: neither is a barrier (control flow, atomics, any statement kind
    the analysis does not model), no variable one binds is read or bound by the other, and no
    buffer one stores to is read by the other. Two plain stores commute: two stores of one
    program never write one element (the reference refuses such a case as racy).
    """
    if is_barrier(a) or is_barrier(b):
        return False
    wa, wb = writes(a), writes(b)
    if (wa & (reads(b) | wb)) or (wb & reads(a)):
        return False
    return not (_stored(a, roots) & _read(b, roots)) and not (_stored(b, roots) & _read(a, roots))


def _stored(stmt: dict[str, Any], roots: dict[str, set[str]]) -> set[str]:
    return set().union(*(buffers_touched(n["ptr"], roots) for n in S.walk(stmt)
                         if isinstance(n, dict) and n.get("s") == "store"))


def _read(stmt: dict[str, Any], roots: dict[str, set[str]]) -> set[str]:
    """Buffers a statement may read: all it reaches but the pointer operands of its own stores."""
    if stmt["s"] == "store":
        return buffers_touched([stmt.get("val"), stmt.get("mask")], roots)
    if stmt["s"] == "for":
        return buffers_touched([stmt["lo"], stmt["hi"]], roots).union(*(_read(b, roots) for b in stmt["body"]))
    return buffers_touched(stmt, roots)


def _reorder(body: list[dict[str, Any]], rng: random.Random,
             roots: dict[str, set[str]]) -> list[dict[str, Any]]:
    n = len(body)
    preds = [{i for i in range(j) if not _independent(body[i], body[j], roots)} for j in range(n)]
    done: list[int] = []
    left = set(range(n))
    while left:
        ready = sorted(j for j in left if preds[j] <= set(done))
        j = ready[rng.randrange(len(ready))]
        done.append(j)
        left.discard(j)
    out = [body[j] for j in done]
    for s in out:
        if s["s"] == "for":
            s["body"] = _reorder(s["body"], rng, roots)
    return out


def _choose_reorder(spec: Spec, rng: random.Random) -> Params | None:
    for _ in range(8):
        seed = rng.randrange(1 << 30)
        if _apply_reorder(copy.deepcopy(spec), {"seed": seed}, check=False)["body"] != spec["body"]:
            return {"seed": seed}
    return None


def _apply_reorder(spec: Spec, ps: Params, check: bool = True) -> Spec:
    spec["body"] = _reorder(spec["body"], random.Random(int(ps["seed"])), pointer_roots(spec))
    return _checked(spec) if check else spec


# ------------------------------------------------------------------------------------------
# dead code: a loop that runs zero times


def _int_bound_params(spec: Spec) -> list[str]:
    return [p["name"] for p in spec["params"] if p["kind"] in ("scalar", "constexpr")
            and _scalar_dt(p) == "int32"]


def _choose_dead(spec: Spec, rng: random.Random) -> Params | None:
    stores = [i for i, s in enumerate(spec["body"]) if s["s"] == "store"]
    if not stores:
        return None
    bound = _pick(rng, [*_int_bound_params(spec), "literal", "literal"])
    return {"store": rng.randrange(len(stores)), "bound": bound, "value": rng.randrange(0, 4),
            "kind": rng.choice(["range", "range", "static_range"])}


def _apply_dead(spec: Spec, ps: Params) -> Spec:
    stores = [i for i, s in enumerate(spec["body"]) if s["s"] == "store"]
    if not stores:
        raise NotApplicable("no store to shadow")
    i = stores[int(ps["store"]) % len(stores)]
    kind = ps.get("kind", "range")
    if ps["bound"] == "literal":
        lo = S.const(int(ps["value"]), "int32")
    else:
        p = _param(spec, ps["bound"])
        if _scalar_dt(p) != "int32":
            raise NotApplicable(f"{p['name']} is not an int32 scalar")
        if kind == "static_range" and p["kind"] != "constexpr":
            kind = "range"
        lo = S.arg(p["name"])
    body = [copy.deepcopy(spec["body"][i])]
    loop = S.for_(fresh(spec, "dead_"), lo, copy.deepcopy(lo), body, kind)
    spec["body"].insert(i, loop)
    return _checked(spec)


# ------------------------------------------------------------------------------------------
# integer (and exact float) identities: x + 0, x * 1, x | 0, ...

INT_IDENTITIES = {"+0": ("+", 0), "-0": ("-", 0), "*1": ("*", 1), "|0": ("|", 0), "^0": ("^", 0),
                  ">>0": (">>", 0)}
FLOAT_IDENTITIES = {"*1.0": ("*", 1.0), "+-0.0": ("+", -0.0)}


def _identity_sites(spec: Spec, floats: bool) -> list[Any]:
    out = []
    for s in sites(spec):
        if s.ctx in ("bound", "static") or s.ty.ptr or s.node.get("e") in ("const",):
            continue
        if s.parent is not None and s.parent.get("e") == "load" and s.key in ("mask", "other"):
            continue
        if (s.ty.dtype in ("int32", "int64")) if not floats else (s.ty.dtype == "fp32"):
            out.append(s)
    return out


def _choose_identity(spec: Spec, rng: random.Random) -> Params | None:
    floats = rng.random() < 0.3
    cands = _identity_sites(spec, floats)
    if not cands:
        floats = not floats
        cands = _identity_sites(spec, floats)
    if not cands:
        return None
    op = rng.choice(sorted(FLOAT_IDENTITIES if floats else INT_IDENTITIES))
    return {"op": op, "site": rng.randrange(len(cands))}


def _apply_identity(spec: Spec, ps: Params) -> Spec:
    op = ps["op"]
    floats = op in FLOAT_IDENTITIES
    if not floats and op not in INT_IDENTITIES:
        raise NotApplicable(f"unknown identity {op!r}")
    cands = _identity_sites(spec, floats)
    if not cands:
        raise NotApplicable("no site for the identity")
    s = cands[int(ps["site"]) % len(cands)]
    sym, v = (FLOAT_IDENTITIES if floats else INT_IDENTITIES)[op]
    s.replace(S.bin_(sym, s.node, S.const(v, "fp32" if floats else "int32")))
    return _checked(spec)


# ------------------------------------------------------------------------------------------
# an expression moved into a helper @triton.jit function

HELPER = "_tritondiff_helper"


def _assignments(tree: Any, kernel_name: str) -> list[Any]:
    import ast

    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == kernel_name:
            return [n for n in ast.walk(node) if isinstance(n, ast.Assign) and len(n.targets) == 1
                    and isinstance(n.targets[0], ast.Name)]
    return []


def _choose_helper(spec: Spec, rng: random.Random) -> Params | None:
    lets = sum(1 for n in S.walk(spec["body"]) if n.get("s") == "let")
    return None if lets == 0 else {"site": rng.randrange(lets)}


def _apply_helper(spec: Spec, ps: Params) -> Spec:
    if not any(n.get("s") == "let" for n in S.walk(spec["body"])):
        raise NotApplicable("no assignment to move into a helper")
    return spec


def _helper_source(source: str, kernel_name: str, ps: Params) -> str:
    """`x = <expr>` becomes `x = _tritondiff_helper(a, b, ...)` with `<expr>` the helper's return
    value over the names it reads: a call of a jit function inlines to the same computation
    (constexpr arguments stay constexpr in the callee)."""
    import ast

    tree = ast.parse(source)
    assigns = _assignments(tree, kernel_name)
    if not assigns:
        raise NotApplicable("no assignment in the kernel")
    target = assigns[int(ps["site"]) % len(assigns)]
    # module-level jit functions (helpers, combine fns) are globals the helper sees as they are:
    # passed as arguments they would arrive as constexprs, which tl.reduce/associative_scan refuse
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    names = sorted({n.id for n in ast.walk(target.value) if isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Load)} - {"tl", "triton"} - functions)
    helper = ast.FunctionDef(
        name=HELPER, args=ast.arguments(posonlyargs=[], args=[ast.arg(n) for n in names], kwonlyargs=[],
                                        kw_defaults=[], defaults=[]),
        body=[ast.Return(target.value)], decorator_list=[ast.Attribute(ast.Name("triton", ast.Load()), "jit",
                                                                       ast.Load())], returns=None, type_params=[])
    target.value = ast.Call(ast.Name(HELPER, ast.Load()), [ast.Name(n, ast.Load()) for n in names], [])
    k = next(i for i, n in enumerate(tree.body) if isinstance(n, ast.FunctionDef) and n.name == kernel_name)
    tree.body.insert(k, helper)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


# ------------------------------------------------------------------------------------------
# the registry

_GPU = frozenset({"cuda", "hip"})
_COMPILED = frozenset({"cuda", "hip", "ascend", "fault"})

for _rel in (
    Relation("scalar-to-constexpr", 3.0, "a runtime scalar argument becomes a tl.constexpr",
             _choose_to_constexpr, _apply_to_constexpr),
    Relation("scalar-to-runtime", 1.5, "a constexpr (not a block size) becomes a runtime argument",
             _choose_to_runtime, _apply_to_runtime),
    Relation("scalar-to-literal", 2.0, "a runtime or constexpr scalar becomes a literal",
             _choose_to_literal, _apply_to_literal),
    Relation("literal-to-scalar", 2.0, "every occurrence of one literal becomes a runtime or constexpr argument",
             _choose_literal_to_scalar, _apply_literal_to_scalar),
    Relation("explicit-broadcast", 1.0, "an implicitly broadcast operand gets tl.broadcast_to",
             _choose_explicit, _apply_explicit),
    Relation("implicit-broadcast", 1.0, "a tl.broadcast_to its neighbours imply is dropped",
             _choose_implicit, _apply_implicit),
    Relation("expand-as-reshape", 0.7, "x[:, None] becomes tl.reshape(x, (n, 1))", _choose_expand, _apply_expand),
    Relation("mask-to-where", 1.0, "tl.load(p, mask=m, other=o) on an in-bounds load becomes "
             "tl.where(m, tl.load(p), o)", _choose_mask_where, _apply_mask_where, needs_proof=True),
    Relation("block-split", 1.0, "half the block on one program axis and twice the programs",
             _choose_split, _apply_split),
    Relation("num-warps", 1.0, "another num_warps", _choose_warps, _apply_warps, families=_COMPILED),
    Relation("num-stages", 0.7, "another num_stages", _choose_stages, _apply_stages, families=_GPU),
    Relation("maxnreg", 0.4, "a register limit (maxnreg)", _choose_maxnreg, _apply_maxnreg,
             families=frozenset({"cuda"})),
    Relation("offsets-width", 1.0, "int32 pointer offsets cast to int64, or int64 ones to int32",
             _choose_offsets, _apply_offsets, needs_proof=True),
    Relation("reorder", 1.0, "independent statements in another order", _choose_reorder, _apply_reorder),
    Relation("dead-loop", 0.7, "a loop with lo == hi around a copy of a store", _choose_dead, _apply_dead),
    Relation("identity", 1.0, "x + 0, x * 1, x | 0, x ^ 0, x >> 0 on ints; x * 1.0, x + -0.0 on fp32",
             _choose_identity, _apply_identity),
    Relation("helper-function", 1.0, "the right-hand side of one assignment moved into a helper @triton.jit "
             "function", _choose_helper, _apply_helper, source=_helper_source),
    Relation("ascend-options", 1.0, "a triton-ascend compile option that must not change results",
             _choose_ascend, _apply_ascend, families=frozenset({"ascend"})),
):
    register(_rel)


# ------------------------------------------------------------------------------------------
# verdicts


def same_reference(a: Any, b: Any) -> bool:
    """Equal expected values and written masks (the bound may only loosen: x * 1.0 re-rounds)."""
    for name, va in a.values.items():
        vb = b.values.get(name)
        if vb is None or not np.array_equal(va, vb) or not np.array_equal(a.written[name], b.written[name]):
            return False
    return True


def metamorphic_signature(signature: str, relation: str) -> str:
    """`fam|kind|stage|head|frames[|extra]` of the variant's own verdict -> the metamorphic one."""
    parts = signature.split("|")
    while len(parts) < 5:
        parts.append("")
    fam, kind, stage, head, frames = parts[:5]
    extra = "|".join(parts[5:])
    return "|".join([fam, "metamorphic", stage, head, frames, f"{relation}:{kind}" + (f":{extra}" if extra else "")])


def relation_of(signature: str) -> str:
    """The relation a metamorphic signature names ('' for any other signature)."""
    parts = signature.split("|")
    if len(parts) < 6 or parts[1] != "metamorphic":
        return ""
    return parts[5].split(":", 1)[0]


def judge_variant(case: KernelCase, ref: Any, base: Any, var_case: KernelCase, var_ref: Any, res: Any,
                  v: Variant) -> Any:
    """The metamorphic verdict on one backend (an Outcome), or None when there is nothing to say.

    `base` is the backend's RunResult for the base form, already judged no finding. With a
    reference (`var_ref`, equal to the base's by construction) the variant is judged against it;
    without one its outputs are compared with the base form's.
    """
    from oracles.compare import compare_runs
    from oracles.judge import divergence_outcome, family_of, judge
    from oracles.outcome import Outcome

    vo = judge(var_case, var_ref, res)
    if vo.kind == "unsupported":
        return None
    label = v.label()
    if vo.is_finding:
        what = "fails" if vo.kind not in ("miscompile", "oob-write", "oob-read") else "disagrees"
        msg = (f"{label}: the variant {what} ({vo.kind} at {vo.stage}) where the base form did not: "
               f"{vo.message}")
        return Outcome(res.backend, "metamorphic", vo.stage, msg[:4000],
                       metamorphic_signature(vo.signature, v.relation),
                       {**vo.details, "variant": v.to_json(), "variant_kind": vo.kind})
    if ref is not None or not (res.executed and base.executed):
        return None
    divs = compare_runs(case, None, base.outputs, res.outputs)
    if not divs:
        return None
    o = divergence_outcome(res.backend, case, divs)
    msg = f"{label}: base and variant outputs differ: {o.message}"
    return Outcome(res.backend, "metamorphic", "run", msg, metamorphic_signature(o.signature, v.relation),
                   {**o.details, "variant": v.to_json(), "variant_kind": "miscompile",
                    "family": family_of(res.backend)})

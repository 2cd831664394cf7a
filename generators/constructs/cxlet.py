"""`NAME: tl.constexpr = BLOCK * 2` and `c = BLOCK // 2`: compile-time arithmetic in the kernel.

Triton folds arithmetic on constexprs and literals in the frontend with Python semantics. With the
`tl.constexpr` annotation the local *is* a constexpr: it may size `tl.arange`, bound
`tl.static_range` and fold conditions, and it can never be re-assigned. Without it the frontend
materialises the Python number as a scalar tensor (`to_tensor`: an int that fits is int32, a float
fp32), a runtime value like any other. The type rule folds the value itself (the spec never
stores it, so the reducer may edit the constexprs it depends on), refusing what Python and
Triton's tensor semantics would disagree on (negative `//` / `%` operands, a zero divisor).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, bool_f, expr_f, ident_f, register, valid_ident
from generators.constructs.examples import unary_case
from generators.semantics import Val
from generators.statements import expr_slots, stmt_production

INT32_MAX = 2**31 - 1
_FOLD_OPS = ("+", "-", "*", "//", "%")


class NotStatic(Exception):
    """The expression is not a compile-time constant (or not one we fold)."""


def fold(e: Any, params: dict[str, dict[str, Any]], runtime: bool = False) -> Any:
    """The Python value of a compile-time expression: literals, constexprs (and, with `runtime`,
    runtime scalar arguments at their launch values) under + - * // % and unary minus.

    Raises NotStatic for anything else, SpecError where Python and Triton would disagree."""
    if not isinstance(e, dict):
        raise NotStatic("not a node")
    k = e.get("e")
    if k == "const":
        return e["v"]
    if k == "arg":
        p = params.get(e.get("name"))
        if p is None or p.get("kind") not in ("constexpr", "scalar") or p["kind"] == "scalar" and not runtime:
            raise NotStatic(str(e.get("name")))
        return p.get("value")
    if k == "un" and e.get("op") == "-":
        return -fold(e["x"], params, runtime)
    if k == "bin" and e.get("op") in _FOLD_OPS + S.CMP_OPS:
        a, b = fold(e["a"], params, runtime), fold(e["b"], params, runtime)
        op = e["op"]
        if op in S.CMP_OPS:
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]
        if op in ("//", "%"):
            if not (isinstance(a, int) and isinstance(b, int)) or a < 0 or b <= 0:
                raise S.SpecError("constexpr // and % are folded on non-negative ints with a positive divisor")
            return a // b if op == "//" else a % b
        return a + b if op == "+" else a - b if op == "-" else a * b
    raise NotStatic(str(k))


def static_value(e: Any, params: dict[str, dict[str, Any]], runtime: bool = False) -> Any:
    """fold() or None when the expression is not static."""
    try:
        return fold(e, params, runtime)
    except (NotStatic, S.SpecError, TypeError, KeyError):
        return None


def _fold_checked(s: Node, params: dict[str, dict[str, Any]]) -> Any:
    try:
        v = fold(s["e"], params)
    except NotStatic as exc:
        raise S.SpecError(f"{s['name']} is not a compile-time constant ({exc})") from exc
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise S.SpecError("constexpr locals are ints or floats")
    if isinstance(v, int) and abs(v) > INT32_MAX:
        raise S.SpecError("constexpr local leaves int32")
    return v


def cx_param(name: str, v: Any) -> dict[str, Any]:
    return {"name": name, "kind": "constexpr", "dtype": "", "value": v}


def bind(s: Node, params: dict[str, dict[str, Any]], env: dict[str, S.Ty]) -> None:
    """Bind the local in a scope: a constexpr joins the scope's constexprs, a number its variables."""
    v = _fold_checked(s, params)
    if s.get("annot"):
        params[s["name"]] = cx_param(s["name"], v)
    else:
        env[s["name"]] = S.Ty("fp32" if isinstance(v, float) else "int32")


@register
class ConstexprLocal(Construct):
    name = "cxlet"
    node = "cxlet"
    kind = "stmt"
    fields = {"name": ident_f(), "e": expr_f(), "annot": bool_f(optional=False)}
    features = ("constexpr_local", "py_number_local")
    knobs = ("fold_consts",)

    def check(self, s: Node, tc: Any) -> None:
        name = s["name"]
        if not valid_ident(name) or name in tc.params or name in tc.env:
            raise S.SpecError(f"constexpr local {name!r} is not a fresh name (a constexpr cannot be re-assigned)")
        tc.ty(s["e"])  # well-typed as an expression too
        bind(s, tc.params, tc.env)

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        ann = ": tl.constexpr" if s.get("annot") else ""
        r.lines.append(f"{'    ' * indent}{s['name']}{ann} = {r.e(s['e'])}")
        bind(s, r.params, r.env)

    def run(self, s: Node, p: Any, path: str) -> None:
        v = _fold_checked(s, p.ev.params)
        if s.get("annot"):
            p.ev.params[s["name"]] = cx_param(s["name"], v)
        elif isinstance(v, float):
            p.env[s["name"]] = Val(np.asarray(float(np.float32(v))), "fp32", np.zeros(()))
        else:
            p.env[s["name"]] = Val(np.asarray(int(v), dtype=np.int64), "int32")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("constexpr_local" if n.get("annot") else "py_number_local")
        bind(n, fw.params, fw.env)

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # the references need the name; dropping it is the statement pass's move

    def example(self) -> Any:
        half = {"s": "cxlet", "name": "HALF", "e": S.bin_("//", S.arg("BLOCK"), S.const(2, "int32")), "annot": True}
        two = {"s": "cxlet", "name": "two", "e": S.bin_("-", S.arg("HALF"), S.const(6, "int32")), "annot": False}
        y = S.bin_("+", S.bin_("*", S.var("x"), S.arg("HALF")), S.bin_("*", S.var("offs"), S.var("two")))
        return unary_case(y, in_dt="int32", pre=[half, two], constexprs={"BLOCK": 16})


# ---- generation ----
def folded(g: Any, v: int, params: dict[str, dict[str, Any]]) -> S.Expr:
    """A constexpr expression that folds to `v`: from a constexpr parameter or literals."""
    if v < 0:
        return S.un("-", folded(g, -v, params))
    cxs = [p for p in params.values()
           if p.get("kind") == "constexpr" and type(p.get("value")) is int and p["value"] > 0]
    if cxs and g.ch.coin(0.6):
        p = g.ch.pick(cxs)
        q, r = divmod(v, p["value"])
        e: S.Expr | None = S.bin_("*", S.arg(p["name"]), S.const(q, "int32")) if q else None
        if r or e is None:
            e = S.const(r, "int32") if e is None else S.bin_("+", e, S.const(r, "int32"))
        return e
    m = g.ch.integer(2, 4)
    r = g.ch.integer(0, m - 1)
    return S.bin_("//", S.bin_("+", S.bin_("*", S.const(v, "int32"), S.const(m, "int32")), S.const(r, "int32")),
                  S.const(m, "int32"))


def _cxlet(name: str, e: S.Expr, annot: bool) -> S.Stmt:
    return {"s": "cxlet", "name": name, "e": e, "annot": annot}


@stmt_production("fold_consts", order=80)
def fold_consts(g: Any) -> None:
    """Replace int literals by constexpr locals (`K: tl.constexpr = BLOCK * 2 + 1`) or Python-number
    locals (`k = (5 * 3 + 1) // 3`, a runtime int32 scalar), bound at the top of the kernel."""
    if not g.on("fold_consts", 0.15):
        return
    params = S.params_by_name({"params": g.params})
    seen: set[tuple[int, Any]] = set()
    sites = []
    for h, k, s in expr_slots(g.body):  # a node shared by two parents is one site
        if (h[k]["e"] == "const" and h[k]["dt"] == "int32" and type(h[k]["v"]) is int and s["s"] != "cxlet"
                and (id(h), k) not in seen):
            seen.add((id(h), k))
            sites.append((h, k, s))
    new: list[S.Stmt] = []
    for _ in range(g.ch.integer(1, 2)):
        if not sites:
            break
        holder, key, stmt = sites.pop(g.ch.integer(0, len(sites) - 1))
        annot = g.weight("py_number_local") <= 0 or g.on("constexpr_local", 0.55)
        if not annot and (g.weight("py_number_local") <= 0 or stmt["s"] == "for" and stmt["kind"] == "static_range"):
            continue
        name = g.fresh("K_FOLD" if annot else "k_num")
        new.append(_cxlet(name, folded(g, holder[key]["v"], params), annot))
        holder[key] = S.arg(name) if annot else S.var(name)
    g.body[0:0] = new


@stmt_production("arange_cx", order=81)
def arange_cx(g: Any) -> None:
    """Size a tl.arange by a constexpr local folded from the block-size constexpr it used."""
    if not g.on("constexpr_local", 0.08):
        return
    params = S.params_by_name({"params": g.params})
    sites = [(h, k) for h, k, _ in expr_slots(g.body) if h[k]["e"] == "arange" and h[k].get("cx") in params]
    if not sites:
        return
    holder, key = g.ch.pick(sites)
    n, p = holder[key]["n"], S.arg(holder[key]["cx"])
    two = S.const(2, "int32")
    forms = [S.bin_("//", S.bin_("*", p, two), two), S.bin_("//", S.bin_("+", p, p), two),
             S.bin_("*", p, S.const(1, "int32"))]
    if n % 2 == 0:
        forms.append(S.bin_("*", S.bin_("//", p, two), two))
    name = g.fresh("BLOCK_CX")
    g.body.insert(0, _cxlet(name, g.ch.pick(forms), True))
    holder[key] = {**holder[key], "cx": name}

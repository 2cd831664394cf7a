"""A call of a helper `@triton.jit` function (also `noinline=True`) taking tensors, scalars and constexprs.

The call node carries its helper's definition (parameter names, a statement body that ends in a
`return`, the noinline flag), so a spec stays self-contained: the renderer emits one module-level
function per distinct definition, named by its content, and the reference runs the body in the
helper's own scope. A call-site argument that is a compile-time constant (a literal, a constexpr,
constexpr arithmetic) binds a constexpr parameter, as Triton does (it specialises the callee on
it, and it may size a `tl.arange` inside); anything else binds a runtime one. Every `return` of a
helper has one type; a `return` inside an `if` makes Triton build the helper with blocks and
branches. Helpers here store nothing (each output element keeps one writer).

Generation (statement production `outline`): an expression the family built — a load, an index
computation, a value tree, a loop's accumulation — becomes a call of a helper whose parameters
are the expression's free variables and kernel arguments; the body is one return, a local and a
return, or an early return on a runtime scalar argument.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import (
    Construct,
    Node,
    block_f,
    bool_f,
    exprs_f,
    ident_f,
    idents_f,
    register,
    valid_ident,
)
from generators.constructs.cxlet import cx_param, static_value
from generators.constructs.examples import unary_case
from generators.constructs.ret import HELPER_KEY, ret
from generators.semantics import EarlyReturn, UndefinedBehaviour
from generators.statements import (
    at_path,
    blocks_of,
    env_before,
    expr_nodes,
    forbid_in,
    replace_children,
    stmt_production,
    true_compare,
)


def jitcall(fn: str, params: list[str], args: list[S.Expr], body: list[S.Stmt], noinline: bool = False) -> S.Expr:
    return {"e": "jitcall", "fn": fn, "params": list(params), "args": list(args), "body": body, "noinline": noinline}


def helper_name(n: Node) -> str:
    """The rendered function's name: the spec's name plus a digest of the definition, in digits
    only (finding signatures fold digits, so one bug in two helpers stays one signature)."""
    text = json.dumps([n["params"], n["body"], bool(n.get("noinline"))], sort_keys=True)
    return f"{n['fn']}_{int(hashlib.sha256(text.encode()).hexdigest()[:16], 16) % 10**9:09d}"


def _static_arg(a: S.Expr, params: dict[str, dict[str, Any]]) -> Any:
    v = static_value(a, params)
    if isinstance(v, bool):
        raise S.SpecError("a boolean literal argument is not generated")
    return v


def scope(n: Node, params: dict[str, dict[str, Any]], ty: Any) -> tuple[dict[str, S.Ty], dict[str, dict[str, Any]]]:
    """(runtime parameter types, constexpr namespace) of the helper for this call site."""
    names, args = n.get("params"), n.get("args")
    if (not isinstance(names, list) or not isinstance(args, list) or len(names) != len(args)
            or len(set(names)) != len(names) or not all(valid_ident(x) for x in names)):
        raise S.SpecError("a helper has one distinct parameter name per argument")
    if not valid_ident(n.get("fn")):
        raise S.SpecError("a helper's name is an identifier")
    hp: dict[str, dict[str, Any]] = {HELPER_KEY: {"ret": None}}
    env: dict[str, S.Ty] = {}
    for name, a in zip(names, args):
        t = ty(a)
        v = _static_arg(a, params)
        if v is not None:
            hp[name] = cx_param(name, v)
        else:
            env[name] = t
    return env, hp


class _Scope:
    """The evaluator seen from inside a helper: the helper's constexprs, the kernel's buffers."""

    def __init__(self, ev: Any, params: dict[str, dict[str, Any]]) -> None:
        self._ev = ev
        self.params = params

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ev, name)


@register
class JitCall(Construct):
    name = "jitcall"
    node = "jitcall"
    fields = {"fn": ident_f(), "params": idents_f(0, 8), "args": exprs_f(0, 8), "body": block_f(),
              "noinline": bool_f()}
    features = ("jit_helper", "jit_noinline", "jit_constexpr_param")
    knobs = ("outline",)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        env, hp = scope(n, tc.params, tc.ty)
        body = n.get("body")
        if not isinstance(body, list) or not body or not isinstance(body[-1], dict) or body[-1].get("s") != "ret":
            raise S.SpecError("a helper body ends with a return")
        forbid_in(body, ("store",), "a helper")
        if n.get("noinline") and any(t.shape for t in env.values()):
            raise S.SpecError("a noinline helper takes scalar (or constexpr) arguments only")
        S.TypeCtx(env, hp).block(body)
        t = hp[HELPER_KEY]["ret"]
        if t is None:
            raise S.SpecError("a helper returns a value")
        return t

    def render(self, n: Node, r: Any) -> str:
        name = helper_name(n)
        if name not in r.helpers:
            from generators.render import Renderer

            env, hp = scope(n, r.params, r.ty)
            sub = Renderer({"params": [], "name": name, "body": []})
            sub.params, sub.env, sub.helpers = hp, dict(env), r.helpers
            sub.block(n["body"], 1)
            deco = "@triton.jit(noinline=True)" if n.get("noinline") else "@triton.jit"
            sig = ", ".join(f"{p}: tl.constexpr" if p in hp else p for p in n["params"])
            r.helper(name, "\n".join([deco, f"def {name}({sig}):", *sub.lines]))
        return f"{name}({', '.join(r.e(a) for a in n['args'])})"

    def evaluate(self, n: Node, p: Any) -> Any:
        hp: dict[str, dict[str, Any]] = {HELPER_KEY: {"ret": None}}
        sub = type(p)(_Scope(p.ev, hp), p.pid)
        for name, a in zip(n["params"], n["args"]):
            v = static_value(a, p.ev.params)
            if v is not None:
                hp[name] = cx_param(name, v)
            else:
                sub.env[name] = p.expr(a)
        try:
            sub.run(n["body"], "h")
        except EarlyReturn as r:
            return r.value
        raise UndefinedBehaviour("ill-formed spec", "helper ended without a return")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        from generators.features import FeatureWalker

        fw.found.add("jit_helper")
        if n.get("noinline"):
            fw.found.add("jit_noinline")
        env, hp = scope(n, fw.params, fw.ty)
        if len(hp) > 1:
            fw.found.add("jit_constexpr_param")
        sub = FeatureWalker({"params": []})
        sub.params, sub.env = hp, dict(env)
        sub.block(n["body"])
        fw.found |= sub.found

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        body = n["body"]
        if len(body) == 1 and body[0].get("e") is not None:
            yield inline(body[0]["e"], dict(zip(n["params"], n["args"]))), "inline helper"
        if n.get("noinline"):
            yield {**n, "noinline": False}, "inlinable helper"
        for a in n["args"]:
            yield a, "operand"

    def example(self) -> Any:
        ld = S.load(S.bin_("+", S.var("p"), S.arange(16, "B")))
        helper = jitcall("scaled", ["p", "s", "B"], [S.arg("x_ptr"), S.arg("s"), S.arg("BLOCK")],
                         [S.let("t", ld), ret(S.bin_("*", S.var("t"), S.var("s")))], noinline=True)
        return unary_case(helper, scalars={"s": ("fp32", 2.0)}, constexprs={"BLOCK": 16})


def inline(e: S.Expr, mapping: dict[str, S.Expr]) -> S.Expr:
    """The helper's return expression with its parameters replaced by the call's arguments."""
    k = e["e"]
    if k in ("var", "arg") and e["name"] in mapping:
        return copy.deepcopy(mapping[e["name"]])
    if k == "arange" and e.get("cx") in mapping:
        a = mapping[e["cx"]]
        return {**e, "cx": a["name"] if a["e"] == "arg" else None}
    return replace_children(e, lambda x: inline(x, mapping))


# ---- generation ----
class _Outliner:
    """Abstracts an expression's free variables and kernel arguments into helper parameters."""

    def __init__(self, params: dict[str, dict[str, Any]]) -> None:
        self.params = params
        self.names: dict[tuple[str, str], str] = {}
        self.args: list[S.Expr] = []

    def param(self, key: tuple[str, str], arg: S.Expr, cx: bool) -> str:
        if key not in self.names:
            self.names[key] = f"HC{len(self.names)}" if cx else f"hx{len(self.names)}"
            self.args.append(arg)
        return self.names[key]

    def absorb(self, e: S.Expr) -> S.Expr:
        k = e["e"]
        if k == "var":
            return S.var(self.param(("var", e["name"]), S.var(e["name"]), False))
        if k == "arg":
            cx = self.params[e["name"]]["kind"] == "constexpr"
            name = self.param(("arg", e["name"]), S.arg(e["name"]), cx)
            return S.arg(name) if cx else S.var(name)
        if k == "arange" and e.get("cx"):
            return {**e, "cx": self.param(("arg", e["cx"]), S.arg(e["cx"]), True)}
        return replace_children(e, self.absorb)


def _make_call(g: Any, e: S.Expr, env: dict[str, S.Ty]) -> S.Expr:
    from generators.constructs.if_stmt import if_

    params = S.params_by_name({"params": g.params})
    ty = S.typeof(e, env, params)
    o = _Outliner(params)
    body_e = o.absorb(e)
    shape = g.ch.weighted({"ret": 1.0, "split": 0.7, "early": 0.5 * g.weight("early_return")})
    inner = [(p, x) for p, x in expr_nodes(body_e) if p and x["e"] not in ("var", "arg", "const")]
    if shape == "split" and inner:
        path, sub = g.ch.pick(inner)
        body = [S.let("ht0", sub), ret(at_path(body_e, path, S.var("ht0")))]
    elif shape == "early":
        v = g.ch.integer(-3, 6)
        o.args.append(g.scalar_param("sel", v, "int32"))
        o.names[("sel", "")] = "hs"
        other = body_e if ty.ptr or ty.dtype in ("int1", "bf16") or g.ch.coin(0.3) else S.un("-", body_e)
        taken = g.ch.coin(0.5)
        first, last = (body_e, other) if taken else (other, body_e)
        body = [if_(true_compare(g, S.var("hs"), v, want=taken), [ret(first)]), ret(last)]
    else:
        body = [ret(body_e)]
    names = list(o.names.values())
    params = S.params_by_name({"params": g.params})
    scalar_args = all(not S.typeof(a, env, params).shape for a in o.args)
    return jitcall(g.fresh("helper"), names, o.args, body, noinline=scalar_args and g.on("jit_noinline", 0.7))


def _scalar_free(e: S.Expr, env: dict[str, S.Ty]) -> bool:
    """True when every variable and runtime argument `e` reads is a scalar (a noinline helper's rule)."""
    return not any(x.get("e") == "var" and env.get(x["name"], S.Ty("", (0,))).shape for x in S.walk(e))


@stmt_production("outline", order=70)
def outline(g: Any) -> None:
    """Move one or two let-bound expressions (or parts of them) into helper functions."""
    if not g.on("outline", 0.22) or g.weight("jit_helper") <= 0:
        return
    lets = [s for blk in blocks_of(g.body) for s in blk
            if s["s"] == "let" and sum(1 for _ in expr_nodes(s["e"])) >= 2]
    for _ in range(1 if g.ch.coin(0.7) else 2):
        if not lets:
            return
        s = lets.pop(g.ch.integer(0, len(lets) - 1))
        env = env_before(g, s)
        if env is None:
            continue
        subs = [(p, x) for p, x in expr_nodes(s["e"]) if x["e"] not in ("var", "arg", "const", "arange")]
        scalar = [(p, x) for p, x in subs if _scalar_free(x, env)]
        if scalar and g.on("jit_noinline", 0.5):
            subs = scalar  # a helper that can be noinline: scalar arguments only
        if not subs:
            continue
        path, e = subs[0] if g.ch.coin(0.5) else g.ch.pick(subs)
        s["e"] = at_path(s["e"], path, _make_call(g, e, env))

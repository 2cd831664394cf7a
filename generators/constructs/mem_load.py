"""tl.load with cache and eviction modifiers or volatile, on a tensor or a scalar (0-D) pointer:
`tl.load(p + 3, cache_modifier=".cg", eviction_policy="evict_last", volatile=True)`.

The modifiers are hints to the memory system and must not change any value, so the semantics
are exactly those of `load` (masked loads carry other=, out of bounds is UB). Offered in every
triton 3.x release: ".ca"/".cg" loads, "evict_first"/"evict_last" (".cv" is 3.2+, not generated).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import EXPRS, Construct, Node, bool_f, enum_f, expr_f, register
from generators.constructs.examples import make_case
from generators.semantics import Val

LOAD_CACHE = (".ca", ".cg")
EVICT = ("evict_first", "evict_last")


def mload(ptr: S.Expr, mask: S.Expr | None = None, other: S.Expr | None = None, cache: str | None = None,
          evict: str | None = None, volatile: bool = False) -> S.Expr:
    return {"e": "mload", "ptr": ptr, "mask": mask, "other": other, "cache": cache, "evict": evict,
            "volatile": volatile}


def hint_args(n: Node) -> list[str]:
    out = []
    if n.get("cache") is not None:
        out.append(f'cache_modifier="{n["cache"]}"')
    if n.get("evict") is not None:
        out.append(f'eviction_policy="{n["evict"]}"')
    return out


def hint_features(n: Node, found: set[str]) -> None:
    if n.get("cache") is not None:
        found.add("cache_modifier")
    if n.get("evict") is not None:
        found.add("eviction_policy")


def hint_simplify(n: Node) -> Iterator[tuple[Any, str]]:
    if n.get("cache") is not None or n.get("evict") is not None or n.get("volatile"):
        yield {**n, "cache": None, "evict": None, "volatile": False}, "drop memory hints"


@register
class MemLoad(Construct):
    name = "mload"
    node = "mload"
    fields = {"ptr": expr_f(), "mask": expr_f(optional=True), "other": expr_f(optional=True),
              "cache": enum_f(LOAD_CACHE, optional=True), "evict": enum_f(EVICT, optional=True),
              "volatile": bool_f()}
    features = ("cache_modifier", "eviction_policy", "volatile_load", "scalar_ptr_load")

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        if n.get("cache") not in (None,) + LOAD_CACHE or n.get("evict") not in (None,) + EVICT:
            raise S.SpecError("unknown load cache modifier or eviction policy")
        if n.get("volatile") not in (None, False, True):
            raise S.SpecError("volatile is a bool")
        return EXPRS["load"].typeof(n, tc)

    def render(self, n: Node, r: Any) -> str:
        args = [r.e(n["ptr"])]
        if n.get("mask") is not None:
            args.append(f"mask={r.e(n['mask'])}")
        if n.get("other") is not None:
            args.append(f"other={r.e(n['other'])}")
        args += hint_args(n)
        if n.get("volatile"):
            args.append("volatile=True")
        return f"tl.load({', '.join(args)})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return EXPRS["load"].evaluate(n, p)  # hints never change values

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        EXPRS["load"].find_features(n, fw, in_offset)
        hint_features(n, fw.found)
        if n.get("volatile"):
            fw.found.add("volatile_load")
        if not fw.ty(n["ptr"]).shape:
            fw.found.add("scalar_ptr_load")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield from hint_simplify(n)
        yield {**n, "e": "load", **{k: None for k in ("cache", "evict")}}, "plain load"

    def example(self) -> Any:
        """A scalar (0-D) load with hints scales a tile loaded with other hints."""
        offs = S.arange(16)
        s = mload(S.bin_("+", S.arg("s_ptr"), S.const(2, "int32")), volatile=True)
        x = mload(S.bin_("+", S.arg("x_ptr"), S.var("offs")), evict="evict_last")
        body = [S.let("offs", offs), S.let("s", s), S.let("x", x),
                S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), S.bin_("*", S.var("x"), S.var("s")))]
        inputs = {"s_ptr": ("fp32", [1.0, 2.0, -1.5, 4.0]), "x_ptr": ("fp32", [i / 2 for i in range(16)])}
        return make_case(body, inputs, {"o_ptr": ("fp32", 16)})

"""tl.store with a cache modifier or eviction policy, on a tensor or a scalar (0-D) pointer:
`tl.store(o + pid, v, cache_modifier=".wt", eviction_policy="evict_first")`.

Hints never change values: the semantics (one writer per element) are exactly `store`'s.
Store cache modifiers offered by every triton 3.x release: ".wb", ".cg", ".cs", ".wt".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import STMTS, Construct, Node, enum_f, expr_f, register
from generators.constructs.examples import make_case
from generators.constructs.mem_load import EVICT, hint_args, hint_features, hint_simplify

STORE_CACHE = (".wb", ".cg", ".cs", ".wt")


def mstore(ptr: S.Expr, val: S.Expr, mask: S.Expr | None = None, cache: str | None = None,
           evict: str | None = None) -> S.Stmt:
    return {"s": "mstore", "ptr": ptr, "val": val, "mask": mask, "cache": cache, "evict": evict}


@register
class MemStore(Construct):
    name = "mstore"
    node = "mstore"
    kind = "stmt"
    fields = {"ptr": expr_f(), "val": expr_f(), "mask": expr_f(optional=True),
              "cache": enum_f(STORE_CACHE, optional=True), "evict": enum_f(EVICT, optional=True)}
    features = ("cache_modifier", "eviction_policy", "scalar_ptr_store")

    def check(self, s: Node, tc: Any) -> None:
        if s.get("cache") not in (None,) + STORE_CACHE or s.get("evict") not in (None,) + EVICT:
            raise S.SpecError("unknown store cache modifier or eviction policy")
        STMTS["store"].check(s, tc)

    def render_stmt(self, s: Node, r: Any, indent: int) -> None:
        args = [r.e(s["ptr"]), r.e(s["val"])]
        if s.get("mask") is not None:
            args.append(f"mask={r.e(s['mask'])}")
        args += hint_args(s)
        r.lines.append(f"{'    ' * indent}tl.store({', '.join(args)})")

    def run(self, s: Node, p: Any, path: str) -> None:
        STMTS["store"].run(s, p, path)  # hints never change values

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        STMTS["store"].find_features(n, fw, in_offset)
        hint_features(n, fw.found)
        if not fw.ty(n["ptr"]).shape:
            fw.found.add("scalar_ptr_store")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield from hint_simplify(n)

    def example(self) -> Any:
        """Each program stores the sum of its tile through a scalar pointer, with hints."""
        offs = S.bin_("+", S.bin_("*", S.pid(0), S.const(8, "int32")), S.arange(8))
        body = [S.let("offs", offs), S.let("x", S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs")))),
                mstore(S.bin_("+", S.arg("o_ptr"), S.pid(0)), S.reduce_("sum", S.var("x"), 0), cache=".wt")]
        return make_case(body, {"x_ptr": ("int32", list(range(16)))}, {"o_ptr": ("int32", 2)}, grid=(2, 1, 1))

"""tl.multiple_of(x, k) and tl.max_contiguous(x, k): facts the compiler may rely on, true by construction.

Triton attaches the fact to the op defining `x` (tt.divisibility / tt.contiguity) and vectorises
loads and stores by it; a false hint is undefined behaviour, so the reference refuses one. Only
the strict readings are generated and checked: multiple_of on int values that are *all* multiples
of k (the program's tile base `pid * BLOCK`), max_contiguous(x, k) on a 1-D int tensor whose
aligned groups of k elements are consecutive (`base + tl.arange(0, BLOCK)`); k is a power of two.

Generation (statement production `hints`): the tile offsets `pid * BLOCK + tl.arange(0, BLOCK)`
become `tl.max_contiguous(tl.multiple_of(pid * BLOCK, BLOCK) + tl.arange(0, BLOCK), BLOCK)` or
one of its halves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.arange import POW2
from generators.constructs.base import Construct, Node, enum_f, expr_f, int_f, register
from generators.constructs.cxlet import static_value
from generators.constructs.examples import make_case
from generators.semantics import UndefinedBehaviour
from generators.statements import blocks_of, stmt_production

FNS = ("multiple_of", "max_contiguous")


def hint(fn: str, x: S.Expr, k: int) -> S.Expr:
    return {"e": "hint", "fn": fn, "x": x, "k": k}


@register
class Hint(Construct):
    name = "hint"
    node = "hint"
    fields = {"fn": enum_f(FNS), "x": expr_f(), "k": int_f(1, 4096)}
    features = ("hint_multiple_of", "hint_max_contiguous")
    knobs = ("hints",)

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        x = tc.ty(n["x"])
        if n["fn"] not in FNS or n["k"] not in POW2:
            raise S.SpecError("hints are multiple_of / max_contiguous by a power of two")
        if x.ptr or not x.is_int:
            raise S.SpecError("hints are generated on int values")
        if static_value(n["x"], tc.params) is not None:
            raise S.SpecError("a hint needs a tensor, not a compile-time constant")
        if n["fn"] == "multiple_of" and len(x.shape) > 1:
            raise S.SpecError("multiple_of takes one value: a scalar or 1-D tensor")
        if n["fn"] == "max_contiguous" and (len(x.shape) != 1 or x.shape[0] % n["k"]):
            raise S.SpecError("max_contiguous(x, k): x is 1-D and k divides its length")
        return x

    def render(self, n: Node, r: Any) -> str:
        return f"tl.{n['fn']}({r.e(n['x'])}, {n['k']})"

    def evaluate(self, n: Node, p: Any) -> Any:
        x = p.expr(n["x"])
        k = n["k"]
        a = np.asarray(x.a)
        if n["fn"] == "multiple_of":
            if np.any(a % k != 0):
                raise UndefinedBehaviour("false hint", f"multiple_of({k}) on {a.reshape(-1)[:4]}...")
        elif np.any(np.diff(a.reshape(-1, k), axis=1) != 1):
            raise UndefinedBehaviour("false hint", f"max_contiguous({k})")
        return x

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add(f"hint_{n['fn']}")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield n["x"], "drop hint"

    def example(self) -> Any:
        base = hint("multiple_of", S.bin_("*", S.pid(0), S.const(8, "int32")), 8)
        offs = hint("max_contiguous", S.bin_("+", base, S.arange(8)), 8)
        body = [S.let("offs", offs),
                S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs"))))]
        return make_case(body, {"x_ptr": ("int32", list(range(16)))}, {"o_ptr": ("int32", 16)}, grid=(2, 1, 1))


# ---- generation ----
def _tile_offsets(e: S.Expr, params: dict[str, dict[str, Any]]) -> int | None:
    """The block size n if `e` is `x * B + tl.arange(0, n)` with B == n (a tile's offsets)."""
    if e.get("e") != "bin" or e["op"] != "+" or e["b"].get("e") != "arange":
        return None
    m, n = e["a"], e["b"]["n"]
    if m.get("e") != "bin" or m["op"] != "*" or static_value(m["b"], params) != n:
        return None
    return n if m["a"].get("e") in ("var", "pid") else None


@stmt_production("hints", order=40)
def hints(g: Any) -> None:
    """Hint the tiles' offsets: the base is a multiple of the block, the block is contiguous."""
    if not g.on("hints", 0.12):
        return
    params = S.params_by_name({"params": g.params})
    for blk in blocks_of(g.body):
        for s in blk:
            n = _tile_offsets(s["e"], params) if s["s"] == "let" else None
            if n is None or n < 2:
                continue
            how = g.ch.weighted({"both": 1.0, "base": 0.7 * g.weight("hint_multiple_of"),
                                 "contig": 0.7 * g.weight("hint_max_contiguous")})
            e = dict(s["e"])
            if how in ("both", "base") and g.weight("hint_multiple_of") > 0:
                k = g.ch.pick([n, n, max(1, n // 2)])
                e["a"] = hint("multiple_of", e["a"], k)
            if how in ("both", "contig") and g.weight("hint_max_contiguous") > 0:
                e = hint("max_contiguous", e, g.ch.pick([n, n, max(1, n // 2)]))
            s["e"] = e

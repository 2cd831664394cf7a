"""tl.arange(0, N), N a literal or a constexpr block size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, ident_f, int_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val

POW2 = tuple(2**i for i in range(13))


@register
class Arange(Construct):
    name = "arange"
    node = "arange"
    fields = {"n": int_f(1, 4096), "cx": ident_f(optional=True)}

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        if n["n"] not in POW2:
            raise S.SpecError("tl.arange needs a power-of-two length")
        cx = n.get("cx")
        if cx is not None:
            p = tc.params.get(cx)
            if p is None or p["kind"] != "constexpr" or p.get("value") != n["n"]:
                raise S.SpecError(f"tl.arange bound {cx} is not a constexpr equal to {n['n']}")
        return S.Ty("int32", (n["n"],))

    def render(self, n: Node, r: Any) -> str:
        return f"tl.arange(0, {n.get('cx') or n['n']})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return Val(np.arange(n["n"], dtype=np.int64), "int32")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        """Index vectors are counted by the tiles they address (tile_Nd)."""

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        if n.get("cx"):
            yield {**n, "cx": None}, "literal block size"

    def example(self) -> Any:
        return unary_case(S.bin_("+", S.var("x"), S.cast(S.var("offs"), "fp32")))

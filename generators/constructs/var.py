"""A let-bound variable (or loop variable) read back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from generators import spec as S
from generators.constructs.base import Construct, Node, ident_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val


@register
class VarRef(Construct):
    name = "var"
    node = "var"
    fields = {"name": ident_f()}

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        if n["name"] not in tc.env:
            raise S.SpecError(f"unbound variable {n['name']}")
        return tc.env[n["name"]]

    def render(self, n: Node, r: Any) -> str:
        return n["name"]

    def evaluate(self, n: Node, p: Any) -> Val:
        return p.env[n["name"]]

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        """A variable carries no feature of its own."""

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())  # inlining is the reducer's let pass

    def example(self) -> Any:
        return unary_case(S.var("x"))

"""A kernel parameter used as a value: pointer, runtime scalar or constexpr."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, ident_f, register
from generators.constructs.examples import unary_case
from generators.semantics import Val


@register
class ArgRef(Construct):
    name = "arg"
    node = "arg"
    fields = {"name": ident_f()}

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        if n["name"] not in tc.params:
            raise S.SpecError(f"unknown parameter {n['name']}")
        return S.param_ty(tc.params[n["name"]])

    def render(self, n: Node, r: Any) -> str:
        return n["name"]

    def evaluate(self, n: Node, p: Any) -> Val:
        prm = p.ev.params[n["name"]]
        if prm["kind"] == "ptr":
            return Val(np.asarray(0, dtype=np.int64), prm["dtype"], buf=n["name"])
        v = prm["value"]
        if isinstance(v, float) or prm.get("dtype") == "fp32":
            return Val(np.asarray(float(v)), "fp32", np.zeros(()))
        return Val(np.asarray(int(v), dtype=np.int64), prm.get("dtype") or "int32")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        """Scalars are features where they meet a tensor (see bin)."""

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        return iter(())

    def example(self) -> Any:
        return unary_case(S.bin_("*", S.var("x"), S.arg("s")), scalars={"s": ("fp32", 2.0)})

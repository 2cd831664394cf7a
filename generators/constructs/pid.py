"""tl.program_id(axis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from generators import spec as S
from generators.constructs.base import Construct, Node, int_f, register
from generators.constructs.examples import make_case
from generators.semantics import Val


@register
class ProgramId(Construct):
    name = "pid"
    node = "pid"
    fields = {"axis": int_f(0, 2)}
    features = ("pid", "pid_offset")

    def typeof(self, n: Node, tc: Any) -> S.Ty:
        return S.Ty("int32")

    def render(self, n: Node, r: Any) -> str:
        return f"tl.program_id({n['axis']})"

    def evaluate(self, n: Node, p: Any) -> Val:
        return Val(np.asarray(p.pid[n["axis"]], dtype=np.int64), "int32")

    def find_features(self, n: Node, fw: Any, in_offset: bool) -> None:
        fw.found.add("pid_offset" if in_offset else "pid")

    def simplify(self, n: Node) -> Iterator[tuple[Any, str]]:
        yield S.const(0, "int32"), "program 0"

    def example(self) -> Any:
        offs = S.bin_("+", S.bin_("*", S.pid(0), S.const(8, "int32")), S.arange(8))
        body = [S.let("offs", offs),
                S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), S.load(S.bin_("+", S.arg("x_ptr"), S.var("offs"))))]
        return make_case(body, {"x_ptr": ("int32", list(range(16)))}, {"o_ptr": ("int32", 16)}, grid=(2, 1, 1))

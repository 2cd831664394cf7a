"""atheris: mutate a real case's JSON at random paths; the validator accepts or raises CaseInvalid,
and whatever it accepts renders to an inert module (no calls but tl.*, no defaults, no imports)."""

from __future__ import annotations

import copy
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from generators.render import render
    from generators.validate import CaseInvalid, validate_case
    from tests.fuzz_harnesses.common import assert_inert, seed_doc

SEED = seed_doc()["case"]
VALUES: list[Any] = [None, True, False, 0, 1, -1, 2, 3, 16, 1 << 31, -(1 << 63), 1.5, float("inf"), float("nan"),
                     "", "x", "tl", "__import__('os').system('id')", "a\nb", "fp32", "int1", "+", "~", "exp",
                     "sum", "ptr", "constexpr", "captured", [], [1], [1, 2], {}, {"e": "const", "v": 1, "dt": "int32"},
                     {"e": "var", "name": "x"}, {"s": "let", "name": "q", "e": {"e": "pid", "axis": 0}}]


def _containers(node: Any, out: list[Any]) -> None:
    out.append(node)
    items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for v in items:
        if isinstance(v, (dict, list)):
            _containers(v, out)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    case = copy.deepcopy(SEED)
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        nodes: list[Any] = []
        _containers(case, nodes)
        target = nodes[fdp.ConsumeIntInRange(0, len(nodes) - 1)]
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        choice = fdp.ConsumeIntInRange(0, 3)
        value: Any = VALUES[fdp.ConsumeIntInRange(0, len(VALUES) - 1)] if choice < 3 else \
            fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 40))
        if isinstance(target, dict) and (not keys or choice == 2):
            target[fdp.ConsumeUnicodeNoSurrogates(8) if choice == 2 else "k"] = copy.deepcopy(value)
        elif keys:
            key = keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]
            if choice == 1 and isinstance(target, list):
                del target[key]
            else:
                target[key] = copy.deepcopy(value)
    try:
        validate_case(case)
    except CaseInvalid:
        return
    assert_inert(render(case["spec"]), {p["name"] for p in case["spec"]["params"]})


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()

"""Kernel families: the top-level productions of the grammar, drawn by weight.

Each module registers one family with `@family(name, weight)`; its campaign knob is
`family_<name>`. Importing the package imports every module, so a family is one file.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Family:
    name: str
    weight: float
    build: Callable[[Any], None]

    @property
    def knob(self) -> str:
        return f"family_{self.name}"


FAMILIES: dict[str, Family] = {}


def family(name: str, weight: float) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Register `build(g)` as the family `name` with default weight `weight`."""
    def deco(fn: Callable[[Any], None]) -> Callable[[Any], None]:
        if name in FAMILIES:
            raise ValueError(f"family {name!r} registered twice")
        FAMILIES[name] = Family(name, weight, fn)
        return fn
    return deco


for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["FAMILIES", "Family", "family"]

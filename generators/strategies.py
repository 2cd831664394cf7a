"""Hypothesis strategy over kernels: the same grammar, drawn through Hypothesis so failing
kernels shrink (smaller integers -> smaller blocks, fewer ops, earlier families)."""

from __future__ import annotations

from hypothesis import strategies as st

from generators.case import KernelCase
from generators.choices import ChoiceSource
from generators.generator import Generator


@st.composite
def kernels(draw: st.DrawFn, weights: dict[str, float] | None = None) -> KernelCase:
    ch = ChoiceSource(lambda lo, hi: draw(st.integers(lo, hi)))
    return Generator(ch, weights).build(None)

"""Hypothesis drives the same grammar: every drawn kernel is well-typed and reference-valid or
refused for a float-ambiguity reason only."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from generators import spec as S
from generators.choices import from_bytes
from generators.generator import Generator
from generators.strategies import kernels
from oracles.reference import UndefinedBehaviour, evaluate


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kernels())
def test_drawn_kernels_are_well_typed_and_defined(case) -> None:
    S.check(case.spec)
    try:
        evaluate(case)
    except UndefinedBehaviour as u:
        assert u.reason.startswith("ambiguous"), u


def test_byte_stream_source_for_coverage_guided_fuzzers() -> None:
    for data in (b"", b"\x01\x02\x03" * 50, bytes(range(256)) * 4):
        case = Generator(from_bytes(data)).build(None)
        S.check(case.spec)

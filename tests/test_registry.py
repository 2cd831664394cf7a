"""The construct registry: every construct owns every facet, and the facets agree.

Each construct is one test item, so the test report lists the whole registry.
"""

from __future__ import annotations

import ast
import sys

import pytest

from generators import FEATURES, KNOBS
from generators import spec as S
from generators.constructs import ALL, EXPRS, STMTS, Construct
from generators.features import CORE_FEATURES, features_of
from generators.render import render
from oracles.reference import evaluate

EXPR_FACETS = ("typeof", "render", "evaluate", "find_features", "simplify", "example")
STMT_FACETS = ("check", "render_stmt", "run", "find_features", "simplify", "example")
NAMES = sorted(ALL)


def _overrides(c: Construct, facet: str) -> bool:
    return getattr(type(c), facet) is not getattr(Construct, facet)


@pytest.mark.parametrize("name", NAMES)
def test_construct_has_every_facet(name: str) -> None:
    c = ALL[name]
    facets = EXPR_FACETS if c.kind == "expr" else STMT_FACETS
    missing = [f for f in facets if not _overrides(c, f)]
    assert not missing, f"construct {name} lacks facets {missing}"
    assert c.fields, f"construct {name} declares no fields"
    assert sys.modules[type(c).__module__].__doc__, f"construct {name}'s module has no docstring"
    for f in c.features:
        assert f in FEATURES, f"{name}: feature {f} missing from FEATURES"
    for k in c.knobs:
        assert k in KNOBS or k in FEATURES, f"{name}: knob {k} is not a campaign weight"


@pytest.mark.parametrize("name", NAMES)
def test_construct_example_types_renders_and_evaluates(name: str) -> None:
    c = ALL[name]
    case = c.example()
    tag = "e" if c.kind == "expr" else "s"
    assert any(n.get(tag) == c.node for n in S.walk(case.spec["body"])), f"{name}'s example does not use it"
    S.check(case.spec)
    ast.parse(render(case.spec))
    evaluate(case)  # raises UndefinedBehaviour if the example is not UB-free
    assert set(features_of(case.spec)) <= set(FEATURES)
    # every field of every node of this kind is declared (the validator relies on it)
    for n in S.walk(case.spec["body"]):
        if n.get(tag) == c.node:
            extra = set(n) - set(c.fields) - {tag}
            assert not extra, f"{name}: undeclared fields {extra}"


def test_every_feature_has_an_owner() -> None:
    owned = set(CORE_FEATURES) | {f for c in ALL.values() for f in c.features}
    assert set(FEATURES) == owned


def test_registry_tables_are_consistent() -> None:
    assert set(EXPRS.values()) | set(STMTS.values()) == set(ALL.values())
    for tag, c in EXPRS.items():
        assert c.kind == "expr" and c.node == tag
    for tag, c in STMTS.items():
        assert c.kind == "stmt" and c.node == tag


def test_unknown_nodes_and_operators_are_refused() -> None:
    case = ALL["bin"].example()
    bad = S.bin_("**", S.var("x"), S.var("x"))
    spec = {**case.spec, "body": case.spec["body"][:-1] + [S.store(S.bin_("+", S.arg("o_ptr"), S.var("offs")), bad)]}
    with pytest.raises(S.SpecError, match="operator"):
        S.check(spec)
    spec["body"][-1]["val"] = {"e": "__import__", "x": S.var("x")}
    with pytest.raises(S.SpecError, match="unknown expression"):
        S.check(spec)

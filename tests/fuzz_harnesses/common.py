"""Shared seed data and the safety property every harness checks on what it accepts."""

from __future__ import annotations

import ast
import json
from typing import Any

ALLOWED_CALLS = {"range"}
ALLOWED_ROOTS = {"tl", "triton"}


def seed_doc() -> dict[str, Any]:
    import generators
    from fuzz.corpus import corpus_document

    return json.loads(json.dumps(corpus_document(generators.generate(3), {"interpreter@3.9.0": {"kind": "ok"}})))


def assert_inert(source: str, params: set[str]) -> None:
    """The rendered module only imports triton, defines one jitted function, calls tl.* and range."""
    tree = ast.parse(source)
    body = tree.body
    assert [type(n).__name__ for n in body] == ["Import", "Import", "FunctionDef"], source
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            while isinstance(f, ast.Attribute):
                f = f.value
            ok = (isinstance(f, ast.Name) and (f.id in ALLOWED_CALLS or f.id in ALLOWED_ROOTS)) or \
                isinstance(node.func, ast.Attribute) and node.func.attr == "to"
            assert ok, ast.unparse(node)
        assert not isinstance(node, (ast.Lambda, ast.ClassDef, ast.Global, ast.Nonlocal, ast.Delete,
                                     ast.With, ast.Try, ast.Raise, ast.Yield, ast.Await)), ast.unparse(node)
        if isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), ast.unparse(node)
    fn = body[2]
    assert isinstance(fn, ast.FunctionDef) and all(d is None for d in fn.args.defaults)
    assert not fn.args.defaults and {a.arg for a in fn.args.args} == params

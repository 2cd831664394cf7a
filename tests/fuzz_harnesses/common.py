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


def _is_jit(dec: ast.expr) -> bool:
    """`@triton.jit` or `@triton.jit(noinline=True)`: the only decorators a rendered module carries."""
    target = dec.func if isinstance(dec, ast.Call) else dec
    return isinstance(target, ast.Attribute) and target.attr == "jit" and \
        isinstance(target.value, ast.Name) and target.value.id == "triton"


def assert_inert(source: str, params: set[str]) -> None:
    """The rendered module only imports triton, defines jitted functions (helpers, then the kernel),
    and calls tl.*, range and the helpers it defined itself."""
    tree = ast.parse(source)
    body = tree.body
    kinds = [type(n).__name__ for n in body]
    assert kinds[:2] == ["Import", "Import"] and len(kinds) > 2 and \
        all(k == "FunctionDef" for k in kinds[2:]), source
    fns = [n for n in body[2:] if isinstance(n, ast.FunctionDef)]
    helpers = {f.name for f in fns[:-1]}
    for fn in fns:
        assert fn.decorator_list and all(_is_jit(d) for d in fn.decorator_list), source
        assert not fn.args.defaults and not fn.args.kw_defaults and fn.args.vararg is None and \
            fn.args.kwarg is None, source
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            while isinstance(f, ast.Attribute):
                f = f.value
            ok = (isinstance(f, ast.Name) and (f.id in ALLOWED_CALLS or f.id in ALLOWED_ROOTS or
                                               (f.id in helpers and f is node.func))) or \
                isinstance(node.func, ast.Attribute) and node.func.attr == "to"
            assert ok, ast.unparse(node)
        assert not isinstance(node, (ast.Lambda, ast.ClassDef, ast.Global, ast.Nonlocal, ast.Delete,
                                     ast.With, ast.Try, ast.Raise, ast.Yield, ast.Await, ast.Import,
                                     ast.ImportFrom) if node not in body[:2] else ()), ast.unparse(node)
        if isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), ast.unparse(node)
    assert {a.arg for a in fns[-1].args.args} == params

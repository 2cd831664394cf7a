"""Construct registry: every module of this package registers one construct (see base.py).

Importing the package imports every module in it, so adding a construct is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

from generators.constructs.base import (
    ALL,
    EXPRS,
    STMTS,
    Construct,
    ExprProduction,
    Field,
    construct_of,
    expr_construct,
    expr_productions,
    feature_owners,
    register,
    stmt_construct,
    valid_ident,
)

_SKIP = {"base", "examples"}
for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _m.name not in _SKIP and not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["ALL", "EXPRS", "STMTS", "Construct", "ExprProduction", "Field", "construct_of", "expr_construct",
           "expr_productions", "feature_owners", "register", "stmt_construct", "valid_ident"]

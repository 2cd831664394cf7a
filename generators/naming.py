"""Generator state: names, parameters, buffers, input data and scalars.

Why a module of its own: every family and production goes through these helpers to add a
parameter or a buffer, so names never collide, every scalar can be a runtime argument, a
constexpr or a literal, and input data stays small integers and halves (exact in every dtype).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from generators import spec as S
from generators.case import Arg, Buffer
from generators.choices import ChoiceSource
from generators.numerics import round_to, to_storage

DTYPE_WEIGHTS = {"fp32": 3.0, "fp16": 1.5, "bf16": 0.6, "int8": 0.8, "int16": 0.7, "int32": 2.0,
                 "int64": 0.8}


class NamingMixin:
    """Names, parameters and buffers of the kernel being generated."""

    def __init__(self, ch: ChoiceSource, weights: dict[str, float] | None = None) -> None:
        self.ch = ch
        self.w = dict(weights or {})
        self.params: list[dict[str, Any]] = []
        self.args: list[Arg] = []
        self.buffers: dict[str, Buffer] = {}
        self.body: list[S.Stmt] = []
        self.tags: set[str] = set()
        self.grid = [1, 1, 1]
        # names the families bind by hand inside loops are never handed out by fresh()
        self.last_q: float | None = 1.0
        self.names: dict[str, int] = {n: 1 for n in ("a", "b", "i", "k", "x", "kernel", "tl", "triton")}

    def weight(self, feature: str) -> float:
        return float(self.w.get(feature, 1.0))

    def on(self, feature: str, p: float) -> bool:
        w = self.weight(feature)
        return w > 0 and self.ch.coin(min(1.0, p * w))

    def fresh(self, prefix: str) -> str:
        n = self.names.get(prefix, 0)
        self.names[prefix] = n + 1
        return prefix if n == 0 else f"{prefix}_{n}"

    def let(self, prefix: str, e: S.Expr) -> S.Expr:
        name = self.fresh(prefix)
        self.body.append(S.let(name, e))
        return S.var(name)

    def scalar_param(self, prefix: str, value: int | float, dtype: str) -> S.Expr:
        name = self.fresh(prefix)
        self.params.append({"name": name, "kind": "scalar", "dtype": dtype, "value": value})
        self.args.append(Arg(name, "scalar", dtype, value))
        return S.arg(name)

    def constexpr(self, prefix: str, value: int | float) -> S.Expr:
        name = self.fresh(prefix)
        self.params.append({"name": name, "kind": "constexpr", "dtype": "", "value": value})
        self.args.append(Arg(name, "constexpr", "", value))
        return S.arg(name)

    def int_value(self, prefix: str, value: int) -> S.Expr:
        """An int32 scalar the kernel sees as a runtime argument, a constexpr or a literal."""
        return self.int_scalar(prefix, value, "splat_runtime_scalar", "splat_constexpr", 1.0)

    def int_scalar(self, prefix: str, value: int, runtime_knob: str, constexpr_knob: str,
                   literal_weight: float) -> S.Expr:
        how = self.ch.weighted({"runtime": 2.0 * self.weight(runtime_knob),
                                "constexpr": 1.0 * self.weight(constexpr_knob), "literal": literal_weight})
        if how == "runtime":
            return self.scalar_param(prefix.lower(), value, "int32")
        if how == "constexpr":
            return self.constexpr(prefix.upper(), value)
        return S.const(value, "int32")

    def buffer(self, prefix: str, dtype: str, data: np.ndarray, role: str) -> S.Expr:
        name = self.fresh(prefix)
        self.params.append({"name": name, "kind": "ptr", "dtype": dtype})
        self.args.append(Arg(name, "ptr", dtype, buffer=name))
        self.buffers[name] = Buffer(name, dtype, role, data)
        return S.arg(name)

    def input_data(self, dtype: str, n: int) -> tuple[np.ndarray, float, float]:
        data, lo, hi, self.last_q = self._input_data(dtype, n)
        return data, lo, hi

    def _input_data(self, dtype: str, n: int) -> tuple[np.ndarray, float, float, float | None]:
        """Small integers (and halves for floats): exact in every dtype, so results stay exact."""
        if dtype in S.FLOAT_DTYPES:
            if self.ch.coin(0.25):
                raw = np.array([self.ch.integer(-400, 400) / 100.0 for _ in range(n)])
                vals = round_to(dtype, raw)
                q = None
            else:
                vals = np.array([self.ch.integer(-8, 8) / 2.0 for _ in range(n)])
                q = 2.0
            lo, hi = (float(vals.min()), float(vals.max())) if n else (0.0, 0.0)
            return to_storage(dtype, vals), lo, hi, q
        if dtype in S.FP8_DTYPES:  # halves in [-4, 4]: exact in e4m3 and e5m2
            vals = np.array([self.ch.integer(-8, 8) / 2.0 for _ in range(n)])
            return to_storage(dtype, vals), -4.0, 4.0, 2.0
        if dtype in S.UINT_DTYPES:  # small values or the whole unsigned range (top bit set)
            top = 100 if self.ch.coin(0.5) else 2 ** S.INT_BITS[dtype] - 1
            vals = np.array([self.ch.integer(0, top) for _ in range(n)], dtype=np.uint64)
            return to_storage(dtype, vals), 0.0, float(top), 1.0
        r = {"int8": 8, "int16": 50, "int32": 100, "int64": 100}[dtype]
        vals = np.array([self.ch.integer(-r, r) for _ in range(n)], dtype=np.int64)
        return to_storage(dtype, vals), float(-r), float(r), 1.0

    def const_tile(self, v: int | float, dt: str, shape: tuple[int, ...]) -> S.Expr:
        """A constant meeting a tile of dtype dt: a literal only where every release types it
        the same way (int32, fp32), else tl.full of the tile's shape."""
        if dt in ("int32", "fp32") and self.ch.coin(0.7):
            self.tags.add("float_literal" if dt == "fp32" else "int_literal")
            return S.const(v, dt)
        return S.full(list(shape) if shape else [1], v, dt) if shape else S.const(v, dt)

    def pick_dtype(self, allowed: tuple[str, ...]) -> str:
        return self.ch.weighted({d: DTYPE_WEIGHTS[d] * self.weight(f"dtype_{d}") for d in allowed})

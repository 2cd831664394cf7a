"""Grammar-driven generator: choices in, a UB-free KernelCase out.

The grammar is organised the way kernel authors write Triton: a tile geometry (block sizes,
extents with partial tail blocks, a grid of 1-3 axes, an optional batch axis), index vectors from
`tl.arange` and program ids, pointer arithmetic with runtime/constexpr/literal strides, bounds
masks, then one kernel family (generators/families/) whose values come from random expression
trees whose operators are the constructs' productions (generators/constructs/).

The concerns live apart: names, parameters and inputs (naming.py), value-range and exactness
algebra (values.py), tile geometry and masks (geometry.py), expression trees (expressions.py).

UB-freedom by construction, as Csmith does it: every buffer is sized exactly to its logical
extent (so a missing mask is an out-of-bounds access the reference evaluator refuses), value
ranges are tracked through every expression so integer arithmetic never overflows and divisors
never reach zero, each output element has exactly one writer, and float inputs are small
integers and halves so most results are exact. The reference evaluator re-checks all of it on the
concrete inputs and rejects what slips through.
"""

from __future__ import annotations

from typing import Any

from generators import spec as S
from generators.case import Arg, Buffer, KernelCase
from generators.choices import ChoiceSource, seeded
from generators.constructs import ALL
from generators.expressions import ExpressionMixin
from generators.families import FAMILIES
from generators.features import features_of
from generators.geometry import GeometryMixin, Tile
from generators.naming import DTYPE_WEIGHTS, NamingMixin
from generators.render import render
from generators.statements import apply_stmt_productions
from generators.values import FLOAT_LIMIT, INT_LIMIT, TV

GENERATOR_VERSION = "4"  # 4: construct weights that put every Part-2 construct in >= 2 % of kernels

# Weight knobs beyond FEATURES: kernel families, constructs' own knobs, generator-only shapes of code.
KNOBS = ([f.knob for f in FAMILIES.values()]
         + sorted({k for c in ALL.values() for k in c.knobs})
         + ["bias_broadcast", "block_table", "grid_batch", "layout_padded", "layout_transposed", "index_values",
            "cast_out", "int_divmod"])

__all__ = ["DTYPE_WEIGHTS", "FLOAT_LIMIT", "GENERATOR_VERSION", "INT_LIMIT", "KNOBS", "TV", "Generator", "Tile",
           "case_from_spec", "generate"]


class Generator(NamingMixin, GeometryMixin, ExpressionMixin):
    """One kernel under construction; `build` draws a family and packages the case."""

    def __init__(self, ch: ChoiceSource, weights: dict[str, float] | None = None) -> None:
        NamingMixin.__init__(self, ch, weights)

    def family(self) -> str:
        return self.ch.weighted({f.name: f.weight * self.weight(f.knob) for f in FAMILIES.values()})

    def loop(self, var: str, trips: int, body: list[S.Stmt], lo: int = 0) -> None:
        """A `for` over `trips` iterations: runtime, constexpr or tl.static_range bounds."""
        kind = self.ch.weighted({"runtime": 1.0 * self.weight("loop_runtime"),
                                 "constexpr": 1.0 * self.weight("loop_constexpr"),
                                 "static": 0.7 * self.weight("static_range")})
        if kind == "runtime":
            hi = self.scalar_param("n_iter", lo + trips, "int32")
        elif kind == "constexpr":
            hi = self.constexpr("N_ITER", lo + trips)
        else:
            hi = self.constexpr("N_ITER", lo + trips) if self.ch.coin(0.5) else S.const(lo + trips, "int32")
        self.body.append(S.for_(var, S.const(lo, "int32"), hi, body,
                                "static_range" if kind == "static" else "range"))

    def build(self, seed: int | None) -> KernelCase:
        fam = FAMILIES[self.family()]
        fam.build(self)
        apply_stmt_productions(self)  # control flow, helpers, hints around what the family built
        self.tags.add(fam.knob)
        num_warps = self.ch.pick([1, 2, 4, 4, 8])
        spec = {"schema": S.SPEC_SCHEMA, "name": "kernel", "params": self.params, "grid": list(self.grid),
                "num_warps": num_warps, "body": self.body, "tags": sorted(self.tags)}
        launch: dict[str, int] = {}  # compile options; each backend takes the ones it has
        if self.on("maxnreg", 0.08):  # cuda's register cap (.maxnreg)
            # not below 64: ptxas cannot fit an f64 mma under 32 registers and says so
            launch["maxnreg"] = self.ch.pick([64, 96, 128, 255])
        if self.on("num_stages", 0.1):  # software pipelining depth (cuda, hip)
            launch["num_stages"] = self.ch.pick([1, 2, 3, 4, 5])
        return case_from_spec(spec, self.args, self.buffers, seed, launch)


def case_from_spec(spec: dict[str, Any], args: list[Arg], buffers: dict[str, Buffer],
                   seed: int | None, launch: dict[str, Any] | None = None) -> KernelCase:
    """Type-check, render and package; used by the generator and the reducer alike.
    `launch`: compile options beyond num_warps (they count as features: maxnreg, num_stages)."""
    S.check(spec)
    launch = dict(launch or {})
    feats = sorted(set(features_of(spec)) | {k for k in ("maxnreg", "num_stages") if k in launch})
    return KernelCase(spec=spec, source=render(spec), kernel_name=spec["name"], args=args,
                      buffers=buffers, grid=(spec["grid"][0], spec["grid"][1], spec["grid"][2]),
                      num_warps=spec.get("num_warps", 4), features=feats,
                      seed=seed, generator_version=GENERATOR_VERSION, launch=launch)


def generate(seed: int, weights: dict[str, float] | None = None) -> KernelCase:
    """The kernel for `seed` under this generator version and feature weights."""
    return Generator(seeded(seed), weights).build(seed)

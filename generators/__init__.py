"""Kernel generators: KernelSpec, the grammar-driven generator, rendering to Triton source."""

from generators.case import Arg, Buffer, KernelCase
from generators.features import FEATURES
from generators.generator import GENERATOR_VERSION, KNOBS, case_from_spec, generate

__all__ = ["FEATURES", "KNOBS", "GENERATOR_VERSION", "Arg", "Buffer", "KernelCase", "case_from_spec", "generate"]

"""Rounding to Triton's element dtypes with numpy, bf16 included.

numpy has no bfloat16, so bf16 values are held as float64 numbers already rounded to bf16 and
stored as their uint16 bit patterns. Shared by the generator (input data), the reference evaluator
and the comparator, so all three agree on one definition of every dtype.
"""

from __future__ import annotations

import numpy as np

UNIT_ROUNDOFF = {"fp32": 2.0**-24, "fp16": 2.0**-11, "bf16": 2.0**-8, "fp64": 2.0**-53}
MAX_FINITE = {"fp32": float(np.finfo(np.float32).max), "fp16": 65504.0,
              "bf16": 3.3895313892515355e38, "fp64": float(np.finfo(np.float64).max)}
TINY = {"fp32": 2.0**-149, "fp16": 2.0**-24, "bf16": 2.0**-133, "fp64": 2.0**-1074}
INT_RANGE = {"int8": (-(2**7), 2**7 - 1), "int16": (-(2**15), 2**15 - 1),
             "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1), "int1": (0, 1)}


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round float32 values to bf16 (round to nearest, ties to even); returns uint16 bits."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounding = ((u >> 16) & 1) + 0x7FFF
    return ((u + rounding) >> 16).astype(np.uint16)


def bf16_bits_to_f64(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def round_to(dtype: str, x: np.ndarray) -> np.ndarray:
    """Round float64 values to `dtype` and return them as float64 (inf on overflow)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype == "fp32":
            return x.astype(np.float32).astype(np.float64)
        if dtype == "fp16":
            return x.astype(np.float16).astype(np.float64)
        if dtype == "bf16":
            # Double rounding through fp32 is innocuous only for single ops; round from fp64
            # directly: take fp32 by truncation toward zero plus a sticky bit, then RNE to bf16.
            f = x.astype(np.float32)
            over = np.abs(f.astype(np.float64)) > np.abs(x)
            f = np.where(over, np.nextafter(f, np.float32(0)), f).astype(np.float32)
            sticky = (f.astype(np.float64) != x).astype(np.uint32)
            u = f.view(np.uint32) | sticky
            return bf16_bits_to_f64(f32_to_bf16_bits(u.view(np.float32)))
        if dtype == "fp64":
            return x
    raise ValueError(f"not a float dtype: {dtype}")


def to_storage(dtype: str, values: np.ndarray) -> np.ndarray:
    """float64/int64 values -> the numpy storage array of `dtype` (bf16 as uint16 bits)."""
    if dtype == "bf16":
        return f32_to_bf16_bits(np.asarray(values, dtype=np.float64).astype(np.float32))
    from backends.runner_api import STORAGE

    return np.asarray(values).astype(STORAGE[dtype])


def from_storage(dtype: str, data: np.ndarray) -> np.ndarray:
    """Storage array -> float64 (floats) or int64/bool values."""
    if dtype == "bf16":
        return bf16_bits_to_f64(data)
    if dtype in UNIT_ROUNDOFF:
        return np.asarray(data).astype(np.float64)
    if dtype == "int1":
        return np.asarray(data).astype(np.bool_)
    return np.asarray(data).astype(np.int64)

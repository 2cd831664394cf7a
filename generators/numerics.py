"""Rounding to Triton's element dtypes with numpy, bf16 included.

numpy has no bfloat16, so bf16 values are held as float64 numbers already rounded to bf16 and
stored as their uint16 bit patterns. Shared by the generator (input data), the reference evaluator
and the comparator, so all three agree on one definition of every dtype.
"""

from __future__ import annotations

import numpy as np

UNIT_ROUNDOFF = {"fp32": 2.0**-24, "fp16": 2.0**-11, "bf16": 2.0**-8, "fp64": 2.0**-53,
                 "fp8e4nv": 2.0**-4, "fp8e5": 2.0**-3}
MAX_FINITE = {"fp32": float(np.finfo(np.float32).max), "fp16": 65504.0,
              "bf16": 3.3895313892515355e38, "fp64": float(np.finfo(np.float64).max),
              "fp8e4nv": 448.0, "fp8e5": 57344.0}
TINY = {"fp32": 2.0**-149, "fp16": 2.0**-24, "bf16": 2.0**-133, "fp64": 2.0**-1074,
        "fp8e4nv": 2.0**-9, "fp8e5": 2.0**-16}
INT_RANGE = {"int8": (-(2**7), 2**7 - 1), "int16": (-(2**15), 2**15 - 1),
             "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1), "int1": (0, 1),
             "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1),
             "uint64": (0, 2**64 - 1)}
UINTS = ("uint8", "uint16", "uint32", "uint64")
# fp8 formats (OCP): mantissa bits, smallest normal exponent, exponent bias. e4m3fn has no
# infinities (0x7F/0xFF are NaN); e5m2 is IEEE-like (0x7C is +inf).
FP8 = {"fp8e4nv": (3, -6, 7), "fp8e5": (2, -14, 15)}


def round_fp8(dtype: str, x: np.ndarray) -> np.ndarray:
    """Round float64 values to an fp8 format, to nearest with ties to even, subnormals
    included; magnitudes beyond the largest finite value come back as inf (callers refuse them:
    backends saturate or produce inf/NaN depending on the conversion path)."""
    m, emin, _ = FP8[dtype]
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        e = np.floor(np.log2(np.where(x == 0, 1.0, np.abs(x))))
        q = np.exp2(np.maximum(e, emin) - m)  # spacing of the format around |x|
        r = np.round(x / q) * q  # exact in float64; np.round ties to even
    return np.where(np.abs(r) > MAX_FINITE[dtype], np.copysign(np.inf, x), r)


def fp8_to_bits(dtype: str, x: np.ndarray) -> np.ndarray:
    """Finite float64 values exactly representable in `dtype` -> uint8 bit patterns."""
    m, emin, bias = FP8[dtype]
    x = np.asarray(x, dtype=np.float64)
    sign = np.signbit(x).astype(np.uint8) << 7
    a = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.floor(np.log2(np.where(a == 0, 1.0, a)))
    normal = (a >= 2.0**emin)
    exp_field = np.where(normal, e + bias, 0)
    frac = np.where(normal, a / np.exp2(e) - 1.0, a / 2.0**emin)
    man = np.round(frac * 2**m)
    bits = (exp_field.astype(np.int64) << m) + man.astype(np.int64)
    return (sign | bits.astype(np.uint8)).astype(np.uint8)


def fp8_from_bits(dtype: str, bits: np.ndarray) -> np.ndarray:
    """uint8 bit patterns -> float64 (NaN encodings to NaN, e5m2 infinities to inf)."""
    m, emin, bias = FP8[dtype]
    b = np.asarray(bits, dtype=np.uint8).astype(np.int64)
    sign = np.where(b & 0x80, -1.0, 1.0)
    ef = (b >> m) & ((1 << (7 - m)) - 1)
    man = (b & ((1 << m) - 1)).astype(np.float64)
    val = np.where(ef == 0, man / 2**m * 2.0**emin, (1.0 + man / 2**m) * np.exp2(ef - bias))
    emax_field = (1 << (7 - m)) - 1
    if dtype == "fp8e4nv":
        val = np.where((ef == emax_field) & (man == (1 << m) - 1), np.nan, val)
    else:
        val = np.where(ef == emax_field, np.where(man == 0, np.inf, np.nan), val)
    return sign * val


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
        if dtype in FP8:
            return round_fp8(dtype, x)
    raise ValueError(f"not a float dtype: {dtype}")


def to_storage(dtype: str, values: np.ndarray) -> np.ndarray:
    """float64/int64 values -> the numpy storage array of `dtype` (bf16 as uint16 bits)."""
    if dtype == "bf16":
        return f32_to_bf16_bits(np.asarray(values, dtype=np.float64).astype(np.float32))
    if dtype in FP8:
        return fp8_to_bits(dtype, round_fp8(dtype, values))
    from backends.runner_api import STORAGE

    return np.asarray(values).astype(STORAGE[dtype])


def from_storage(dtype: str, data: np.ndarray) -> np.ndarray:
    """Storage array -> float64 (floats), int64 (signed ints), uint64 (unsigned) or bool values."""
    if dtype == "bf16":
        return bf16_bits_to_f64(data)
    if dtype in FP8:
        return fp8_from_bits(dtype, data)
    if dtype in UINTS:  # held as uint64 so uint64 keeps its top bit (see generators/constructs/wrap.py)
        return np.asarray(data).astype(np.uint64)
    if dtype in UNIT_ROUNDOFF:
        return np.asarray(data).astype(np.float64)
    if dtype == "int1":
        return np.asarray(data).astype(np.bool_)
    return np.asarray(data).astype(np.int64)

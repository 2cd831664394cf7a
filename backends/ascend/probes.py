"""Probe kernels for the capability profile: one small kernel per dtype and per feature.

Why: triton-ascend releases differ in what they accept (fp64 is rejected by rc4's frontend, rc2
has no tl.flip and leaves tt.scan unconverted, ...). Each probe is the simplest kernel that uses
one dtype or feature, with a numpy expectation, so a profile can tell "rejected" from "accepted
but wrong" from "beyond our CPU pipeline". Used by measure_profile.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backends.ascend.cli import buffer, constexpr, make_case, ptr, scalar

H = "import triton\nimport triton.language as tl\n\n"
N = 16


@dataclass(frozen=True)
class Probe:
    name: str
    kind: str  # "dtype" | "feature"
    build: Callable[[], tuple[dict, dict[str, np.ndarray]]]  # -> (wire case, expected outputs)


def _rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _unary(name: str, body: str, din: str, dout: str, x: np.ndarray, expect: np.ndarray,
           grid: int = 1) -> tuple[dict, dict[str, np.ndarray]]:
    """Kernel `name(x_ptr, o_ptr, BLOCK)` with `x` loaded and `body` storing to o_ptr + offs."""
    src = H + (f"@triton.jit\ndef {name}(x_ptr, o_ptr, BLOCK: tl.constexpr):\n"
               f"    offs = tl.arange(0, BLOCK)\n    x = tl.load(x_ptr + offs)\n{body}\n")
    n = int(np.asarray(x).size)
    case = make_case(src, name, [ptr("x_ptr", din, "x"), ptr("o_ptr", dout, "o"), constexpr("BLOCK", n)],
                     {"x": buffer(din, x), "o": buffer(dout, np.zeros(n), "out")}, (grid, 1, 1))
    return case, {"o": np.asarray(expect)}


def _dtype_probe(dt: str) -> Callable[[], tuple[dict, dict[str, np.ndarray]]]:
    def build() -> tuple[dict, dict[str, np.ndarray]]:
        x = _rng().integers(-8, 8, N)
        if dt == "int1":
            return _unary("p_int1", "    tl.store(o_ptr + offs, x == 0)", dt, dt, x > 0, ~(x > 0))
        if dt == "bf16":
            xf = x.astype(np.float32)
            bits = (xf.view(np.uint32) >> 16).astype(np.uint16)
            exp = ((xf * 2 + 1).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
            return _unary("p_bf16", "    tl.store(o_ptr + offs, x * 2 + 1)", dt, dt, bits, exp)
        store = {"fp32": np.float32, "fp16": np.float16, "fp64": np.float64, "int8": np.int8,
                 "int16": np.int16, "int32": np.int32, "int64": np.int64}[dt]
        xs = x.astype(store)
        return _unary(f"p_{dt}", "    tl.store(o_ptr + offs, x * 2 + 1)", dt, dt, xs, xs * store(2) + store(1))
    return build


DTYPES = ["fp32", "fp16", "bf16", "fp64", "int8", "int16", "int32", "int64", "int1"]


def _masked() -> tuple[dict, dict[str, np.ndarray]]:
    n = 20
    src = H + ("@triton.jit\ndef p_masked(x_ptr, o_ptr, n, BLOCK: tl.constexpr):\n"
               "    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)\n"
               "    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)\n"
               "    tl.store(o_ptr + offs, x + 1.0, mask=offs < n)\n")
    x = np.arange(n, dtype=np.float32)
    case = make_case(src, "p_masked", [ptr("x_ptr", "fp32", "x"), ptr("o_ptr", "fp32", "o"),
                                       scalar("n", "int32", n), constexpr("BLOCK", 16)],
                     {"x": buffer("fp32", x), "o": buffer("fp32", np.zeros(n), "out")}, (2, 1, 1))
    return case, {"o": x + 1}


def _broadcast2d() -> tuple[dict, dict[str, np.ndarray]]:
    src = H + ("@triton.jit\ndef p_bcast(x_ptr, y_ptr, o_ptr, s, M: tl.constexpr, N: tl.constexpr):\n"
               "    rm = tl.arange(0, M)\n    rn = tl.arange(0, N)\n"
               "    x = tl.load(x_ptr + rm[:, None] * s + rn[None, :])\n    y = tl.load(y_ptr + rn)\n"
               "    tl.store(o_ptr + rm[:, None] * N + rn[None, :], x * y[None, :])\n")
    r = _rng()
    x, y = r.integers(-4, 4, (4, 8)).astype(np.float32), r.integers(-4, 4, 8).astype(np.float32)
    case = make_case(src, "p_bcast", [ptr("x_ptr", "fp32", "x"), ptr("y_ptr", "fp32", "y"),
                                      ptr("o_ptr", "fp32", "o"), scalar("s", "int32", 8),
                                      constexpr("M", 4), constexpr("N", 8)],
                     {"x": buffer("fp32", x), "y": buffer("fp32", y), "o": buffer("fp32", np.zeros(32), "out")})
    return case, {"o": (x * y).ravel()}


def _dot(din: str, dout: str, prec: str = "") -> Callable[[], tuple[dict, dict[str, np.ndarray]]]:
    def build() -> tuple[dict, dict[str, np.ndarray]]:
        extra = f", input_precision=\"{prec}\"" if prec else ""
        name = f"p_dot_{din}"
        src = H + (f"@triton.jit\ndef {name}(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, "
                   "K: tl.constexpr):\n    rm = tl.arange(0, M)\n    rn = tl.arange(0, N)\n"
                   "    rk = tl.arange(0, K)\n    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])\n"
                   "    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])\n"
                   f"    tl.store(c_ptr + rm[:, None] * N + rn[None, :], tl.dot(a, b{extra}))\n")
        r = _rng()
        a, b = r.integers(-3, 4, (16, 16)), r.integers(-3, 4, (16, 16))
        case = make_case(src, name, [ptr("a_ptr", din, "a"), ptr("b_ptr", din, "b"), ptr("c_ptr", dout, "c"),
                                     constexpr("M", 16), constexpr("N", 16), constexpr("K", 16)],
                         {"a": buffer(din, a), "b": buffer(din, b), "c": buffer(dout, np.zeros(256), "out")})
        return case, {"c": (a @ b).ravel()}
    return build


def _reduce2d(name: str, expr: str, dout: str, fn: Callable[[np.ndarray], np.ndarray]
              ) -> Callable[[], tuple[dict, dict[str, np.ndarray]]]:
    def build() -> tuple[dict, dict[str, np.ndarray]]:
        src = H + (f"@triton.jit\ndef {name}(x_ptr, o_ptr, M: tl.constexpr, N: tl.constexpr):\n"
                   "    rm = tl.arange(0, M)\n    rn = tl.arange(0, N)\n"
                   "    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :])\n"
                   f"    tl.store(o_ptr + rm, {expr})\n")
        x = _rng().integers(-8, 8, (8, 16)).astype(np.float32)
        case = make_case(src, name, [ptr("x_ptr", "fp32", "x"), ptr("o_ptr", dout, "o"),
                                     constexpr("M", 8), constexpr("N", 16)],
                         {"x": buffer("fp32", x), "o": buffer(dout, np.zeros(8), "out")})
        return case, {"o": fn(x)}
    return build


def _loop(kind: str) -> Callable[[], tuple[dict, dict[str, np.ndarray]]]:
    def build() -> tuple[dict, dict[str, np.ndarray]]:
        head = ("    for i in range(0, n):\n" if kind == "for" else "    i = 0\n    while i < n:\n")
        step = "" if kind == "for" else "        i += 1\n"
        src = H + (f"@triton.jit\ndef p_{kind}(x_ptr, o_ptr, n, BLOCK: tl.constexpr):\n"
                   "    offs = tl.arange(0, BLOCK)\n    acc = tl.zeros([BLOCK], dtype=tl.float32)\n"
                   f"{head}        acc += tl.load(x_ptr + i * BLOCK + offs)\n{step}"
                   "    tl.store(o_ptr + offs, acc)\n")
        x = _rng().integers(-8, 8, (3, N)).astype(np.float32)
        case = make_case(src, f"p_{kind}", [ptr("x_ptr", "fp32", "x"), ptr("o_ptr", "fp32", "o"),
                                             scalar("n", "int32", 3), constexpr("BLOCK", N)],
                         {"x": buffer("fp32", x), "o": buffer("fp32", np.zeros(N), "out")})
        return case, {"o": x.sum(0)}
    return build


def _indirect() -> tuple[dict, dict[str, np.ndarray]]:
    src = H + ("@triton.jit\ndef p_indirect(x_ptr, i_ptr, o_ptr, BLOCK: tl.constexpr):\n"
               "    offs = tl.arange(0, BLOCK)\n    i = tl.load(i_ptr + offs)\n"
               "    tl.store(o_ptr + offs, tl.load(x_ptr + i))\n")
    r = _rng()
    x, i = r.integers(-50, 50, 32).astype(np.float32), r.integers(0, 32, N).astype(np.int32)
    case = make_case(src, "p_indirect", [ptr("x_ptr", "fp32", "x"), ptr("i_ptr", "int32", "i"),
                                         ptr("o_ptr", "fp32", "o"), constexpr("BLOCK", N)],
                     {"x": buffer("fp32", x), "i": buffer("int32", i), "o": buffer("fp32", np.zeros(N), "out")})
    return case, {"o": x[i]}


def _tl_gather() -> tuple[dict, dict[str, np.ndarray]]:
    src = H + ("@triton.jit\ndef p_gather(x_ptr, i_ptr, o_ptr, BLOCK: tl.constexpr):\n"
               "    offs = tl.arange(0, BLOCK)\n    x = tl.load(x_ptr + offs)\n    i = tl.load(i_ptr + offs)\n"
               "    tl.store(o_ptr + offs, tl.gather(x, i, 0))\n")
    r = _rng()
    x, i = r.integers(-50, 50, N).astype(np.float32), r.integers(0, N, N).astype(np.int32)
    case = make_case(src, "p_gather", [ptr("x_ptr", "fp32", "x"), ptr("i_ptr", "int32", "i"),
                                       ptr("o_ptr", "fp32", "o"), constexpr("BLOCK", N)],
                     {"x": buffer("fp32", x), "i": buffer("int32", i), "o": buffer("fp32", np.zeros(N), "out")})
    return case, {"o": x[i]}


def _binary(name: str, din: str, expr: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
            ) -> Callable[[], tuple[dict, dict[str, np.ndarray]]]:
    def build() -> tuple[dict, dict[str, np.ndarray]]:
        src = H + (f"@triton.jit\ndef {name}(x_ptr, y_ptr, o_ptr, BLOCK: tl.constexpr):\n"
                   "    offs = tl.arange(0, BLOCK)\n    x = tl.load(x_ptr + offs)\n    y = tl.load(y_ptr + offs)\n"
                   f"    tl.store(o_ptr + offs, {expr})\n")
        r = _rng()
        store = np.float32 if din == "fp32" else np.int32
        x = r.integers(-20, 20, N).astype(store)
        y = (r.integers(1, 6, N) * r.choice([-1, 1], N)).astype(store)
        case = make_case(src, name, [ptr("x_ptr", din, "x"), ptr("y_ptr", din, "y"), ptr("o_ptr", din, "o"),
                                     constexpr("BLOCK", N)],
                         {"x": buffer(din, x), "y": buffer(din, y), "o": buffer(din, np.zeros(N), "out")})
        return case, {"o": fn(x, y)}
    return build


def _atomic(op: str) -> Callable[[], tuple[dict, dict[str, np.ndarray]]]:
    def build() -> tuple[dict, dict[str, np.ndarray]]:
        call = {"add": "tl.atomic_add(o_ptr + offs, x)", "max": "tl.atomic_max(o_ptr + offs, x)",
                "xchg": "tl.atomic_xchg(o_ptr + offs, x)",
                "cas": "tl.atomic_cas(o_ptr + offs, tl.zeros([BLOCK], tl.int32), x)"}[op]
        x = _rng().integers(-8, 8, N).astype(np.int32)
        o0 = np.zeros(N, np.int32)
        exp = {"add": o0 + 2 * x, "max": np.maximum(o0, x), "xchg": x,
               "cas": np.where(o0 == 0, x, o0)}[op]
        src = H + (f"@triton.jit\ndef p_atomic_{op}(x_ptr, o_ptr, BLOCK: tl.constexpr):\n"
                   f"    offs = tl.arange(0, BLOCK)\n    x = tl.load(x_ptr + offs)\n    {call}\n")
        grid = 2 if op == "add" else 1
        case = make_case(src, f"p_atomic_{op}", [ptr("x_ptr", "int32", "x"), ptr("o_ptr", "int32", "o"),
                                                 constexpr("BLOCK", N)],
                         {"x": buffer("int32", x), "o": buffer("int32", o0, "out")}, (grid, 1, 1))
        return case, {"o": exp}
    return build


def _pid3() -> tuple[dict, dict[str, np.ndarray]]:
    src = H + ("@triton.jit\ndef p_pid3(o_ptr):\n    x = tl.program_id(0)\n    y = tl.program_id(1)\n"
               "    z = tl.program_id(2)\n    nx = tl.num_programs(0)\n    ny = tl.num_programs(1)\n"
               "    tl.store(o_ptr + (z * ny + y) * nx + x, x + 10 * y + 100 * z)\n")
    z, y, x = np.meshgrid(np.arange(2), np.arange(3), np.arange(4), indexing="ij")
    case = make_case(src, "p_pid3", [ptr("o_ptr", "int32", "o")], {"o": buffer("int32", np.zeros(24), "out")},
                     (4, 3, 2))
    return case, {"o": (x + 10 * y + 100 * z).ravel()}


def _scalars() -> tuple[dict, dict[str, np.ndarray]]:
    src = H + ("@triton.jit\ndef p_scalars(x_ptr, o_ptr, a, b, c, BLOCK: tl.constexpr):\n"
               "    offs = tl.arange(0, BLOCK)\n    x = tl.load(x_ptr + offs)\n"
               "    tl.store(o_ptr + offs, x * a + b + c)\n")
    x = np.arange(N, dtype=np.float32)
    case = make_case(src, "p_scalars", [ptr("x_ptr", "fp32", "x"), ptr("o_ptr", "fp32", "o"),
                                        scalar("a", "fp32", 1.5), scalar("b", "int64", 3),
                                        scalar("c", "fp16", 0.25), constexpr("BLOCK", N)],
                     {"x": buffer("fp32", x), "o": buffer("fp32", np.zeros(N), "out")})
    return case, {"o": x * 1.5 + 3 + 0.25}


def _x() -> np.ndarray:
    return _rng().integers(-8, 8, N).astype(np.float32)


def _umulhi_expect(x: np.ndarray) -> np.ndarray:
    u = x.astype(np.uint32).astype(np.uint64)
    return ((u * u) >> np.uint64(32)).astype(np.uint32).view(np.int32)


def _xi() -> np.ndarray:
    return _rng().integers(-1000, 1000, N).astype(np.int32)


FEATURES: dict[str, Callable[[], tuple[dict, dict[str, np.ndarray]]]] = {
    "masked_load": _masked,
    "broadcast_2d": _broadcast2d,
    "dot_fp32": _dot("fp32", "fp32", "ieee"),
    "dot_fp16": _dot("fp16", "fp32"),
    "dot_int8": _dot("int8", "int32"),
    "reduce_sum": _reduce2d("p_sum", "tl.sum(x, axis=1)", "fp32", lambda x: x.sum(1)),
    "reduce_max": _reduce2d("p_max", "tl.max(x, axis=1)", "fp32", lambda x: x.max(1)),
    "argmax": _reduce2d("p_argmax", "tl.argmax(x, axis=1)", "int32", lambda x: x.argmax(1)),
    "for_loop": _loop("for"),
    "while_loop": _loop("while"),
    "indirect_load": _indirect,
    "gather": _tl_gather,
    "cumsum": lambda: _unary("p_cumsum", "    tl.store(o_ptr + offs, tl.cumsum(x, 0))", "fp32", "fp32",
                             _x(), np.cumsum(_x())),
    "cumsum_reverse": lambda: _unary("p_cumsum_rev", "    tl.store(o_ptr + offs, tl.cumsum(x, 0, reverse=True))",
                                     "fp32", "fp32", _x(), np.cumsum(_x()[::-1])[::-1]),
    "cumprod": lambda: _unary("p_cumprod", "    tl.store(o_ptr + offs, tl.cumprod(x, 0))", "int32", "int32",
                              np.clip(_x(), -2, 2).astype(np.int32), np.cumprod(np.clip(_x(), -2, 2)).astype(np.int32)),
    "sort": lambda: _unary("p_sort", "    tl.store(o_ptr + offs, tl.sort(x, 0))", "fp32", "fp32", _x(), np.sort(_x())),
    "flip": lambda: _unary("p_flip", "    tl.store(o_ptr + offs, tl.flip(x, 0))", "fp32", "fp32", _x(), _x()[::-1]),
    "histogram": lambda: _unary("p_hist", "    tl.store(o_ptr + offs, tl.histogram(x, BLOCK))", "int32", "int32",
                                np.abs(_x()).astype(np.int32), np.bincount(np.abs(_x()).astype(int), minlength=N)),
    "math_exp": lambda: _unary("p_exp", "    tl.store(o_ptr + offs, tl.exp(x * 0.25) + tl.sqrt(tl.abs(x)))",
                               "fp32", "fp32", _x(), np.exp(_x() * 0.25) + np.sqrt(np.abs(_x()))),
    "where": lambda: _unary("p_where", "    tl.store(o_ptr + offs, tl.where(x > 0, x, -2.0 * x))", "fp32", "fp32",
                            _x(), np.where(_x() > 0, _x(), -2 * _x())),
    "float_mod": _binary("p_fmod", "fp32", "x % y", lambda x, y: x - np.floor(x / y) * y),
    "int_div_mod": _binary("p_idiv", "int32", "x // y + x % y * 100",
                           lambda x, y: (np.trunc(x / y) + np.fmod(x, y) * 100).astype(np.int32)),
    "umulhi": lambda: _unary("p_umulhi", "    tl.store(o_ptr + offs, tl.umulhi(x, x))", "int32", "int32",
                             _xi(), _umulhi_expect(_xi())),
    "atomic_add": _atomic("add"),
    "atomic_max": _atomic("max"),
    "atomic_xchg": _atomic("xchg"),
    "atomic_cas": _atomic("cas"),
    "debug_barrier": lambda: _unary("p_barrier", "    tl.debug_barrier()\n    tl.store(o_ptr + offs, x)",
                                    "fp32", "fp32", _x(), _x()),
    "device_print": lambda: _unary("p_print", "    tl.device_print('x', x)\n    tl.store(o_ptr + offs, x)",
                                   "fp32", "fp32", _x(), _x()),
    "program_id_3d": _pid3,
    "scalar_args": _scalars,
}


def _construct_probe(name: str) -> Callable[[], tuple[dict, dict[str, np.ndarray]]]:
    """Every registered construct's own minimal example, expected values from the reference."""
    def build() -> tuple[dict, dict[str, np.ndarray]]:
        from generators.constructs import ALL
        from generators.numerics import to_storage
        from oracles.reference import evaluate

        case = ALL[name].example()
        ref = evaluate(case)
        expected = {n: to_storage(case.buffers[n].dtype, ref.values[n]) for n in case.outputs()}
        return case.to_wire(), expected
    return build


def construct_probes() -> list[Probe]:
    from generators.constructs import ALL

    return [Probe(f"construct_{n}", "construct", _construct_probe(n)) for n in sorted(ALL)]


def all_probes() -> list[Probe]:
    return ([Probe(dt, "dtype", _dtype_probe(dt)) for dt in DTYPES]
            + [Probe(n, "feature", b) for n, b in FEATURES.items()] + construct_probes())

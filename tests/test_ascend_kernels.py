"""Real kernels through triton-ascend (3.2.0, rc4, rc2) on CPU, checked against numpy.

Each release's env runs one batch (`backends.ascend.cli`), so Python start-up and `import triton`
are paid once per release. Differences between releases are asserted as what they are.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from backends.ascend.cli import buffer, constexpr, data_of, env_python, make_case, ptr, run_in_env, scalar

VERSIONS = ["3.2.0", "3.2.0rc4", "3.2.0rc2"]
H = "import triton\nimport triton.language as tl\n\n"
RNG = np.random.default_rng(7)

TAIL = H + '''@triton.jit
def tail(x_ptr, o_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=0.0)
    tl.store(o_ptr + offs, x * 2.0 + 1.0, mask=m)
'''

BCAST2D = H + '''@triton.jit
def bcast2d(x_ptr, y_ptr, o_ptr, M, N, sxm, sxn, som, son, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    mask = (rm[:, None] < M) & (rn[None, :] < N)
    x = tl.load(x_ptr + rm[:, None] * sxm + rn[None, :] * sxn, mask=mask, other=0.0)
    y = tl.load(y_ptr + rn, mask=rn < N, other=0.0)
    tl.store(o_ptr + rm[:, None] * som + rn[None, :] * son, x - y[None, :], mask=mask)
'''

DOT = H + '''@triton.jit
def dot_scaled(a_ptr, b_ptr, c_ptr, scale, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr, BK: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    acc = tl.zeros([M, N], dtype=tl.float32)
    for k0 in range(0, K, BK):
        rk = k0 + tl.arange(0, BK)
        a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
        b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
        acc += tl.dot(a, b, input_precision="ieee")
    acc = acc * scale
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc)
'''

DOT16 = H + '''@triton.jit
def dot_fp16(a_ptr, b_ptr, c_ptr, scale, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    acc = tl.dot(a, b)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], (acc * scale).to(tl.float16))
'''

REDUCE = H + '''@triton.jit
def reduce2d(x_ptr, s_ptr, m_ptr, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :])
    tl.store(s_ptr + rm, tl.sum(x, axis=1))
    tl.store(m_ptr + rn, tl.max(x, axis=0))
'''

LOOP = H + '''@triton.jit
def loop_acc(x_ptr, o_ptr, n_iter, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    prod = tl.full([BLOCK], 1, dtype=tl.int32)
    for i in range(0, n_iter):
        acc += tl.load(x_ptr + i * BLOCK + offs) * (i + 1)
        prod = prod * 2 - i
    tl.store(o_ptr + offs, acc + prod.to(tl.float32))
'''

GATHER = H + '''@triton.jit
def gather_idx(x_ptr, i_ptr, o_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    idx = tl.load(i_ptr + offs, mask=m, other=0)
    v = tl.load(x_ptr + idx, mask=m, other=0.0)
    tl.store(o_ptr + offs, v, mask=m)
'''

UMULHI = H + '''@triton.jit
def umulhi_k(x_ptr, o_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.store(o_ptr + offs, tl.umulhi(x, x))
'''

FLIP = H + '''@triton.jit
def flip_k(x_ptr, o_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(o_ptr + offs, tl.flip(tl.load(x_ptr + offs), 0))
'''

CUMSUM = H + '''@triton.jit
def cumsum_k(x_ptr, o_ptr, M: tl.constexpr, N: tl.constexpr, REV: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :])
    tl.store(o_ptr + rm[:, None] * N + rn[None, :], tl.cumsum(x, 1, reverse=REV))
'''

FP64 = H + '''@triton.jit
def fp64_k(x_ptr, o_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(o_ptr + offs, tl.load(x_ptr + offs) * 3.0 - 1.0)
'''

DIVPTR = H + '''@triton.jit
def div_offsets(x_ptr, o_ptr, start_n, block_size, stride, N: tl.constexpr):
    offs_n = tl.arange(0, N)
    x = tl.load(x_ptr + ((start_n + offs_n) // block_size) * stride)
    tl.store(o_ptr + offs_n, x)
'''

SORT_MOD = H + '''@triton.jit
def sort_mod(x_ptr, y_ptr, s_ptr, m_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    y = tl.load(y_ptr + offs)
    tl.store(s_ptr + offs, tl.sort(x, 0, descending=True))
    tl.store(m_ptr + offs, x % y)
'''

MISC = H + '''@triton.jit
def misc(x_ptr, i_ptr, h_ptr, g_ptr, a_ptr, am_ptr, o_ptr, sa, sb, sc, sd, M: tl.constexpr, N: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :])
    idx = tl.load(i_ptr + rm[:, None] * N + rn[None, :])
    tl.store(g_ptr + rm[:, None] * N + rn[None, :], tl.gather(x, idx, 1))
    flat = tl.arange(0, M * N)
    tl.store(h_ptr + tl.arange(0, N), tl.histogram(tl.load(i_ptr + flat), N))
    tl.atomic_add(a_ptr + rn, tl.sum(x, axis=0))
    tl.store(am_ptr + rm, tl.argmax(x, axis=1))
    y = x.to(tl.bfloat16) * sa + sb.to(tl.bfloat16)
    tl.store(o_ptr + rm[:, None] * N + rn[None, :], tl.where(sd, y, -y) + sc)
'''


def _small(shape: tuple[int, ...], lo: int = -8, hi: int = 8) -> np.ndarray:
    return RNG.integers(lo, hi, shape).astype(np.float32)


def build_cases() -> dict[str, tuple[dict, dict[str, np.ndarray]]]:
    """name -> (wire case, expected unpadded outputs)."""
    out: dict[str, tuple[dict, dict[str, np.ndarray]]] = {}
    n = 100
    x = _small((n,))
    out["tail"] = (make_case(TAIL, "tail", [ptr("x_ptr", "fp32", "x"), ptr("o_ptr", "fp32", "o"),
                                           scalar("n", "int32", n), constexpr("BLOCK", 32)],
                             {"x": buffer("fp32", x), "o": buffer("fp32", np.full(n, -5.0), "out")}, (4, 1, 1)),
                   {"o": x * 2 + 1})
    M, N = 20, 24
    xt = _small((N, M))  # column-major view of an MxN matrix: strides (1, M)
    y = _small((N,))
    out["bcast2d"] = (make_case(BCAST2D, "bcast2d", [
        ptr("x_ptr", "fp32", "x"), ptr("y_ptr", "fp32", "y"), ptr("o_ptr", "fp32", "o"), scalar("M", "int32", M),
        scalar("N", "int32", N), scalar("sxm", "int32", 1), scalar("sxn", "int32", M), scalar("som", "int32", N),
        scalar("son", "int32", 1), constexpr("BM", 16), constexpr("BN", 16)],
        {"x": buffer("fp32", xt), "y": buffer("fp32", y), "o": buffer("fp32", np.zeros(M * N), "out")}, (2, 2, 1)),
        {"o": (xt.T - y[None, :]).ravel()})
    Md, Nd, Kd = 16, 32, 32
    a, b = _small((Md, Kd), -3, 4), _small((Kd, Nd), -3, 4)
    out["dot_fp32_ieee"] = (make_case(DOT, "dot_scaled", [
        ptr("a_ptr", "fp32", "a"), ptr("b_ptr", "fp32", "b"), ptr("c_ptr", "fp32", "c"), scalar("scale", "fp32", 0.5),
        constexpr("M", Md), constexpr("N", Nd), constexpr("K", Kd), constexpr("BK", 16)],
        {"a": buffer("fp32", a), "b": buffer("fp32", b), "c": buffer("fp32", np.zeros(Md * Nd), "out")}),
        {"c": (a @ b * 0.5).ravel()})
    out["dot_fp16"] = (make_case(DOT16, "dot_fp16", [
        ptr("a_ptr", "fp16", "a"), ptr("b_ptr", "fp16", "b"), ptr("c_ptr", "fp16", "c"), scalar("scale", "fp32", 0.25),
        constexpr("M", 16), constexpr("N", 16), constexpr("K", 16)],
        {"a": buffer("fp16", a[:16, :16]), "b": buffer("fp16", b[:16, :16]),
         "c": buffer("fp16", np.zeros(256), "out")}),
        {"c": (a[:16, :16] @ b[:16, :16] * 0.25).ravel()})
    xr = _small((16, 32))
    out["reduce"] = (make_case(REDUCE, "reduce2d", [ptr("x_ptr", "fp32", "x"), ptr("s_ptr", "fp32", "s"),
                                                   ptr("m_ptr", "fp32", "m"), constexpr("M", 16), constexpr("N", 32)],
                               {"x": buffer("fp32", xr), "s": buffer("fp32", np.zeros(16), "out"),
                                "m": buffer("fp32", np.zeros(32), "out")}),
                     {"s": xr.sum(1), "m": xr.max(0)})
    xl = _small((5, 16))
    prod = np.ones(16, np.int64)
    for i in range(5):
        prod = prod * 2 - i
    out["loop"] = (make_case(LOOP, "loop_acc", [ptr("x_ptr", "fp32", "x"), ptr("o_ptr", "fp32", "o"),
                                               scalar("n_iter", "int32", 5), constexpr("BLOCK", 16)],
                             {"x": buffer("fp32", xl), "o": buffer("fp32", np.zeros(16), "out")}),
                   {"o": (xl * np.arange(1, 6)[:, None]).sum(0) + prod})
    xg, ig = _small((64,), -100, 100), RNG.integers(0, 64, 50).astype(np.int32)
    out["gather"] = (make_case(GATHER, "gather_idx", [ptr("x_ptr", "fp32", "x"), ptr("i_ptr", "int32", "i"),
                                                     ptr("o_ptr", "fp32", "o"), scalar("n", "int32", 50),
                                                     constexpr("BLOCK", 32)],
                               {"x": buffer("fp32", xg), "i": buffer("int32", ig),
                                "o": buffer("fp32", np.zeros(50), "out")}, (2, 1, 1)),
                     {"o": xg[ig]})
    xs, ys = _small((16,), -20, 20), (RNG.integers(1, 6, 16) * RNG.choice([-1, 1], 16)).astype(np.float32)
    out["sort_mod"] = (make_case(SORT_MOD, "sort_mod", [ptr("x_ptr", "fp32", "x"), ptr("y_ptr", "fp32", "y"),
                                                       ptr("s_ptr", "fp32", "s"), ptr("m_ptr", "fp32", "m"),
                                                       constexpr("BLOCK", 16)],
                                 {"x": buffer("fp32", xs), "y": buffer("fp32", ys),
                                  "s": buffer("fp32", np.zeros(16), "out"), "m": buffer("fp32", np.zeros(16), "out")}),
                       {"s": np.sort(xs)[::-1], "m": xs - np.floor(xs / ys) * ys})
    xi = RNG.integers(-1000, 1000, 16).astype(np.int32)
    out["umulhi"] = (make_case(UMULHI, "umulhi_k", [ptr("x_ptr", "int32", "x"), ptr("o_ptr", "int32", "o"),
                                                   constexpr("BLOCK", 16)],
                               {"x": buffer("int32", xi), "o": buffer("int32", np.zeros(16), "out")}),
                     {"o": ((xi.astype(np.uint32).astype(np.uint64) ** 2) >> np.uint64(32)).astype(np.uint32)
                      .view(np.int32)})
    xf = _small((16,))
    out["flip"] = (make_case(FLIP, "flip_k", [ptr("x_ptr", "fp32", "x"), ptr("o_ptr", "fp32", "o"),
                                             constexpr("BLOCK", 16)],
                             {"x": buffer("fp32", xf), "o": buffer("fp32", np.zeros(16), "out")}), {"o": xf[::-1]})
    xc = _small((4, 8))
    for rev in (False, True):
        exp = np.cumsum(xc[:, ::-1], 1)[:, ::-1] if rev else np.cumsum(xc, 1)
        out["cumsum_rev" if rev else "cumsum"] = (make_case(CUMSUM, "cumsum_k", [
            ptr("x_ptr", "fp32", "x"), ptr("o_ptr", "fp32", "o"), constexpr("M", 4), constexpr("N", 8),
            constexpr("REV", rev)], {"x": buffer("fp32", xc), "o": buffer("fp32", np.zeros(32), "out")}),
            {"o": exp.ravel()})
    x64 = _small((16,)).astype(np.float64)
    out["fp64"] = (make_case(FP64, "fp64_k", [ptr("x_ptr", "fp64", "x"), ptr("o_ptr", "fp64", "o"),
                                             constexpr("BLOCK", 16)],
                             {"x": buffer("fp64", x64), "o": buffer("fp64", np.zeros(16), "out")}), {"o": x64 * 3 - 1})
    xd = np.arange(64, dtype=np.float32)
    out["div_offsets"] = (make_case(DIVPTR, "div_offsets", [
        ptr("x_ptr", "fp32", "x"), ptr("o_ptr", "fp32", "o"), scalar("start_n", "int32", 2),
        scalar("block_size", "int32", 4), scalar("stride", "int32", 3), constexpr("N", 16)],
        {"x": buffer("fp32", xd), "o": buffer("fp32", np.zeros(16), "out")}),
        {"o": xd[((2 + np.arange(16)) // 4) * 3]})
    xm = _small((4, 8))
    im = RNG.integers(0, 8, (4, 8)).astype(np.int32)
    y = (xm.astype(np.float32) * 1.5 + 3).astype(np.float32)  # bf16-exact for these small values
    out["misc_gather_hist_atomic_bf16"] = (make_case(MISC, "misc", [
        ptr("x_ptr", "fp32", "x"), ptr("i_ptr", "int32", "i"), ptr("h_ptr", "int32", "h"), ptr("g_ptr", "fp32", "g"),
        ptr("a_ptr", "fp32", "a"), ptr("am_ptr", "int32", "am"), ptr("o_ptr", "bf16", "o"),
        scalar("sa", "bf16", 1.5), scalar("sb", "int64", 3), scalar("sc", "fp16", 0.5), scalar("sd", "int1", True),
        constexpr("M", 4), constexpr("N", 8)],
        {"x": buffer("fp32", xm), "i": buffer("int32", im), "h": buffer("int32", np.zeros(8), "out"),
         "g": buffer("fp32", np.zeros(32), "out"), "a": buffer("fp32", np.ones(8), "out"),
         "am": buffer("int32", np.zeros(4), "out"), "o": buffer("bf16", np.zeros(32), "out")}, (2, 1, 1)),
        {"g": np.take_along_axis(xm, im, 1).ravel(), "h": np.bincount(im.ravel(), minlength=8),
         "a": 1 + 2 * xm.sum(0), "am": xm.argmax(1),
         "o": ((y + 0.5).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).ravel()})
    return out


CASES = build_cases()

# Known differences between releases: case -> version -> (status, stage or "", text in message).
KNOWN = {
    "flip": {"3.2.0rc4": ("unsupported", "", "__hmf_flipf"),
             "3.2.0rc2": ("error", "frontend", "tl.flip")},
    "cumsum": {"3.2.0rc2": ("unsupported", "", "tt.scan")},
    "cumsum_rev": {"3.2.0rc4": ("error", "adapter-error", "reverse=True is not yet supported"),
                   "3.2.0rc2": ("unsupported", "", "tt.scan")},
    "fp64": {"3.2.0rc4": ("error", "frontend", "fp64] is unsupported on Ascend")},
    "div_offsets": {"3.2.0rc2": ("error", "adapter-crash", "cannot div 0!")},
}


OLD_PIPELINE = {"lowering": "tools", "reuse": False}


def _run_version(version: str) -> tuple[dict[str, dict], dict[str, dict]] | None:
    """(default pipeline: the engine with reuse; the old tools pipeline) on every case."""
    py = env_python(version)
    if not os.path.exists(py):
        return None
    names = list(CASES)
    res = run_in_env(py, [(CASES[n][0], {"lowering": "engine"}) for n in names]
                     + [(CASES[n][0], OLD_PIPELINE) for n in names])
    return dict(zip(names, res[:len(names)])), dict(zip(names, res[len(names):]))


@pytest.fixture(scope="module")
def both() -> dict[str, tuple[dict[str, dict], dict[str, dict]] | None]:
    with ThreadPoolExecutor(len(VERSIONS)) as ex:
        return dict(zip(VERSIONS, ex.map(_run_version, VERSIONS)))


@pytest.fixture(scope="module")
def results(both: dict) -> dict[str, dict[str, dict] | None]:
    return {v: (r[0] if r is not None else None) for v, r in both.items()}


def _check_outputs(name: str, res: dict) -> None:
    case, expected = CASES[name]
    assert res["status"] == "ok", f"{name}: {res.get('stage')} {res.get('message', '')[:2000]}"
    for buf, exp in expected.items():
        dt = case["buffers"][buf]["dtype"]
        if dt in ("bf16", "int32", "int1"):
            np.testing.assert_array_equal(data_of(res, buf, dt), np.asarray(exp), err_msg=f"{name}:{buf}")
            continue
        got = data_of(res, buf, dt).astype(np.float64)
        tol = 1e-2 if dt == "fp16" else 1e-6
        np.testing.assert_allclose(got, np.asarray(exp, dtype=np.float64), rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", [n for n in CASES if n != "umulhi"])
def test_kernel_matches_numpy_or_known_difference(results: dict, version: str, name: str) -> None:
    if results[version] is None:
        pytest.skip(f"env ascend-{version} is not installed")
    res = results[version][name]
    known = KNOWN.get(name, {}).get(version)
    if known is None:
        _check_outputs(name, res)
        return
    status, stage, text = known
    assert res["status"] == status, f"{name}@{version}: expected known {known}, got {res.get('status')}"
    assert res.get("stage", "") == stage
    assert text in res.get("message", ""), res.get("message", "")[:2000]


@pytest.mark.parametrize("version", VERSIONS)
def test_umulhi_is_signed_in_every_release(results: dict, version: str) -> None:
    """Adapter bug: tt.mulhiui (unsigned) becomes arith.mulsi_extended (signed) in all three."""
    if results[version] is None:
        pytest.skip(f"env ascend-{version} is not installed")
    res = results[version]["umulhi"]
    assert res["status"] == "ok"
    x = np.frombuffer(CASES["umulhi"][0]["buffers"]["x"]["data"], np.int32).astype(np.int64)
    got = data_of(res, "o", "int32")
    np.testing.assert_array_equal(got, (x * x) >> 32)  # signed high half, not tl.umulhi's unsigned
    assert not np.array_equal(got, CASES["umulhi"][1]["o"])
    assert "tt.mulhiui" in res["artifacts"]["ttir"] and "arith.mulsi_extended" in res["artifacts"]["linalg"]


@pytest.mark.parametrize("version", VERSIONS)
def test_calling_convention_and_artifacts(results: dict, version: str) -> None:
    if results[version] is None:
        pytest.skip(f"env ascend-{version} is not installed")
    res = results[version]["tail"]
    lead = 1 if version == "3.2.0rc2" else 2  # rc2: workspace only; later: sync-block lock + workspace
    assert f"{lead} leading i8 memref(s)" in res["artifacts"]["calling_convention"]
    assert "tt.func" in res["artifacts"]["ttir"] and "func.func @tail" in res["artifacts"]["linalg"]
    assert "llvm.func @_mlir_ciface_tail" in res["artifacts"]["lowered"]
    assert res["versions"]["triton-ascend"] == version
    for key in ("frontend_s", "adapter_s", "lower_s", "exec_s"):
        assert res[key] >= 0
    assert res["compile_s"] == pytest.approx(res["frontend_s"] + res["adapter_s"])
    assert res["outputs"]["o"][:4] == b"\xa5" * 4 and res["outputs"]["o"][-4:] == b"\xa5" * 4


@pytest.mark.parametrize("version", VERSIONS)
def test_engine_and_old_tools_pipeline_agree_on_every_kernel(both: dict, version: str) -> None:
    """The in-process engine (with cross-release reuse) gives what mlir-opt/llc per kernel gave."""
    if both[version] is None:
        pytest.skip(f"env ascend-{version} is not installed")
    engine, tools = both[version]
    for name in CASES:
        e, t = engine[name], tools[name]
        assert (e["status"], e.get("stage", "")) == (t["status"], t.get("stage", "")), name
        if e["status"] == "ok":
            assert e["outputs"] == t["outputs"], name
            assert "lowering=engine" in e["artifacts"]["timing"], name
            assert "lowering=tools" in t["artifacts"]["timing"], name

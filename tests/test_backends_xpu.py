"""xpu backends: triton-xpu compiles real kernels for Intel GPUs' device properties, without a GPU.

The env comes from `python3 -m fuzz setup` (its default backends include xpu); when it is
absent these tests skip with the command that installs it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from backends import open_backend
from backends.envs import is_installed, python_path
from backends.profiles import unsupported_reason
from backends.registry import UnknownBackend, list_backends, resolve
from backends.xpu_devices import XPU_DEVICES
from generators.generator import generate
from oracles.judge import judge
from oracles.reference import evaluate
from tests.conftest import add_case, tile_case, unary_case

XPU = resolve("xpu")
needs_env = pytest.mark.skipif(not is_installed(XPU.env),
                               reason=f"{XPU.env.describe()} is not installed: run "
                                      "`python3 -m fuzz setup --backends xpu` (about 1 minute, 1.1 GB)")

# A call to a `noinline` helper: triton-xpu 3.3.0b1's TritonGPU -> LLVM lowering passes the
# callee's extra (shared/scratch memory) pointer operands in the wrong order.
NOINLINE_PRELUDE = "@triton.jit(noinline=True)\ndef scaled(v, C: tl.constexpr):\n    return v * C\n\n"
NOINLINE_BODY = "y = x + scaled(pid, 3)"


def test_registry_names_and_listing() -> None:
    assert XPU.name == "xpu@3.3.0b1:pvc" and XPU.family == "xpu"
    assert resolve("xpu:bmg").options["device"]["name"] == "Intel(R) Arc(TM) B580 Graphics"
    assert resolve("xpu@3.3.0b1:pvc").options["device"]["architecture"] == 0x030F000700
    assert not XPU.capabilities.execute and not XPU.capabilities.execute_on_gpu
    with pytest.raises(UnknownBackend, match="bad xpu arch"):
        resolve("xpu:sm_90")
    listed = {b.name for b in list_backends()}
    assert {"xpu@3.3.0b1:pvc", "xpu@3.3.0b1:bmg"} <= listed
    # 3.3.0b1 is the 3.3 line: what the registry says needs a later Triton is not sent to it.
    assert "needs triton >= 3.4.0" in (unsupported_reason("xpu@3.3.0b1:pvc", ["tensor_desc"]) or "")
    assert unsupported_reason("xpu", ["dot_fp64"])


@pytest.fixture(scope="module")
def xpu():
    if not is_installed(XPU.env):
        pytest.skip(f"{XPU.env.describe()} is not installed: run `python3 -m fuzz setup --backends xpu`")
    with open_backend("xpu:pvc") as b:
        yield b


def _ok(r) -> None:
    assert r.status == "ok", f"{r.stage} {r.exc_type}: {r.message}\n{r.stderr_tail[-2000:]}"
    assert not r.executed and r.outputs == {}
    assert r.versions["mode"] == "compile-only" and r.versions["triton"] == "3.3.0b1"


@needs_env
def test_compiles_for_pvc_and_bmg(xpu) -> None:
    r = xpu.run(add_case())
    _ok(r)
    assert r.versions["target"] == "xpu:pvc"
    assert {"ttir", "ttgir", "llir"} <= set(r.artifacts)
    ttgir = r.artifacts["ttgir"]
    assert 'ttg.target = "xpu"' in ttgir and "triton_intel_gpu.support_sg_2d_block" in ttgir
    assert "spir64" in r.artifacts["llir"]
    # The same worker compiles for the client GPU when given its properties.
    bmg = resolve("xpu:bmg").options
    r = xpu.run(tile_case(causal=True), options={"arch": "bmg", "device": bmg["device"]})
    _ok(r)
    assert "triton_intel_gpu.min_sg_size = 16" in r.artifacts["ttgir"]


@needs_env
def test_generated_kernels_compile(xpu) -> None:
    """Real generator output (seeds whose features 3.3 has) compiles and is judged ok."""
    for seed in (1, 2, 3):
        case = generate(seed)
        assert not unsupported_reason(XPU.name, case.features), case.features
        r = xpu.run(case)
        _ok(r)
        assert judge(case, evaluate(case), r).kind == "ok"


@needs_env
def test_stages_are_attributed(xpu) -> None:
    r = xpu.run(unary_case("y = x + undefined_name"))
    assert (r.status, r.stage, r.exc_type) == ("error", "frontend", "CompilationError")
    r = xpu.run(unary_case(NOINLINE_BODY, prelude=NOINLINE_PRELUDE))
    assert (r.status, r.stage, r.exc_type) == ("error", "llir", "RuntimeError"), r.message
    # The MLIR diagnostic names the op; the IR of the stages that finished comes with the error.
    assert "'llvm.call' op operand type mismatch" in r.message
    assert {"ttir", "ttgir"} <= set(r.artifacts) and "tt.call" in r.artifacts["ttgir"]


@needs_env
def test_repro_compiles_for_xpu(tmp_path: Path) -> None:
    """repro.py of an xpu finding compiles for the recorded device properties and reproduces."""
    from fuzz.repro_template import render_repro

    case = unary_case(NOINLINE_BODY, prelude=NOINLINE_PRELUDE)
    backend = {"name": XPU.name, "family": "xpu", "version": XPU.version, "arch": "pvc", "warp_size": 32,
               "device": dict(XPU_DEVICES["pvc"]), "versions": {"triton": "3.3.0b1"}}
    path = tmp_path / "repro.py"
    path.write_text(render_repro(case, None, {"short_id": "x", "title": "t", "kind": "internal-error",
                                                        "stage": "llir", "signature": "s"}, backend))
    home = tmp_path / "maintainer"
    home.mkdir()
    # No tritondiff on the path; Triton's cache is the env's own, where setup built the backend's
    # host-side helper (a maintainer's first run builds it once, in about half a minute).
    cache = python_path(XPU.env).parent.parent / "tritondiff-host-build"
    r = subprocess.run([str(python_path(XPU.env)), str(path)], cwd=home, capture_output=True, text=True,
                       timeout=300, env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
                                         "TRITON_CACHE_DIR": str(cache)})
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert "compiling only, for xpu@3.3.0b1:pvc" in r.stdout and "REPRODUCED" in r.stdout
    assert "warning" not in r.stdout  # the installed triton-xpu counts as the recorded triton


def test_diagnostics_most_specific_first() -> None:
    """An op's error, then a pass's failed assertion, then MLIR's generic pipeline-failure line."""
    from backends.triton_compile import diagnostics

    text = ("python: /src/lib/ElementwiseOpToLLVM.cpp:1191: Value f(Type): Assertion `inElemTy.isF32()' failed.\n"
            "/tmp/k.py:6:0: error: Failures have been detected while processing an MLIR pass pipeline\n"
            "/tmp/k.py:22:49: error: 'llvm.call' op operand type mismatch\n")
    assert diagnostics(text) == ["error: 'llvm.call' op operand type mismatch",
                                 "ElementwiseOpToLLVM.cpp: Assertion `inElemTy.isF32()' failed.",
                                 "error: Failures have been detected while processing an MLIR pass pipeline"]

"""cuda and hip backends compile real kernels on this GPU-less machine and return their IR."""

from __future__ import annotations

import pytest

from backends import open_backend


@pytest.fixture(scope="module")
def compile_backends():
    names = ["cuda:sm_80", "cuda:sm_89", "hip:gfx942", "hip:gfx90a"]
    bs = {n: open_backend(n) for n in names}
    yield bs
    for b in bs.values():
        b.close()


def _check_cuda(r, cap: int) -> None:
    assert r.status == "ok", f"{r.stage} {r.exc_type}: {r.message}\n{r.stderr_tail}"
    assert not r.executed and r.outputs == {}
    assert {"ttir", "ttgir", "llir", "ptx"} <= set(r.artifacts)
    assert "tt.func" in r.artifacts["ttir"] and f".target sm_{cap}" in r.artifacts["ptx"]
    assert r.versions["target"] == f"cuda:{cap}" and r.versions["mode"] == "compile-only"
    assert r.compile_s > 0


def test_cuda_sm90(cuda90, kernels) -> None:
    r = cuda90.run(kernels.add_case())
    _check_cuda(r, 90)
    assert r.backend == "cuda@3.9.0:sm_90"


@pytest.mark.parametrize("name,cap", [("cuda:sm_80", 80), ("cuda:sm_89", 89)])
def test_cuda_other_archs(compile_backends, kernels, name: str, cap: int) -> None:
    _check_cuda(compile_backends[name].run(kernels.add_case()), cap)


@pytest.mark.parametrize("name", ["hip:gfx942", "hip:gfx90a"])
def test_hip(compile_backends, kernels, name: str) -> None:
    r = compile_backends[name].run(kernels.add_case())
    assert r.status == "ok", f"{r.stage} {r.exc_type}: {r.message}"
    assert {"ttir", "ttgir", "llir", "amdgcn"} <= set(r.artifacts)
    arch = name.split(":")[1]
    assert arch in r.artifacts["amdgcn"]


def test_specialisation_mirrors_a_launch(cuda90, kernels) -> None:
    """Pointers (16-byte aligned) and ints divisible by 16 get tt.divisibility, as at launch."""
    spec = cuda90.run(kernels.add_case(n=256)).artifacts["ttir"]
    plain = cuda90.run(kernels.add_case(n=256), options={"specialize": False}).artifacts["ttir"]
    assert spec.count("tt.divisibility = 16") == 4
    assert "tt.divisibility" not in plain


def test_frontend_error(cuda90, kernels) -> None:
    r = cuda90.run(kernels.unary_case("y = x + undefined_name"))
    assert (r.status, r.stage, r.exc_type) == ("error", "frontend", "CompilationError")
    assert "undefined_name" in r.message and r.traceback


def test_frontend_semantic_error(cuda90, kernels) -> None:
    r = cuda90.run(kernels.unary_case("y = x + tl.arange(0, 48)"))
    assert (r.status, r.stage) == ("error", "frontend")
    assert "power of 2" in r.message or "arange" in r.message


def test_2d_and_int_kernels_compile(cuda90, kernels) -> None:
    for case in (kernels.tile_case(causal=True),
                 kernels.unary_case("y = (x >> 1) % 3", in_dtype="int32", out_dtype="int32"),
                 kernels.unary_case("y = x.to(tl.float32)", in_dtype="bf16")):
        r = cuda90.run(case)
        assert r.status == "ok", f"{r.stage} {r.exc_type}: {r.message}"

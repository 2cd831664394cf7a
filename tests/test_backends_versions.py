"""A pinned older release runs in its own managed env (created once, cached under TRITONDIFF_HOME).

The first run pip-installs triton 3.1.0 (about a minute); later runs reuse the env.
"""

from __future__ import annotations

import numpy as np
import pytest

from backends import open_backend


@pytest.fixture(scope="module")
def old_interp():
    with open_backend("interpreter@3.1.0", startup_timeout=900) as b:
        b.warm()
        yield b


def test_interpreter_3_1_runs(old_interp, kernels) -> None:
    r = old_interp.run(kernels.add_case(n=200, s=2.0))
    assert r.status == "ok", r.message
    assert r.versions["triton"] == "3.1.0" and r.versions["numpy"].startswith("1.")
    x = np.arange(200, dtype=np.float32)
    np.testing.assert_array_equal(kernels.data(r, "out"), x * 2 + 1)
    assert kernels.guards_intact(r, "out")


def test_cuda_3_1_compiles_with_old_api(old_interp, kernels) -> None:
    """3.1 takes `constants=` and a signature without constexprs; the runner adapts."""
    with open_backend("cuda@3.1.0:sm_80") as b:
        r = b.run(kernels.add_case(n=256))
        assert r.status == "ok", f"{r.stage} {r.exc_type}: {r.message}"
        assert r.versions["triton"] == "3.1.0"
        assert ".target sm_80" in r.artifacts["ptx"]
        assert r.artifacts["ttir"].count("tt.divisibility = 16") == 4
        bad = b.run(kernels.unary_case("y = x + undefined_name"))
        assert (bad.status, bad.stage, bad.exc_type) == ("error", "frontend", "CompilationError")


def test_hip_3_1_links_with_lld_or_says_why(old_interp, kernels) -> None:
    """Triton ≤3.4 links hsaco with an external ld.lld: found on the machine, or `unsupported`."""
    with open_backend("hip@3.1.0:gfx90a") as b:
        r = b.run(kernels.add_case())
        if r.status == "unsupported":
            assert "ld.lld" in r.message
        else:
            assert r.status == "ok", f"{r.stage} {r.exc_type}: {r.message}"
            assert "gfx90a" in r.artifacts["amdgcn"]

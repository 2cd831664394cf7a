"""The measured capability profiles and how run_case uses them (pure Python; no env needed)."""

from __future__ import annotations

import numpy as np

from backends.ascend import profile
from backends.ascend.cli import buffer, constexpr, make_case, ptr
from backends.ascend.probes import DTYPES, FEATURES

VERSIONS = ["3.2.0", "3.2.0rc4", "3.2.0rc2"]
H = "import triton\nimport triton.language as tl\n\n"


def _case(body: str, dtype: str = "fp32") -> dict:
    src = H + f"@triton.jit\ndef k(x_ptr, o_ptr, B: tl.constexpr):\n    x = tl.load(x_ptr + tl.arange(0, B))\n{body}\n"
    return make_case(src, "k", [ptr("x_ptr", dtype, "x"), ptr("o_ptr", dtype, "o"), constexpr("B", 16)],
                     {"x": buffer(dtype, np.zeros(16)), "o": buffer(dtype, np.zeros(16), "out")})


def test_every_release_has_a_complete_profile() -> None:
    assert set(VERSIONS) <= set(profile.measured_versions())
    for v in VERSIONS:
        prof = profile.load(v)
        assert prof is not None and prof["triton_ascend"] == v
        assert set(prof["dtypes"]) == set(DTYPES) and set(prof["features"]) == set(FEATURES)


def test_profiles_record_the_known_release_differences() -> None:
    st = {v: {k: r["status"] for sec in ("dtypes", "features") for k, r in profile.load(v)[sec].items()}
          for v in VERSIONS}
    assert st["3.2.0rc4"]["fp64"] == "frontend" and st["3.2.0"]["fp64"] == "ok"
    assert st["3.2.0rc2"]["flip"] == "frontend" and st["3.2.0rc4"]["flip"] == "unsupported"
    assert st["3.2.0rc2"]["cumsum"] == "unsupported" and st["3.2.0rc4"]["cumsum_reverse"] == "adapter-error"
    assert st["3.2.0rc2"]["atomic_xchg"] == "adapter-crash" and st["3.2.0rc2"]["atomic_cas"] == "adapter-error"
    assert all(st[v]["umulhi"] == "wrong" for v in VERSIONS)  # accepted but signed: stays in profile
    assert "umulhi" in profile.supported("3.2.0")["features"]
    assert "fp64" not in profile.supported("3.2.0rc4")["dtypes"]


def test_outside_profile_names_the_reason() -> None:
    flip = _case("    tl.store(o_ptr + tl.arange(0, B), tl.flip(x, 0))")
    assert profile.outside_profile(flip, "3.2.0") is None
    assert profile.outside_profile(flip, "3.2.0rc2") == "flip (frontend)"
    assert profile.outside_profile(_case("    tl.store(o_ptr + tl.arange(0, B), x)", "fp64"), "3.2.0rc4") \
        == "fp64 (frontend)"
    rev = _case("    tl.store(o_ptr + tl.arange(0, B), tl.cumsum(x, 0, reverse=True))")
    assert "cumsum_reverse (adapter-error)" in profile.outside_profile(rev, "3.2.0rc4")
    assert profile.outside_profile(flip, "9.9.9") is None  # unmeasured release: no opinion


def test_case_features_prefers_declared_features() -> None:
    c = _case("    tl.store(o_ptr + tl.arange(0, B), tl.sort(x, 0))")
    assert "sort" in profile.case_features(c)
    assert profile.case_features({**c, "features": ["flip"]}) == {"flip"}

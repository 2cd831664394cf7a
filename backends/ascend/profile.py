"""Per-release capability profile of triton-ascend, as measured by measure_profile.py.

Why: a campaign should not spend its time re-discovering that rc4 rejects fp64 or that rc2 has
no tl.flip. `profile_<version>.json` records the status of one probe per dtype and per feature;
a dtype/feature is *in* the profile when its probe got through the frontend, the adapter and our
pipeline (status "ok", or "wrong": accepted but miscomputed, which is exactly what fuzzing is for).
Generators can weight features with `supported(...)`; `run_case` refuses cases outside the
profile with Unsupported when options["enforce_profile"] is true.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
IN_PROFILE = {"ok", "wrong"}

# Source patterns that reveal a feature of the probe set (a case's own "features" list wins).
FEATURE_PATTERNS = {
    "dot": r"\btl\.dot\(", "reduce_sum": r"\btl\.sum\(", "reduce_max": r"\btl\.max\(",
    "argmax": r"\btl\.arg(max|min)\(", "while_loop": r"^\s*while\b", "for_loop": r"^\s*for\b",
    "gather": r"\btl\.gather\(", "cumsum": r"\btl\.cumsum\(", "cumprod": r"\btl\.cumprod\(",
    "cumsum_reverse": r"\btl\.cum(sum|prod)\([^)]*reverse\s*=\s*True",
    "sort": r"\btl\.sort\(", "flip": r"\btl\.flip\(", "histogram": r"\btl\.histogram\(",
    "umulhi": r"\btl\.umulhi\(", "atomic_add": r"\btl\.atomic_add\(", "atomic_max": r"\btl\.atomic_(max|min)\(",
    "atomic_xchg": r"\btl\.atomic_xchg\(", "atomic_cas": r"\btl\.atomic_cas\(",
    "debug_barrier": r"\btl\.debug_barrier\(", "device_print": r"\btl\.device_print\(",
    "where": r"\btl\.where\(", "math_exp": r"\btl\.(exp|log|sqrt|sin|cos)\(",
}


@cache
def load(version: str) -> dict | None:
    """The measured profile of a release, or None when it was never measured."""
    p = HERE / f"profile_{version}.json"
    return json.loads(p.read_text()) if p.exists() else None


def measured_versions() -> list[str]:
    return sorted(p.stem.removeprefix("profile_") for p in HERE.glob("profile_*.json"))


def supported(version: str) -> dict[str, list[str]]:
    """{"dtypes": [...], "features": [...]} in the profile of `version` (empty when unmeasured)."""
    prof = load(version) or {"dtypes": {}, "features": {}}
    return {sec: sorted(k for k, v in prof[sec].items() if v["status"] in IN_PROFILE)
            for sec in ("dtypes", "features")}


def case_dtypes(case: dict) -> set[str]:
    out = {a["dtype"] for a in case["args"] if a["kind"] != "constexpr" and a["dtype"]}
    return out | {b["dtype"] for b in case["buffers"].values()}


def case_features(case: dict) -> set[str]:
    """Features named by the case itself, else those visible in its source."""
    if case.get("features"):
        return set(case["features"])
    src = case.get("source", "")
    feats = {f for f, pat in FEATURE_PATTERNS.items() if re.search(pat, src, flags=re.M)}
    if "dot" in feats:
        feats.discard("dot")
        ptr_dtypes = {a["dtype"] for a in case["args"] if a["kind"] == "ptr"}
        feats |= {f"dot_{d}" for d in ("fp16", "int8") if d in ptr_dtypes} or {"dot_fp32"}
    return feats


def outside_profile(case: dict, version: str) -> str | None:
    """Why the case is outside the measured profile of `version`, or None when it is inside."""
    prof = load(version)
    if prof is None:
        return None
    reasons = []
    for sec, used in (("dtypes", case_dtypes(case)), ("features", case_features(case))):
        for k in sorted(used):
            st = prof[sec].get(k, {}).get("status")
            if st is not None and st not in IN_PROFILE:
                reasons.append(f"{k} ({st})")
    return ", ".join(reasons) or None

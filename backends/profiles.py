"""Capability profiles: features a backend is known not to support, so such cases are
`unsupported` there instead of being reported as findings.

Each entry cites its evidence. The interpreter's comes from Triton's own documentation ("the
interpreter does not support operations on bfloat16": it stores bf16 as uint16 and computes on
the bits). Ascend's profiles are measured per release by `backends/ascend/measure_profile.py`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# Backend family -> the package family whose releases the construct registry's `since` names.
# triton-xpu's releases follow upstream Triton's (3.3.0b1 is Intel's beta of the 3.3 line: the
# same frontend, e.g. no tl.make_tensor_descriptor, no float64 tl.dot), so xpu reads `since` as
# triton; its own gaps are declared as `lacks` entries under "xpu".
PACKAGE_OF = {"interpreter": "triton", "cuda": "triton", "hip": "triton", "ascend": "triton-ascend",
              "xpu": "triton"}


def _family_version(backend: str) -> tuple[str, str]:
    m = re.match(r"([\w\-]+)(?:@([\w.\-+]+))?", backend)
    return (m.group(1), m.group(2) or "") if m else (backend, "")


def _arch(backend: str) -> str:
    m = re.search(r":(\w+)$", backend)
    return m.group(1) if m else ""


def _ascend_profile(version: str) -> dict[str, str]:
    path = Path(__file__).parent / "ascend" / f"profile_{version or '3.2.0'}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {f: f"not supported by triton-ascend {version or '3.2.0'} (measured)"
            for f in data.get("unsupported_features", [])}


def unsupported_reason(backend: str, features: list[str]) -> str | None:
    """Why `backend` cannot be judged on a case with `features`, or None if it can."""
    family, version = _family_version(backend)
    if family.startswith("fault-"):
        family = "interpreter"  # the doubles are the interpreter with one injected defect
    if not version:  # a bare name means the family's default release
        from backends.registry import ASCEND_VERSIONS, DEFAULT_TRITON, XPU_VERSIONS

        version = ASCEND_VERSIONS[0] if family == "ascend" else XPU_VERSIONS[0] if family == "xpu" \
            else DEFAULT_TRITON if family in PACKAGE_OF else ""
    measured = _ascend_profile(version) if family == "ascend" else {}
    for f in features:
        if f in measured:
            return f"{f}: {measured[f]}"
        why = registry_reason(family, version, f, _arch(backend))
        if why:
            return f"{f}: {why}"
    return None


def registry_reason(family: str, version: str, feature: str, arch: str = "") -> str | None:
    """What the construct registry says about running `feature` on family@version[:arch]."""
    from generators.constructs import feature_owners
    from generators.features import CORE_LACKS

    package = PACKAGE_OF.get(family, family)
    core = CORE_LACKS.get(feature, {})
    if family in core or package in core:
        return core.get(family) or core[package]
    keys = [f"{family}:{arch}", family, package] if arch else [family, package]
    for c in feature_owners().get(feature, []):
        lacks = {**c.lacks, **c.feature_lacks.get(feature, {})}
        for k in keys:
            if k in lacks:
                return lacks[k]
        fs = c.feature_since.get(feature, {})
        first = fs.get(family) or fs.get(package) or c.since.get(package)
        if first and version and release_key(version) < release_key(first):
            return f"{c.name} needs {package} >= {first}"
        first = c.feature_since.get(feature, {}).get(package)
        if first and version and release_key(version) < release_key(first):
            return f"{feature} needs {package} >= {first}"
        gone = c.until.get(package)
        if gone and version and release_key(version) >= release_key(gone):
            return f"{c.name} was removed in {package} {gone}"
    return None


def release_key(version: str) -> tuple[int, ...]:
    """Orderable key of a release string: 3.2.0rc4 < 3.2.0 < 3.10.0."""
    m = re.match(r"(\d+(?:\.\d+)*)(?:rc(\d+))?", version)
    if not m:
        return (0,)
    nums = tuple(int(x) for x in m.group(1).split("."))
    nums = nums + (0,) * (3 - len(nums))
    return nums + ((0, int(m.group(2))) if m.group(2) else (1, 0))


def campaign_weights(backends: list[str], weights: dict[str, float] | None) -> dict[str, float] | None:
    """Weights with every feature that no backend of the campaign can run set to 0.

    Why: a case using a construct none of the campaign's releases has would only come out
    `unsupported` everywhere; the registry knows that before generating it."""
    from generators import FEATURES

    if not backends:
        return weights
    out = dict(weights or {})
    for f in FEATURES:
        if out.get(f) == 0.0:
            continue
        if all(unsupported_reason(b, [f]) for b in backends):
            out[f] = 0.0
    return out if out != (weights or {}) else weights

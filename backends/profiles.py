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

_INTERPRETER_LACKS = {
    "bf16_compute": "the Triton interpreter computes bf16 on its uint16 storage (documented limitation)",
}


def _family_version(backend: str) -> tuple[str, str]:
    m = re.match(r"([\w\-]+)(?:@([\w.\-+]+))?", backend)
    return (m.group(1), m.group(2) or "") if m else (backend, "")


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
    lacks: dict[str, str] = {}
    if family == "interpreter" or family.startswith("fault-"):
        lacks = _INTERPRETER_LACKS
    elif family == "ascend":
        lacks = _ascend_profile(version)
    for f in features:
        if f in lacks:
            return f"{f}: {lacks[f]}"
    return None

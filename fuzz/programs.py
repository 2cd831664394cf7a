"""`tritondiff generate`: kernels as standalone programs, the way Csmith prints programs.

Each file is one generated kernel with its launch plan, input bytes and the reference's expected
outputs, runnable with only triton/torch/numpy (no tritondiff), so a user can feed our kernels to
their own harness. The body is the same linted reproducer body that bug reports use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fuzz.options import UsageError

BACKEND_BLOCKS = {
    "interpreter": {"name": "interpreter", "family": "interpreter", "arch": "", "capability": None,
                    "warp_size": None},
    "cuda": {"name": "cuda:sm_90", "family": "cuda", "arch": "sm_90", "capability": 90, "warp_size": 32},
    "hip": {"name": "hip:gfx942", "family": "hip", "arch": "gfx942", "capability": None, "warp_size": 64},
}


def release_weights(release: str | None, weights: dict[str, float] | None) -> dict[str, float] | None:
    """Campaign weights with every feature the release lacks (registry `since`) set to 0."""
    if not release:
        return weights
    from backends.profiles import registry_reason
    from generators import FEATURES

    out = dict(weights or {})
    for f in FEATURES:
        if registry_reason("cuda", release, f):
            out[f] = 0.0
    return out


def write_programs(seed: int, count: int, out: Path, release: str | None, backend: str,
                   weights: dict[str, float] | None) -> dict[str, Any]:
    """Write `count` valid kernels starting at `seed` into `out`; returns a summary."""
    from backends.profiles import registry_reason
    from fuzz.repro_template import render_repro
    from generators import generate
    from oracles.reference import UndefinedBehaviour, evaluate

    if backend not in BACKEND_BLOCKS:
        raise UsageError(f"--backend {backend!r}: expected one of {', '.join(BACKEND_BLOCKS)}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot create the directory ({e.strerror})") from None
    w = release_weights(release, weights)
    written: list[str] = []
    skipped = {"invalid": 0, "not in release": 0}
    s = seed
    while len(written) < count and s < seed + count * 20:
        case = generate(s, w)
        s += 1
        if release and any(registry_reason("cuda", release, f) for f in case.features):
            skipped["not in release"] += 1
            continue
        try:
            ref = evaluate(case)
        except UndefinedBehaviour:
            skipped["invalid"] += 1
            continue
        finding = {"short_id": case.case_id, "title": f"generated kernel, seed {case.seed}", "kind": "miscompile",
                   "stage": "run", "signature": ""}
        block = {**BACKEND_BLOCKS[backend], "version": release or "", "fault": "", "compile_options": {},
                 "adapter_options": {}, "versions": {"triton": release} if release else {}}
        text = render_repro(case, ref, finding, block)
        text = text.replace(f"Standalone reproducer of tritondiff finding {case.case_id}.",
                            f"tritondiff generated kernel {case.case_id} (seed {case.seed}).", 1)
        path = out / f"kernel_{case.seed}.py"
        path.write_text(text)
        path.chmod(0o755)
        (out / f"kernel_{case.seed}.json").write_text(json.dumps(case.to_json(), sort_keys=True))
        written.append(path.name)
    return {"command": "generate", "seed": seed, "written": len(written), "files": written, "skipped": skipped,
            "release": release, "backend": backend, "out": str(out)}

"""Measure the capability profile of a triton-ascend release by running the probe kernels.

Reproducible: the probes are fixed kernels with fixed inputs (probes.py). Run inside an env:
    <env-python> -m backends.ascend.measure_profile            # writes profile_<version>.json
or from anywhere for several envs:
    python -m backends.ascend.measure_profile --python ~/.cache/tritondiff/envs/ascend-3.2.0rc2/bin/python
Each probe gets one status: ok | wrong | frontend | adapter-crash | adapter-error | adapter-timeout
| unsupported (our CPU pipeline) | runtime-fault | runtime-timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from backends.runner_api import GUARD_ELEMS, STORAGE

HERE = Path(__file__).resolve().parent
EXACT = {"int8", "int16", "int32", "int64", "int1", "bf16"}


def _matches(got: np.ndarray, exp: np.ndarray, dtype: str) -> bool:
    exp = np.asarray(exp).astype(STORAGE[dtype]).ravel()
    if got.shape != exp.shape:
        return False
    if dtype in EXACT:
        return bool(np.array_equal(got, exp))
    return bool(np.allclose(got.astype(np.float64), exp.astype(np.float64), rtol=1e-3, atol=1e-3,
                            equal_nan=True))


def _normalise(text: str) -> str:
    """Drop temp dirs and install prefixes so a re-measurement diffs only on real changes."""
    text = re.sub(r"/\S*?/tritondiff-ascend-src-\w+/", "<src>/", text)
    text = re.sub(r"/\S*?/site-packages/triton/", "<triton>/", text)
    return re.sub(r"\s+", " ", text).strip()[:300]


def run_probe(probe: object, options: dict) -> dict:
    """One probe through run_case inside this env -> {"status", "detail"}."""
    from backends.ascend.runner import run_case
    from backends.runner_api import StageError, Unsupported
    case, expected = probe.build()  # type: ignore[attr-defined]
    try:
        res = run_case(case, options)
    except StageError as e:
        return {"status": e.stage, "detail": _normalise(f"{e.exc_type}: {e.message}")}
    except Unsupported as e:
        return {"status": "unsupported", "detail": _normalise(str(e))}
    for name, exp in expected.items():
        dt = case["buffers"][name]["dtype"]
        raw = np.frombuffer(res["outputs"][name], dtype=STORAGE[dt])
        got = raw[GUARD_ELEMS:raw.size - GUARD_ELEMS]
        if not _matches(got, exp, dt):
            return {"status": "wrong", "detail": f"{name}: got {got[:8].tolist()} expected "
                                                 f"{np.asarray(exp).ravel()[:8].tolist()}"}
    return {"status": "ok", "detail": ""}


def measure(options: dict | None = None) -> dict:
    from backends.ascend import frontend, probes
    vers = frontend.versions()
    out: dict = {"triton_ascend": vers.get("triton-ascend", "?"), "measured_at": time.strftime("%Y-%m-%d"),
                 "options": options or {}, "dtypes": {}, "features": {}, "constructs": {}}
    for p in probes.all_probes():
        r = run_probe(p, options or {})
        out[{"dtype": "dtypes", "construct": "constructs"}.get(p.kind, "features")][p.name] = r
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", help="measure inside this env's interpreter instead of the current one")
    ap.add_argument("--out", default=str(HERE), help="directory for profile_<version>.json")
    args = ap.parse_args(argv)
    if args.python:
        env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]))
        return subprocess.call([args.python, "-m", "backends.ascend.measure_profile", "--out", args.out],
                               env=env, cwd=str(HERE.parents[1]))
    prof = measure()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = Path(args.out) / f"profile_{prof['triton_ascend']}.json"
    path.write_text(json.dumps(prof, indent=1, sort_keys=True) + "\n")
    bad = {k: v["status"] for sec in ("dtypes", "features", "constructs") for k, v in prof[sec].items()
           if v["status"] != "ok"}
    print(f"{path}: {bad or 'all ok'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

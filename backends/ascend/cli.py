"""Run Ascend cases in a triton-ascend env from outside it, in one batch per env.

Why: the orchestrator (and the tests) must not import triton-ascend, and the env's Python start-up
plus `import triton` costs about half a second; one subprocess per batch amortises it. The child
side (`python -m backends.ascend.cli IN OUT`) reads a pickled list of (case, options) and writes
a pickled list of outcome dicts: {"status": "ok", ...result} | {"status": "error", "stage", ...} |
{"status": "unsupported", "message"}. Only stdlib and numpy are used on the calling side.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from backends.runner_api import STORAGE

REPO = str(Path(__file__).resolve().parents[2])
ENV_ROOT = Path(os.environ.get("TRITONDIFF_CACHE", Path.home() / ".cache" / "tritondiff")) / "envs"


def env_python(version: str) -> str:
    """The managed env's interpreter for a triton-ascend release (e.g. "3.2.0rc4")."""
    return str(ENV_ROOT / f"ascend-{version}" / "bin" / "python")


def ptr(name: str, dtype: str, buffer: str) -> dict:
    return {"name": name, "kind": "ptr", "dtype": dtype, "value": None, "buffer": buffer}


def scalar(name: str, dtype: str, value: int | float) -> dict:
    return {"name": name, "kind": "scalar", "dtype": dtype, "value": value, "buffer": None}


def constexpr(name: str, value: Any) -> dict:
    return {"name": name, "kind": "constexpr", "dtype": "", "value": value, "buffer": None}


def buffer(dtype: str, data: np.ndarray, role: str = "in") -> dict:
    arr = np.ascontiguousarray(np.asarray(data).astype(STORAGE[dtype]).ravel())
    return {"dtype": dtype, "role": role, "size": int(arr.size), "data": arr.tobytes()}


def make_case(source: str, kernel_name: str, args: list[dict], buffers: dict[str, dict],
              grid: tuple[int, ...] = (1, 1, 1), num_warps: int = 4) -> dict:
    """A wire-format case (see generators.case.KernelCase.to_wire) built by hand."""
    g = (list(grid) + [1, 1, 1])[:3]
    return {"case_id": "", "source": source, "kernel_name": kernel_name, "args": args,
            "buffers": buffers, "grid": g, "num_warps": num_warps}


def data_of(result: dict, name: str, dtype: str) -> np.ndarray:
    """Unpadded contents of one output buffer."""
    from backends.runner_api import GUARD_ELEMS
    arr = np.frombuffer(result["outputs"][name], dtype=STORAGE[dtype])
    return arr[GUARD_ELEMS:arr.size - GUARD_ELEMS]


def run_in_env(python: str, items: list[tuple[dict, dict]], timeout: float = 600.0) -> list[dict]:
    """Run (case, options) pairs through backends.ascend.runner inside the env of `python`."""
    with tempfile.TemporaryDirectory(prefix="tritondiff-ascend-cli-") as d:
        inp, out = os.path.join(d, "in.pkl"), os.path.join(d, "out.pkl")
        with open(inp, "wb") as f:
            pickle.dump(items, f)
        env = dict(os.environ, PYTHONPATH=REPO)
        r = subprocess.run([python, "-m", "backends.ascend.cli", inp, out], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0 or not os.path.exists(out):
            raise RuntimeError(f"env runner failed (rc={r.returncode}): {r.stderr[-4000:]}")
        with open(out, "rb") as f:
            return pickle.load(f)


def _run_one(case: dict, options: dict) -> dict:
    from backends.ascend.runner import run_case
    from backends.runner_api import StageError, Unsupported
    t0 = time.perf_counter()
    try:
        res = {"status": "ok", **run_case(case, options)}
    except StageError as e:
        res = {"status": "error", "stage": e.stage, "exc_type": e.exc_type, "message": e.message,
               "traceback": e.traceback, "artifacts": e.artifacts}
    except Unsupported as e:
        res = {"status": "unsupported", "message": str(e)}
    except Exception as e:  # noqa: BLE001 - report, keep the batch going
        res = {"status": "runner-bug", "message": f"{type(e).__name__}: {e}",
               "traceback": traceback.format_exc()}
    res["wall_s"] = time.perf_counter() - t0
    return res


def main(argv: list[str]) -> int:
    with open(argv[0], "rb") as f:
        items = pickle.load(f)
    results = [_run_one(c, o) for c, o in items]
    with open(argv[1], "wb") as f:
        pickle.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Generic launcher vs Triton's own launch on a GPU: same kernels, outputs compared bit for bit.

    python bench/launch_parity.py --env-python /usr/bin/python3 [--backend cuda@3.6.0]
        [--cases 2000] [--jobs 16] [--seed 11] [--budget SECONDS] [--keep-dir DIR]

Each job holds two workers of the same backend, one launching through backends.cuda_launch and
one through Triton (`launcher: "triton"`); every valid generated case runs on both and the padded
buffers (guards included) must be identical. Prints one JSON object: counts, the cases that
differ, which launcher ran (fallback reasons counted), and the median stage times of each side.
With --keep-dir, the first few differing cases are written there as case JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends import open_backend  # noqa: E402
from fuzz.campaign import case_seed  # noqa: E402
from fuzz.pipeline import evaluate_reference  # noqa: E402
from generators import generate  # noqa: E402


def _same(a: Any, b: Any) -> bool:
    if a.status != b.status or a.executed != b.executed:
        return False
    if a.status != "ok":
        return a.stage == b.stage
    return set(a.outputs) == set(b.outputs) and all(
        a.outputs[k].tobytes() == b.outputs[k].tobytes() for k in a.outputs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="cuda")
    ap.add_argument("--env-python", default=None)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--budget", type=float, help="stop taking new cases after this many seconds")
    ap.add_argument("--keep-dir", type=Path)
    args = ap.parse_args()
    lock = threading.Lock()
    state: dict[str, Any] = {"next": 0, "valid": 0, "invalid": 0, "both_executed": 0, "identical": 0,
                             "differ": [], "launcher": Counter(), "statuses": Counter(),
                             "direct": {"compile": [], "launch": [], "run": []},
                             "triton": {"compile": [], "launch": [], "run": []}}

    t0 = time.perf_counter()

    def take() -> int | None:
        with lock:
            late = args.budget is not None and time.perf_counter() - t0 > args.budget
            if state["next"] >= args.cases or late:
                return None
            state["next"] += 1
            return state["next"] - 1

    def job() -> None:
        opts: dict[str, Any] = {"env_python": args.env_python} if args.env_python else {}
        with open_backend(args.backend, **opts) as direct, \
                open_backend(args.backend, runner_options={"launcher": "triton"}, **opts) as triton:
            while (i := take()) is not None:
                case = generate(case_seed(args.seed, i))
                _ref, valid, _why = evaluate_reference(case)
                if not valid:  # UB: outputs may legitimately differ
                    with lock:
                        state["invalid"] += 1
                    continue
                a, b = direct.run(case, args.timeout), triton.run(case, args.timeout)
                with lock:
                    state["valid"] += 1
                    state["statuses"][f"{a.status}/{b.status}"] += 1
                    state["launcher"][a.launcher.split(" (")[0] if a.launcher else "-"] += 1
                    for side, r in (("direct", a), ("triton", b)):
                        if r.status == "ok" and r.executed:
                            state[side]["compile"].append(r.compile_s)
                            state[side]["launch"].append(r.launch_s)
                            state[side]["run"].append(r.run_s)
                    if a.executed and b.executed:
                        state["both_executed"] += 1
                    if _same(a, b):
                        state["identical"] += 1 if (a.executed and b.executed) else 0
                    else:
                        state["differ"].append({"index": i, "case_id": case.case_id, "direct": a.status,
                                                "triton": b.status, "message": (a.message or b.message)[:200]})
                        if args.keep_dir and len(state["differ"]) <= 5:
                            args.keep_dir.mkdir(parents=True, exist_ok=True)
                            (args.keep_dir / f"{case.case_id}.json").write_text(json.dumps(case.to_json()))

    threads = [threading.Thread(target=job) for _ in range(args.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    med = {side: {f"{k}_s_median": statistics.median(v) if v else None for k, v in state[side].items()}
           for side in ("direct", "triton")}
    print(json.dumps({"backend": args.backend, "cases": state["next"], "jobs": args.jobs, "seed": args.seed,
                      "valid": state["valid"], "invalid": state["invalid"],
                      "both_executed": state["both_executed"], "identical_executed": state["identical"],
                      "differ": state["differ"], "statuses": dict(state["statuses"]),
                      "launcher": dict(state["launcher"]), "stages": med,
                      "wall_s": time.perf_counter() - t0}, indent=2))
    return 1 if state["differ"] else 0


if __name__ == "__main__":
    sys.exit(main())

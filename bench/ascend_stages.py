"""Ascend throughput per worker and where its time goes: triton-ascend frontend, the adapter
(triton-adapter-opt), tritondiff's MLIR 19 lowering, execution.

    python bench/ascend_stages.py [--backend ascend@3.2.0] [--cases 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.backend import open_backend  # noqa: E402
from backends.profiles import unsupported_reason  # noqa: E402
from generators import generate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="ascend@3.2.0")
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--seed", type=int, default=30_000)
    args = ap.parse_args()
    b = open_backend(args.backend)
    b.warm()
    stages: dict[str, list[float]] = {"frontend_s": [], "adapter_s": [], "lower_s": [], "exec_s": []}
    walls, statuses = [], {}
    t0 = time.perf_counter()
    try:
        for i in range(args.cases):
            case = generate(args.seed + i)
            if unsupported_reason(b.name, list(case.features)):
                statuses["profile"] = statuses.get("profile", 0) + 1
                continue
            r = b.run(case, 60.0)
            statuses[r.status] = statuses.get(r.status, 0) + 1
            walls.append(r.wall_s)
            for kv in r.artifacts.get("timing", "").split():
                k, _, v = kv.partition("=")
                if k in stages:
                    stages[k].append(float(v))
    finally:
        b.close()
    total = time.perf_counter() - t0
    spent = {k: sum(v) for k, v in stages.items()}
    all_s = sum(spent.values()) or 1.0
    print(json.dumps({"backend": args.backend, "cases_run": len(walls), "statuses": statuses,
                      "kernels_per_s": round(len(walls) / total, 2),
                      "median_wall_s": round(statistics.median(walls), 4) if walls else None,
                      "share": {k: round(v / all_s, 3) for k, v in spent.items()},
                      "mean_ms": {k: round(1000 * statistics.mean(v), 1) for k, v in stages.items() if v}},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

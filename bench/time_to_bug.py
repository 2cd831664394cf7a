"""Time to find a bug: seconds and cases until each fault-injection backend's defect is found.

    python bench/time_to_bug.py [--limit 300]

Each fault backend is a real interpreter run with one injected defect (see backends/faults.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.pipeline import Pipeline  # noqa: E402
from generators import generate  # noqa: E402

FAULTS = ["fault-drop-scalar-mul", "fault-mask2d", "fault-segfault", "fault-hang", "fault-oob-store"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--seed", type=int, default=20_000)
    args = ap.parse_args()
    rows = {}
    for fault in FAULTS:
        pipe = Pipeline([fault], 5.0)
        pipe.warm()
        t0 = time.perf_counter()
        found = None
        try:
            for i in range(args.limit):
                run = pipe.run(generate(args.seed + i))
                hit = next((o for o in run.outcomes if o.is_finding), None)
                if hit:
                    found = {"cases": i + 1, "seconds": round(time.perf_counter() - t0, 2), "kind": hit.kind}
                    break
        finally:
            pipe.close()
        rows[fault] = found or {"cases": None, "seconds": round(time.perf_counter() - t0, 2), "kind": None}
    print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

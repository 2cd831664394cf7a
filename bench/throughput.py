"""End-to-end throughput: kernels/s of a real campaign, and the share of wall time spent outside
the backends' own compile/run calls (generation, reference, judging, store, IPC).

    python bench/throughput.py [--backends interpreter,cuda,hip] [--cases 200] [--jobs 1]

Prints one JSON object. Ratios come from a single run so they are comparable.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="interpreter,cuda,hip")
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        out = subprocess.run(
            [sys.executable, "-m", "fuzz", "fuzz", "--backends", args.backends, "--cases", str(args.cases),
             "--jobs", str(args.jobs), "--seed", str(args.seed), "--db", str(db), "--no-corpus", "-q", "--json"],
            cwd=ROOT, capture_output=True, text=True, check=False)
        if out.returncode not in (0,):
            print(out.stderr[-3000:], file=sys.stderr)
            return out.returncode
        summary = json.loads(out.stdout)
        import sqlite3

        con = sqlite3.connect(db)
        per_backend = {b: {"cases": n, "compile_s_mean": c / n, "run_s_mean": r / n, "wall_s_mean": w / n}
                       for b, n, c, r, w in con.execute(
                           "SELECT backend, COUNT(*), SUM(compile_s), SUM(run_s), SUM(wall_s) FROM outcomes "
                           "WHERE kind != 'unsupported' GROUP BY backend")}
    sess = summary["session"]
    result = {"backends": args.backends, "cases": summary["cases"], "jobs": args.jobs,
              "kernels_per_s": summary["kernels_per_s"], "outside_share": sess.get("outside_share"),
              "session": sess, "per_backend": per_backend}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""End-to-end throughput: kernels/s of a real campaign, the per-stage split of each backend's time,
and the share of wall time spent outside the backends' own calls (generation, reference, judging,
store, IPC).

    python bench/throughput.py [--backends interpreter,cuda,hip] [--cases 200] [--jobs 1]
        [--env-python cuda=/usr/bin/python3] [--launchers direct,triton] [--minutes M]

With several --launchers the same campaign (same seed, same kernels) runs once per launcher, one
after the other, so on a GPU machine the generic launcher and Triton's own are compared in one
run; `speedup` is kernels/s of the first over each other. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _stages(db: Path) -> dict[str, dict[str, float]]:
    """Per backend: cases, then mean and median of each stage's seconds (unsupported left out)."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT backend, compile_s, launch_s, run_s, wall_s FROM outcomes "
                       "WHERE kind != 'unsupported' AND origin = 'judge'").fetchall()
    con.close()
    by: dict[str, list[tuple[float, ...]]] = {}
    for b, *vals in rows:
        by.setdefault(b, []).append(tuple(vals))
    out = {}
    for b, vals in by.items():
        d: dict[str, float] = {"cases": len(vals)}
        for i, stage in enumerate(("compile", "launch", "run", "wall")):
            col = [v[i] for v in vals]
            d[f"{stage}_s_mean"] = sum(col) / len(col)
            d[f"{stage}_s_median"] = statistics.median(col)
        out[b] = d
    return out


def _campaign(args: argparse.Namespace, launcher: str, tmp: Path) -> dict:
    db = tmp / f"bench-{launcher}.sqlite"
    cmd = [sys.executable, "-m", "fuzz", "fuzz", "--backends", args.backends, "--cases", str(args.cases),
           "--jobs", str(args.jobs), "--seed", str(args.seed), "--db", str(db), "--no-corpus", "-q", "--json",
           "--launcher", launcher]
    for item in args.env_python:
        cmd += ["--env-python", item]
    if args.minutes:
        cmd += ["--minutes", str(args.minutes)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        raise SystemExit(out.returncode)
    summary = json.loads(out.stdout)
    sess = summary["session"]
    return {"cases": summary["cases"], "kernels_per_s": summary["kernels_per_s"],
            "outside_share": sess.get("outside_share"), "session": sess, "per_backend": _stages(db)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="interpreter,cuda,hip")
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--minutes", type=float, help="also stop each campaign after M minutes")
    ap.add_argument("--env-python", action="append", default=[], metavar="BACKEND=PYTHON")
    ap.add_argument("--launchers", default="direct",
                    help="comma-separated: direct (tritondiff's launcher), triton (Triton's own)")
    args = ap.parse_args()
    launchers = [x for x in args.launchers.split(",") if x]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for launcher in launchers:
            runs[launcher] = _campaign(args, launcher, Path(tmp))
    first = runs[launchers[0]]["kernels_per_s"]
    result = {"backends": args.backends, "cases": args.cases, "jobs": args.jobs, "launchers": runs,
              "speedup": {f"{launchers[0]}/{other}": first / runs[other]["kernels_per_s"]
                          for other in launchers[1:] if runs[other]["kernels_per_s"]}}
    if len(launchers) == 1:  # the one-run layout earlier figures were taken with
        result.update(runs[launchers[0]])
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

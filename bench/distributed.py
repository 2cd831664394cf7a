"""Local pool against a Dask cluster on this host: kernels/s side by side, and the scheduler's cost.

    python bench/distributed.py [--backends interpreter,fault-oob-store] [--cases 100] [--seed 7]
                                [--jobs 1,2] [--workers 1,2] [--nthreads 1]
                                [--worker-resources GPU=1] [--env-python cuda=/usr/bin/python3]
                                [--place cuda=any] [--noop 200]

Starts a real `dask scheduler` on loopback, runs the same campaign (same seed, same cases) with
the local pool for each `--jobs` J and on W fresh local `dask worker`s (`--nthreads` each) for
each `--workers` W, all in one run so the figures compare. For the 16-core GPU comparison, on a
host whose own Python has triton 3.6 and torch:

    python3 bench/distributed.py --backends interpreter@3.6.0,cuda@3.6.0 --jobs 16 --workers 16 \
        --worker-resources GPU=1 --env-python interpreter@3.6.0=$(which python3) \
        --env-python cuda@3.6.0=$(which python3) --cases 400

(a host without a package registry installs dask from wheels: `pip download 'dask[distributed]'
--python-version 3.12 --only-binary=:all: -d wheels/` elsewhere, then `pip install --no-index
--find-links wheels/ 'dask[distributed]'`).

Scheduler overhead, two ways:
* `noop`: one worker, a task that does nothing: sequential round trip (submit -> result) and
  pipelined throughput of many at once.
* `idle_per_case_ms`: per case, the capacity that was not spent in the case's own work,
  (wall x slots - sum of generation, reference, backend and judging time) / cases. The Dask row
  minus the local row of the same width is what the cluster costs per case beyond the local pool.

Prints one JSON object on stdout; a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder leads sys.path and its name would shadow the `distributed`
# package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


class LocalCluster:
    """A scheduler and workers as plain `dask` subprocesses on 127.0.0.1."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.workers: list[subprocess.Popen[bytes]] = []
        sched = tmp / "scheduler.json"
        self.scheduler = self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0",
                                                   "--no-dashboard", "--scheduler-file", str(sched)])
        try:
            deadline = time.monotonic() + 60
            while not (sched.exists() and sched.read_text().strip().endswith("}")):
                if time.monotonic() > deadline or self.scheduler.poll() is not None:
                    raise RuntimeError("dask scheduler did not start:\n" + (tmp / "scheduler.log").read_text()[-2000:])
                time.sleep(0.1)
            self.address = json.loads(sched.read_text())["address"]
            from distributed import Client

            self.client = Client(self.address, timeout=30, set_as_default=False)
        except BaseException:
            os.killpg(self.scheduler.pid, signal.SIGKILL)
            self.scheduler.wait()
            raise

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with open(self.tmp / f"{name}.log", "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=self.tmp, env=_env(),
                                    stdout=log, stderr=log, start_new_session=True)

    def start_workers(self, n: int, nthreads: int, resources: str | None) -> None:
        extra = ["--resources", resources] if resources else []
        for _ in range(n):
            self.workers.append(self._spawn(f"worker-{len(self.workers)}", [
                "worker", self.address, "--nthreads", str(nthreads), "--no-nanny", "--no-dashboard",
                "--host", "127.0.0.1", "--local-directory", str(self.tmp / f"w{len(self.workers)}"), *extra]))
        deadline = time.monotonic() + 300
        while len(self.client.scheduler_info(n_workers=-1)["workers"]) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.client.scheduler_info()['workers'])} of {n} workers joined")
            time.sleep(0.2)

    def stop_workers(self) -> None:
        for p in self.workers:
            os.killpg(p.pid, signal.SIGTERM)
        for p in self.workers:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.workers = []
        deadline = time.monotonic() + 30
        while self.client.scheduler_info(n_workers=-1)["workers"] and time.monotonic() < deadline:
            time.sleep(0.2)

    def close(self) -> None:
        self.stop_workers()
        self.client.close()
        os.killpg(self.scheduler.pid, signal.SIGTERM)
        self.scheduler.wait(timeout=30)


def noop_overhead(cluster: LocalCluster, n: int) -> dict[str, float]:
    """Scheduler round trip of a task that does nothing (`max(i, 0)`), one worker."""
    c = cluster.client
    c.submit(max, -1, 0, pure=False).result()  # first contact
    lat = []
    for i in range(n):
        t = time.perf_counter()
        c.submit(max, i, 0, pure=False).result()
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    c.gather(c.map(max, range(n), [0] * n, pure=False))
    pipelined = time.perf_counter() - t
    return {"tasks": n, "round_trip_ms_median": 1e3 * statistics.median(lat),
            "round_trip_ms_p90": 1e3 * sorted(lat)[int(0.9 * (n - 1))],
            "pipelined_ms_per_task": 1e3 * pipelined / n}


def campaign(args: argparse.Namespace, tmp: Path, label: str, extra: list[str]) -> dict[str, Any]:
    db = tmp / f"{label}.sqlite"
    cmd = [sys.executable, "-m", "fuzz", "fuzz", "--backends", args.backends, "--cases", str(args.cases),
           "--seed", str(args.seed), "--db", str(db), "--no-corpus", "-q", "--json", *extra]
    for e in args.env_python:
        cmd += ["--env-python", e]
    out = subprocess.run(cmd, cwd=tmp, env=_env(), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{label}: exit {out.returncode}\n{out.stderr[-3000:]}")
    s = json.loads(out.stdout)
    se = s["session"]
    busy = se["gen_s"] + se["ref_s"] + se["backend_s"] + se["judge_s"]
    cases = max(1, se["cases"])
    return {"run": label, "engine": se.get("engine", "local"), "slots": se["jobs"], "cases": se["cases"],
            "kernels_per_s": se["kernels_per_s"], "wall_s": se["wall_s"], "warm_s": se["warm_s"],
            "busy_ms_per_case": 1e3 * busy / cases,
            "idle_per_case_ms": 1e3 * max(0.0, se["wall_s"] * se["jobs"] - busy) / cases,
            "findings": len(s.get("findings", [])), "valid": s.get("valid")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", default="interpreter,fault-oob-store")
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=_ints, default=[1, 2], help="local pool widths, e.g. 1,2 or 16")
    ap.add_argument("--workers", type=_ints, default=[1, 2], help="Dask worker counts, e.g. 1,2 or 16")
    ap.add_argument("--nthreads", type=int, default=1, help="threads per Dask worker (default 1)")
    ap.add_argument("--worker-resources", help="e.g. GPU=1: what each worker declares")
    ap.add_argument("--env-python", action="append", default=[], metavar="BACKEND=PYTHON")
    ap.add_argument("--place", action="append", default=[], metavar="BACKEND=RESOURCE")
    ap.add_argument("--noop", type=int, default=200, help="no-op tasks for the round-trip figure (0: skip)")
    args = ap.parse_args()

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tritondiff-bench-dist-") as d:
        tmp = Path(d)
        cluster = LocalCluster(tmp)
        try:
            noop = None
            if args.noop:
                cluster.start_workers(1, 1, None)
                noop = noop_overhead(cluster, args.noop)
                cluster.stop_workers()
            for j in args.jobs:
                runs.append(campaign(args, tmp, f"local-jobs{j}", ["--jobs", str(j)]))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
            for w in args.workers:
                cluster.start_workers(w, args.nthreads, args.worker_resources)
                place = [x for p in args.place for x in ("--place", p)]
                runs.append(campaign(args, tmp, f"dask-workers{w}", ["--scheduler", cluster.address, *place]))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
                cluster.stop_workers()
        finally:
            cluster.close()
    base = next((r for r in runs if r["run"] == "local-jobs1"), runs[0])
    for r in runs:
        r["speedup_vs_" + base["run"]] = r["kernels_per_s"] / base["kernels_per_s"] if base["kernels_per_s"] else None
    result = {"backends": args.backends, "cases": args.cases, "seed": args.seed, "host_cpus": os.cpu_count(),
              "nthreads_per_worker": args.nthreads, "noop": noop, "runs": runs}
    print(f"{'run':16s} {'slots':>5s} {'kernels/s':>9s} {'wall s':>7s} {'warm s':>7s} {'busy ms/case':>12s} "
          f"{'idle ms/case':>12s}", file=sys.stderr)
    for r in runs:
        print(f"{r['run']:16s} {r['slots']:5d} {r['kernels_per_s']:9.2f} {r['wall_s']:7.1f} {r['warm_s']:7.1f} "
              f"{r['busy_ms_per_case']:12.1f} {r['idle_per_case_ms']:12.1f}", file=sys.stderr)
    if noop:
        print(f"no-op task: {noop['round_trip_ms_median']:.2f} ms round trip (median), "
              f"{noop['pipelined_ms_per_task']:.2f} ms/task pipelined", file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

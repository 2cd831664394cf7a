"""What measuring triton's frontend coverage costs per kernel, and what atheris' instrumentation costs.

The same seeded kernels run on one backend in three kinds of worker: plain, line-traced on every
case (`fuzz --coverage-every 1`; the default samples one case in 10), and atheris-instrumented as
`fuzz --guided` runs it (the libFuzzer loop itself is not started here). Prints median and total
seconds per kernel inside the backend call; the first kernel of each worker (lazy imports) is
reported apart.

    python3 bench/coverage_overhead.py [--backend interpreter@3.9.0] [--kernels 12]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODES = {"plain": {}, "traced": {"coverage_every": 1}, "instrumented": {"guided": True}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="interpreter@3.9.0")
    ap.add_argument("--kernels", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import generators
    from backends.backend import open_backend
    from fuzz.pipeline import case_seed, evaluate_reference

    cases = []
    i = 0
    while len(cases) < args.kernels:
        c = generators.generate(case_seed(args.seed, i))
        i += 1
        if evaluate_reference(c)[1]:
            cases.append(c)
    out = {"backend": args.backend, "kernels": len(cases)}
    for mode, opts in MODES.items():
        with open_backend(args.backend, **opts) as b:
            t = time.perf_counter()
            b.warm()
            start_s = time.perf_counter() - t
            times, lines = [], 0
            for c in cases:
                t = time.perf_counter()
                r = b.run(c, 300)
                times.append(time.perf_counter() - t)
                lines += sum(len(v) for v in r.coverage.values())
        rest = times[1:] or times
        out[mode] = {"start_s": round(start_s, 2), "first_s": round(times[0], 2),
                     "median_s": round(statistics.median(rest), 3), "total_s": round(sum(rest), 2), "lines": lines}
        print(f"{mode:13s} worker start {start_s:6.1f}s  first kernel {times[0]:6.1f}s  then median "
              f"{statistics.median(rest):.3f}s, total {sum(rest):.1f}s over {len(rest)}"
              + (f"  ({lines} lines)" if lines else ""), flush=True)
    base = out["plain"]["total_s"] or 1e-9
    for mode in ("traced", "instrumented"):
        print(f"{mode}: {out[mode]['total_s'] / base:.2f}x the plain worker's time")
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""Cost of the metamorphic oracle: what N variants per case add to a case's time, per relation.

    python bench/variants.py [--backends interpreter] [--cases 100] [--variants 2] [--seed 3]
                             [--no-reference]

Runs generated cases through the one pipeline (`fuzz.pipeline.Pipeline.run`) with variants on and
splits each case's wall time into the base form (reference, backends, judging, cross-backend) and
the variants (deriving, proving with the reference, running, judging). Prints one JSON object:
seconds per case for each part, the overhead ratio, and per relation how often it was chosen, how
often it ran, and its mean cost.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="interpreter")
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--no-reference", action="store_true")
    args = ap.parse_args()

    from fuzz.campaign import case_seed
    from fuzz.pipeline import Pipeline
    from generators import generate

    pipe = Pipeline(args.backends.split(","), args.timeout, variants=args.variants,
                    reference=not args.no_reference)
    per_rel: dict[str, dict[str, float]] = defaultdict(lambda: {"chosen": 0, "ran": 0, "seconds": 0.0})
    base_s = var_s = 0.0
    variant_backend_runs = findings = 0
    n = 0
    try:
        pipe.warm()
        for i in range(args.cases):
            case = generate(case_seed(args.seed, i))
            t0 = time.perf_counter()
            run = pipe.run(case)
            wall = time.perf_counter() - t0
            if not run.valid:
                continue
            n += 1
            var_s += run.variant_s
            base_s += wall - run.variant_s
            findings += sum(1 for r in run.records if r.is_finding and r.origin == "metamorphic")
            for vr in run.variants:
                st = per_rel[vr.variant.relation]
                st["chosen"] += 1
                st["seconds"] += vr.seconds
                if vr.case is not None and not vr.note:
                    st["ran"] += 1
                    variant_backend_runs += len(vr.results)
    finally:
        pipe.close()
    rels = {k: {"chosen": int(v["chosen"]), "ran": int(v["ran"]),
                "mean_s": v["seconds"] / v["chosen"] if v["chosen"] else 0.0} for k, v in sorted(per_rel.items())}
    out = {"backends": args.backends, "cases": n, "variants_per_case": args.variants,
           "reference": not args.no_reference,
           "base_s_per_case": base_s / n if n else 0.0, "variants_s_per_case": var_s / n if n else 0.0,
           "overhead": var_s / base_s if base_s else 0.0,
           "variant_backend_runs_per_case": variant_backend_runs / n if n else 0.0,
           "metamorphic_findings": findings, "relations": rels}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Guided against unguided generation for the same minutes: frontend lines covered and findings.

For each backend, two campaigns of the same length one after the other (never at once: they
would share the cores): `fuzz` (seeded random generation) and `fuzz --guided` (atheris' libFuzzer
in the backend's worker chooses the decisions). Both measure triton's frontend line coverage on
every case (`--coverage-every 1`), so the figures are the union of lines each arm's kernels ran,
and both judge with the same pipeline and variants. Each guided arm starts from an empty seeds
directory (its 16 random inputs).

    python3 bench/guided.py [--minutes 4] [--backends interpreter@3.9.0,ascend@3.2.0] [--variants 0]

Prints one row per arm and one JSON object (also written to --out).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def lines_at(series: list[list[float]], t: float) -> int:
    """Lines covered by campaign time t (the curve is a step function)."""
    n = 0
    for ts, _i, lines in series:
        if ts > t:
            break
        n = int(lines)
    return n


def arm(backend: str, guided: bool, minutes: float, variants: int, root: Path, seed: int) -> dict:
    from fuzz.campaign import Campaign, CampaignConfig
    from fuzz.store import Store

    name = f"{backend.replace('@', '_')}-{'guided' if guided else 'random'}"
    db = root / f"{name}.sqlite"
    for p in (db, root / f"{name}-seeds", root / f"{name}-corpus"):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    cfg = CampaignConfig(backends=[backend], cases=None, minutes=minutes, guided=guided, db=db, name=name,
                         progress=False, variants=variants, coverage_every=1, seed=seed)
    t0 = time.monotonic()
    summary = Campaign(cfg).run()
    wall = time.monotonic() - t0
    with Store(db, readonly=True) as s:
        [camp] = s.campaigns()
        cov = s.coverage(camp["id"])
        findings = s.findings(campaign=camp["id"])
    row = cov[0] if cov else {"lines": 0, "files": 0, "series": [], "by_package": {}}
    span = minutes * 60
    sess = summary["session"]
    return {
        "backend": backend, "arm": "guided" if guided else "random", "minutes": minutes,
        "cases": sess["cases"], "valid": summary["valid"], "kernels_per_s": round(sess["kernels_per_s"], 3),
        "lines": row["lines"], "files": row["files"],
        "lines_at_quarter": lines_at(row["series"], span / 4), "lines_at_half": lines_at(row["series"], span / 2),
        "by_package": row["by_package"],
        "findings": len(findings), "finding_kinds": sorted({f.kind for f in findings}),
        "finding_signatures": [f.signature[:120] for f in findings],
        "seeds": sess.get("guided", {}).get("seeds"), "warm_s": round(sess["warm_s"], 1),
        "wall_s": round(wall, 1), "db": str(db),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--backends", default="interpreter@3.9.0,ascend@3.2.0")
    ap.add_argument("--variants", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", type=Path, default=Path("runs/bench-guided"))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--arms", default="random,guided", help="which arms to run (default both)")
    args = ap.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'backend':18s} {'arm':7s} {'cases':>5s} {'valid':>5s} {'lines':>6s} {'@1/4':>6s} {'@1/2':>6s} "
          f"{'findings':>8s}  kinds", flush=True)
    for backend in [b for b in args.backends.split(",") if b]:
        for guided in [a == "guided" for a in args.arms.split(",") if a in ("random", "guided")]:
            r = arm(backend, guided, args.minutes, args.variants, args.root, args.seed)
            rows.append(r)
            print(f"{r['backend']:18s} {r['arm']:7s} {r['cases']:5d} {r['valid']:5d} {r['lines']:6d} "
                  f"{r['lines_at_quarter']:6d} {r['lines_at_half']:6d} {r['findings']:8d}  "
                  f"{','.join(r['finding_kinds']) or '-'}", flush=True)
    out = {"bench": "guided", "minutes": args.minutes, "variants": args.variants, "rows": rows}
    text = json.dumps(out, indent=1)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""Each construct of the registry on each triton-ascend release: what the adapter does with it.

    python bench/ascend_constructs.py [--releases 3.2.0,3.2.0rc4,3.2.0rc2] [--kernels 3] [--seed 5]
                                      [--markdown docs/ascend-constructs.md]

For every construct: its own example plus up to K generated kernels drawn with the construct's
features weighted up, run through the one pipeline (`fuzz.pipeline.Pipeline.run`, reference on,
no variants) on every release. A cell counts the verdicts (`ok`, `unsupported` = outside the
release's measured profile, and the finding kinds: crash, internal-error, rejects-valid,
miscompile, oob-read, ...), with one example signature per finding kind. What the adapter crashes
on, rejects or computes wrongly is a finding, not an exclusion: the table is where a profile
entry must point for evidence. Prints one JSON object; `--markdown` also writes the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def kernels_for(con: Any, k: int, seed: int) -> list[Any]:
    """The construct's example and up to k generated kernels that use one of its features."""
    from generators import generate

    out = [con.example()]
    feats = set(con.features)
    if not feats or k <= 0:
        return out
    weights = {f: 40.0 for f in (*con.knobs, *con.features)}
    for i in range(60):
        case = generate(seed * 100_003 + i, weights)
        if feats & set(case.features):
            out.append(case)
            if len(out) > k:
                break
    return out


def table(results: dict[str, dict[str, Counter]], examples: dict[str, dict[str, dict[str, str]]],
          releases: list[str]) -> str:
    head = "| construct | " + " | ".join(releases) + " |\n|---|" + "---|" * len(releases) + "\n"
    rows = []
    for name in sorted(results):
        cells = []
        for rel in releases:
            c = results[name][rel]
            cells.append(", ".join(f"{k} {n}" for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))))
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    notes = []
    for name in sorted(examples):
        for rel, by_kind in sorted(examples[name].items()):
            for kind, sig in sorted(by_kind.items()):
                notes.append(f"- `{name}` on {rel}: {kind}: `{sig[:200]}`")
    return head + "\n".join(rows) + "\n\nOne signature per finding kind and cell:\n\n" + "\n".join(notes) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--releases", default="3.2.0,3.2.0rc4,3.2.0rc2")
    ap.add_argument("--kernels", type=int, default=3, help="generated kernels per construct (plus its example)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--only", default="", help="comma-separated construct names (default: all)")
    ap.add_argument("--markdown", default="")
    args = ap.parse_args()

    from fuzz.pipeline import Pipeline
    from generators.constructs import ALL

    releases = args.releases.split(",")
    backends = [f"ascend@{r}" for r in releases]
    names = [n for n in sorted(ALL) if not args.only or n in args.only.split(",")]
    pipe = Pipeline(backends, args.timeout, variants=0)
    results: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    examples: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    t0 = time.perf_counter()
    n_cases = 0
    try:
        pipe.warm()
        for name in names:
            for case in kernels_for(ALL[name], args.kernels, args.seed):
                run = pipe.run(case)
                if not run.valid:
                    continue
                n_cases += 1
                for r in run.records:
                    if r.origin != "judge":
                        continue
                    rel = r.backend.split("@", 1)[1].split(":", 1)[0]
                    results[name][rel][r.kind] += 1
                    if r.is_finding:
                        examples[name][rel].setdefault(r.kind, r.signature)
    finally:
        pipe.close()
    out = {"releases": releases, "constructs": len(names), "cases": n_cases,
           "seconds": round(time.perf_counter() - t0, 1),
           "results": {n: {r: dict(c) for r, c in v.items()} for n, v in sorted(results.items())},
           "examples": {n: dict(v) for n, v in sorted(examples.items())}}
    print(json.dumps(out, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(
            "# Constructs on triton-ascend releases\n\n"
            f"`python bench/ascend_constructs.py --kernels {args.kernels} --seed {args.seed} "
            f"--markdown {args.markdown}`: {n_cases} cases (each construct's example and up to "
            f"{args.kernels} generated kernels that use it), {out['seconds']} s. Cells count verdicts per "
            "release; `unsupported` is outside the release's measured profile (see docs/ascend.md).\n\n"
            + table(results, examples, releases))
    return 0


if __name__ == "__main__":
    sys.exit(main())

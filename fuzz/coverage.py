"""`tritondiff stats --generate N`: feature coverage and validity of the generator alone.

No backend runs: this checks that every feature appears often enough (≥3% by default) and that
the reference accepts what the generator makes, quickly, before a campaign spends backend time.
"""

from __future__ import annotations

import time
from typing import Any

from fuzz.campaign import case_seed


def generate_stats(n: int, seed: int = 0, weights: dict[str, float] | None = None,
                   min_share: float = 0.03, reference: bool = True) -> dict[str, Any]:
    import generators
    from fuzz.pipeline import evaluate_reference

    features = list(generators.FEATURES)
    counts: dict[str, int] = dict.fromkeys(features, 0)
    valid = invalid = no_ref = gen_errors = 0
    reasons: dict[str, int] = {}
    gen_s = ref_s = 0.0
    for i in range(n):
        t = time.perf_counter()
        try:
            case = generators.generate(case_seed(seed, i), weights)
        except Exception as e:
            gen_s += time.perf_counter() - t
            gen_errors += 1
            invalid += 1
            key = f"generator raised {type(e).__name__}"
            reasons[key] = reasons.get(key, 0) + 1
            continue
        gen_s += time.perf_counter() - t
        for f in case.features:
            counts[f] = counts.get(f, 0) + 1
        if not reference:
            continue
        t = time.perf_counter()
        _, ok, reason = evaluate_reference(case)
        ref_s += time.perf_counter() - t
        if not ok:
            invalid += 1
            cat = reason.split(": ", 1)[0][:200]
            reasons[cat] = reasons.get(cat, 0) + 1
        else:
            valid += 1
            if reason:
                no_ref += 1
    share = {f: c / n if n else 0.0 for f, c in counts.items()}
    excluded = {f for f, w in (weights or {}).items() if w == 0}
    below = [f for f in features if f not in excluded and share.get(f, 0.0) < min_share]
    judged = valid + invalid
    return {
        "command": "stats",
        "mode": "generate",
        "kernels": n,
        "seed": seed,
        "generator_version": generators.GENERATOR_VERSION,
        "weights": weights,
        "features": counts,
        "feature_share": share,
        "min_share": min_share,
        "below_min_share": below,
        "excluded": sorted(excluded),
        "unknown_features": sorted(set(counts) - set(features)),
        "valid": valid,
        "invalid": invalid,
        "no_reference": no_ref,
        "generator_errors": gen_errors,
        "validity_rate": valid / judged if (reference and judged) else None,
        "invalid_reasons": sorted(([r, c] for r, c in reasons.items()), key=lambda rc: -rc[1])[:20],
        "generate_per_s": n / gen_s if gen_s > 0 else None,
        "reference_per_s": (valid + invalid - gen_errors) / ref_s if ref_s > 0 else None,
    }


def render(stats: dict[str, Any]) -> str:
    n = stats["kernels"]
    lines = [f"generated {n} kernels (seed {stats['seed']}, generator {stats['generator_version']})"]
    if stats["generate_per_s"]:
        lines[0] += f" at {stats['generate_per_s']:.1f}/s"
    width = max((len(f) for f in stats["features"]), default=7)
    lines.append(f"{'feature':{width}s}  {'kernels':>7s}  {'share':>6s}")
    for f, c in sorted(stats["features"].items(), key=lambda fc: -fc[1]):
        share = stats["feature_share"][f]
        mark = ""
        if f in stats["below_min_share"]:
            mark = f"  LOW (< {100 * stats['min_share']:.0f}%)"
        elif f in stats["excluded"]:
            mark = "  excluded"
        elif f in stats["unknown_features"]:
            mark = "  (not in generators.FEATURES)"
        lines.append(f"{f:{width}s}  {c:7d}  {100 * share:5.1f}%{mark}")
    if stats["validity_rate"] is not None:
        lines.append(f"reference: valid {stats['valid']}, invalid {stats['invalid']} "
                     f"(validity {100 * stats['validity_rate']:.1f}%), "
                     f"no reference for {stats['no_reference']}"
                     + (f", {stats['reference_per_s']:.1f}/s" if stats["reference_per_s"] else ""))
    for reason, c in stats["invalid_reasons"][:10]:
        lines.append(f"  {c:6d}  {reason}")
    if stats["below_min_share"]:
        lines.append(f"features below {100 * stats['min_share']:.0f}%: {', '.join(stats['below_min_share'])}")
    return "\n".join(lines)

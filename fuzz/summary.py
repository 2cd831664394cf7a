"""Campaign summaries: one JSON-able dict (for `--json`) and its text rendering (for people)."""

from __future__ import annotations

from typing import Any

from fuzz.store import Store


def kind_order() -> list[str]:
    from oracles.outcome import KINDS

    return list(KINDS)


def store_summary(store: Store, campaign: int | None) -> dict[str, Any]:
    """Counts over the store (one campaign, or all of the file when campaign is None)."""
    counts = store.case_counts(campaign)
    findings = store.findings(campaign=campaign)
    return {
        "db": str(store.path),
        "campaign": campaign,
        "cases": counts["cases"],
        "valid": counts["valid"],
        "invalid": counts["invalid"],
        "validity_rate": counts["valid"] / counts["cases"] if counts["cases"] else None,
        "outcomes": store.outcome_counts(campaign),
        "features": store.feature_counts(campaign),
        "invalid_reasons": [[r, n] for r, n in store.invalid_reasons(campaign)],
        "timing_total": store.timing(campaign),
        "findings": [f.to_json() for f in findings],
        "frontend_coverage": store.coverage(campaign),
    }


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if (j and c.replace(".", "").isdigit()) else c.ljust(w)
                               for c, w in zip(r, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def outcome_table(outcomes: dict[str, dict[str, int]]) -> str:
    if not outcomes:
        return "(no backend outcomes)"
    kinds = [k for k in kind_order() if any(k in per for per in outcomes.values())]
    kinds += sorted({k for per in outcomes.values() for k in per} - set(kinds))
    rows = [[b, *[per.get(k, 0) for k in kinds]] for b, per in sorted(outcomes.items())]
    return _table(["backend", *kinds], rows)


def frontend_table(cov: list[dict[str, Any]]) -> str:
    """Lines of each backend's own Python covered, and when the count last grew."""
    rows = []
    for x in cov:
        last = x["series"][-1] if x["series"] else [0.0, 0, 0]
        half = next((t for t, _i, n in x["series"] if n >= x["lines"] / 2), 0.0)
        rows.append([f"#{x['campaign']}", x["backend"], x["lines"], x["files"], f"{half:.0f}", f"{last[0]:.0f}",
                     ", ".join(f"{p} {n}" for p, n in sorted(x["by_package"].items(), key=lambda kv: -kv[1])[:4])])
    return ("frontend lines covered (the backend's own Python, sampled cases):\n"
            + _table(["campaign", "backend", "lines", "files", "half by s", "last new at s", "top subpackages"], rows))


def findings_table(findings: list[dict[str, Any]], new: set[str] | None = None, limit: int = 50) -> str:
    if not findings:
        return "(no findings)"
    rows = []
    for f in findings[:limit]:
        mark = "*" if new and f["signature"] in new else ""
        rows.append([f"#{f['id']}{mark}", f["status"], f["count"], f["backend"], f["kind"], f["stage"],
                     _clip(f["signature"], 70)])
    text = _table(["id", "status", "count", "backend", "kind", "stage", "signature"], rows)
    if len(findings) > limit:
        text += f"\n... and {len(findings) - limit} more (tritondiff findings)"
    if new:
        text += "\n(* = first seen in this run)"
    return text


def _clip(s: str, n: int) -> str:
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[: n - 1] + "…"


def render(summary: dict[str, Any]) -> str:
    """The end-of-campaign (or `stats`) text."""
    out = []
    head = f"store {summary['db']}"
    if summary.get("campaign") is not None:
        head += f", campaign #{summary['campaign']}"
        if summary.get("name"):
            head += f" ({summary['name']})"
    out.append(head)
    rate = summary.get("validity_rate")
    out.append(f"cases {summary['cases']}: valid {summary['valid']}, invalid {summary['invalid']}"
               + (f" (validity {100 * rate:.1f}%)" if rate is not None else ""))
    s = summary.get("session")
    if s:
        out.append(f"this run: {s['cases']} cases in {s['wall_s']:.1f} s = {s['kernels_per_s']:.2f} kernels/s"
                   + ("  [interrupted]" if s.get("interrupted") else ""))
        out.append(f"time: inside backend calls {s.get('backend_all_s', s['backend_s']):.1f} s; outside share "
                   f"{100 * s['outside_share']:.1f}% (generate {s['gen_s']:.1f} s, reference "
                   f"{s['ref_s']:.1f} s, judge {s['judge_s']:.1f} s, store {s['store_s']:.1f} s, "
                   f"warm-up {s['warm_s']:.1f} s not counted)")
        if s.get("variants_run") or s.get("variants_skipped"):
            out.append(f"metamorphic: {s['variants_run']} variants run, {s['variants_skipped']} not applicable or "
                       f"refused; {s.get('variant_s', 0.0):.1f} s on variants")
        if s.get("guided"):
            g = s["guided"]
            out.append(f"guided by {g['guide']}: {g['seeds']} seed inputs in {g['seeds_dir']}/"
                       + (f"; {g['replayed']} seeds of earlier runs re-run for libFuzzer only"
                          if g["replayed"] else ""))
        if s.get("harness_errors"):
            out.append(f"harness errors (tritondiff's own code raised): {s['harness_errors']}")
    if summary.get("invalid_reasons"):
        out.append("top invalid reasons:")
        for reason, n in summary["invalid_reasons"][:5]:
            out.append(f"  {n:6d}  {_clip(reason, 100)}")
    out.append("")
    out.append(outcome_table(summary["outcomes"]))
    cov = summary.get("frontend_coverage") or []
    if cov:
        out.append("")
        out.append(frontend_table(cov))
    out.append("")
    new = set(s.get("new_signatures", [])) if s else set()
    out.append(f"findings ({len(summary['findings'])}):")
    out.append(findings_table(summary["findings"], new))
    return "\n".join(out)

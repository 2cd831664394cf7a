"""Text views of findings for people triaging them: `findings` (a list) and `show` (one in full)."""

from __future__ import annotations

from typing import Any

from fuzz.store import Finding, Store
from fuzz.summary import findings_table


def render_list(findings: list[Finding], bisections: dict[int, list[dict[str, Any]]] | None = None) -> str:
    from fuzz.bisect import summary_line

    text = findings_table([f.to_json() for f in findings], limit=10**9)
    extra = [f"#{f.id} releases: {summary_line(b)}" for f in findings for b in (bisections or {}).get(f.id, [])]
    return text + ("\n" + "\n".join(extra) if extra else "")


def _outputs_section(outputs: dict[str, Any]) -> list[str]:
    lines = ["outputs (first elements of each buffer):"]
    backends = outputs.get("backends") or {}
    w = max([9, *(len(n) for n in backends)])
    for buf, head in (outputs.get("reference") or {}).items():
        lines.append(f"  {'reference':{w}s}  {buf}: {head}")
    for name, b in backends.items():
        status = b.get("status", "")
        if not b.get("outputs"):
            lines.append(f"  {name:{w}s}  ({status}, no outputs)")
        for buf, entry in (b.get("outputs") or {}).items():
            diff = entry.get("diff_at")
            where = f"  differs at {diff}" if diff else ""
            lines.append(f"  {name:{w}s}  {buf}: {entry.get('head')}{where}")
    for key, details in (outputs.get("details") or {}).items():
        lines.append(f"  details {key}: {details}")
    return lines


def _reduced_lines(store: Store, f: Finding) -> list[str]:
    reduced, summary = store.reduced(f.signature)
    if reduced is None:
        return [f"reduced:   no (tritondiff reduce {f.id})"]
    return [f"reduced:   {summary}", *("  " + ln for ln in reduced["source"].splitlines()[4:])]


def _release_lines(store: Store, f: Finding) -> list[str]:
    from fuzz.bisect import summary_line

    found = store.bisections(f.id).get(f.id, [])
    if not found:
        return [f"releases:  not bisected (tritondiff bisect {f.id})"]
    return [f"releases:  {summary_line(b)}" for b in found]


def render_finding(store: Store, f: Finding) -> str:
    """Everything stored about one finding: verdict, message, kernel source, divergent outputs."""
    lines = [
        f"finding #{f.id}  [{f.status}]",
        f"signature: {f.signature}",
        f"kind:      {f.kind}",
        f"backend:   {f.backend}",
        f"affected:  {', '.join(store.affected_backends(f.signature)) or f.backend}",
        f"stage:     {f.stage or '?'}",
        *_release_lines(store, f),
        *_reduced_lines(store, f),
        f"count:     {f.count} case(s), first seen {f.first_seen}, last seen {f.last_seen}",
        f"first case: campaign #{f.first_campaign} index {f.first_case} ({f.first_case_id})",
    ]
    row = store.case_row(f.first_campaign, f.first_case)
    if row:
        lines.append(f"seed:      {row['seed']}    features: {', '.join(row['features']) or '-'}")
        others = store.case_outcomes(f.first_campaign, f.first_case)
        if others:
            lines.append("verdicts on that case:")
            w = max(len(o["backend"]) for o in others)
            for o in others:
                origin = "" if o["origin"] == "judge" else f" ({o['origin']})"
                lines.append(f"  {o['backend']:{w}s}  {o['kind']:15s} {o['stage'] or '-'}{origin}")
    lines.append("message:")
    lines.extend("  " + ln for ln in (f.message.strip() or "(none)").splitlines()[:40])
    case = f.case_json or (row or {}).get("case")
    if case:
        lines.append(f"kernel {case.get('kernel_name', '?')}  grid {case.get('grid')}  "
                     f"num_warps {case.get('num_warps')}")
        args = ", ".join(f"{a['name']}:{a['kind']}:{a['dtype'] or ''}"
                         + (f"={a['value']}" if a.get("value") is not None else "")
                         for a in case.get("args", []))
        lines.append(f"args: {args}")
        lines.append("source:")
        lines.extend("  " + ln for ln in case.get("source", "").rstrip().splitlines())
        for v in case.get("variants") or []:
            if isinstance(v, dict):
                lines.append(f"variant run: {v.get('relation')} {v.get('params')}")
    else:
        lines.append("(case not stored)")
    if f.outputs:
        lines.extend(_outputs_section(f.outputs))
    return "\n".join(lines)

"""`tritondiff report --campaign`: one self-contained HTML page summarising a store.

Why a single file with inline SVG: it is attached to CI runs and mailed around, so it must open
anywhere with no network and no assets; tritondiff draws its own charts (fuzz/svg_plots.py)
rather than depending on matplotlib. Sections: cases and findings over time, outcome matrix
(backend × kind), feature coverage (share of kernels using each feature), per-backend throughput
(compile/run/wall time per case from the outcomes), and the findings table linking to
`reports/<short-id>/README.md` (written with --with-reports).
"""

from __future__ import annotations

import calendar
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz import svg_plots
from fuzz.store import Store, StoreError
from oracles.signature import short_id

esc = svg_plots.esc

# Solid colours of each chart (tests look for them in a screenshot).
PLOT_COLORS: dict[str, Any] = {
    "cases": "#9ecae1",
    "findings": "#d62728",
    "coverage": "#54a24b",
    "compile": "#f58518",
    "run": "#7b4ea3",
    "wall": "#4c78a8",
    "frontend": ("#1f77b4", "#ff7f0e", "#2ca02c", "#8c564b", "#e377c2", "#17becf"),
    "heatmap": {
        "ok": ("#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45"),
        "finding": ("#fee5d9", "#fcbba1", "#fc9272", "#fb6a4a", "#de2d26", "#a50f15"),
        "other": ("#f0f0f0", "#d9d9d9", "#bdbdbd", "#969696", "#737373", "#525252"),
    },
}


@dataclass
class CampaignData:
    """Everything the page shows, read from the store once."""

    db: str
    campaigns: list[dict[str, Any]]
    n_cases: int = 0
    n_valid: int = 0
    times: list[float] = field(default_factory=list)  # elapsed campaign time of each case, in order
    cum_findings: list[int] = field(default_factory=list)
    boundaries: list[float] = field(default_factory=list)
    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)
    backends: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    features: dict[str, int] = field(default_factory=dict)
    throughput: dict[str, dict[str, float]] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    frontend: list[dict[str, Any]] = field(default_factory=list)  # Store.coverage(): lines of triton run


def _utc(stamp: str) -> float:
    """Seconds since the epoch of a store stamp, honouring its UTC offset."""
    try:
        t = time.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return 0.0
    return calendar.timegm(t) - (t.tm_gmtoff or 0)


def collect(store: Store, campaign: int | None) -> CampaignData:
    """Read cases, outcomes and findings of one campaign (or every campaign) from the store."""
    from oracles.outcome import FINDING_KINDS, KINDS

    camps = [c for c in store.campaigns() if campaign is None or c["id"] == campaign]
    if campaign is not None and not camps:
        raise StoreError(f"{store.path}: no campaign {campaign}")
    ids = [c["id"] for c in camps]
    d = CampaignData(str(store.path), camps)
    if not ids:
        return d
    rows = store.case_timeline(ids)
    first_sig: dict[tuple[int, int], set[str]] = defaultdict(set)
    seen_sigs: set[str] = set()
    for camp, idx, sig in store.finding_outcomes(ids):
        first_sig[(camp, idx)].add(sig)
    offset, last_camp, camp_start, last_t = 0.0, None, 0.0, 0.0
    feats: dict[str, int] = defaultdict(int)
    for camp, idx, created, validity, features in rows:
        t = _utc(created)
        if camp != last_camp:
            if last_camp is not None:
                offset = last_t + 1.0
                d.boundaries.append(offset)
            camp_start, last_camp = t, camp
        x = offset + max(0.0, t - camp_start)
        last_t = x
        d.times.append(x)
        seen_sigs |= first_sig.get((camp, idx), set())
        d.cum_findings.append(len(seen_sigs))
        d.n_cases += 1
        if validity == "valid":
            d.n_valid += 1
        for f in json.loads(features):
            feats[f] += 1
    try:
        import generators

        known = list(getattr(generators, "FEATURES", []))
    except ImportError:
        known = []
    d.features = {f: feats.get(f, 0) for f in dict.fromkeys(known + sorted(feats))}
    thr: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    kinds_seen: set[str] = set()
    for backend, kind, stage, origin, n, cs, rs, ws in store.outcome_totals(ids):
        if origin == "harness":
            kind = "harness"
        d.outcomes[(backend, kind)] = d.outcomes.get((backend, kind), 0) + n
        kinds_seen.add(kind)
        if origin == "judge" and not (kind == "unsupported" and stage == "profile"):
            acc = thr[backend]
            acc[0] += n
            acc[1] += cs or 0.0
            acc[2] += rs or 0.0
            acc[3] += ws or 0.0
    d.backends = sorted({b for b, _ in d.outcomes})
    d.kinds = [k for k in KINDS if k in kinds_seen] + sorted(kinds_seen - set(KINDS))
    for b, (n, cs, rs, ws) in thr.items():
        d.throughput[b] = {"n": n, "compile_ms": 1e3 * cs / n if n else 0.0, "run_ms": 1e3 * rs / n if n else 0.0,
                           "wall_ms": 1e3 * ws / n if n else 0.0, "per_s": n / ws if ws > 0 else 0.0}
    d.findings = [f.to_json() for f in store.findings(campaign=campaign)]
    bisections = store.bisections()
    d.frontend = store.coverage(campaign)
    for f in d.findings:
        f["short_id"] = short_id(f["signature"])
        f["bisections"] = bisections.get(f["id"], [])
        f["is_finding_kind"] = f["kind"] in FINDING_KINDS
    return d


def _family(kind: str) -> str:
    from oracles.outcome import FINDING_KINDS

    if kind == "ok":
        return "ok"
    return "finding" if kind in FINDING_KINDS else "other"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:18px 24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:15px;margin:0 0 6px}
.meta{color:#555;font-size:13px;margin-bottom:12px}
.grid{display:grid;grid-template-columns:680px 680px;gap:14px}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 10px 6px;background:#fff}
.cap{color:#666;font-size:12px;margin:2px 0 6px}
table{border-collapse:collapse;font-size:12px;margin-top:6px}
td,th{border-bottom:1px solid #e5e5e5;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6} td.num{text-align:right} code{font-size:11px}
a.missing{color:#999} .kind{font-weight:600}
.stats span{display:inline-block;margin-right:18px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:-1px}
"""


def render_html(d: CampaignData, report_dir: Path | None = None) -> str:
    """The page. Finding links are `reports/<short-id>/README.md` relative to the HTML file."""
    c = PLOT_COLORS
    names = ", ".join(f"#{x['id']} {x['name']}" for x in d.campaigns) or "(no campaigns)"
    backends = sorted({b for x in d.campaigns for b in x["config"].get("backends", [])})
    span = d.times[-1] if d.times else 0.0
    valid = f"{100 * d.n_valid / d.n_cases:.1f}%" if d.n_cases else "-"
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>tritondiff campaign report</title><style>{CSS}</style></head><body>",
             "<h1>tritondiff campaign report</h1>",
             f"<div class='meta'>store <code>{esc(d.db)}</code> · campaigns {esc(names)} · backends "
             f"{', '.join(f'<code>{esc(b)}</code>' for b in backends) or '-'} · generated "
             f"{esc(time.strftime('%Y-%m-%d %H:%M:%S'))}</div>",
             f"<div class='stats meta'><span><b>{d.n_cases}</b> cases</span><span>valid {valid}</span>"
             f"<span><b>{len(d.findings)}</b> findings</span><span>campaign time {svg_plots.fmt_duration(span)}"
             f"</span></div>", "<div class='grid'>"]
    # 1. over time
    parts.append("<div class='card' id='plot-time'><h2>Cases and findings over time</h2>"
                 f"<div class='cap legend'><span style='background:{c['cases']}'></span>cases (left axis)"
                 f"<span style='background:{c['findings']}'></span>distinct findings (right axis)</div>"
                 + svg_plots.timeline(d.times, list(range(1, len(d.times) + 1)), d.cum_findings, d.boundaries,
                                      c["cases"], c["findings"]) + "</div>")
    # 2. outcome matrix
    fam = {k: _family(k) for k in d.kinds}
    parts.append("<div class='card' id='plot-matrix'><h2>Outcomes: backend × kind</h2>"
                 "<div class='cap'>count per cell; shade = share of the backend's outcomes (green ok, red "
                 "findings, grey unsupported/invalid)</div>"
                 + (svg_plots.heatmap(d.backends, d.kinds, d.outcomes, c["heatmap"], fam) if d.backends
                    else "<p>(no outcomes)</p>") + "</div>")
    # 3. throughput
    tb = sorted(d.throughput)
    notes = [f"{d.throughput[b]['per_s']:.1f} cases/s" for b in tb]
    parts.append("<div class='card' id='plot-throughput'><h2>Throughput per backend</h2>"
                 "<div class='cap'>mean milliseconds per case (compile, run, wall time inside the backend "
                 "call); cases/s = cases / total wall time</div>"
                 + (svg_plots.hbars(tb, [("compile ms", c["compile"], [d.throughput[b]["compile_ms"] for b in tb]),
                                         ("run ms", c["run"], [d.throughput[b]["run_ms"] for b in tb]),
                                         ("wall ms", c["wall"], [d.throughput[b]["wall_ms"] for b in tb])],
                                    bar_h=13, value_fmt="{:.0f}", notes=notes) if tb else "<p>(no runs)</p>")
                 + "</div>")
    # 4. feature coverage
    feats = sorted(d.features.items(), key=lambda kv: (-kv[1], kv[0]))
    n = max(1, d.n_cases)
    parts.append("<div class='card' id='plot-coverage'><h2>Feature coverage</h2>"
                 f"<div class='cap'>share of the {d.n_cases} generated kernels that use each feature</div>"
                 + (svg_plots.hbars([f for f, _ in feats], [("kernels", c["coverage"], [v / n for _, v in feats])],
                                    bar_h=11, xmax=1.0) if feats else "<p>(no cases)</p>") + "</div>")
    # 5. the backends' own Python (triton's frontend) covered over time
    if d.frontend:
        pal = c["frontend"]
        many = len({x["campaign"] for x in d.frontend}) > 1
        series = [((f"#{x['campaign']} " if many else "") + x["backend"], pal[k % len(pal)],
                   [(t, n) for t, _i, n in x["series"]]) for k, x in enumerate(d.frontend)]
        rows = "".join(f"<tr><td>{'#' + str(x['campaign']) + ' ' if many else ''}{esc(x['backend'])}</td>"
                       f"<td class='num'>{x['lines']}</td><td class='num'>{x['files']}</td><td>"
                       + ", ".join(f"{esc(p)} {n}" for p, n in
                                   sorted(x["by_package"].items(), key=lambda kv: -kv[1])[:6])
                       + "</td></tr>" for x in d.frontend)
        parts.append("<div class='card' id='plot-frontend'><h2>Frontend lines covered over time</h2>"
                     "<div class='cap'>distinct lines of each backend's own Python package (triton: language, "
                     "compiler, runtime, backend drivers) run by the sampled cases (fuzz --coverage-every)</div>"
                     + svg_plots.step_lines(series, y_label="lines")
                     + "<table><tr><th>backend</th><th>lines</th><th>files</th><th>by subpackage</th></tr>"
                     + rows + "</table></div>")
    parts.append("</div>")
    parts.append(findings_table(d, report_dir))
    parts.append("</body></html>")
    return "\n".join(parts)


def findings_table(d: CampaignData, report_dir: Path | None) -> str:
    """The findings, each linking to its report directory (greyed out until it is written)."""
    rows = ["<h2 style='margin-top:16px'>Findings</h2>"]
    if not d.findings:
        return rows[0] + "<p>(no findings)</p>"
    rows.append("<table id='findings'><tr><th>#</th><th>report</th><th>kind</th><th>backend</th><th>stage</th>"
                "<th>count</th><th>status</th><th>first seen</th><th>releases</th><th>signature</th></tr>")
    for f in d.findings:
        sid = f["short_id"]
        href = f"reports/{sid}/README.md"
        exists = report_dir is not None and (report_dir / sid / "README.md").exists()
        cls = "" if exists else " class='missing'"
        tip = "" if exists else f" title='not written yet: tritondiff report {f['id']} --db {esc(d.db)}'"
        sig = f["signature"]
        rows.append(f"<tr><td class='num'>{f['id']}</td><td><a{cls}{tip} href='{esc(href)}'>{sid}</a></td>"
                    f"<td class='kind'>{esc(f['kind'])}</td><td><code>{esc(f['backend'])}</code></td>"
                    f"<td>{esc(f['stage'])}</td><td class='num'>{f['count']}</td><td>{esc(f['status'])}</td>"
                    f"<td>{esc(f['first_seen'])}</td><td>{_releases_cell(f)}</td>"
                    f"<td><code>{esc(sig[:140])}{'…' if len(sig) > 140 else ''}"
                    "</code></td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _releases_cell(f: dict[str, Any]) -> str:
    """`tritondiff bisect` results: the summary line, the release table in the tooltip."""
    from fuzz.bisect import summary_line

    if not f.get("bisections"):
        return "<span class='missing'>not bisected</span>"
    out = []
    for b in f["bisections"]:
        table = ", ".join(f"{r.get('release')}: {r.get('verdict')}" for r in b.get("releases", []))
        out.append(f"<span title='{esc(table)}'>{esc(summary_line(b))}</span>")
    return "<br>".join(out)


def campaign_report(db: Path, out: Path, campaign: int | None = None, with_reports: bool = False,
                    timeout: float | None = None, quiet: bool = False) -> tuple[Path, list[Path]]:
    """CLI entry: write the HTML page (and, with_reports, every finding's report directory)."""
    with Store(db, readonly=True) as store:
        data = collect(store, campaign)
    report_root = out.parent / "reports"
    written: list[Path] = []
    if with_reports:
        from fuzz.report import shared_backends

        with shared_backends():
            _write_reports(db, data, report_root, timeout, quiet, written)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(data, report_root))
    return out, written


def _write_reports(db: Path, data: CampaignData, report_root: Path, timeout: float | None, quiet: bool,
                   written: list[Path]) -> None:
    from fuzz.report import ReportError, report_finding

    for f in data.findings:
        target = report_root / f["short_id"]
        if not quiet:
            print(f"writing report for finding #{f['id']} -> {target}", file=sys.stderr, flush=True)
        try:
            d, _ = report_finding(db, str(f["id"]), target, timeout=timeout, quiet=True)
            written.append(d)
        except ReportError as e:
            print(f"finding #{f['id']}: no report: {e}", file=sys.stderr)

"""Tiny inline-SVG chart builders for the campaign HTML report.

Why hand-drawn SVG: the report must be one self-contained file with no external assets and
tritondiff must not depend on matplotlib. Each builder returns an `<svg>` string; fills are solid
colours (no opacity) so a screenshot test can find every chart by its colours.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

FONT = 'font-family="system-ui, sans-serif" font-size="11"'
AXIS = "#555555"
GRID = "#e3e3e3"


def esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}" {FONT}>'
            + "".join(body) + "</svg>")


def nice_max(v: float) -> float:
    """A round upper bound for an axis (1, 2, 2.5, 5 × 10^k)."""
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v / 1000:g}k"
    if abs(v) < 0.01:
        return f"{v:.1e}"
    return f"{v:.3g}"


def fmt_duration(s: float) -> str:
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.0f}m"
    return f"{s / 3600:.1f}h"


def timeline(xs: Sequence[float], cases: Sequence[int], findings: Sequence[int], boundaries: Sequence[float],
             case_color: str, finding_color: str, width: int = 660, height: int = 300) -> str:
    """Cumulative cases (filled area, left axis) and distinct findings (step line, right axis)."""
    ml, mr, mt, mb = 48, 48, 14, 36
    w, h = width - ml - mr, height - mt - mb
    body: list[str] = []
    xmax = max(xs[-1] if xs else 1.0, 1.0)
    cmax = nice_max(max(cases, default=0) or 1)
    fmax = nice_max(max(findings, default=0) or 1)

    def X(x: float) -> float:
        return ml + w * x / xmax

    def Yc(y: float) -> float:
        return mt + h - h * y / cmax

    def Yf(y: float) -> float:
        return mt + h - h * y / fmax

    for i in range(5):
        y = mt + h * i / 4
        body.append(f'<line x1="{ml}" y1="{y:.1f}" x2="{ml + w}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(f'<text x="{ml - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{case_color}">'
                    f'{_fmt(cmax * (4 - i) / 4)}</text>')
        body.append(f'<text x="{ml + w + 4}" y="{y + 4:.1f}" fill="{finding_color}">{_fmt(fmax * (4 - i) / 4)}</text>')
    for i in range(5):
        x = X(xmax * i / 4)
        body.append(f'<text x="{x:.1f}" y="{mt + h + 14}" text-anchor="middle" fill="{AXIS}">'
                    f'{fmt_duration(xmax * i / 4)}</text>')
    if xs:
        pts = [f"{X(0):.1f},{Yc(0):.1f}"] + [f"{X(x):.1f},{Yc(c):.1f}" for x, c in zip(xs, cases)]
        pts.append(f"{X(xs[-1]):.1f},{Yc(0):.1f}")
        body.append(f'<polygon points="{" ".join(pts)}" fill="{case_color}" stroke="none">'
                    f'<title>{cases[-1]} cases</title></polygon>')
        step = [f"{X(0):.1f},{Yf(0):.1f}"]
        prev = 0
        for x, f in zip(xs, findings):
            if f != prev:
                step.append(f"{X(x):.1f},{Yf(prev):.1f}")
                step.append(f"{X(x):.1f},{Yf(f):.1f}")
                prev = f
        step.append(f"{X(xs[-1]):.1f},{Yf(prev):.1f}")
        body.append(f'<polyline points="{" ".join(step)}" fill="none" stroke="{finding_color}" '
                    f'stroke-width="3"><title>{findings[-1]} findings</title></polyline>')
    for b in boundaries:
        body.append(f'<line x1="{X(b):.1f}" y1="{mt}" x2="{X(b):.1f}" y2="{mt + h}" stroke="{AXIS}" '
                    'stroke-dasharray="4 3"/>')
    body.append(f'<line x1="{ml}" y1="{mt + h}" x2="{ml + w}" y2="{mt + h}" stroke="{AXIS}"/>')
    body.append(f'<text x="{ml + w / 2:.0f}" y="{height - 4}" text-anchor="middle" fill="{AXIS}">'
                'campaign time (campaigns back to back)</text>')
    return _svg(width, height, body, "cases and findings over time")


def heatmap(rows: Sequence[str], cols: Sequence[str], counts: dict[tuple[str, str], int],
            palette: dict[str, Sequence[str]], col_family: dict[str, str], width: int = 660) -> str:
    """Backend × outcome-kind matrix; a cell's shade is its share of the row, its text the count."""
    label_w = min(260, 12 + 7 * max((len(r) for r in rows), default=8))
    cell_w = max(40, (width - label_w - 10) // max(1, len(cols)))
    cell_h = 30
    top = 92
    height = top + cell_h * len(rows) + 10
    body: list[str] = []
    for j, c in enumerate(cols):
        x = label_w + cell_w * j + cell_w / 2
        body.append(f'<text x="{x:.0f}" y="{top - 6}" transform="rotate(-35 {x:.0f} {top - 6})" '
                    f'fill="{AXIS}">{esc(c)}</text>')
    for i, r in enumerate(rows):
        y = top + cell_h * i
        total = sum(counts.get((r, c), 0) for c in cols) or 1
        body.append(f'<text x="{label_w - 6}" y="{y + cell_h / 2 + 4:.0f}" text-anchor="end">{esc(r)}</text>')
        for j, c in enumerate(cols):
            n = counts.get((r, c), 0)
            x = label_w + cell_w * j
            shades = palette[col_family.get(c, "other")]
            if n:
                share = n / total
                k = min(len(shades) - 1, int(share * len(shades)))
                fill = shades[k]
                ink = "#ffffff" if k >= len(shades) // 2 else "#111111"
            else:
                fill, ink = "#f7f7f7", "#bbbbbb"
            body.append(f'<rect x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}">'
                        f'<title>{esc(r)} · {esc(c)}: {n} of {total}</title></rect>')
            body.append(f'<text x="{x + cell_w / 2:.0f}" y="{y + cell_h / 2 + 4:.0f}" text-anchor="middle" '
                        f'fill="{ink}">{n}</text>')
    return _svg(width, height, body, "outcome matrix")


def hbars(labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[float]]], width: int = 660,
          bar_h: int = 11, value_fmt: str = "{:.0%}", xmax: float | None = None, notes: Sequence[str] = (),
          axis_label: str = "") -> str:
    """Horizontal bars, one group per label, one bar per series (name, colour, values)."""
    label_w = min(240, 12 + 7 * max((len(s) for s in labels), default=8))
    note_w = 110 if notes else 0
    plot_w = width - label_w - 56 - note_w
    group_h = bar_h * len(series) + 4
    top = 22 if len(series) > 1 else 6
    height = top + group_h * len(labels) + 22
    vmax = xmax if xmax is not None else nice_max(max((v for _, _, vs in series for v in vs), default=1.0))
    body: list[str] = []
    for k, (name, color, _) in enumerate(series if len(series) > 1 else []):
        x = label_w + 120 * k
        body.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{color}"/>'
                    f'<text x="{x + 14}" y="13">{esc(name)}</text>')
    for i in range(5):
        x = label_w + plot_w * i / 4
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + group_h * len(labels)}" stroke="{GRID}"/>')
        body.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" fill="{AXIS}">'
                    f'{esc(value_fmt.format(vmax * i / 4))}</text>')
    for g, lab in enumerate(labels):
        y0 = top + group_h * g
        body.append(f'<text x="{label_w - 6}" y="{y0 + group_h / 2 + 3:.0f}" text-anchor="end">{esc(lab)}</text>')
        for k, (name, color, vs) in enumerate(series):
            v = float(vs[g]) if g < len(vs) else 0.0
            bw = plot_w * min(v, vmax) / vmax if vmax > 0 else 0
            y = y0 + k * bar_h
            body.append(f'<rect x="{label_w}" y="{y}" width="{bw:.1f}" height="{bar_h - 2}" fill="{color}">'
                        f'<title>{esc(lab)} · {esc(name)}: {esc(value_fmt.format(v))}</title></rect>')
            body.append(f'<text x="{label_w + bw + 3:.1f}" y="{y + bar_h - 3}" font-size="9" fill="{AXIS}">'
                        f'{esc(value_fmt.format(v))}</text>')
        if notes:
            body.append(f'<text x="{width - note_w + 4}" y="{y0 + group_h / 2 + 3:.0f}" fill="{AXIS}">'
                        f'{esc(notes[g])}</text>')
    return _svg(width, height, body, axis_label or "bar chart")


def step_lines(series: Sequence[tuple[str, str, Sequence[tuple[float, float]]]], width: int = 660,
               height: int = 300, y_label: str = "lines", x_label: str = "campaign time") -> str:
    """One rising step line per series (name, colour, [(x, y), ...]): e.g. lines covered over time."""
    ml, mr, mt, mb = 54, 14, 24, 36
    w, h = width - ml - mr, height - mt - mb
    xmax = max([1.0] + [x for _, _, pts in series for x, _ in pts])
    ymax = nice_max(max([0.0] + [y for _, _, pts in series for _, y in pts]) or 1)
    body: list[str] = []

    def X(x: float) -> float:
        return ml + w * x / xmax

    def Y(y: float) -> float:
        return mt + h - h * y / ymax

    for i in range(5):
        y = mt + h * i / 4
        body.append(f'<line x1="{ml}" y1="{y:.1f}" x2="{ml + w}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(f'<text x="{ml - 4}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}">'
                    f'{_fmt(ymax * (4 - i) / 4)}</text>')
        x = X(xmax * i / 4)
        body.append(f'<text x="{x:.1f}" y="{mt + h + 14}" text-anchor="middle" fill="{AXIS}">'
                    f'{fmt_duration(xmax * i / 4)}</text>')
    for k, (name, color, pts) in enumerate(series):
        body.append(f'<rect x="{ml + 8 + 200 * k}" y="6" width="10" height="10" fill="{color}"/>'
                    f'<text x="{ml + 22 + 200 * k}" y="15">{esc(name)}</text>')
        if not pts:
            continue
        step = [f"{X(0):.1f},{Y(0):.1f}"]
        prev = 0.0
        for x, y in pts:
            step.append(f"{X(x):.1f},{Y(prev):.1f}")
            step.append(f"{X(x):.1f},{Y(y):.1f}")
            prev = y
        step.append(f"{X(xmax):.1f},{Y(prev):.1f}")
        body.append(f'<polyline points="{" ".join(step)}" fill="none" stroke="{color}" stroke-width="3">'
                    f'<title>{esc(name)}: {pts[-1][1]:.0f} {esc(y_label)}</title></polyline>')
    body.append(f'<line x1="{ml}" y1="{mt + h}" x2="{ml + w}" y2="{mt + h}" stroke="{AXIS}"/>')
    body.append(f'<text x="{ml + w / 2:.0f}" y="{height - 4}" text-anchor="middle" fill="{AXIS}">'
                f'{esc(x_label)}</text>')
    return _svg(width, height, body, f"{y_label} over time")

"""`tritondiff matrix DIR --backends ... --out FILE.md|.html`: kernel x backend@release table.

Every corpus case (captured kernels above all: a kernel author's own) runs once on every backend
through the one pipeline (fuzz.pipeline) and each cell says what that backend made of it: ok,
crash (stage), internal-error (stage), rejects (stage), wrong (max error), oob, timeout, or
unsupported (outside the backend's or tritondiff's reach: never a finding). Every cell that is a
finding links to a report directory (README.md, kernel.py, ir/ and a standalone repro.py, the
same files `tritondiff report` writes) beside FILE, and FILE.json keeps the table as data.
"""

from __future__ import annotations

import html
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz.corpus import CorpusEntry, load_corpus


@dataclass
class Cell:
    backend: str
    kind: str  # an oracles.outcome kind, or "missing"
    stage: str = ""
    text: str = ""  # what the table shows
    message: str = ""
    signature: str = ""
    executed: bool = False
    report: str = ""  # report directory, relative to the matrix file

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Row:
    file: str
    case_id: str
    kernel: str
    origin: str
    cells: dict[str, Cell] = field(default_factory=dict)
    note: str = ""


def cell_text(kind: str, stage: str, executed: bool, details: dict[str, Any]) -> str:
    if kind == "ok":
        return "ok" if executed else "ok (compiled)"
    if kind == "miscompile":
        errs = [d.get("max_err") for d in details.get("divergences", []) if d.get("max_err") is not None]
        pats = sorted({d.get("pattern", "") for d in details.get("divergences", [])} - {"wrong-values", ""})
        return "wrong" + (f" (max err {max(errs):.3g})" if errs else "") + (f" [{', '.join(pats)}]" if pats else "")
    if kind in ("oob-write", "oob-read"):
        return "oob"
    if kind == "rejects-valid":
        return f"rejects ({stage})" if stage else "rejects"
    if kind in ("crash", "internal-error"):
        return f"{kind} ({stage})" if stage else kind
    return kind


def _open_all(names: list[str], backend_opts: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    from fuzz.replay import _open

    opened: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for n in names:
        try:
            b = _open(n, backend_opts)
            b.warm()
            opened[n] = b
        except (ValueError, RuntimeError) as e:
            failed[n] = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    return opened, failed


def run_row(entry: CorpusEntry, names: list[str], opened: dict[str, Any], timeout: float) -> tuple[Row, Any]:
    """Run one case on every opened backend; its row and the pipeline's CaseRun."""
    from fuzz.pipeline import Pipeline

    case = entry.case
    row = Row(str(entry.path), case.case_id, case.kernel_name, str(case.capture.get("origin", "")))
    pipe = Pipeline([n for n in names if n in opened], timeout, opened=opened)
    run = pipe.run(case)
    by_name = {opened[n].name: n for n in names if n in opened}
    details = {o.backend: (o.details or {}) for o in run.outcomes}
    for r in run.records:
        if r.origin not in ("judge", "harness") or r.backend not in by_name:
            continue
        res = run.results.get(r.backend)
        executed = bool(res is not None and res.executed)
        kind = r.kind if r.origin == "judge" else "unsupported"
        c = Cell(r.backend, kind, r.stage, cell_text(kind, r.stage, executed, details.get(r.backend, {})),
                 (r.message or "").strip()[:2000], r.signature, executed)
        if kind == "unsupported":
            c.text = "unsupported"
        row.cells[r.backend] = c
    if not run.valid:
        row.note = run.reason
    return row, run


def write_cell_report(entry: CorpusEntry, run: Any, cell: Cell, opened: dict[str, Any], base: Path,
                      names: list[str]) -> Path:
    """README.md, kernel.py, ir/ and repro.py for one non-ok cell (fuzz.report's writer)."""
    from fuzz.report import FindingReport, Verdict, write_report
    from fuzz.report_forms import pseudo_reference
    from fuzz.store import Finding

    case = entry.case
    backend = next(b for b in opened.values() if b.name == cell.backend)
    res = run.results.get(cell.backend)
    outcome = next((o for o in run.outcomes if o.backend == cell.backend), None)
    ref = run.ref
    if ref is None and case.captured:  # the capture's outputs are what the cell was judged against
        import numpy as np

        from generators.case import GUARD_ELEMS

        padded = {}
        for n, data in case.captured_outputs().items():
            p = np.zeros(data.size + 2 * GUARD_ELEMS, dtype=data.dtype)
            p[GUARD_ELEMS:GUARD_ELEMS + data.size] = data
            padded[n] = p
        if set(case.outputs()) <= set(padded):  # else (the capture has no outputs) none to compare
            ref = pseudo_reference(case, padded)
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    f = Finding(0, cell.signature or f"{cell.backend}|{cell.kind}|{cell.stage}", cell.backend, cell.kind,
                cell.stage, 0, 0, case.case_id, 1, now, now, "new", cell.message, case.to_json(), None)
    divs = []
    if outcome is not None:
        from oracles.compare import Divergence

        for d in outcome.details.get("divergences", []) if outcome.details else []:
            divs.append(Divergence(d["buffer"], d["kind"], d["pattern"], d["count"], d["total"],
                                   [tuple(r) for r in d.get("rows", [])], d.get("max_err")))
    others = [Verdict(c, run_cell.kind, run_cell.stage) for c, run_cell in
              ((n, c2) for n, c2 in ((b.name, _record(run, b.name)) for b in opened.values()) if c2 is not None)
              if c != cell.backend]
    rep = FindingReport(f, case, False, "", backend.config, [opened[n].name for n in names if n in opened], ref,
                        result=res, outcome=outcome, divergences=divs, others=others, seen_on=[cell.backend],
                        notes=[f"matrix cell of captured kernel {case.kernel_name} from "
                               f"{case.capture.get('origin', '?')}" if case.captured else "matrix cell"])
    short = cell.backend.replace("@", "-").replace(":", "-")
    out = base / f"{case.kernel_name}-{case.case_id[:8]}" / short
    write_report(rep, out)
    return out


def _record(run: Any, backend: str) -> Any:
    for r in run.records:
        if r.backend == backend and r.origin == "judge":
            return r
    return None


def matrix(paths: list[str], backends: list[str], out: Path, timeout: float = 60.0,
           trust_captured: bool = False, backend_opts: dict[str, dict[str, Any]] | None = None,
           reports: bool = True, command: str = "", progress: bool = False) -> dict[str, Any]:
    """Build the table, write FILE (.md or .html), FILE.json and one report per finding cell."""
    from oracles.outcome import FINDING_KINDS

    t0 = time.monotonic()
    out = Path(out)
    if out.suffix not in (".md", ".html"):
        from fuzz.options import UsageError

        raise UsageError(f"--out must end in .md or .html, not {out.name!r}")
    entries, errors = load_corpus(paths, trust_captured)
    opened, failed = _open_all(backends, backend_opts or {})
    rows: list[Row] = []
    canon = {n: opened[n].name for n in opened}
    columns = [canon.get(n, n) for n in backends]
    base = out.parent / f"{out.stem}-reports"
    try:
        ordered = sorted(entries, key=lambda e: (e.case.kernel_name, e.case.case_id))
        for i, entry in enumerate(ordered):
            if progress:
                print(f"matrix: {i + 1}/{len(ordered)} {entry.case.kernel_name}", file=sys.stderr, flush=True)
            try:
                row, run = run_row(entry, backends, opened, timeout)
            except Exception as e:  # tritondiff's own failure on this case: say so, go on
                errors.append(f"{entry.path}: tritondiff failed running it: {type(e).__name__}: {e}")
                continue
            for n, why in failed.items():
                row.cells[n] = Cell(n, "missing", text="not installed", message=why)
            if reports:
                for c in row.cells.values():
                    if c.kind in FINDING_KINDS:
                        try:
                            c.report = str(write_cell_report(entry, run, c, opened, base, backends)
                                           .relative_to(out.parent))
                        except Exception as e:
                            errors.append(f"{entry.path}: report for {c.backend} failed: {type(e).__name__}: {e}")
            rows.append(row)
    finally:
        from backends.backend import close_quietly

        close_quietly(opened.values())
    doc = {"command": "matrix", "columns": columns, "rows": [
        {"file": r.file, "case_id": r.case_id, "kernel": r.kernel, "origin": r.origin, "note": r.note,
         "cells": {k: c.to_json() for k, c in r.cells.items()}} for r in rows],
        "malformed": errors, "generated_by": command, "wall_s": time.monotonic() - t0}
    doc["counts"] = counts(doc)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(doc) if out.suffix == ".html" else render_md(doc))
    out.with_suffix(out.suffix + ".json").write_text(json.dumps(doc, indent=1) + "\n")
    doc["out"] = str(out)
    return doc


def counts(doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    """{column: {cell text class: n}}: how many kernels each backend got ok, crashed on, ..."""
    out: dict[str, dict[str, int]] = {}
    for col in doc["columns"]:
        c: dict[str, int] = {}
        for r in doc["rows"]:
            cell = r["cells"].get(col)
            k = cell["kind"] if cell else "missing"
            c[k] = c.get(k, 0) + 1
        out[col] = c
    return out


def _cell_md(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "-"
    text = cell["text"].replace("|", "\\|")
    return f"[{text}]({cell['report']}/README.md)" if cell.get("report") else text


def render_md(doc: dict[str, Any]) -> str:
    cols = doc["columns"]
    lines = ["| kernel | case | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for r in doc["rows"]:
        lines.append(f"| `{r['kernel']}` | `{r['case_id']}` | "
                     + " | ".join(_cell_md(r["cells"].get(c)) for c in cols) + " |")
    lines.append("")
    lines.append("| backend | " + " | ".join(sorted({k for c in doc["counts"].values() for k in c})) + " |")
    kinds = sorted({k for c in doc["counts"].values() for k in c})
    lines.append("|---|" + "---|" * len(kinds))
    for col in cols:
        lines.append(f"| {col} | " + " | ".join(str(doc["counts"][col].get(k, 0)) for k in kinds) + " |")
    for m in doc["malformed"]:
        lines.append(f"\n- not run: {m}")
    return "\n".join(lines) + "\n"


COLOURS = {"ok": "#d9f2d9", "unsupported": "#eeeeee", "missing": "#eeeeee", "miscompile": "#f8c8c8",
           "crash": "#f4a6a6", "internal-error": "#f9d5a7", "rejects-valid": "#fbe6a2", "timeout": "#d5d5f5",
           "oob-write": "#f4a6a6", "oob-read": "#f4a6a6"}


def render_html(doc: dict[str, Any]) -> str:
    cols = doc["columns"]
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in cols)
    body = []
    for r in doc["rows"]:
        tds = []
        for c in cols:
            cell = r["cells"].get(c)
            if cell is None:
                tds.append("<td>-</td>")
                continue
            text = e(cell["text"])
            if cell.get("report"):
                text = f'<a href="{e(cell["report"])}/README.md">{text}</a>'
            tds.append(f'<td style="background:{COLOURS.get(cell["kind"], "#fff")}" '
                       f'title="{e(cell["message"][:300])}">{text}</td>')
        body.append(f"<tr><td><code>{e(r['kernel'])}</code><br><small>{e(r['case_id'])}</small></td>"
                    + "".join(tds) + "</tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>tritondiff matrix</title><style>"
            "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;"
            "padding:3px 6px;font-size:13px}</style></head><body><h1>Kernel x backend</h1>"
            f"<p>{e(doc.get('generated_by', ''))}</p><table><tr><th>kernel</th>{head}</tr>"
            + "".join(body) + "</table></body></html>\n")


def render(doc: dict[str, Any]) -> str:
    lines = [f"MALFORMED  {m}" for m in doc["malformed"]]
    for col, c in doc["counts"].items():
        lines.append(f"{col:28s} " + ", ".join(f"{n} {k}" for k, n in sorted(c.items())))
    lines.append(f"matrix of {len(doc['rows'])} kernel(s) x {len(doc['columns'])} backend(s) written to "
                 f"{doc.get('out', '?')}")
    return "\n".join(lines)

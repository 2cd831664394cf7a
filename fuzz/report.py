"""`tritondiff report FINDING`: a directory ready to attach to a GitHub/GitCode issue.

Why it re-runs instead of quoting the store: stored summaries are heads and first indices taken
during a campaign; a report must show what the (minimal) kernel does *now* on the backend and on
every other backend of the campaign, with divergences recomputed by the same comparator the
oracle uses. The directory holds README.md (the issue text), repro.py (standalone: needs only the
backend's own packages), kernel.py, and ir/<stage>.<ext> for every IR stage the backend exposes.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backends.registry import BackendConfig, resolve
from backends.result import RunResult
from fuzz.store import Finding, Store, StoreError
from generators.case import KernelCase
from oracles.compare import Divergence, compare_buffers
from oracles.judge import family_of, judge
from oracles.outcome import Outcome
from oracles.reference import Reference, UndefinedBehaviour, evaluate
from oracles.signature import frames, head_line, short_id

IR_EXT = {"ttir": "mlir", "ttgir": "mlir", "llir": "ll", "ptx": "ptx", "amdgcn": "s", "linalg": "mlir",
          "legalized": "mlir", "lowered": "mlir"}
DIVERGENCE_KINDS = ("miscompile", "oob-write", "oob-read")
KIND_PHRASE = {"crash": "crash", "internal-error": "internal compiler error", "rejects-valid":
               "rejects a valid kernel", "miscompile": "wrong output", "oob-write": "out-of-bounds write",
               "oob-read": "out-of-bounds read", "timeout": "hang",
               "metamorphic": "two equivalent forms of a kernel disagree"}
ASCEND_SCOPE = ("Execution here is triton-ascend's own frontend and `triton-adapter-opt` (TTIR → linalg), "
                "followed by tritondiff's own MLIR 19 CPU lowering of that linalg (`mlir-opt`, "
                "`mlir-translate`, `llc`). Huawei's NPU compiler (bishengir, CANN) is not exercised, so "
                "its bugs are out of scope of this report; a wrong output is attributed to the adapter "
                "only when the interpreter agrees with the reference and the fault is visible in the linalg.")
RAW_LINES = 120


class ReportError(StoreError):
    """A report that cannot be written as asked (no stored case, no such finding)."""


@dataclass
class Verdict:
    """What one backend made of the report's kernel."""

    backend: str
    kind: str
    stage: str
    note: str = ""
    same_signature: bool = False


@dataclass
class FindingReport:
    """Everything README.md, repro.py and ir/ are written from."""

    finding: Finding
    case: KernelCase
    reduced: bool
    reduce_summary: str
    config: BackendConfig
    campaign_backends: list[str]
    reference: Reference | None
    reference_error: str = ""
    result: RunResult | None = None
    outcome: Outcome | None = None
    divergences: list[Divergence] = field(default_factory=list)
    others: list[Verdict] = field(default_factory=list)
    seen_on: list[str] = field(default_factory=list)
    fault_source: str | None = None
    notes: list[str] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)  # stored bisections
    # metamorphic findings: the other form; both: the runs shown side by side (fuzz.report_forms)
    variant: Any = None
    variant_case: KernelCase | None = None
    variant_result: RunResult | None = None
    side: dict[str, Any] = field(default_factory=dict)
    agreement: dict[str, Any] = field(default_factory=dict)
    reference_on: bool = True  # the campaign judged by the reference (False: --no-reference)

    @property
    def short_id(self) -> str:
        return short_id(self.finding.signature)

    @property
    def same_signature(self) -> bool:
        return self.outcome is not None and self.outcome.signature == self.finding.signature

    @property
    def reproduced(self) -> bool:
        """Same kind at the same stage; the signature text may differ (e.g. a newer oracle version)."""
        o, f = self.outcome, self.finding
        return o is not None and (o.signature == f.signature or (o.kind == f.kind and o.stage == f.stage))


# ------------------------------------------------------------------------------------------
# loading


_VERSION_PROBE = """
import json, platform
from importlib import metadata
out = {"python": platform.python_version()}
for d in ("triton", "triton-ascend", "torch", "numpy", "torch_npu"):
    try:
        out[d] = metadata.version(d)
    except metadata.PackageNotFoundError:
        pass
print(json.dumps(out))
"""


def env_versions(config: BackendConfig) -> dict[str, str]:
    """Package versions of the backend's env, read with its own Python (never importing triton)."""
    import os
    import subprocess

    py = Path(config.python)
    if not py.exists():
        return {}
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    try:
        out = subprocess.run([str(py), "-c", _VERSION_PROBE], capture_output=True, text=True, timeout=60,
                             env=env, check=True).stdout
        return {str(k): str(v) for k, v in json.loads(out.strip().splitlines()[-1]).items()}
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return {}


def fault_source(kind: str, case: KernelCase) -> str | None:
    """The kernel as a source-rewriting fault double runs it (for ir/ and repro.py)."""
    import ast

    from backends.faults import drop_scalar_mul, fault_scalars

    try:
        return drop_scalar_mul(ast.parse(case.source), case.kernel_name,
                               fault_scalars(kind, [a.to_json() for a in case.args]))
    except SyntaxError:
        return None


def _reference(case: KernelCase) -> tuple[Reference | None, str]:
    try:
        return evaluate(case), ""
    except UndefinedBehaviour as e:
        return None, f"the reference refused the case: {e}"
    except Exception as e:  # noqa: BLE001 - a reference gap: report without expected values
        return None, f"no reference: {type(e).__name__}: {e}"


_pool: dict[str, Any] | None = None


@contextlib.contextmanager
def shared_backends() -> Iterator[None]:
    """Within the block, reports reuse one worker per backend (a campaign page writes many)."""
    global _pool
    outer, _pool = _pool, ({} if _pool is None else _pool)
    try:
        yield
    finally:
        if outer is None:
            for b in (_pool or {}).values():
                b.close()
        _pool = outer


def _run(name: str, case: KernelCase, timeout: float) -> RunResult:
    from backends.backend import open_backend

    if _pool is None:
        with open_backend(name) as b:
            return b.run(case, timeout)
    if name not in _pool:
        _pool[name] = open_backend(name)
    return _pool[name].run(case, timeout)


def _verdict(name: str, case: KernelCase, ref: Reference | None, timeout: float, signature: str) -> Verdict:
    from backends.profiles import unsupported_reason

    why = unsupported_reason(name, list(case.features))
    if why is not None:
        return Verdict(name, "unsupported", "profile", why)
    try:
        res = _run(name, case, timeout)
    except Exception as e:  # noqa: BLE001 - a backend we cannot start is a note, not a failure
        return Verdict(name, "not run", "", f"{type(e).__name__}: {e}")
    o = judge(case, ref, res)
    if o.kind == "ok":
        note = "agrees with the reference" if res.executed else "compiles (not executed on this machine)"
    elif o.kind == "unsupported":
        note = o.message.splitlines()[0][:160] if o.message else ""
    else:
        note = (o.message.strip().splitlines() or [""])[0][:160]
    return Verdict(res.backend, o.kind, o.stage, note, o.signature == signature)


def _pooled(name: str) -> Any:
    """The pool's open backend for `name` (inside `shared_backends()`)."""
    from backends.backend import open_backend

    assert _pool is not None
    canon = resolve(name).name
    if canon not in _pool:
        _pool[canon] = open_backend(canon)
    return _pool[canon]


def _attempt(f: Finding, case_json: dict[str, Any], is_reduced: bool, summary: str, config: BackendConfig,
             campaign_backends: list[str], timeout: float, say: Callable[[str], None],
             reference: bool = True) -> FindingReport:
    """Re-run one candidate case (reduced or original) on the finding's backend and judge it."""
    case = KernelCase.from_json(case_json)
    ref, ref_err = _reference(case)
    say(f"running {'reduced' if is_reduced else 'original'} case {case.case_id} on {config.name}")
    rep = FindingReport(f, case, is_reduced, summary, config, campaign_backends, ref, ref_err)
    rep.reference_on = reference
    try:
        if f.kind == "metamorphic":
            from fuzz.report_forms import rerun_metamorphic
            from oracles.metamorphic import stored_variants

            rerun_metamorphic(rep, stored_variants(case_json), _pooled(config.name), reference, timeout)
            return rep
        if f.stage == "cross-backend":
            from fuzz.report_forms import rerun_cross

            names = list(dict.fromkeys([config.name, *[resolve(b).name for b in campaign_backends]]))
            rerun_cross(rep, names, {n: _pooled(n) for n in names}, reference, timeout)
            return rep
        rep.result = _run(config.name, case, timeout)
    except Exception as e:  # noqa: BLE001 - e.g. an env that cannot be built here
        rep.notes.append(f"could not re-run on {config.name}: {type(e).__name__}: {e}")
        return rep
    rep.outcome = judge(case, ref, rep.result)
    if rep.result.executed and ref is not None and rep.result.status == "ok":
        rep.divergences = compare_buffers(case, ref, rep.result.outputs)
    return rep


def build_report(store: Store, key: str, timeout: float | None = None, also: list[str] | None = None,
                 progress: Callable[[str], None] | None = None) -> FindingReport:
    """Load the finding, re-run its (reduced) case on its backend and on the campaign's others."""
    say = progress or (lambda msg: None)
    f = store.finding(key)
    try:
        cfg_json = store.campaign_config(f.first_campaign)
    except StoreError:
        cfg_json = {}
    campaign_backends = list(cfg_json.get("backends", []))
    timeout = timeout or float(cfg_json.get("timeout", 60.0))
    if f.kind == "timeout":
        timeout = min(timeout, 10.0)
    reduced_json, summary = store.reduced(f.signature)
    original_json = f.case_json or (store.case_row(f.first_campaign, f.first_case) or {}).get("case")
    if reduced_json is None and original_json is None:
        raise ReportError(f"finding #{f.id} has no stored case (neither reduced nor original)")
    config = resolve(f.backend)
    reference = cfg_json.get("reference", True) is not False
    attempts: list[FindingReport] = []
    with shared_backends():
        for cj, is_reduced in ((reduced_json, True), (original_json, False)):
            if cj is None:
                continue
            cand = _attempt(f, cj, is_reduced, summary if is_reduced else "", config,
                            campaign_backends, timeout, say, reference)
            attempts.append(cand)
            if cand.reproduced or cand.result is None:
                break
        rep = _finish_report(store, f, attempts, config, campaign_backends, also, timeout, say)
    return rep


def _finish_report(store: Store, f: Finding, attempts: list[FindingReport], config: BackendConfig,
                   campaign_backends: list[str], also: list[str] | None, timeout: float,
                   say: Callable[[str], None]) -> FindingReport:
    rep = next((a for a in attempts if a.reproduced), attempts[0])
    if rep is not attempts[0]:
        rep.notes.append("the reduced case no longer shows the finding's signature here; "
                         "this report uses the original case")
    if rep.result is not None and rep.outcome is not None and not rep.same_signature:
        if rep.reproduced:
            rep.notes.append(f"same kind and stage on re-run, but the signature now reads "
                             f"`{rep.outcome.signature}` (oracles changed since the campaign?)")
        else:
            rep.notes.append(f"on re-run the backend gave `{rep.outcome.kind}` at `{rep.outcome.stage}` "
                             "instead of the finding's verdict (flaky, or fixed in this environment)")
    if config.family == "fault" and config.options.get("fault") in ("drop-scalar-mul", "runtime-scale"):
        rep.fault_source = fault_source(config.options["fault"], rep.case)
    others = [b for b in campaign_backends + list(also or []) if b]
    seen: set[str] = {config.name, *(o.backend for o in rep.others)}
    for name in others:
        try:
            canon = resolve(name).name
        except ValueError as e:
            rep.others.append(Verdict(name, "not run", "", str(e)))
            continue
        if canon in seen:
            continue
        seen.add(canon)
        say(f"running the case on {canon}")
        rep.others.append(_verdict(canon, rep.case, rep.reference, timeout, f.signature))
    if rep.result is not None:
        rep.result.versions = {**env_versions(config), **rep.result.versions}
    rep.releases = store.bisections(f.id).get(f.id, [])
    rep.seen_on = store.affected_backends(f.signature)
    return rep


# ------------------------------------------------------------------------------------------
# text


def shorten_paths(text: str) -> str:
    """Machine-specific prefixes out of error text: site-packages, temp dirs, home."""
    text = re.sub(r"/\S*?/site-packages/", "site-packages/", text)
    text = re.sub(r"/tmp/[\w.\-]+/", "<tmp>/", text)
    return re.sub(r"/(root|home/\w+)/", "~/", text)


def error_text(rep: FindingReport) -> str:
    r = rep.result
    if rep.variant_result is not None and rep.variant_result.status != "ok":
        r = rep.variant_result  # a metamorphic finding where the other form fails
    if r is None:
        return rep.finding.message
    parts = [r.message, r.stderr_tail if r.stderr_tail not in r.message else "", r.traceback]
    return "\n".join(p for p in parts if p) or rep.finding.message


def error_line(text: str) -> str:
    """The line that states the error itself: an MLIR/LLVM `error:` line first, else the head."""
    for ln in text.splitlines():
        m = re.search(r"\berror:\s*(.+)", ln)
        if m and "PLEASE" not in ln:
            # `file:line:col: error: msg` (MLIR/LLVM) -> `error: msg`; other lines stay whole.
            return re.sub(r"^\S*:\d+:\d+:\s*", "", ln.strip())
    for ln in text.splitlines():
        m = re.match(r"\s*(\w+(Error|Exception)|AssertionError|LLVM ERROR)\b:?(.*)", ln)
        if m:
            return ln.strip()
    return head_line(text)


def source_excerpt(text: str) -> list[str]:
    """The kernel line and caret an MLIR diagnostic points at, when it quotes one."""
    lines = text.splitlines()
    for i, ln in enumerate(lines[:-2]):
        if re.search(r"\.py:\d+:\d+: error:", ln) and set(lines[i + 2].strip()) <= {"^", "~"} \
                and lines[i + 2].strip():
            return [shorten_paths(ln.strip()), lines[i + 1], lines[i + 2]]
    return []


def key_frame(fr: list[str]) -> str:
    """The most telling native frame: the first in backend code (triton/adapter), else the first."""
    for f in fr:
        if "triton" in f.lower() or "adapter" in f.lower():
            return re.sub(r"^(mlir::)?triton::", "", f)
    return fr[0] if fr else ""


def backend_label(rep: FindingReport) -> str:
    c, v = rep.config, (rep.result.versions if rep.result else {})
    if c.family == "ascend":
        return f"ascend {v.get('triton-ascend', c.version)}"
    if c.family == "cpufork":
        fork = c.options.get("flavor", c.name)
        rel = next((v[k] for k in (fork, "spine-triton", "spine_triton", "triton-shared", "triton-cpu") if k in v),
                   v.get("triton", c.version))
        return f"{fork} {rel} ({v.get('mode', 'cpu')})".replace("  ", " ")
    if c.family == "fault":
        return f"{family_of(c.name)} double, triton {c.version} interpreter"
    if c.family == "interpreter":
        return f"triton {c.version} interpreter"
    if c.family == "xpu":
        return f"triton-xpu {c.version} {c.options.get('arch', '')}".rstrip()
    return f"triton {c.version} {c.family} {c.options.get('arch', '')}".rstrip()


def title(rep: FindingReport) -> str:
    """One line: [backend release] what, where, on which normalised head."""
    f = rep.finding
    kind = f.kind
    phrase = KIND_PHRASE.get(kind, kind)
    stage = f.stage or "?"
    text = error_text(rep)
    if kind == "crash":
        sig = (rep.result.exc_type if rep.result and rep.result.exc_type.startswith("SIG") else "") or \
            next(iter(re.findall(r"\bSIG[A-Z]+\b", text)), "signal")
        who = "adapter " if "adapter" in stage else \
            "compiler " if stage in ("compile", "frontend", "ttir", "ttgir", "llir", "spv") else ""
        phrase = f"{who}crash ({sig})"
    elif kind in ("internal-error", "rejects-valid") and "adapter" in stage:
        phrase = f"adapter {phrase}"
    lead = f"[{backend_label(rep)}] {phrase}"
    if kind == "metamorphic":
        from oracles.metamorphic import relation_of

        rel = rep.variant.relation if rep.variant is not None else relation_of(f.signature)
        lead = f"[{backend_label(rep)}] result depends on an equivalent rewrite (`{rel}`)"
        if rep.divergences:
            d = rep.divergences[0]
            dtype = rep.case.buffers[d.buffer].dtype if d.buffer in rep.case.buffers else ""
            return (f"{lead}: {d.count}/{d.total} elements of {dtype} buffer `{d.buffer}` differ between "
                    "the two forms")
        vr = rep.variant_result
        if vr is not None and vr.status != "ok":
            head = shorten_paths(error_line(error_text(rep)))[:100]
            return f"{lead}: the variant form fails at {vr.stage or stage}" + (f": {head}" if head else "")
        return lead
    if stage == "cross-backend" and rep.outcome is not None and rep.outcome.details.get("disagrees_with"):
        lead += " (outvoted by " + ", ".join(family_of(n) for n in rep.outcome.details["disagrees_with"]) + ")"
    cpu = rep.config.family == "ascend" and (stage.startswith("runtime") or stage in ("run", "execute"))
    if cpu:
        lead += " running the adapter's linalg (CPU lowering)"
    elif not (kind == "crash" and "adapter" in stage):
        lead += f" at {stage}"
    if kind in DIVERGENCE_KINDS and rep.divergences:
        d = rep.divergences[0]
        dtype = rep.case.buffers[d.buffer].dtype if d.buffer in rep.case.buffers else ""
        what = {"wrong-values": "wrong values", "masked-lanes-written": "masked-off lanes written",
                "guard-after": "write past the end", "guard-before": "write before the start",
                "input-modified": "input buffer modified"}.get(d.pattern, d.pattern)
        return f"{lead}: {what} in {dtype} buffer `{d.buffer}` ({d.count}/{d.total} elements)"
    fr = frames(text)
    if fr:
        lead += f" in {key_frame(fr)}"
    head = shorten_paths(error_line(text))
    head = re.sub(r"^(SIG[A-Z]+|error):\s*", "", head).split(";")[0].strip() if kind != "crash" else head
    return f"{lead}: {head[:110]}" if head else lead


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return repr(x) if abs(x) < 1e6 else f"{x:.6g}"
    return str(x)


def divergence_tables(rep: FindingReport) -> list[str]:
    """Markdown: one table per divergent buffer (index, expected, got, tolerance) plus counts."""
    out: list[str] = []
    ref = rep.reference
    for d in rep.divergences:
        dtype = rep.case.buffers[d.buffer].dtype if d.buffer in rep.case.buffers else "?"
        out.append(f"**`{d.buffer}`** ({dtype}, {d.kind}, {d.pattern}): **{d.count}** of {d.total} "
                   "elements differ" if d.kind != "oob-write" else
                   f"**`{d.buffer}`** ({dtype}): {d.count} guard element(s) overwritten {d.pattern}")
        out.append("")
        tol_col = ref is not None and dtype in ("fp32", "fp16", "bf16", "fp64") and d.pattern in (
            "wrong-values", "masked-lanes-written")
        out.append("| index | expected | got |" + (" tolerance |" if tol_col else ""))
        out.append("|---:|---:|---:|" + ("---:|" if tol_col else ""))
        for i, e, g in d.rows:
            row = f"| {i} | {_fmt(e)} | {_fmt(g)} |"
            if tol_col and ref is not None:
                row += f" {float(ref.errs[d.buffer][i]):.3g} |"
            out.append(row)
        if d.count > len(d.rows):
            out.append(f"\n… and {d.count - len(d.rows)} more differing element(s).")
        out.append("")
    return out


def versions_rows(rep: FindingReport) -> list[tuple[str, str]]:
    c = rep.config
    v = dict(rep.result.versions) if rep.result else {}
    rows = [("backend", f"`{c.name}`")]
    pk = [f"{k} {v[k]}" for k in ("triton-ascend", "triton", "torch", "numpy", "python", "mlir") if k in v]
    if pk:
        rows.append(("versions", ", ".join(pk)))
    target = v.get("target") or c.options.get("arch") or ""
    if c.family == "cuda":
        target = f"CUDA sm_{c.options.get('capability')} (`GPUTarget(\"cuda\", {c.options.get('capability')}, 32)`)"
    elif c.family == "hip":
        target = f"AMD {c.options.get('arch')} (`GPUTarget(\"hip\", \"{c.options.get('arch')}\", 64)`)"
    elif c.family == "ascend":
        target = f"{c.options.get('arch')} (`GPUTarget(\"npu\", \"{c.options.get('arch')}\", 0)`)"
    elif c.family == "xpu":
        dev = c.options.get("device") or {}
        target = (f"Intel {dev.get('name', c.options.get('arch'))} (`GPUTarget(\"xpu\", <device properties of "
                  f"{c.options.get('arch')}>, 32)`, see repro.py)")
    if target:
        rows.append(("target", target))
    if v.get("mode"):
        rows.append(("mode", v["mode"] + (f" on {v['gpu']}" if v.get("gpu") else "")))
    opts = {k: val for k, val in c.options.items()
            if k not in ("family", "arch", "capability", "version", "device")}
    opts["num_warps"] = rep.case.num_warps
    rows.append(("options", ", ".join(f"{k}={val}" for k, val in opts.items())))
    if c.env.requirements:
        rows.append(("environment", "`pip install " + " ".join(c.env.requirements) + "`"))
    if v.get("adapter"):
        rows.append(("adapter binary", f"`{shorten_paths(v['adapter'])}`"))
    return rows


def render_readme(rep: FindingReport, ir_files: list[str]) -> str:
    f, case = rep.finding, rep.case
    lines = [f"# {title(rep)}", ""]
    if getattr(case, "captured", False):
        lines.append(f"Found by tritondiff (differential testing of Triton backends) on a captured kernel, "
                     f"`{case.kernel_name}` launched from `{case.capture.get('origin', '?')}`: kind "
                     f"**{f.kind}**, stage `{f.stage or '?'}` (signature id `{rep.short_id}`).")
    else:
        lines.append(f"Found by tritondiff (differential testing of Triton backends): finding `{rep.short_id}` "
                     f"(#{f.id}), kind **{f.kind}**, stage `{f.stage or '?'}`, seen in {f.count} generated "
                     f"kernel(s) between {f.first_seen} and {f.last_seen}.")
    lines.append("")
    if rep.config.family == "fault":
        lines += [f"> **Note:** `{family_of(rep.config.name)}` is tritondiff's fault-injection double: the "
                  "stock Triton interpreter with one deliberately injected defect. This report exercises "
                  "tritondiff itself; it is not a Triton bug.", ""]
    if rep.config.family == "ascend":
        lines += [f"> **Scope:** {ASCEND_SCOPE}", ""]
    lines += ["## Environment", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in versions_rows(rep)]
    lines.append("")
    if rep.releases:
        from fuzz.bisect import release_table, summary_line

        lines += ["## Releases", ""]
        for b in rep.releases:
            lines += [f"Bisected with `tritondiff bisect`: {summary_line(b)}.", "", *release_table(b), ""]
    lines += ["## Minimal kernel", ""]
    if rep.reduced:
        lines.append(f"Reduced by tritondiff's spec reducer ({rep.reduce_summary or 'same signature kept'}).")
    else:
        lines.append("As generated (not reduced).")
    lines += ["", "```python", case.source.rstrip(), "```", ""]
    lines.append(f"Launch: `{case.kernel_name}[{tuple(case.grid)}](..., num_warps={case.num_warps})` with")
    lines += ["", "| argument | kind | dtype | value |", "|---|---|---|---|"]
    for a in case.args:
        if a.kind == "ptr" and a.buffer in case.buffers:
            b = case.buffers[a.buffer]
            val = f"{b.role} buffer `{b.name}`, {b.size} elements"
        else:
            val = _fmt(a.value)
        lines.append(f"| `{a.name}` | {a.kind} | {a.dtype or '-'} | {val} |")
    lines += ["", "Inputs and expected outputs are embedded in `repro.py`.", ""]
    if rep.variant is not None:
        from fuzz.report_forms import forms_section

        lines += forms_section(rep)
    lines += ["## What happened", ""]
    r = rep.result
    if r is None:
        lines += [f"Not re-run here ({'; '.join(rep.notes) or 'no result'}); stored message:", "",
                  "```", shorten_paths(f.message.strip())[:4000], "```", ""]
    else:
        status = (f"`{rep.outcome.kind}` at stage `{rep.outcome.stage}`" if rep.outcome else r.status)
        repro = "reproduced on re-run" if rep.reproduced else "**did not reproduce on re-run**"
        lines.append(f"- verdict: {status} ({repro}); wall time {r.wall_s:.2f} s")
        if r.signal is not None or r.exc_type:
            lines.append(f"- error: {r.exc_type or ''}{' signal ' + str(r.signal) if r.signal is not None else ''}")
        text = error_text(rep)
        if (f.kind not in DIVERGENCE_KINDS and not (f.kind == "metamorphic" and rep.side)) or not rep.divergences:
            head = shorten_paths(error_line(text))
            if head:
                lines.append(f"- first error line: `{head}`")
            fr = frames(text, top=6)
            if fr:
                lines.append("- top native frames: " + " → ".join(f"`{x}`" for x in fr))
            exc = source_excerpt(text)
            if exc:
                lines += ["", "The diagnostic points at:", "", "```", *exc, "```"]
            raw = shorten_paths(text).strip().splitlines()
            if raw:
                more = f" (last {RAW_LINES} of {len(raw)} lines)" if len(raw) > RAW_LINES else ""
                lines += ["", f"<details><summary>Full error output{more}</summary>", "", "```",
                          *raw[-RAW_LINES:], "```", "", "</details>"]
    for n in rep.notes:
        lines.append(f"- note: {n}")
    lines.append("")
    if rep.side and rep.divergences:
        from fuzz.report_forms import side_by_side

        lines += side_by_side(rep)
    elif rep.divergences:
        lines += ["## Divergent outputs", "",
                  "Recomputed now: the backend's buffers compared with tritondiff's numpy reference "
                  "(exact for integers and exactly representable floats, otherwise within the "
                  "per-element error bound shown as tolerance).", ""]
        lines += divergence_tables(rep)
    elif rep.reference_error:
        lines += [f"_No expected values: {rep.reference_error}_", ""]
    lines += ["## Other backends on the same kernel", ""]
    if rep.others:
        lines += ["| backend | verdict | stage | same bug? | note |", "|---|---|---|---|---|"]
        for o in rep.others:
            same = "yes" if o.same_signature else "no"
            lines.append(f"| `{o.backend}` | {o.kind} | {o.stage or '-'} | {same} | {o.note.replace('|', '/')} |")
    else:
        lines.append("(the campaign used no other backend)")
    if rep.seen_on:
        lines += ["", "During fuzzing this signature was seen on: " + ", ".join(f"`{b}`" for b in rep.seen_on)]
    lines += ["", "## Reproduce", ""]
    lines.append(repro_instructions(rep))
    lines += ["", "## IR", ""]
    if ir_files:
        lines.append("IR of the kernel above, per stage the backend exposes: "
                     + ", ".join(f"[`{p}`]({p})" for p in ir_files) + ".")
    else:
        lines.append("No IR could be captured (the backend failed before producing any).")
    if rep.config.family in ("interpreter", "fault"):
        lines += ["", "The interpreter has no compiler stages: `ir/interpreted.py` is the Python it executes"
                  + (" — the kernel as the fault double rewrote it." if rep.fault_source else ".")]
    lines += ["", f"<sub>signature: `{f.signature}`</sub>", ""]
    return "\n".join(lines)


def repro_instructions(rep: FindingReport) -> str:
    """How to run repro.py, and what it does for this backend and kind of finding."""
    c, kind = rep.config, rep.finding.kind
    if c.env.requirements:
        pre = f"In an environment with `{' '.join(c.env.requirements)}` (tritondiff itself is not needed):"
    else:
        pre = "In the backend's environment (tritondiff itself is not needed):"
    if rep.variant is not None:
        return (f"{pre if c.env.requirements else 'In the backend environment:'}\n\n```sh\npython repro.py\n```\n\n"
                f"`repro.py` runs both forms of the kernel on `{c.name}` "
                + ("(re-creating the fault double's injected defect) " if c.family == "fault" else "")
                + "and compares their outputs with each other (integers exactly, floats "
                + ("within twice the reference's per-element bound" if rep.reference_on else "within dtype tolerances")
                + "); it exits 1 when they differ or only one form fails (0: not reproduced; 3: this machine "
                "cannot run the forms, e.g. no GPU).")
    divergent = kind in DIVERGENCE_KINDS
    check = ("compares every buffer with the embedded reference outputs (per-element tolerances) and the "
             "guard canaries around them, prints the first differing elements" if divergent else
             "prints the error output")
    how = {
        "interpreter": "runs the kernel with `TRITON_INTERPRET=1` on torch CPU tensors",
        "fault": "re-creates the fault double's injected defect (and prints what it changes), then runs the "
                 "kernel with `TRITON_INTERPRET=1` on torch CPU tensors",
        "cuda": "runs on a CUDA GPU when torch sees one, else compiles with `triton.compile(ASTSource(...), "
                f"target=GPUTarget(\"cuda\", {c.options.get('capability')}, 32))`",
        "hip": f"runs on an AMD GPU when torch sees one, else compiles for `{c.options.get('arch')}`",
        "xpu": "compiles with `triton.compile(ASTSource(...), target=GPUTarget(\"xpu\", <the device "
               f"properties of {c.options.get('arch')}>, 32))` in a triton-xpu env (no Intel GPU needed)",
        "ascend": "compiles through triton-ascend's frontend and `triton-adapter-opt` exactly as a launch does"
                  + ("; then, when `torch_npu` is present, it launches on the NPU" if divergent else ""),
        "cpufork": f"launches the kernel on CPU torch tensors through {c.options.get('flavor', 'the fork')}'s "
                   "own compiler and launcher (run it with the fork's Python, the one given to --env-python)",
    }.get(c.family, "")
    tail = ""
    if divergent and c.family == "ascend":
        tail = ("\n\nWithout `torch_npu` it prints the adapter's linalg and exits 3: the CPU execution that "
                "found this runs that linalg through tritondiff's own MLIR 19 lowering, which repro.py does "
                "not ship (see `ir/linalg.mlir` and `ir/lowered.mlir`).")
    return (f"{pre}\n\n```sh\npython repro.py          # --print-ir: also print the compiler's IR\n```\n\n"
            f"`repro.py` {how}; it {check}, and exits 1 when the bug reproduces (0: not reproduced; 3: this "
            "machine cannot check it). A compiler that crashes in-process kills it with the signal instead."
            + tail)


# ------------------------------------------------------------------------------------------
# writing


def backend_block(rep: FindingReport) -> dict[str, Any]:
    c = rep.config
    opts = {k: v for k, v in c.options.items()}
    return {"name": c.name, "family": c.family, "version": c.version, "arch": opts.get("arch", ""),
            "flavor": opts.get("flavor", ""),
            "capability": opts.get("capability"), "warp_size": opts.get("warp_size"),
            "device": dict(opts.get("device") or {}),
            "fault": opts.get("fault", ""), "compile_options": dict(opts.get("compile_options") or {}),
            "adapter_options": dict(opts.get("adapter_options") or {}),
            "versions": dict(rep.result.versions) if rep.result else {}}


def write_report(rep: FindingReport, out_dir: Path) -> Path:
    """Write README.md, repro.py, kernel.py and ir/ into out_dir; returns out_dir."""
    from fuzz.repro_template import render_repro

    out_dir.mkdir(parents=True, exist_ok=True)
    ir_files: list[str] = []
    arts = rep.result.artifacts if rep.result else {}
    if arts:
        (out_dir / "ir").mkdir(exist_ok=True)
    order = list(IR_EXT)
    for stage, text in sorted(arts.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99, kv[0])):
        if not isinstance(text, str) or not text.strip():
            continue
        name = f"ir/{stage}.{IR_EXT.get(stage, 'txt')}"
        (out_dir / name).write_text(text if text.endswith("\n") else text + "\n")
        ir_files.append(name)
    if rep.config.family in ("interpreter", "fault") and rep.result is not None:
        # The interpreter's only "IR" is the Python it runs: the kernel, or the double's rewrite of it.
        (out_dir / "ir").mkdir(exist_ok=True)
        (out_dir / "ir/interpreted.py").write_text(rep.fault_source or rep.case.source)
        ir_files.append("ir/interpreted.py")
    (out_dir / "kernel.py").write_text(rep.case.source)
    finding = {"short_id": rep.short_id, "title": title(rep), "kind": rep.finding.kind,
               "stage": rep.finding.stage, "signature": rep.finding.signature}
    meta = None
    ref = rep.reference
    if rep.variant is not None and rep.variant_case is not None:
        from fuzz.repro_template import metamorphic_block

        fault = rep.config.options.get("fault")
        vsrc = fault_source(fault, rep.variant_case) if fault in ("drop-scalar-mul", "runtime-scale") else None
        kind = (rep.outcome.details.get("variant_kind") if rep.outcome is not None else "") or "miscompile"
        meta = metamorphic_block(rep.variant, rep.variant_case, rep.reference if rep.reference_on else None,
                                 vsrc, kind)
    elif rep.finding.stage == "cross-backend":
        from fuzz.report_forms import pseudo_reference

        majority = [n for n in rep.side if n != rep.config.name]
        ref = pseudo_reference(rep.case, rep.side[majority[0]]) if majority else None
    if ref is None and meta is None and rep.finding.kind in DIVERGENCE_KINDS:
        rep.notes.append("no repro.py: no expected values to compare with (the finding did not reproduce)")
    else:
        repro = render_repro(rep.case, ref, finding, backend_block(rep), rep.fault_source, meta)
        path = out_dir / "repro.py"
        path.write_text(repro)
        path.chmod(0o755)
    (out_dir / "README.md").write_text(render_readme(rep, ir_files))
    (out_dir / "finding.json").write_text(json.dumps({
        **rep.finding.to_json(), "short_id": rep.short_id, "reduced": rep.reduced,
        "reproduced": rep.reproduced, "case": rep.case.to_json(),
        "divergences": [d.to_json() for d in rep.divergences],
        "others": [o.__dict__ for o in rep.others]}, indent=1, default=_json_default))
    return out_dir


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def default_out(signature: str, base: Path = Path("reports")) -> Path:
    return base / short_id(signature)


def report_finding(db: Path, key: str, out: Path | None = None, timeout: float | None = None,
                   also: list[str] | None = None, quiet: bool = False) -> tuple[Path, FindingReport]:
    """CLI entry: build and write one finding's report directory."""
    def say(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    try:
        with Store(db, readonly=True) as store:
            rep = build_report(store, key, timeout, also, say)
    except sqlite3.DatabaseError as e:
        raise ReportError(f"{db}: {e}") from e
    out_dir = out or default_out(rep.finding.signature)
    write_report(rep, out_dir)
    return out_dir, rep

"""`tritondiff capture --out DIR -- CMD ...`: record a user's own Triton launches as corpus cases.

CMD (a script, `python -m pytest tests/`, anything that starts Python) runs in a triton env
(default the interpreter@3.9.0 backend's) with TRITON_INTERPRET=1 and a sitecustomize that loads
`fuzz/capture_hook.py`, so every launch of the program, in every Python process it starts, is
recorded on CPU tensors. Afterwards each distinct launch (kernel source + argument kinds, dtypes,
shapes, strides, constexprs, grid, num_warps) becomes one corpus case of kind `captured`: the
user's source, the inputs as they were before the launch, and what the interpreter left in every
buffer it wrote, which replay and matrix judge the other backends against. Each file written is
signed for this user (fuzz.capture_trust), so replaying it needs no --trust-captured here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fuzz.options import UsageError

HOOK = Path(__file__).with_name("capture_hook.py")
SITECUSTOMIZE = '''"""tritondiff capture: load the launch recorder, then any sitecustomize this one hides."""
import importlib.util as _u
import os as _os
import sys as _sys

_p = _os.environ.get("TRITONDIFF_CAPTURE_HOOK")
if _p:
    _s = _u.spec_from_file_location("_tritondiff_capture_hook", _p)
    _m = _u.module_from_spec(_s)
    _sys.modules["_tritondiff_capture_hook"] = _m
    _s.loader.exec_module(_m)
    _m.install()
_here = _os.path.dirname(_os.path.abspath(__file__))
for _d in _sys.path:
    _f = _os.path.join(_d or ".", "sitecustomize.py")
    if _os.path.abspath(_d or ".") != _here and _os.path.isfile(_f):
        exec(compile(open(_f).read(), _f, "exec"), {"__name__": "sitecustomize", "__file__": _f})
        break
'''


def env_python(backend: str, python: str | None) -> tuple[str, str]:
    """(python, canonical backend name) of the interpreter env the command runs in."""
    from backends.envs import is_installed, python_path
    from backends.registry import resolve

    cfg = resolve(backend, python)
    if cfg.family != "interpreter":
        raise UsageError(f"capture runs under the Triton interpreter: --backend must be interpreter[@VERSION], "
                         f"not {backend!r}")
    if not is_installed(cfg.env):
        raise UsageError(f"{cfg.name} is not installed: run `tritondiff setup --backends {cfg.name}` "
                         "or pass --env-python PYTHON")
    return str(python_path(cfg.env)), cfg.name


def run_command(command: list[str], python: str, spool: Path, max_bytes: int, cwd: str | None = None,
                fp32_scalars: bool = True, quiet_stdout: bool = False) -> int:
    """Run the user's command with the recorder installed; its exit status."""
    hookdir = spool.parent / "site"
    hookdir.mkdir(parents=True, exist_ok=True)
    (hookdir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PATH"] = str(Path(python).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(hookdir), env.get("PYTHONPATH", "")) if x)
    env.update(TRITON_INTERPRET="1", TRITONDIFF_CAPTURE_HOOK=str(HOOK), TRITONDIFF_CAPTURE_SPOOL=str(spool),
               TRITONDIFF_CAPTURE_MAX_BYTES=str(max_bytes),
               TRITONDIFF_CAPTURE_FP32_SCALARS="1" if fp32_scalars else "0")
    env.pop("PYTHONNOUSERSITE", None)
    argv = list(command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = python  # the env's own, whatever PATH the program would otherwise find
    try:
        # With --json our stdout carries one object: the program's own output goes to stderr.
        return subprocess.call(argv, env=env, cwd=cwd, stdout=sys.stderr.fileno() if quiet_stdout else None)
    except OSError as e:
        raise UsageError(f"cannot run {argv[0]!r}: {e.strerror or e}") from None


def case_of(rec: dict[str, Any], command: str) -> Any:
    """The KernelCase of one spool record (validated as any captured corpus case is)."""
    from generators.case import KernelCase
    from generators.validate import validate_case

    buffers = {}
    outputs = {}
    failed = bool(rec.get("error"))
    for name, b in rec["buffers"].items():
        # Without outputs (the interpreter raised) no buffer is known to be read-only.
        buffers[name] = {"name": name, "dtype": b["dtype"], "role": "out" if b["after"] or failed else "in",
                         "data": b["before"]}
        if b["after"]:
            outputs[name] = b["after"]
    d: dict[str, Any] = {
        "schema": 1, "kind": "captured", "spec": {}, "source": rec["source"], "kernel_name": rec["kernel_name"],
        "args": rec["args"], "buffers": buffers, "grid": rec["grid"], "num_warps": rec["num_warps"],
        "features": [], "seed": None, "generator_version": "capture",
        "capture": {"outputs": outputs, "origin": rec["origin"], "shapes": rec.get("shapes", {}),
                    "command": command, **({"error": rec["error"]} if failed else {})},
    }
    if rec.get("num_stages") is not None:
        d["launch"] = {"num_stages": int(rec["num_stages"])}
    validate_case(d, trust_captured=True)
    return KernelCase.from_json(d)


def _size(rec: dict[str, Any]) -> int:
    return sum(len(b["before"]) for b in rec["buffers"].values())


def capture(out: Path, command: list[str], backend: str = "interpreter@3.9.0", python: str | None = None,
            max_mb: float = 16.0, cwd: str | None = None, per_kernel: int = 0,
            fp32_scalars: bool = True, quiet_stdout: bool = False) -> dict[str, Any]:
    """Run `command`, write one signed corpus case per distinct launch into `out`; a JSON report.

    `per_kernel` > 0 keeps only that many launches of each kernel (the smallest by buffer bytes),
    e.g. 1 for a compatibility matrix with one row per kernel.
    """
    from fuzz.capture_trust import sign
    from fuzz.corpus import save_case
    from generators.validate import CaseInvalid

    if not command:
        raise UsageError("capture needs a command after --, e.g. -- python my_test.py")
    py, name = env_python(backend, python)
    t0 = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    notes: list[str] = []
    seen: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="tritondiff-capture-") as tmp:
        spool = Path(tmp) / "spool"
        spool.mkdir()
        rc = run_command(command, py, spool, int(max_mb * (1 << 20)), cwd, fp32_scalars, quiet_stdout)
        notes_file = spool / "notes.txt"
        if notes_file.exists():
            notes.extend(dict.fromkeys(notes_file.read_text().splitlines()))
        shown = " ".join(command)
        recs = []
        for f in sorted(spool.glob("*.json"), key=lambda p: p.stat().st_mtime_ns):
            try:
                recs.append(json.loads(f.read_text()))
            except (OSError, ValueError) as e:
                notes.append(f"{f.name}: unreadable record: {e}")
        if per_kernel > 0:
            groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for rec in recs:
                groups.setdefault((rec["kernel_name"], rec["source"]), []).append(rec)
            recs = [r for g in groups.values() for r in sorted(g, key=_size)[:per_kernel]]
        for rec in recs:
            if rec["key"] in seen:
                continue
            seen.add(rec["key"])
            try:
                case = case_of(rec, shown)
            except CaseInvalid as e:
                notes.append(f"{rec['kernel_name']}: launch from {rec['origin']} not kept: {e}")
                continue
            err = case.capture.get("error")
            # A launch the interpreter itself refused has no outputs, and one with float scalars ran
            # with them as fp32 (not as the stock interpreter passes them): replay gives those verdicts.
            floats = fp32_scalars and any(a.kind == "scalar" and a.dtype == "fp32" for a in case.args)
            path = save_case(out, case, {} if err or floats else {name: {"kind": "ok", "signature": ""}},
                             note=f"captured from {rec['origin']}"
                                  + (f"; the interpreter raised {err.splitlines()[0][:200]}" if err else ""))
            sign(path)
            written.append(str(path))
    return {"command": "capture", "program": command, "exit_code": rc, "backend": name, "out": str(out),
            "launches": len(seen), "cases": len(written), "files": written, "notes": notes,
            "wall_s": time.monotonic() - t0}


def render(report: dict[str, Any]) -> str:
    lines = [f"note: {n}" for n in report["notes"]]
    lines.append(f"captured {report['cases']} case(s) from {report['launches']} distinct launch(es) into "
                 f"{report['out']} (program exited {report['exit_code']})")
    return "\n".join(lines)


def main_args(args: Any) -> int:
    """CLI entry (fuzz.cli): exit 0 when the program succeeded and at least one case was written."""
    rep = capture(args.out, list(args.cmd), args.backend, args.env_python, args.max_mb,
                  per_kernel=args.per_kernel, fp32_scalars=not args.python_float_scalars, quiet_stdout=args.json)
    if args.json:
        json.dump(rep, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(render(rep), file=sys.stderr)
    return 0 if rep["exit_code"] == 0 and rep["cases"] else 1

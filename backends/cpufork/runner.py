"""Runner for Triton forks whose device is the CPU (spine-triton's SMT, triton-shared, triton-cpu).

Runs inside the fork's own environment (always external: `--env-python smt=/path/to/python`).
Two ways to run a case, chosen by `options["mode"]` (default `auto`: native when the fork's
driver is there, else linalg when a TTIR -> linalg step is):

  native  `kernel[grid](...)` through the fork's own JIT, compiler and launcher, with CPU torch
          tensors that are views into canary-padded buffers (judged as for the interpreter).
  linalg  the fork's own frontend and TTIR stage (`triton.compile(...)` for its target), then
          its TTIR -> linalg step: the fork's own pipeline stage (`linalg_stage`, e.g. triton-
          shared's `ttsharedir`) or a tool (`linalg_tool`: argv, called `<tool> <in.ttir>
          <args...> -o <out.mlir>`, default the flavor's, e.g. `spine-triton-opt
          --triton-to-linalg-experimental`); the linalg is executed by the shared executor
          (backends/linalg_exec) with guard pages, exactly as the Ascend backend does.

Stages are the fork's own: every stage function its backend registers (`add_stages`) is wrapped
so that the runner knows which one was running when something failed (the StageError's stage is
the stage's name: `ttir`, `ttsharedir`, `llir`, ...; `<stage>-crash` when a tool it ran died of a
signal), and keeps each stage's text as an IR dump. The wrapping observes only: inputs, outputs
and exceptions pass through unchanged. Versions of the fork, triton, torch and the tool go into
every result.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from backends.cpufork.flavors import FLAVORS, Flavor
from backends.runner_api import (
    GUARD_ELEMS,
    StageError,
    Unsupported,
    ok_result,
    padded_host_buffer,
    report_stage,
)
from backends.triton_common import scalar_value, stage_error

_state: dict[str, Any] = {}
MAX_IR_CHARS = 2_000_000


class _StopAfter(Exception):
    """Raised by the wrapper after the stage the linalg path needs: the rest is not this run's.

    Some forks re-raise a stage's exception as their own after reading `e.stderr`; the record's
    `stopped` flag, not the exception's type, says that the stop was ours.
    """

    stderr = b""
    output = b""


# --------------------------------------------------------------------------------------------
# stage recording


class _NoSuchStage(Exception):
    """The fork's pipeline has none of the stages the linalg path was told to stop after."""


def _text(obj: Any) -> str | None:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, bytes):
        return None
    if type(obj).__name__ in ("module", "ModuleOp") or hasattr(obj, "operation"):
        try:
            return str(obj)
        except Exception:  # noqa: BLE001 - a dump that fails is only a missing artifact
            return None
    return None


def _wrap_stage(name: str, fn: Any) -> Any:
    rec = _state["rec"]

    def stage(src: Any, metadata: Any) -> Any:
        rec["current"] = name
        report_stage(name)
        out = fn(src, metadata)
        text = _text(out)
        if text is not None:
            rec["texts"][name] = text[:MAX_IR_CHARS]
        rec["done"].append(name)
        rec["current"] = None
        if rec.get("stop_after") == name:
            rec["stopped"] = True
            raise _StopAfter(name)
        return out

    stage.__wrapped__ = fn  # type: ignore[attr-defined]
    return stage


def _instrument(cls: Any) -> None:
    orig = cls.add_stages
    if getattr(orig, "_tritondiff", False):
        return

    def add_stages(self: Any, stages: dict, *args: Any, **kwargs: Any) -> Any:
        res = orig(self, stages, *args, **kwargs)
        rec = _state["rec"]
        rec["order"] = list(stages)
        wanted = rec.get("stop_candidates") or []
        if wanted:  # the linalg path: stop after the first of these that this pipeline has
            have = [w for w in wanted if w in stages]
            if not have:
                rec["stopped"] = True
                raise _NoSuchStage(list(stages))
            rec["stop_after"] = have[0]
        for k in list(stages):
            stages[k] = _wrap_stage(k, stages[k])
        return res

    add_stages._tritondiff = True  # type: ignore[attr-defined]
    cls.add_stages = add_stages


def _instrument_all(triton: Any) -> list[str]:
    """Wrap the stages of every compiler backend this triton knows; their names, for the record."""
    names = []
    try:
        from triton.backends import backends as registered
    except ImportError:
        registered = {}
    for name, b in dict(registered).items():
        cls = getattr(b, "compiler", None)
        if cls is not None and hasattr(cls, "add_stages"):
            _instrument(cls)
            names.append(name)
    return names


def _reset_record(stop_candidates: list[str] | None = None) -> dict:
    rec = {"current": None, "texts": {}, "done": [], "order": [], "stop_after": None,
           "stop_candidates": stop_candidates or [], "stopped": False}
    _state["rec"] = rec
    return rec


def _failure(e: BaseException, rec: dict, default: str) -> StageError:
    """The StageError for an exception raised while compiling or launching."""
    stage = rec["current"] or default
    if type(e).__name__ == "CompilationError":
        stage = "frontend"
    if isinstance(e, subprocess.CalledProcessError) and e.returncode < 0:
        stage = f"{stage}-crash"
    err = stage_error(stage, e, dict(rec["texts"]))
    if isinstance(e, subprocess.CalledProcessError):
        detail = e.stderr or e.output or b""
        detail = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        err.message = f"{e}\n{detail[-4000:]}".strip()
    return err


# --------------------------------------------------------------------------------------------
# worker hooks


def _flavor(options: dict) -> Flavor:
    name = options.get("flavor", "smt")
    if name not in FLAVORS:
        raise Unsupported(f"unknown CPU fork flavor {name!r} (known: {', '.join(FLAVORS)})")
    return FLAVORS[name]


def _fork_version(fl: Flavor) -> tuple[str, str]:
    for dist in fl.dists:
        try:
            return dist, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "", ""


def _find_tool(fl: Flavor, triton: Any, options: dict) -> list[str] | None:
    """argv of the TTIR -> linalg tool: the option, the flavor's env var, or the fork's own binary."""
    if options.get("linalg_tool"):
        return [str(x) for x in options["linalg_tool"]]
    if fl.tool_env and os.environ.get(fl.tool_env):
        return [os.environ[fl.tool_env], *fl.tool_args]
    base = os.path.join(os.path.dirname(triton.__file__), "backends")
    for d in fl.backend_dirs:
        for sub in ("bin", ""):
            for t in fl.tool_names:
                p = os.path.join(base, d, sub, t)
                if os.access(p, os.X_OK):
                    return [p, *fl.tool_args]
    for t in fl.tool_names:
        p = shutil.which(t)
        if p:
            return [p, *fl.tool_args]
    return None


def _activate_driver(fl: Flavor) -> str:
    """Make the fork's CPU driver active where it must be done by hand; '' or why not."""
    import triton

    if fl.driver_module:
        try:
            mod = importlib.import_module(fl.driver_module)
            triton.runtime.driver.set_active(mod.CPUDriver())
        except Exception as e:  # noqa: BLE001 - reported: native runs are then unavailable
            return f"{fl.driver_module}.CPUDriver could not be activated: {type(e).__name__}: {e}"
    try:
        target = triton.runtime.driver.active.get_current_target()
    except Exception as e:  # noqa: BLE001
        return f"no active triton driver in this env ({type(e).__name__}: {e})"
    if getattr(target, "backend", "") in ("cuda", "hip", "npu", "xpu"):
        return f"the active triton driver targets {target.backend}, not the CPU"
    _state["native_target"] = target
    return ""


def prepare(options: dict) -> dict:
    """Import the fork once per worker, wrap its stages, find its driver and its linalg step."""
    fl = _flavor(options)
    for k, v in fl.pre_import_env:
        os.environ.setdefault(k, v)
    os.environ.setdefault("TRITON_ALWAYS_COMPILE", "1")  # every case runs (and records) every stage
    import triton

    _reset_record()
    backends = _instrument_all(triton)
    no_native = _activate_driver(fl)
    tool = _find_tool(fl, triton, options)
    try:
        import torch
    except ImportError:
        torch = None
    dist, fork_version = _fork_version(fl)
    want = str(options.get("version") or "")
    if want and fork_version and want != fork_version:
        raise RuntimeError(f"backend {fl.name}@{want} was asked for, but this env has {dist} {fork_version}")
    versions = {"triton": str(getattr(triton, "__version__", "?")), "python": sys.version.split()[0],
                "flavor": fl.name, "backends": ",".join(backends)}
    if dist and dist != "triton":
        versions[dist] = fork_version
    if torch is not None:
        versions["torch"] = str(torch.__version__)
    if tool:
        versions["linalg_tool"] = " ".join(tool)
    _state.update(flavor=fl, triton=triton, torch=torch, tool=tool, no_native=no_native,
                  tmp=tempfile.mkdtemp(prefix="tritondiff-cpufork-"), versions=versions)
    return {"versions": versions}


def shutdown() -> None:
    from backends.linalg_exec import client

    client.shutdown()
    if _state.get("tmp"):
        shutil.rmtree(_state["tmp"], ignore_errors=True)


def _mode(options: dict) -> str:
    mode = options.get("mode", "auto")
    if mode not in ("auto", "native", "linalg"):
        raise Unsupported(f"cpufork mode must be auto, native or linalg, not {mode!r}")
    if mode == "auto":
        if not _state["no_native"]:
            return "native"
        if _state["tool"] or options.get("linalg_stage") or _state["flavor"].linalg_stages:
            return "linalg"
        raise Unsupported(f"this env can run {_state['flavor'].name} kernels neither natively "
                          f"({_state['no_native']}) nor through a TTIR -> linalg tool (none found; "
                          "set options linalg_tool or the flavor's tool variable)")
    if mode == "native" and _state["no_native"]:
        raise Unsupported(f"native runs need the fork's CPU driver: {_state['no_native']}")
    return mode


def run_case(case: dict, options: dict) -> dict:
    if not _state:
        prepare(options)
    mode = _mode(options)
    report_stage("frontend")
    fn = _load_kernel(case)
    res = _run_native(fn, case) if mode == "native" else _run_linalg(fn, case, options)
    res["versions"] = {**_state["versions"], "mode": mode, **res.get("versions", {})}
    res["artifacts"]["mode"] = mode
    return res


# --------------------------------------------------------------------------------------------
# native


def _load_kernel(case: dict) -> Any:
    path = os.path.join(_state["tmp"], f"tdk_{abs(hash(case['source'])):x}.py")
    with open(path, "w") as fh:
        fh.write(case["source"])
    name = f"tritondiff_kernel_{os.path.basename(path)[4:-3]}"
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    except Exception as e:
        raise stage_error("frontend", e) from e
    fn = getattr(mod, case["kernel_name"], None)
    if fn is None:
        raise StageError("frontend", "AttributeError", f"kernel {case['kernel_name']!r} not found in source")
    return fn


def _cpu_args(case: dict) -> tuple[list[Any], dict[str, Any]]:
    torch = _state["torch"]
    if torch is None:
        raise Unsupported("native runs launch with CPU torch tensors: this env has no torch")
    padded = {n: torch.from_numpy(padded_host_buffer(b)) for n, b in case["buffers"].items()}
    args: list[Any] = []
    for a in case["args"]:
        if a["kind"] == "ptr":
            buf = case["buffers"][a["buffer"]]
            t = padded[a["buffer"]]
            if buf["dtype"] == "bf16":
                t = t.view(torch.bfloat16)
            args.append(t[GUARD_ELEMS:GUARD_ELEMS + buf["size"]])
        elif a["kind"] == "scalar":
            args.append(scalar_value(a))
        else:
            args.append(a["value"])
    return args, padded


def _run_native(fn: Any, case: dict) -> dict:
    args, padded = _cpu_args(case)
    rec = _reset_record()
    t0 = time.perf_counter()
    try:
        kernel = fn[tuple(case["grid"])](*args, num_warps=case.get("num_warps", 4))
    except Exception as e:
        stage = "launch" if rec["order"] and len(rec["done"]) == len(rec["order"]) else "compile"
        raise _failure(e, rec, stage) from e
    wall = time.perf_counter() - t0
    arts = dict(rec["texts"])
    asm = getattr(kernel, "asm", None) or {}
    arts.update({k: v[:MAX_IR_CHARS] for k, v in asm.items() if isinstance(v, str)})
    arts["stages"] = " -> ".join(rec["order"])
    outs = {n: t.numpy().tobytes() for n, t in padded.items()}
    return ok_result(outs, executed=True, compile_s=0.0, run_s=wall, artifacts=arts)


# --------------------------------------------------------------------------------------------
# linalg


def _target(options: dict) -> Any:
    from triton.backends.compiler import GPUTarget

    if options.get("target"):
        b, arch, warp = options["target"]
        return GPUTarget(str(b), arch, int(warp))
    if "native_target" in _state:
        return _state["native_target"]
    try:
        return _state["triton"].runtime.driver.active.get_current_target()
    except Exception as e:  # noqa: BLE001
        raise Unsupported(f"no compile target: pass options target=[backend, arch, warp_size] "
                          f"({type(e).__name__}: {e})") from None


def _passed_params(case: dict, specialize: bool) -> list[Any]:
    """Pointers and the scalars a JIT launch keeps (ints equal to 1 become constants)."""
    from backends.linalg_exec.convention import Param

    out = []
    for a in case["args"]:
        if a["kind"] == "constexpr":
            continue
        v = a.get("value")
        if a["kind"] == "scalar" and specialize and a["dtype"] not in ("fp16", "bf16", "fp32", "fp64", "int1") \
                and int(v) == 1:
            continue
        out.append(Param(a["name"], a["kind"], a["dtype"], a.get("buffer"), v))
    return out


def _fork_linalg(fn: Any, case: dict, options: dict) -> tuple[str, dict[str, str], str, float]:
    """(linalg text, IR dumps, where it came from, seconds) from the fork's own stages."""
    from backends.triton_compile import _compile_source

    target = _target(options)
    stage_name = options.get("linalg_stage")
    tool = [str(x) for x in options["linalg_tool"]] if options.get("linalg_tool") else _state["tool"]
    use_tool = bool(tool) and not stage_name
    wanted = ["ttir"] if use_tool else [stage_name] if stage_name else list(_state["flavor"].linalg_stages)
    rec = _reset_record(wanted)
    specialize = bool(options.get("specialize", True))
    compile_opts = {"num_warps": case.get("num_warps", 4), **options.get("compile_options", {})}
    t0 = time.perf_counter()
    try:
        src = _compile_source(fn, case, target, {"now": "frontend"}, specialize)
        _state["triton"].compile(src, target=target, options=compile_opts)
    except Exception as e:
        if not rec["stopped"]:
            raise _failure(e, rec, "frontend" if not rec["done"] else "compile") from e
    texts = dict(rec["texts"])
    if not use_tool:
        got = rec["stop_after"]
        if got is None or got not in texts:
            raise Unsupported(f"the fork's pipeline has no stage {' or '.join(map(repr, wanted))} (its "
                              f"stages: {', '.join(rec['order'])}), and no TTIR -> linalg tool was found; "
                              "set options linalg_stage or linalg_tool")
        return texts[got], texts, f"stage {got}", time.perf_counter() - t0
    if "ttir" not in texts:
        raise Unsupported(f"the fork's pipeline produced no ttir stage (stages: {', '.join(rec['order'])})")
    return _run_tool(tool, texts["ttir"], texts, options), texts, "tool " + os.path.basename(tool[0]), \
        time.perf_counter() - t0


def _run_tool(tool: list[str], ttir: str, texts: dict[str, str], options: dict) -> str:
    report_stage("ttir-to-linalg")
    with tempfile.TemporaryDirectory(dir=_state["tmp"]) as d:
        src, dst = os.path.join(d, "tt.mlir"), os.path.join(d, "linalg.mlir")
        with open(src, "w") as fh:
            fh.write(ttir)
        cmd = [tool[0], src, *tool[1:], "-o", dst]
        texts["linalg_cmd"] = " ".join(cmd)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=float(options.get("tool_timeout", 60)))
        except subprocess.TimeoutExpired:
            raise StageError("ttir-to-linalg-timeout", "Timeout",
                             f"{os.path.basename(tool[0])} ran past {options.get('tool_timeout', 60)}s",
                             artifacts=dict(texts)) from None
        if r.stderr.strip():
            texts["linalg_stderr"] = r.stderr[-20000:]
        if r.returncode < 0:
            raise StageError("ttir-to-linalg-crash", f"signal {-r.returncode}",
                             f"{os.path.basename(tool[0])} died with signal {-r.returncode}:\n{r.stderr[-4000:]}",
                             artifacts=dict(texts))
        if r.returncode != 0:
            raise StageError("ttir-to-linalg", "CalledProcessError",
                             f"{os.path.basename(tool[0])} exited {r.returncode}:\n{r.stderr[-4000:]}",
                             artifacts=dict(texts))
        with open(dst) as fh:
            return fh.read()


def _run_linalg(fn: Any, case: dict, options: dict) -> dict:
    from backends.linalg_exec import calling, client, legalize

    linalg, arts, source, compile_s = _fork_linalg(fn, case, options)
    arts["linalg"] = linalg
    arts["linalg_from"] = source
    report_stage("lower")
    try:
        leg = legalize.legalize(linalg, str(options.get("float_mod", "floor")))
        arts["legalized"] = leg.text
        if leg.rewrites:
            arts["legalize_notes"] = "\n".join(leg.rewrites)
        conv = calling.build(leg.text, leg.kernel, _passed_params(case, bool(options.get("specialize", True))))
        arts["calling_convention"] = conv.describe()
    except Unsupported as e:
        raise Unsupported(f"{e} [linalg kept in the linalg artifact]") from None
    grid = tuple(int(g) for g in (list(case["grid"]) + [1, 1])[:3])
    try:
        res = client.lower_and_run(leg.text, conv, case["buffers"], grid,  # type: ignore[arg-type]
                                   opt_level=int(options.get("opt_level", 0)),
                                   timeout=float(options.get("timeout", 20.0)),
                                   guards=str(options.get("guards", "after")),
                                   lowering=options.get("lowering"), reuse=bool(options.get("reuse", True)))
    except StageError as e:
        e.artifacts = {**arts, **e.artifacts}
        raise
    arts["lowered"] = res.lowered
    out = ok_result(res.outputs, executed=True, compile_s=compile_s, run_s=res.lower_s + res.exec_s,
                    artifacts=arts, versions={"mlir": "19"})
    out.update({"lower_s": res.lower_s, "exec_s": res.exec_s, "lowering": res.mode})
    return out

"""Ascend backend runner: triton-ascend frontend + adapter, then our MLIR 19 pipeline on CPU.

Runs inside a triton-ascend environment (a long-lived worker calls `run_case`). Stages and what
a failure at each means:
  frontend       Python exception inside triton-ascend before/around the adapter  -> backend bug
  adapter-crash  triton-adapter-opt died with a signal                             -> backend bug
  adapter-error  triton-adapter-opt exited non-zero with a diagnostic              -> backend bug
                 (or a documented limitation; see profile.py)
  adapter-timeout triton-adapter-opt hung past options["adapter_timeout"]
  Unsupported    OUR lowering (legalize, then backends.linalg_exec: MLIR 19 passes, translation,
                 codegen, link) gave up
  runtime-fault  the executed kernel faulted (guard page hit, SIGFPE, ...)
  runtime-timeout the executed kernel ran past options["timeout"]
Bugs of Huawei's NPU compiler (bishengir/CANN) are not exercised here.
"""

from __future__ import annotations

from backends.ascend import frontend, profile
from backends.linalg_exec import calling, client, legalize
from backends.runner_api import StageError, Unsupported, ok_result, report_stage

DEFAULTS = {"arch": "Ascend910B3", "timeout": 20.0, "guards": True, "opt_level": 0,
            "specialize": True, "poison": 0xFF, "guard_allocs": True, "enforce_profile": False,
            "float_mod": "floor", "lowering": None, "reuse": True}


def _guard_side(v: object) -> str:
    if v is True or v is None:
        return "after"
    if v is False:
        return "none"
    if v in ("after", "before", "none"):
        return str(v)
    raise ValueError(f"options['guards'] must be bool or 'after'/'before'/'none', not {v!r}")


def run_case(case: dict, options: dict) -> dict:
    """Compile, lower and execute one wire case; see module docstring for failure stages."""
    opts = {**DEFAULTS, **(options or {})}
    vers = frontend.versions()
    if opts["enforce_profile"]:
        reason = profile.outside_profile(case, vers.get("triton-ascend", ""))
        if reason:
            raise Unsupported(f"outside the measured profile of triton-ascend "
                              f"{vers.get('triton-ascend')}: {reason}")
    report_stage("frontend")
    comp = frontend.compile_case(case, opts)
    report_stage("lower")
    arts = {**comp.artifacts, "linalg": comp.linalg}
    try:
        leg = legalize.legalize(comp.linalg, str(opts["float_mod"]))
        arts["legalized"] = leg.text
        if leg.rewrites:
            arts["legalize_notes"] = "\n".join(leg.rewrites)
        conv = calling.build(leg.text, leg.kernel, comp.params)
        arts["calling_convention"] = conv.describe()
    except Unsupported as e:
        raise Unsupported(f"{e} [linalg kept in the adapter artifact]") from None
    grid = tuple(int(g) for g in (list(case["grid"]) + [1, 1])[:3])
    try:
        res = client.lower_and_run(
            leg.text, conv, case["buffers"], grid, opt_level=int(opts["opt_level"]),  # type: ignore[arg-type]
            timeout=float(opts["timeout"]), guards=_guard_side(opts["guards"]),
            poison=int(opts["poison"]), guard_allocs=bool(opts["guard_allocs"]),
            lowering=opts["lowering"], reuse=bool(opts["reuse"]))
    except Unsupported as e:
        raise Unsupported(f"{e} [linalg kept in the adapter artifact]") from None
    except StageError as e:
        e.artifacts = {**arts, **e.artifacts}
        raise
    arts["lowered"] = res.lowered
    if res.key:
        arts["lower_key"] = res.key
    if res.reused:
        arts["reused"] = f"lowering and execution of identical linalg ({res.key}) reused"
    vers.update({"mlir": "19", "adapter": frontend.adapter_path()})
    out = ok_result(res.outputs, executed=True, compile_s=comp.frontend_s + comp.adapter_s,
                    run_s=res.lower_s + res.exec_s, artifacts=arts, versions=vers)
    timing = {"frontend_s": comp.frontend_s, "adapter_s": comp.adapter_s, "lower_s": res.lower_s,
              "exec_s": res.exec_s, "lower_cached": res.lower_from not in ("lowered", "tools"),
              "lowering": res.mode, "lower_from": res.lower_from, "reused": res.reused,
              "saved_s": res.saved_s}
    out.update(timing)
    arts["timing"] = " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in timing.items())
    return out


def shutdown() -> None:
    """worker_main calls this on exit: stop the executor service with the worker."""
    client.shutdown()

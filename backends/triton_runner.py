"""Runner for stock-triton envs (families interpreter, cuda, hip) and triton-xpu, inside a worker.

Imports only stdlib, numpy, backends' in-env helpers and (lazily, in `prepare`) triton and torch, so
it works in any managed or external triton env from 3.0 to 3.9.

* interpreter: `TRITON_INTERPRET=1`, torch CPU tensors that are views into padded buffers, so a
  store outside the data region lands in the guard canaries.
* cuda/hip with a matching GPU visible to torch: compile and execute on it.
* cuda/hip otherwise: compile only, with `triton.compile(ASTSource(...), target=GPUTarget(...))`;
  the signature/constexpr/attribute formats differ across releases, see backends.triton_compile.
* xpu: compile only, for the device-properties dict of a real Intel GPU (backends.xpu_devices);
  stages are the backend's own: frontend, ttir, ttgir, llir, spv.

Stage attribution: source import and Triton's AST→TTIR frontend → "frontend"; MLIR passes,
LLVM, ptxas → "compile"; loading the binary, packing the arguments and enqueueing the kernel
(with Triton's own launcher: building that launcher too) → "launch"; waiting for the kernel and
copying the buffers back → "run". Each has its own time in the result.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import platform
import shutil
import sys
import tempfile
import time
from typing import Any

import numpy as np

from backends.runner_api import (
    GUARD_ELEMS,
    STORAGE,
    StageError,
    Unsupported,
    ok_result,
    padded_host_buffer,
    report_stage,
)
from backends.triton_common import artifacts_of, launch_options, scalar_value, stage_error
from backends.triton_compile import compile_only, find_hip_lld, gpu_target, instrument_stages, mlir_diagnostics

_state: dict[str, Any] = {}
TORCH_VIEW = {"bf16": "bfloat16", "fp8e4nv": "float8_e4m3fn", "fp8e5": "float8_e5m2"}
_counter = itertools.count()


# --------------------------------------------------------------------------------------------
# worker hooks


def prepare(options: dict) -> dict:
    """Import triton (and torch) once per worker; say whether this worker will use a GPU."""
    family = options["family"]
    if family == "interpreter":
        os.environ["TRITON_INTERPRET"] = "1"  # must precede the first `import triton`
    import triton

    torch = _import_torch(required=family == "interpreter")
    if family == "interpreter":
        _check_interpreter_numpy(str(triton.__version__))
    gpu = None
    if family in ("cuda", "hip") and torch is not None and options.get("execute", "auto") != "never":
        gpu = _matching_gpu(torch, options)
    if family == "hip" and gpu is None:
        _state["hip_lld_missing"] = find_hip_lld(str(triton.__version__))
    if family == "xpu":
        _prepare_xpu(options)
    if gpu is not None and hasattr(triton, "set_allocator"):
        # Kernels that build tensor descriptors on the device need global scratch memory.
        triton.set_allocator(lambda size, _align, _stream: torch.empty(size, device="cuda", dtype=torch.int8))
    tmp = tempfile.mkdtemp(prefix="tritondiff-kernels-")
    _state.update(family=family, triton=triton, torch=torch, gpu=gpu, tmp=tmp, options=options)
    versions = _versions(triton, torch, options, gpu)
    _state["versions"] = versions
    # A CUDA context maps far more address space than any RLIMIT_AS we would want.
    return {"versions": versions, "gpu": gpu is not None}


def run_case(case: dict, options: dict) -> dict:
    """Run one wire case; raise StageError/Unsupported on failure, return a result dict."""
    if not _state:
        prepare(options)
    _check_dtypes(case)
    report_stage("frontend")
    path, mod_name = _write_source(case)
    try:
        fn = _load_kernel(path, mod_name, case["kernel_name"])
        family = _state["family"]
        if family == "interpreter":
            result = _run_interpreter(fn, case)
        elif _state["gpu"] is not None:
            result = _run_gpu(fn, case, options)
        else:
            result = compile_only(_state["triton"], fn, case, options, _state.get("hip_lld_missing"))
    finally:
        sys.modules.pop(mod_name, None)
        try:
            os.unlink(path)
        except OSError:
            pass
        _forget_interpreted_functions()
    result["versions"] = dict(_state["versions"])
    return result


# --------------------------------------------------------------------------------------------
# setup helpers


def _prepare_xpu(options: dict) -> None:
    """Build triton-xpu's host-side arch parser once per env, and report the backend's stages.

    The backend compiles a small C++ helper (arch_parser.c, against SYCL's headers) whenever a
    backend object is made, i.e. at every compile. Its build is keyed by source in Triton's
    cache, which is per campaign here; so it is built once into the env's own directory and kept
    loaded. Triton's builder uses $CC for it: a C compiler driver does not link libstdc++ and the
    helper then fails to load, so $CC defaults to g++. Any failure here fails the worker's start
    (a setup problem, never a finding).
    """
    os.environ.setdefault("CC", shutil.which("g++") or "g++")
    from triton.backends import backends
    from triton.backends.compiler import GPUTarget
    from triton.compiler.compiler import make_backend

    # Triton loads each backend's compiler.py as a module of its own (not triton.backends.intel.
    # compiler): patch the globals that the class that compiles really sees.
    cls = backends["intel"].compiler
    scope = cls.__init__.__globals__
    build = scope["compile_module_from_src"]
    if not getattr(build, "_tritondiff", False):
        built: dict[tuple[str, str], Any] = {}
        cache_dir = os.path.join(sys.prefix, "tritondiff-host-build")

        def once(src: str, name: str) -> Any:
            if (src, name) not in built:
                saved = os.environ.get("TRITON_CACHE_DIR")
                os.environ["TRITON_CACHE_DIR"] = cache_dir
                try:
                    built[(src, name)] = build(src, name)
                finally:
                    if saved is None:
                        os.environ.pop("TRITON_CACHE_DIR", None)
                    else:
                        os.environ["TRITON_CACHE_DIR"] = saved
            return built[(src, name)]

        once._tritondiff = True  # type: ignore[attr-defined]
        scope["compile_module_from_src"] = once
    instrument_stages(cls)
    backend = make_backend(gpu_target(GPUTarget, options))
    if not backend.device_arch:
        raise RuntimeError(f"triton-xpu does not know the SYCL architecture of xpu:{options['arch']}")


def _import_torch(required: bool) -> Any:
    try:
        import torch
    except ImportError as e:
        if required:
            raise Unsupported(f"the interpreter backend needs torch in its env: {e}") from e
        return None
    return torch


def _check_interpreter_numpy(triton_version: str) -> None:
    """Triton 3.0/3.1's interpreter reads zeros and drops stores under numpy 2: refuse to start."""
    parts = triton_version.split(".")
    old = len(parts) >= 2 and parts[0] == "3" and parts[1] in ("0", "1")
    if old and int(np.__version__.split(".")[0]) >= 2:
        raise RuntimeError(f"triton {triton_version}'s interpreter needs numpy<2 (found numpy "
                           f"{np.__version__}): with numpy 2 its loads return zeros")


def _matching_gpu(torch: Any, options: dict) -> str | None:
    """The visible GPU's name when it is of the requested family and arch, else None."""
    try:
        if not torch.cuda.is_available():
            return None
        props = torch.cuda.get_device_properties(0)
    except Exception:
        return None
    is_hip = getattr(torch.version, "hip", None) is not None
    if options["family"] == "cuda" and not is_hip:
        if props.major * 10 + props.minor != options["capability"]:
            return None
    elif options["family"] == "hip" and is_hip:
        if getattr(props, "gcnArchName", "").split(":")[0] != options["arch"]:
            return None
    else:
        return None
    return str(props.name)


def _versions(triton: Any, torch: Any, options: dict, gpu: str | None) -> dict[str, str]:
    fam = options["family"]
    if fam == "interpreter":
        target = "interpreter"
    elif fam == "cuda":
        target = f"cuda:{options['capability']}"
    elif fam == "xpu":
        target = f"xpu:{options['arch']}"
    else:
        target = f"hip:{options['arch']}"
    v = {"triton": str(triton.__version__), "target": target, "numpy": np.__version__,
         "python": platform.python_version(), "mode": "interpret" if fam == "interpreter"
         else ("execute" if gpu else "compile-only")}
    if torch is not None:
        v["torch"] = str(torch.__version__)
    if gpu:
        v["gpu"] = gpu
    fusion = os.environ.get("TRITON_DEFAULT_FP_FUSION")
    if fusion is not None:
        v["fp_fusion"] = fusion
    return v


def _check_dtypes(case: dict) -> None:
    for b in case["buffers"].values():
        if b["dtype"] not in STORAGE:
            raise Unsupported(f"buffer dtype {b['dtype']!r} unknown to this runner")


def _write_source(case: dict) -> tuple[str, str]:
    """Triton reads kernel source with `inspect`, so it must come from a real file."""
    n = next(_counter)
    mod_name = f"tritondiff_kernel_{case.get('case_id', 'x')}_{n}"
    path = os.path.join(_state["tmp"], mod_name + ".py")
    with open(path, "w") as fh:
        fh.write(case["source"])
    return path, mod_name


def _load_kernel(path: str, mod_name: str, kernel_name: str) -> Any:
    try:
        spec = importlib.util.spec_from_file_location(mod_name, path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod
        spec.loader.exec_module(mod)
    except Exception as e:
        raise stage_error("frontend", e) from e
    fn = getattr(mod, kernel_name, None)
    if fn is None:
        raise StageError("frontend", "AttributeError", f"kernel {kernel_name!r} not found in source")
    return fn


def _forget_interpreted_functions() -> None:
    """The interpreter caches every rewritten kernel in a class dict; drop them (memory)."""
    interp = sys.modules.get("triton.runtime.interpreter")
    cache = getattr(getattr(interp, "InterpretedFunction", None), "rewritten_fn", None)
    if isinstance(cache, dict):
        cache.clear()


# --------------------------------------------------------------------------------------------
# arguments


def _make_args(case: dict, device: str) -> tuple[list[Any], dict[str, Any]]:
    """Kernel args in signature order, plus the padded tensor of every buffer (for copy-back).

    Each pointer argument is a view starting at the first data element of its padded buffer, so
    the guard regions around it belong to the same allocation.
    """
    torch = _state["torch"]
    padded: dict[str, Any] = {}
    for name, buf in case["buffers"].items():
        host = padded_host_buffer(buf)
        t = torch.from_numpy(host)
        padded[name] = t.to(device) if device != "cpu" else t
    args: list[Any] = []
    for a in case["args"]:
        if a["kind"] == "ptr":
            buf = case["buffers"][a["buffer"]]
            t = padded[a["buffer"]]
            if buf["dtype"] in TORCH_VIEW:  # stored as bit patterns
                t = t.view(getattr(torch, TORCH_VIEW[buf["dtype"]]))
            args.append(t[GUARD_ELEMS:GUARD_ELEMS + buf["size"]])
        elif a["kind"] == "scalar":
            args.append(scalar_value(a))
        else:
            args.append(a["value"])
    return args, padded


def _call_args(case: dict, args: list[Any], options: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Positional kernel args plus launch options; a kernel that has a parameter named like a launch
    option (`num_warps: tl.constexpr`, as real kernels write) gets every argument by name, and that
    option is its argument's value, as when its author launches it with `num_warps=...`."""
    names = [a["name"] for a in case["args"]]
    if not set(names) & set(options):
        return args, options
    return [], {**options, **dict(zip(names, args))}


def _outputs(padded: dict[str, Any]) -> dict[str, bytes]:
    return {name: t.cpu().numpy().tobytes() for name, t in padded.items()}


# --------------------------------------------------------------------------------------------
# interpreter


def _run_interpreter(fn: Any, case: dict) -> dict:
    args, padded = _make_args(case, "cpu")
    report_stage("run")
    t0 = time.perf_counter()
    try:
        pos, kw = _call_args(case, args, {"num_warps": case.get("num_warps", 4)})
        fn[tuple(case["grid"])](*pos, **kw)
    except Exception as e:
        inner = _unwrap_interpreter_error(e)
        raise stage_error(_interpreter_stage(inner), inner) from e
    run_s = time.perf_counter() - t0
    return ok_result(_outputs(padded), executed=True, compile_s=0.0, run_s=run_s)


def _unwrap_interpreter_error(e: BaseException) -> BaseException:
    """The interpreter wraps kernel exceptions in InterpreterError(repr(e)); keep the real one."""
    while type(e).__name__ == "InterpreterError" and e.__cause__ is not None:
        e = e.__cause__
    return e


def _interpreter_stage(e: BaseException) -> str:
    """Semantic checks in triton.language (types, shapes) are the frontend; the rest is run."""
    if type(e).__name__ == "CompilationError":
        return "frontend"
    tb = e.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    if last and os.sep + os.path.join("triton", "language") + os.sep in last:
        return "frontend"
    # Raised by the kernel's own code (an undefined name, a bad attribute): what the compiler's
    # frontend would reject as a CompilationError.
    if isinstance(e, (NameError, AttributeError, TypeError)) and last and "tritondiff_kernel_" in last:
        return "frontend"
    return "run"


# --------------------------------------------------------------------------------------------
# GPU execution


def _run_gpu(fn: Any, case: dict, options: dict) -> dict:
    """Compile via a warmup launch, then launch for real on padded device buffers.

    The launch goes through backends.cuda_launch (no per-signature launcher build) unless the
    options ask for Triton's own (`launcher: "triton"`) or the kernel is outside what it mirrors;
    the result's "launcher" says which ran, and why Triton's when it did.
    """
    torch = _state["torch"]
    grid = tuple(case["grid"])
    nw = case.get("num_warps", 4)
    extra = {**options.get("compile_options", {}), **launch_options(case, options["family"])}
    args, padded = _make_args(case, "cuda")
    report_stage("frontend")
    t0 = time.perf_counter()
    kernel = None
    diag: list[str] = []
    try:
        pos, kw = _call_args(case, args, {"num_warps": nw, **extra})
        with mlir_diagnostics(diag, False):
            kernel = fn.warmup(*pos, grid=grid, **kw)
    except Exception as e:
        stage = "frontend" if type(e).__name__ == "CompilationError" else "compile"
        err = stage_error(stage, e)
        if diag and stage == "compile":
            err.message = f"{err.message}: {diag[0]}"
        raise err from e
    compile_s = time.perf_counter() - t0
    artifacts = artifacts_of(getattr(kernel, "asm", {}) or {})
    report_stage("launch")
    t1 = time.perf_counter()
    loaded, launcher = _direct_launch(kernel, args, grid, options)
    if loaded is None:
        try:
            fn[grid](*pos, **kw)
        except Exception as e:
            raise stage_error("launch", e, artifacts) from e
    launch_s = time.perf_counter() - t1
    report_stage("run")
    t2 = time.perf_counter()
    try:
        torch.cuda.synchronize()
        outputs = _outputs(padded)
    except Exception as e:
        err = stage_error("run", e, artifacts)
        # A device fault poisons the CUDA context: this worker cannot run another case.
        _state["poisoned"] = True
        raise err from e
    run_s = time.perf_counter() - t2
    if loaded is not None:
        _state["driver"].unload(loaded)
    res = ok_result(outputs, executed=True, compile_s=compile_s, run_s=run_s, artifacts=artifacts,
                    launch_s=launch_s)
    res["launcher"] = launcher
    return res


def _direct_launch(kernel: Any, args: list[Any], grid: tuple[int, ...], options: dict) -> tuple[Any, str]:
    """Launch through the generic launcher; (None, "triton: why") when Triton's own must do it.

    Only a launch the driver accepted counts: when loading or enqueueing fails, nothing ran, and
    Triton's own launch then reports the failure exactly as a Triton user would see it.
    """
    from backends import cuda_launch as cl

    if options.get("launcher", "direct") == "triton":
        return None, "triton: asked for"
    why = _state.get("driver_missing")
    if why is None and _state["family"] != "cuda":
        why = f"the generic launcher covers cuda, not {_state['family']}"
    if why is None and _state.get("driver") is None:
        try:
            _state["driver"] = cl.CudaDriver()
        except (OSError, AttributeError) as e:
            why = _state["driver_missing"] = f"libcuda not usable through ctypes: {e}"
    if why is None:
        torch = _state["torch"]
        drv = _state["driver"]
        loaded = None
        try:
            plan = cl.plan_launch(kernel)
            params, keep = cl.pack_args(plan, args)
            loaded = drv.load(plan, torch.cuda.current_device())
            stream = int(torch.cuda.current_stream().cuda_stream)
            g = tuple(grid) + (1,) * (3 - len(grid))
            drv.launch(loaded, g[:3], stream, params)
            del keep
            return loaded, "direct"
        except (cl.NotLaunchable, cl.DriverError) as e:
            if loaded is not None:
                drv.unload(loaded)
            why = str(e)
    why = "triton: " + why
    if why not in _state.setdefault("fallbacks", set()):
        _state["fallbacks"].add(why)
        print(f"tritondiff: launching with Triton's own launcher ({why[8:]})", file=sys.stderr)
    return None, why


def needs_restart() -> bool:
    """Asked by the worker after each case: a poisoned CUDA context needs a fresh process."""
    return bool(_state.get("poisoned"))


def shutdown() -> None:
    tmp = _state.get("tmp")
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)

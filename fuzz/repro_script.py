"""Body of every generated `repro.py`: a standalone reproducer of one tritondiff finding.

Why a module of its own: `fuzz/repro_template.py` embeds this file's source verbatim after a
`DATA = {...}` block, so the reproducer a bug report ships is linted and importable here, yet
needs nothing of tritondiff where it runs. Only the standard library is imported at the top;
numpy, torch and triton (stock or triton-ascend) are imported by the launch functions, inside the
backend's own environment.

Exit status of a reproducer: 0 the bug did not reproduce, 1 it reproduced (a divergence, an error
or a crash; a compiler that kills the process exits with its signal, which is non-zero too), 3
this machine cannot check it (e.g. a GPU miscompile and no GPU, an Ascend miscompile and no NPU, a
CPU fork's finding outside that fork's env).
"""

from __future__ import annotations

import argparse
import atexit
import base64
import difflib
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from typing import Any

DATA: dict[str, Any] = {}  # replaced by the generated file's own DATA block

EXIT_NOT_REPRODUCED, EXIT_REPRODUCED, EXIT_CANNOT_CHECK = 0, 1, 3
GUARD_ELEMS = 64
CANARY_BYTE = 0xA5
MAX_ROWS = 8
FLOATS = ("fp32", "fp16", "bf16", "fp64")
FP8 = {"fp8e4nv": (3, 7), "fp8e5": (2, 15)}  # mantissa bits, exponent bias
TORCH_VIEW = {"bf16": "bfloat16", "fp8e4nv": "float8_e4m3fn", "fp8e5": "float8_e5m2"}
TRITON_TYPE = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "fp64": "fp64", "int8": "i8",
               "int16": "i16", "int32": "i32", "int64": "i64", "int1": "i1",
               "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64", "fp8e4nv": "fp8e4nv", "fp8e5": "fp8e5"}
STORAGE = {"fp32": "float32", "fp16": "float16", "bf16": "uint16", "fp64": "float64", "int8": "int8",
           "int16": "int16", "int32": "int32", "int64": "int64", "int1": "bool", "uint8": "uint8",
           "uint16": "uint16", "uint32": "uint32", "uint64": "uint64", "fp8e4nv": "uint8", "fp8e5": "uint8"}


# ------------------------------------------------------------------------------------------
# data


def _np() -> Any:
    import numpy

    return numpy


def decode(blob: str, dtype: str) -> Any:
    """A base64 blob of raw little-endian bytes as a numpy array."""
    np = _np()
    return np.frombuffer(base64.b64decode(blob), dtype=np.dtype(dtype)).copy()


def padded(buf: dict[str, Any]) -> Any:
    """Guard canaries + data + guard canaries, as tritondiff lays every buffer out."""
    np = _np()
    dt = np.dtype(STORAGE[buf["dtype"]])
    data = decode(buf["data"], dt.str)
    raw = np.full((data.size + 2 * GUARD_ELEMS) * dt.itemsize, CANARY_BYTE, dtype=np.uint8)
    out = raw.view(dt)
    out[GUARD_ELEMS:GUARD_ELEMS + data.size] = data
    return out


def values(dtype: str, stored: Any) -> Any:
    """Storage -> comparable values: bf16 bit patterns decoded to float."""
    np = _np()
    if dtype == "bf16":
        return (stored.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    if dtype in FP8:  # OCP e4m3fn / e5m2 bit patterns
        m, bias = FP8[dtype]
        b = stored.astype(np.int64)
        e, f = (b >> m) & ((1 << (7 - m)) - 1), (b & ((1 << m) - 1)) / 2.0**m
        v = np.where(e == 0, f * 2.0 ** (1 - bias), (1 + f) * 2.0 ** (e - bias))
        return np.where(b & 0x80, -v, v)
    if dtype.startswith("uint"):
        return stored.astype(np.uint64)
    if dtype in FLOATS:
        return stored.astype(np.float64)
    if dtype == "int1":
        return stored.astype(bool)
    return stored.astype(np.int64)


def scalar(arg: dict[str, Any]) -> Any:
    if arg["dtype"] in FLOATS:
        return float(arg["value"])
    if arg["dtype"] == "int1":
        return bool(arg["value"])
    return int(arg["value"])


def write_kernel(source: str, tag: str, keep: str | None) -> Any:
    """Import the kernel from a real file: @triton.jit reads its source with inspect."""
    d = keep
    if d is None:
        d = tempfile.mkdtemp(prefix="tritondiff-repro-")
        atexit.register(shutil.rmtree, d, True)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"{tag}.py")
    with open(path, "w") as fh:
        fh.write(source)
    name = f"tritondiff_repro_{tag}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    print(f"kernel source written to {path}" + ("" if keep else " (removed at exit; --keep DIR keeps it)"))
    return getattr(mod, DATA["kernel_name"])


# ------------------------------------------------------------------------------------------
# comparison with the reference


def compare(outputs: dict[str, Any]) -> int:
    """Print every divergence from the embedded reference; return how many buffers diverge."""
    np = _np()
    bad_buffers = 0
    for name, buf in DATA["buffers"].items():
        size = buf["size"]
        got_padded = outputs[name]
        raw = np.ascontiguousarray(got_padded).view(np.uint8)
        item = got_padded.dtype.itemsize
        for where, seg in (("before", raw[:GUARD_ELEMS * item]), ("after", raw[(GUARD_ELEMS + size) * item:])):
            hit = np.nonzero(seg != CANARY_BYTE)[0]
            if hit.size:
                bad_buffers += 1
                elems = sorted({int(i) // item for i in hit})
                off = [e - GUARD_ELEMS if where == "before" else size + e for e in elems]
                print(f"DIVERGENCE {name}: {len(elems)} element(s) written {where} the buffer "
                      f"(out of bounds), at indices {off[:MAX_ROWS]}")
        data = got_padded[GUARD_ELEMS:GUARD_ELEMS + size]
        if buf["role"] == "in":
            orig = decode(buf["data"], data.dtype.str)
            changed = np.nonzero(data.view(np.uint8) != orig.view(np.uint8))[0]
            if changed.size:
                bad_buffers += 1
                idx = sorted({int(i) // item for i in changed})
                print(f"DIVERGENCE {name}: input buffer modified at {len(idx)} element(s), first {idx[:MAX_ROWS]}")
            continue
        exp = DATA["expected"][name]
        want = decode(exp["values"], exp["vdtype"])
        tol = decode(exp["tol"], "<f8") if exp.get("tol") else None
        got = values(buf["dtype"], data)
        if tol is not None:
            with np.errstate(invalid="ignore"):
                wrong = ~(np.abs(got - want) <= tol)
        else:
            wrong = got != want
        idx = np.nonzero(wrong)[0]
        if not idx.size:
            print(f"ok {name}: all {size} elements match the reference")
            continue
        bad_buffers += 1
        print(f"DIVERGENCE {name} ({buf['dtype']}): {idx.size} of {size} elements differ from the reference")
        print(f"  {'index':>7}  {'expected':>14}  {'got':>14}  {'tolerance':>10}")
        for i in idx[:MAX_ROWS]:
            t = f"{tol[i]:.3g}" if tol is not None else "exact"
            print(f"  {int(i):>7}  {want[i]!s:>14}  {got[i]!s:>14}  {t:>10}")
        if idx.size > MAX_ROWS:
            print(f"  ... and {idx.size - MAX_ROWS} more")
    return bad_buffers


# ------------------------------------------------------------------------------------------
# launching: interpreter and GPUs


def launch(fn: Any, device: str) -> dict[str, Any]:
    """Run the kernel on padded torch buffers (views start at the data), return padded host copies."""
    import torch

    tensors: dict[str, Any] = {}
    for name, buf in DATA["buffers"].items():
        t = torch.from_numpy(padded(buf))
        tensors[name] = t.to(device) if device != "cpu" else t
    args: list[Any] = []
    for a in DATA["args"]:
        if a["kind"] == "ptr":
            buf = DATA["buffers"][a["buffer"]]
            t = tensors[a["buffer"]]
            if buf["dtype"] in TORCH_VIEW:
                t = t.view(getattr(torch, TORCH_VIEW[buf["dtype"]]))
            args.append(t[GUARD_ELEMS:GUARD_ELEMS + buf["size"]])
        elif a["kind"] == "scalar":
            args.append(scalar(a))
        else:
            args.append(a["value"])
    opts = {"num_warps": DATA["num_warps"], **DATA["backend"].get("compile_options", {}), **launch_options()}
    names = [a["name"] for a in DATA["args"]]
    if set(names) & set(opts):  # a kernel parameter named like a launch option: pass by name
        fn[tuple(DATA["grid"])](**{**opts, **dict(zip(names, args))})
    else:
        fn[tuple(DATA["grid"])](*args, **opts)
    if device not in ("cpu",):
        getattr(torch, device.split(":")[0]).synchronize()
    return {n: t.cpu().numpy() for n, t in tensors.items()}


def launch_options() -> dict[str, Any]:
    """The case's own compile options (a metamorphic form may set num_stages or maxnreg)."""
    fam = DATA["backend"]["family"]
    launch = DATA.get("launch") or {}
    out: dict[str, Any] = {}
    if fam in ("cuda", "hip", "xpu") and launch.get("num_stages") is not None:
        out["num_stages"] = int(launch["num_stages"])
    if fam == "cuda" and launch.get("maxnreg") is not None:
        out["maxnreg"] = int(launch["maxnreg"])
    return out


def expect_divergence() -> bool:
    return DATA["finding"]["kind"] in ("miscompile", "oob-write", "oob-read")


def judge_run(run: Any) -> int:
    """Run `run()` (which returns padded outputs) and say whether the finding reproduced."""
    try:
        outputs = run()
    except Exception as e:  # noqa: BLE001 - any exception is what the report is about
        traceback.print_exc()
        print(f"REPRODUCED: the launch raised {type(e).__name__}" if not expect_divergence()
              else f"the launch raised {type(e).__name__} (the finding was a {DATA['finding']['kind']})")
        return EXIT_REPRODUCED
    n = compare(outputs)
    if n:
        print(f"REPRODUCED: {n} buffer(s) diverge from the reference")
        return EXIT_REPRODUCED
    print("not reproduced: every buffer matches the reference")
    return EXIT_NOT_REPRODUCED


def run_interpreter(keep: str | None, fault: str = "") -> int:
    os.environ["TRITON_INTERPRET"] = "1"  # must precede `import triton`
    source = DATA["source"]
    if fault:
        source = inject_fault(fault, keep)
        if isinstance(source, int):
            return source
    fn = write_kernel(source, "kernel_injected" if fault else "kernel", keep)
    return judge_run(lambda: launch(fn, "cpu"))


def _gpu_matches(torch: Any, be: dict[str, Any]) -> str | None:
    try:
        if not torch.cuda.is_available():
            return None
        props = torch.cuda.get_device_properties(0)
    except Exception:  # noqa: BLE001
        return None
    is_hip = getattr(torch.version, "hip", None) is not None
    if (be["family"] == "hip") != is_hip:
        return None
    return str(props.name)


class _AlignedPointer:
    """What releases up to 3.2 inspect for alignment: a 16-byte aligned data_ptr."""

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype

    def data_ptr(self) -> int:
        return 1 << 20


def ast_source(fn: Any, target: Any) -> Any:
    """`ASTSource` as a real launch would specialise it, in this triton release's format."""
    from triton.compiler import ASTSource

    params = list(ASTSource.__init__.__code__.co_varnames)
    names, types, vals = [], [], []
    for a in DATA["args"]:
        names.append(a["name"])
        if a["kind"] == "ptr":
            dt = DATA["buffers"][a["buffer"]]["dtype"]
            types.append("*" + TRITON_TYPE[dt])
            vals.append(_AlignedPointer(dt))
        elif a["kind"] == "scalar":
            types.append(TRITON_TYPE[a["dtype"]])
            vals.append(scalar(a))
        else:
            types.append("constexpr")
            vals.append(a["value"])

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if "constexprs" in params:  # triton 3.3 and later
        sig: dict[str, str] = {}
        consts: dict[str, Any] = {}
        attrs: dict[tuple[int, ...], list[list[Any]]] = {}
        for i, (n, t, v) in enumerate(zip(names, types, vals)):
            if t == "constexpr" or (t.startswith("i") and is_int(v) and v == 1):
                sig[n], consts[n] = "constexpr", v
            else:
                sig[n] = t
                if t != "i1" and (isinstance(v, _AlignedPointer) or (is_int(v) and v % 16 == 0)):
                    attrs[(i,)] = [["tt.divisibility", 16]]
        return ASTSource(fn, sig, consts, attrs)
    sig = {n: t for n, t in zip(names, types) if t != "constexpr"}
    consts = {n: v for n, t, v in zip(names, types, vals) if t == "constexpr"}
    if hasattr(fn, "_get_config"):  # 3.0, 3.1
        desc = fn._get_config(*vals)
        ones = set(desc.equal_to_1)
    else:  # 3.2
        from triton.compiler.compiler import make_backend

        desc = make_backend(target).get_attrs_descriptor(fn.params, vals)
        ones = set(desc.get_constants())
    for i in ones:
        consts[names[i]] = vals[i]
    return ASTSource(fn, sig, consts, desc)


def find_hip_lld(version: str) -> None:
    """Triton <= 3.4 links hsaco with an external ld.lld: point TRITON_HIP_LLD_PATH at one."""
    import shutil as sh

    parts = version.split(".")
    if not (len(parts) >= 2 and parts[0] == "3" and parts[1].isdigit() and int(parts[1]) <= 4):
        return
    if os.path.isfile(os.environ.get("TRITON_HIP_LLD_PATH", "")):
        return
    cands = ["/opt/rocm/llvm/bin/ld.lld", "/usr/bin/ld.lld"]
    cands += [sh.which(f"ld.lld-{v}") or "" for v in range(22, 13, -1)]
    cands += [f"/usr/lib/llvm-{v}/bin/ld.lld" for v in range(22, 13, -1)]
    for c in cands:
        if c and os.path.isfile(c):
            os.environ["TRITON_HIP_LLD_PATH"] = c
            return
    print(f"warning: triton {version} links AMD code with ld.lld, which is not installed (apt-get install "
          "lld-19, or set TRITON_HIP_LLD_PATH): the compile will fail at the link step")


def xpu_setup() -> None:
    """triton-xpu builds a small C++ helper at each compile: $CC must be a C++ driver (g++)."""
    import shutil as sh

    os.environ.setdefault("CC", sh.which("g++") or "g++")


def gpu_target(be: dict[str, Any]) -> Any:
    """The recorded target: cuda capability, hip arch, or the Intel GPU's device properties."""
    from triton.backends.compiler import GPUTarget

    if be["family"] == "cuda":
        return GPUTarget("cuda", int(be["capability"]), int(be.get("warp_size", 32)))
    if be["family"] == "xpu":
        return GPUTarget("xpu", dict(be["device"]), int(be.get("warp_size", 32)))
    return GPUTarget("hip", be["arch"], int(be.get("warp_size", 64)))


def run_gpu_family(keep: str | None, print_ir: bool) -> int:
    """cuda/hip: execute on a matching GPU when there is one, else compile for the recorded target;
    xpu: compile for the recorded Intel GPU (a triton-xpu env; no device needed)."""
    import triton

    be = DATA["backend"]
    try:
        import torch
    except ImportError:
        torch = None
    if be["family"] == "xpu":
        xpu_setup()
    fn = write_kernel(DATA["source"], "kernel", keep)
    gpu = _gpu_matches(torch, be) if torch is not None and be["family"] != "xpu" else None
    if gpu is not None:
        print(f"executing on {gpu}")
        return judge_run(lambda: launch(fn, "cuda"))
    target = gpu_target(be)
    if be["family"] == "hip":
        find_hip_lld(str(triton.__version__))
    print(f"compiling only, for {be['name']}" if be["family"] == "xpu" else
          f"no matching GPU: compiling only, for {target}")
    opts = {"num_warps": DATA["num_warps"], **be.get("compile_options", {}), **launch_options()}
    try:
        kernel = triton.compile(ast_source(fn, target), target=target, options=opts)
    except Exception as e:  # noqa: BLE001 - the compile error is the finding
        traceback.print_exc()
        if expect_divergence():
            print(f"compiling raised {type(e).__name__}; the finding was a {DATA['finding']['kind']}")
        else:
            print(f"REPRODUCED: the compiler raised {type(e).__name__}")
        return EXIT_REPRODUCED
    asm = getattr(kernel, "asm", {}) or {}
    print(f"compiled: stages {', '.join(k for k in asm if isinstance(asm[k], str))}")
    if print_ir:
        for k, v in asm.items():
            if isinstance(v, str):
                print(f"----- {k} -----\n{v}")
    if expect_divergence():
        print(f"this {DATA['finding']['kind']} shows only when the kernel runs: it needs a "
              f"{be['family']} GPU ({be.get('arch', '')}) visible to torch")
        return EXIT_CANNOT_CHECK
    print("not reproduced: the kernel compiled")
    return EXIT_NOT_REPRODUCED


# ------------------------------------------------------------------------------------------
# Ascend: triton-ascend's own stages up to the adapter (TTIR -> linalg)


def ascend_compile(fn: Any) -> tuple[str, str]:
    """Frontend and `triton-adapter-opt` exactly as a launch runs them; returns (ttir, linalg)."""
    import hashlib

    from triton._C.libtriton import ir
    from triton.backends.compiler import GPUTarget
    from triton.compiler.compiler import ASTSource, make_backend

    be = DATA["backend"]
    target = GPUTarget("npu", be.get("arch", "Ascend910B3"), 0)
    backend = make_backend(target)
    vals: list[Any] = []

    class _Ptr:
        def __init__(self, n: int) -> None:
            self.shape = (n,)

        def data_ptr(self) -> int:
            return 1 << 16

    for a in DATA["args"]:
        vals.append(_Ptr(DATA["buffers"][a["buffer"]]["size"]) if a["kind"] == "ptr" else a["value"])
    consts = {a["name"]: a["value"] for a in DATA["args"] if a["kind"] == "constexpr"}
    sig = {a["name"]: ("*" if a["kind"] == "ptr" else "")
           + TRITON_TYPE[DATA["buffers"][a["buffer"]]["dtype"] if a["kind"] == "ptr" else a["dtype"]]
           for a in DATA["args"] if a["kind"] != "constexpr"}
    attrs = backend.get_attrs_descriptor(fn.params, vals)
    for idx, v in attrs.get_constants().items():
        consts[fn.params[idx].name] = v
    opts = backend.parse_options({"num_warps": DATA["num_warps"], **be.get("adapter_options", {}),
                                  **(DATA.get("launch") or {}).get("ascend_options", {})})
    stages: dict[str, Any] = {}
    backend.add_stages(stages, opts)
    src = ASTSource(fn, sig, consts, attrs)
    metadata = {"hash": hashlib.sha256(DATA["source"].encode()).hexdigest(), "target": target, **opts.__dict__}
    ctx = ir.context()
    ir.load_dialects(ctx)
    backend.load_dialects(ctx)
    mod = src.make_ir(opts, backend.get_codegen_implementation(), backend.get_module_map(), ctx)
    mod = stages["ttir"](mod, metadata)
    ttir = str(mod)
    print("frontend: TTIR built; running triton-adapter-opt (ttadapter stage)")
    linalg = stages["ttadapter"](mod, metadata)
    return ttir, str(linalg)


def run_ascend(keep: str | None, print_ir: bool) -> int:
    import subprocess

    fn = write_kernel(DATA["source"], "kernel", keep)
    try:
        ttir, linalg = ascend_compile(fn)
    except subprocess.CalledProcessError as e:
        err = e.stderr.decode("utf-8", "replace") if isinstance(e.stderr, bytes) else str(e.stderr or "")
        print(err.rstrip())
        if e.returncode < 0:
            try:
                how = signal.Signals(-e.returncode).name
            except ValueError:
                how = f"signal {-e.returncode}"
            print(f"REPRODUCED: triton-adapter-opt died with {how}")
        else:
            print(f"REPRODUCED: triton-adapter-opt exited {e.returncode}")
        return EXIT_REPRODUCED
    except Exception as e:  # noqa: BLE001 - a frontend exception is a finding too
        traceback.print_exc()
        print(f"REPRODUCED: triton-ascend raised {type(e).__name__} before or around the adapter")
        return EXIT_REPRODUCED
    print(f"adapter ok: {len(linalg.splitlines())} lines of linalg")
    if print_ir:
        print(f"----- ttir -----\n{ttir}")
    if not expect_divergence():
        print("not reproduced: the frontend and the adapter both succeeded")
        return EXIT_NOT_REPRODUCED
    try:
        import torch_npu  # noqa: F401
    except ImportError:
        print(f"----- linalg (triton-adapter-opt output) -----\n{linalg}")
        print(f"This {DATA['finding']['kind']} was observed by executing the adapter's linalg on CPU "
              "through tritondiff's own MLIR 19 lowering (not shipped here). Without torch_npu there is "
              "no NPU to run on: inspect the linalg above, or run this script on an Ascend machine.")
        return EXIT_CANNOT_CHECK
    print("torch_npu present: launching on the NPU")
    return judge_run(lambda: launch(fn, "npu"))


# ------------------------------------------------------------------------------------------
# CPU-device forks (spine-triton's SMT, triton-shared, triton-cpu): the fork's own launch


def run_cpufork(keep: str | None, print_ir: bool) -> int:
    """`kernel[grid](...)` on CPU torch tensors through the fork's own compiler and launcher."""
    be = DATA["backend"]
    flavor = be.get("flavor", "")
    if flavor == "triton-cpu":
        os.environ.setdefault("TRITON_CPU_BACKEND", "1")  # must precede `import triton`
    import triton

    if flavor == "triton-shared":
        try:
            from triton.backends.triton_shared.driver import CPUDriver

            triton.runtime.driver.set_active(CPUDriver())
        except ImportError:
            print("triton-shared's CPUDriver is not importable: is this the triton-shared env?")
            return EXIT_CANNOT_CHECK
    mode = be.get("versions", {}).get("mode", "")
    if mode == "linalg":
        print("tritondiff saw this through the fork's TTIR -> linalg step ("
              + (be["versions"].get("linalg_tool") or "its own linalg stage")
              + ") executed by tritondiff's MLIR 19 lowering; here the kernel is launched natively.")
    fn = write_kernel(DATA["source"], "kernel", keep)
    try:
        if triton.runtime.driver.active.get_current_target().backend in ("cuda", "hip", "npu", "xpu"):
            raise RuntimeError("the active driver is not a CPU one")
    except Exception as e:  # noqa: BLE001 - no CPU driver: nothing to launch on
        print(f"cannot launch natively here ({e}); the IR under ir/ shows what the fork produced")
        return EXIT_CANNOT_CHECK
    return judge_run(lambda: launch(fn, "cpu"))


# ------------------------------------------------------------------------------------------
# fault-injection doubles: the same defect tritondiff's backend injects into the interpreter


def inject_fault(kind: str, keep: str | None) -> str | int:
    """Install the double's defect; return the source to run, or an exit status to stop with."""
    import ast

    source = DATA["source"]
    print(f"NOTE: this finding comes from tritondiff's fault-injection double fault-{kind}: the stock "
          "interpreter with one deliberately injected defect. It is not a Triton bug.")
    if kind in ("drop-scalar-mul", "runtime-scale"):
        injected = DATA.get("fault_source") or source
        plain = ast.unparse(ast.parse(source))  # the double unparses the AST: compare like with like
        diff = difflib.unified_diff(plain.splitlines(), injected.splitlines(), "kernel.py",
                                    "kernel_injected.py", lineterm="", n=0)
        print("the injected defect rewrites block * scalar-parameter products"
              + (" (runtime float scalars only):" if kind == "runtime-scale" else ":"))
        print("\n".join(diff))
        return injected
    if kind in ("mask2d", "oob-store", "warps8"):
        from triton.runtime.interpreter import InterpreterBuilder  # TRITON_INTERPRET=1 is set

        if kind not in _INSTALLED:
            {"mask2d": _wrap_mask2d, "oob-store": _wrap_oob_store, "warps8": _wrap_warps8}[kind](InterpreterBuilder)
            _INSTALLED.add(kind)
        print("the injected defect: " + {
            "mask2d": "masked loads/stores with a 2-D mask whose rows differ lose the True lanes of the "
                      "mask's last row",
            "oob-store": "every partially masked store also writes one element past its highest masked-in "
                         "address",
            "warps8": "at num_warps == 8 every store loses its last masked-in lane"}[kind])
        return source
    tree = ast.parse(source)
    if kind == "segfault":
        if any(isinstance(n, (ast.BinOp, ast.AugAssign)) and isinstance(n.op, ast.FloorDiv) for n in ast.walk(tree)):
            print("the injected defect: a kernel with `//` crashes the compiler; this one has `//`: SIGSEGV")
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGSEGV)
            time.sleep(5)
        print("not reproduced: no `//` in this kernel")
        return EXIT_NOT_REPRODUCED
    if kind == "hang":
        if any(isinstance(n, ast.For) for n in ast.walk(tree)):
            limit = float(os.environ.get("REPRO_HANG_SECONDS", "5"))
            print(f"the injected defect: a kernel with a `for` loop hangs the compiler; this one has one "
                  f"(hanging {limit:g}s, then giving up)")
            time.sleep(limit)
            print("REPRODUCED: hang")
            return EXIT_REPRODUCED
        print("not reproduced: no `for` loop in this kernel")
        return EXIT_NOT_REPRODUCED
    print(f"unknown fault kind {kind!r}: running the plain interpreter")
    return source


_INSTALLED: set[str] = set()


def _with_data(handle: Any, data: Any) -> Any:
    import copy

    h = copy.copy(handle)
    h.data = data
    return h


def _wrap_mask2d(cls: Any) -> None:
    np = _np()
    load, store = cls.create_masked_load, cls.create_masked_store

    def drop_last_row(mask: Any) -> Any:
        m = np.asarray(mask.data)
        if m.ndim != 2 or m.shape[0] < 2 or (m == m[:1]).all():
            return mask
        m = m.copy()
        m[-1, :] = False
        return _with_data(mask, m)

    cls.create_masked_load = lambda self, p, mask, *r: load(self, p, drop_last_row(mask), *r)
    cls.create_masked_store = lambda self, p, v, mask, *r: store(self, p, v, drop_last_row(mask), *r)


def _wrap_oob_store(cls: Any) -> None:
    np = _np()
    store = cls.create_masked_store

    def create_masked_store(self: Any, ptrs: Any, value: Any, mask: Any, *rest: Any) -> Any:
        ret = store(self, ptrs, value, mask, *rest)
        m = np.broadcast_to(np.asarray(mask.data, dtype=bool), np.shape(ptrs.data))
        if m.all() or not m.any():
            return ret
        addrs = np.asarray(ptrs.data)[m]
        vals = np.broadcast_to(np.asarray(value.data), m.shape)[m]
        i = int(np.argmax(addrs))
        extra = _with_data(ptrs, np.array([addrs[i] + vals.dtype.itemsize], dtype=np.asarray(ptrs.data).dtype))
        store(self, extra, _with_data(value, np.array([vals[i]], dtype=vals.dtype)),
              _with_data(mask, np.array([True])), *rest)
        return ret

    cls.create_masked_store = create_masked_store


def _wrap_warps8(cls: Any) -> None:
    np = _np()
    store = cls.create_masked_store

    def create_masked_store(self: Any, ptrs: Any, value: Any, mask: Any, *rest: Any) -> Any:
        if DATA["num_warps"] == 8:  # the form being run
            m = np.array(np.broadcast_to(np.asarray(mask.data, dtype=bool), np.shape(ptrs.data)))
            on = np.flatnonzero(m)
            if on.size:
                m.flat[on[-1]] = False
                mask = _with_data(mask, m)
        return store(self, ptrs, value, mask, *rest)

    cls.create_masked_store = create_masked_store


# ------------------------------------------------------------------------------------------
# metamorphic findings: the same backend, two equivalent forms of the kernel


def use_form(form: dict[str, Any]) -> None:
    """Make `form` (the base DATA, or the variant's) the one every launch function reads."""
    global DATA
    DATA = form


def variant_form(base: dict[str, Any]) -> dict[str, Any]:
    v = base["metamorphic"]["variant"]
    return {**base, "source": v["source"], "args": v["args"], "grid": v["grid"], "num_warps": v["num_warps"],
            "launch": v.get("launch") or {}, "fault_source": v.get("fault_source")}


def form_outputs(keep: str | None, tag: str) -> dict[str, Any] | None:
    """Run the current form on the backend: padded outputs, or None where it can only compile."""
    be = DATA["backend"]
    fam = be["family"]
    if fam in ("interpreter", "fault"):
        os.environ["TRITON_INTERPRET"] = "1"  # must precede `import triton`
        source = inject_fault(be.get("fault", ""), keep) if fam == "fault" else DATA["source"]
        if isinstance(source, int):
            raise RuntimeError(f"the fault double's defect ended the run (status {source})")
        return launch(write_kernel(source, tag, keep), "cpu")
    if fam in ("cuda", "hip", "xpu"):
        import triton

        try:
            import torch
        except ImportError:
            torch = None
        if fam == "xpu":
            xpu_setup()
        fn = write_kernel(DATA["source"], tag, keep)
        if fam != "xpu" and torch is not None and _gpu_matches(torch, be) is not None:
            return launch(fn, "cuda")
        target = gpu_target(be)
        if fam == "hip":
            find_hip_lld(str(triton.__version__))
        opts = {"num_warps": DATA["num_warps"], **be.get("compile_options", {}), **launch_options()}
        triton.compile(ast_source(fn, target), target=target, options=opts)
        print(f"compiled for {be['name'] if fam == 'xpu' else target} (no matching GPU: not executed)")
        return None
    if fam == "ascend":
        fn = write_kernel(DATA["source"], tag, keep)
        ascend_compile(fn)
        try:
            import torch_npu  # noqa: F401
        except ImportError:
            print("compiled through triton-adapter-opt (no torch_npu: not executed)")
            return None
        return launch(fn, "npu")
    raise RuntimeError(f"unknown backend family {fam!r}")


def compare_forms(first: dict[str, Any], second: dict[str, Any]) -> int:
    """Print where the variant form's buffers differ from the base form's; how many buffers do."""
    np = _np()
    m = DATA["metamorphic"]
    bad = 0
    for name, buf in DATA["buffers"].items():
        size = buf["size"]
        a_raw, b_raw = first[name], second[name]
        if a_raw.view(np.uint8)[:GUARD_ELEMS * a_raw.itemsize].tobytes() != \
                b_raw.view(np.uint8)[:GUARD_ELEMS * b_raw.itemsize].tobytes() or \
                a_raw.view(np.uint8)[(GUARD_ELEMS + size) * a_raw.itemsize:].tobytes() != \
                b_raw.view(np.uint8)[(GUARD_ELEMS + size) * b_raw.itemsize:].tobytes():
            bad += 1
            print(f"DIVERGENCE {name}: the guard canaries around the buffer differ between the forms")
        a = values(buf["dtype"], a_raw[GUARD_ELEMS:GUARD_ELEMS + size])
        b = values(buf["dtype"], b_raw[GUARD_ELEMS:GUARD_ELEMS + size])
        if buf["dtype"] in FLOATS:
            if m.get("tol", {}).get(name):
                tol = decode(m["tol"][name], "<f8")
            else:
                fin = np.concatenate([np.abs(a[np.isfinite(a)]), np.abs(b[np.isfinite(b)]), [0.0]])
                tol = m["rtol"].get(buf["dtype"], 0.0) * (np.maximum(np.abs(a), np.abs(b)) + fin.max())
            with np.errstate(invalid="ignore"):
                wrong = ~((a == b) | (np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= tol))
        else:
            wrong = a != b
        idx = np.nonzero(wrong)[0]
        if not idx.size:
            print(f"ok {name}: both forms agree on all {size} elements")
            continue
        bad += 1
        print(f"DIVERGENCE {name} ({buf['dtype']}): {idx.size} of {size} elements differ between the forms")
        print(f"  {'index':>7}  {'base form':>14}  {'variant form':>14}")
        for i in idx[:MAX_ROWS]:
            print(f"  {int(i):>7}  {a[i]!s:>14}  {b[i]!s:>14}")
        if idx.size > MAX_ROWS:
            print(f"  ... and {idx.size - MAX_ROWS} more")
    return bad


def run_metamorphic(keep: str | None) -> int:
    base = DATA
    m = base["metamorphic"]
    print(f"metamorphic relation {m['label']}: {m['doc']}")
    got: dict[str, tuple[str, Any]] = {}
    for label, form, tag in (("base", base, "kernel"), ("variant", variant_form(base), "kernel_variant")):
        use_form(form)
        print(f"----- {label} form -----")
        try:
            got[label] = ("ok", form_outputs(keep, tag))
        except Exception as e:  # noqa: BLE001 - a form that fails is what the report may be about
            traceback.print_exc()
            got[label] = ("error", f"{type(e).__name__}: {e}")
    use_form(base)
    (bs, bo), (vs, vo) = got["base"], got["variant"]
    if bs == vs == "error":
        print("not reproduced: both forms fail (the finding was about one form only)")
        return EXIT_NOT_REPRODUCED
    if bs != vs:
        which = "variant" if vs == "error" else "base"
        print(f"REPRODUCED: only the {which} form fails: {(vo if vs == 'error' else bo)}")
        return EXIT_REPRODUCED
    if bo is None or vo is None:
        print("both forms compiled; comparing their outputs needs the device this backend runs on")
        return EXIT_CANNOT_CHECK
    n = compare_forms(bo, vo)
    if n:
        print(f"REPRODUCED: {n} buffer(s) differ between two forms that compute the same values")
        return EXIT_REPRODUCED
    print("not reproduced: both forms give the same outputs")
    return EXIT_NOT_REPRODUCED


# ------------------------------------------------------------------------------------------


def installed_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("triton", "triton-ascend", "triton-xpu", "torch", "numpy", "torch_npu"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    if "triton" not in out and "triton-xpu" in out:  # Intel's wheel installs the `triton` package
        out["triton"] = out["triton-xpu"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=f"Reproduce tritondiff finding {DATA['finding']['short_id']}: "
                                            f"{DATA['finding']['title']}")
    p.add_argument("--keep", metavar="DIR", help="write the kernel file(s) to DIR instead of a temp dir")
    p.add_argument("--print-ir", action="store_true", help="also print the IR the compiler produced")
    args = p.parse_args(argv)
    f, be = DATA["finding"], DATA["backend"]
    print(f"finding {f['short_id']}: {f['kind']} at stage {f['stage'] or '?'} on {be['name']}")
    have = installed_versions()
    print("installed: " + (", ".join(f"{k} {v}" for k, v in have.items()) or "(none of triton/torch/numpy)"))
    want = {k: v for k, v in be.get("versions", {}).items() if k in ("triton", "triton-ascend", "torch", "numpy")}
    off = [f"{k} {want[k]} (here {have.get(k, 'missing')})" for k in want if have.get(k) != want[k]]
    if off:
        print("warning: the finding was seen with " + ", ".join(off))
    fam = be["family"]
    if DATA.get("metamorphic"):
        return run_metamorphic(args.keep)
    if fam == "interpreter":
        return run_interpreter(args.keep)
    if fam == "fault":
        return run_interpreter(args.keep, be.get("fault", ""))
    if fam in ("cuda", "hip", "xpu"):
        return run_gpu_family(args.keep, args.print_ir)
    if fam == "ascend":
        return run_ascend(args.keep, args.print_ir)
    if fam == "cpufork":
        return run_cpufork(args.keep, args.print_ir)
    print(f"unknown backend family {fam!r}")
    return EXIT_CANNOT_CHECK

"""Launch a compiled CUDA kernel through the driver API instead of Triton's own launcher.

Why: up to 3.6, Triton builds a C launcher (a C compiler run, ~0.3 s) for every argument
signature it has not seen, and generated kernels almost never repeat one, so that build was two
thirds of every executed case. This module is one generic launcher: it reads which arguments the
compiled kernel takes from its own source signature and metadata, packs them, and calls
`cuLaunchKernel` through ctypes. In-env module: stdlib only (torch tensors are only asked for
`data_ptr()`), importable without a GPU so the planning and packing are testable on CPU.

What each release's launcher passes, which `plan_launch` mirrors:
* 3.0–3.2: `src.signature` {index or name: type} lists the runtime params; those that are also
  in `src.constants` (ints equal to 1, None) are specialised away and not passed. No hidden params.
* 3.3, 3.4: `src.signature` {name: type} lists every param; "constexpr" ones are not passed.
  One hidden pointer follows: the global scratch buffer (metadata `global_scratch_size`).
* 3.5 and later: a second hidden pointer follows it, the profile scratch buffer
  (`profile_scratch_size`).
Scalars: ints as two's complement of the PTX parameter's width, fp32 as C `(float)` of the
Python float (every release converts with that cast), fp64 as double. The block has
32 * num_warps threads and `metadata.shared` bytes of dynamic shared memory, with the function's
limit raised above 48 KiB as Triton's `load_binary` does.

Every plan is checked against the kernel's PTX entry (number and byte size of its parameters),
so a release whose layout differs falls back instead of launching wrongly. `NotLaunchable` says
why; the runner then uses Triton's own launch, so anything this module does not mirror (fp16
scalars, clusters, cooperative or PDL launches, kernels that need scratch memory, launch hooks)
behaves exactly as it would for a Triton user.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass, field
from typing import Any

SHARED_DEFAULT_LIMIT = 49152  # bytes a kernel may use without opting in

# signature type -> (kind, bytes, signed) for the scalars we pack; others fall back.
_SCALARS: dict[str, tuple[str, int, bool]] = {
    "i1": ("int", 1, False), "i8": ("int", 1, True), "i16": ("int", 2, True), "i32": ("int", 4, True),
    "i64": ("int", 8, True), "u1": ("int", 1, False), "u8": ("int", 1, False), "u16": ("int", 2, False),
    "u32": ("int", 4, False), "u64": ("int", 8, False), "fp32": ("f32", 4, True), "f32": ("f32", 4, True),
    "fp64": ("f64", 8, True),
}
_SCALAR_RANGE_BITS = {"i1": 1, "u1": 1}


class NotLaunchable(Exception):
    """This kernel's launch is outside what the generic launcher mirrors; the message says why."""


@dataclass(frozen=True)
class Param:
    """One kernel parameter as the launch passes it.

    kind: "ptr" (a tensor's data_ptr), "int", "f32", "f64" (a scalar argument) or "hidden"
    (a scratch pointer, always null here). index: position in the Python argument list, -1 for
    hidden params. size: bytes of the PTX parameter.
    """

    name: str
    kind: str
    size: int
    index: int = -1
    signed: bool = True
    bits: int = 0  # value range of an int scalar (i1: 1); 0 = 8 * size


@dataclass
class LaunchPlan:
    """Everything a launch needs besides the argument values."""

    name: str
    binary: bytes
    num_warps: int
    shared: int
    params: list[Param] = field(default_factory=list)

    @property
    def threads(self) -> int:
        return 32 * self.num_warps

    def describe(self) -> list[list[Any]]:
        """[name, kind, size, index] per param, for tests and logs."""
        return [[p.name, p.kind, p.size, p.index] for p in self.params]


# --------------------------------------------------------------------------------------------
# planning (pure Python: works on CPU on a kernel compiled for any sm)

_ENTRY = re.compile(r"\.entry\s+(\w+)\s*\(([^)]*)\)", re.S)
_PARAM = re.compile(r"\.param\s+(?:\.align\s+\d+\s+)?\.([busf])(\d+)\b[^,]*?(?:\[(\d+)\])?\s*(?:,|$)")


def ptx_param_sizes(ptx: str, name: str) -> list[int]:
    """Byte size of each parameter of the PTX entry `name`, in order."""
    for m in _ENTRY.finditer(ptx):
        if m.group(1) != name:
            continue
        body = m.group(2).strip()
        if not body:
            return []
        sizes = []
        for part in body.split(","):
            pm = _PARAM.search(part.strip() + ",")
            if pm is None:
                raise NotLaunchable(f"PTX parameter {part.strip()!r} of {name} not understood")
            sizes.append(int(pm.group(2)) // 8 * int(pm.group(3) or 1))
        return sizes
    raise NotLaunchable(f"no PTX entry named {name!r}")


def _meta(metadata: Any, key: str, default: Any = None) -> Any:
    if isinstance(metadata, dict):
        return metadata.get(key, default)
    return getattr(metadata, key, default)


def _has(metadata: Any, key: str) -> bool:
    return key in metadata if isinstance(metadata, dict) else hasattr(metadata, key)


def _check_launch_kind(md: Any) -> None:
    """The metadata of a kernel that a plain cuLaunchKernel launches as Triton would."""
    target = _meta(md, "target")
    backend = getattr(target, "backend", None) or (target.get("backend") if isinstance(target, dict) else None)
    if backend not in (None, "cuda"):
        raise NotLaunchable(f"target backend {backend!r} is not cuda")
    checks = [("num_ctas", 1, "a cluster launch (num_ctas={})"),
              ("launch_cooperative_grid", False, "a cooperative launch ({})"),
              ("launch_pdl", False, "a programmatic dependent launch ({})"),
              ("global_scratch_size", 0, "global scratch memory ({} bytes per program)"),
              ("profile_scratch_size", 0, "profile scratch memory ({} bytes per program)"),
              ("instrumentation_mode", "", "instrumentation {!r}")]
    for key, plain, what in checks:
        v = _meta(md, key, plain)
        if v and v != plain:
            raise NotLaunchable("the kernel needs " + what.format(v))
    if _meta(md, "tensordesc_meta"):
        raise NotLaunchable("the kernel takes tensor descriptors")
    if _meta(md, "warp_size", 32) != 32:
        raise NotLaunchable(f"warp size {_meta(md, 'warp_size')}")


def _arg_index(src: Any, key: Any) -> int:
    if isinstance(key, tuple):
        if len(key) != 1:
            raise NotLaunchable(f"nested argument path {key!r}")
        key = key[0]
    if isinstance(key, str):
        return list(src.fn.arg_names).index(key)
    return int(key)


def _passed_args(src: Any, md: Any) -> tuple[list[tuple[int, str, str]], list[str]]:
    """(index, name, type) of each passed argument, and the hidden params, as the release does."""
    names = list(src.fn.arg_names)
    signature = dict(src.signature)
    for v in signature.values():
        if not isinstance(v, str):
            raise NotLaunchable(f"tuple argument of type {v!r}")
    # Releases that pass a scratch pointer have its size in the metadata (possibly None).
    hidden = []
    if _has(md, "global_scratch_size"):
        hidden.append("global_scratch")
        if _has(md, "profile_scratch_size"):
            hidden.append("profile_scratch")
    passed = []
    if hidden:  # 3.3+: every param is in the signature, constexprs by type
        for key, ty in signature.items():
            if ty != "constexpr":
                i = _arg_index(src, key)
                passed.append((i, names[i], ty))
    else:  # 3.0-3.2: constexprs are absent, specialised ints are in `constants`
        constants = {_arg_index(src, k) for k in (getattr(src, "constants", None) or {})}
        for key, ty in signature.items():
            i = _arg_index(src, key)
            if i not in constants and ty != "constexpr":
                passed.append((i, names[i], ty))
    return passed, hidden


def plan_launch(kernel: Any) -> LaunchPlan:
    """The launch plan of a CompiledKernel (any release 3.0+), or NotLaunchable with the reason."""
    try:
        return _plan(kernel)
    except (KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise NotLaunchable(f"compiled kernel's metadata not understood: {type(e).__name__}: {e}") from e


def _plan(kernel: Any) -> LaunchPlan:
    src, md = getattr(kernel, "src", None), getattr(kernel, "metadata", None)
    if src is None or md is None or not hasattr(src, "signature") or not hasattr(src, "fn"):
        raise NotLaunchable("compiled kernel has no source signature")
    _check_launch_kind(md)
    name = _meta(md, "name") or getattr(kernel, "name", None)
    binary = getattr(kernel, "kernel", None)
    if not isinstance(binary, (bytes, bytearray)) or not name:
        raise NotLaunchable("compiled kernel has no cubin")
    ptx = (getattr(kernel, "asm", None) or {}).get("ptx")
    if not isinstance(ptx, str):
        raise NotLaunchable("compiled kernel has no PTX to check the parameters against")
    passed, hidden = _passed_args(src, md)
    sizes = ptx_param_sizes(ptx, name)
    if len(sizes) != len(passed) + len(hidden):
        raise NotLaunchable(f"PTX entry has {len(sizes)} parameters, the signature gives "
                            f"{len(passed)} arguments + {len(hidden)} hidden")
    params = []
    for (i, pname, ty), size in zip(passed, sizes):
        if ty.startswith("*"):
            kind, want, signed = "ptr", 8, False
        elif ty in _SCALARS:
            kind, want, signed = _SCALARS[ty]
        else:
            raise NotLaunchable(f"argument {pname!r} of type {ty!r} is not packed by tritondiff")
        ok = size == want or (ty in ("i1", "u1") and size in (1, 2, 4))
        if not ok:
            raise NotLaunchable(f"argument {pname!r} ({ty}) has a {size}-byte PTX parameter")
        params.append(Param(pname, kind, size, i, signed, _SCALAR_RANGE_BITS.get(ty, 0)))
    for hname, size in zip(hidden, sizes[len(passed):]):
        if size != 8:
            raise NotLaunchable(f"hidden parameter {hname} has {size} bytes")
        params.append(Param(hname, "hidden", 8))
    num_warps = int(_meta(md, "num_warps", 4))
    return LaunchPlan(str(name), bytes(binary), num_warps, int(_meta(md, "shared", 0) or 0), params)


# --------------------------------------------------------------------------------------------
# packing

_INT_TYPES = {(1, True): ctypes.c_int8, (1, False): ctypes.c_uint8, (2, True): ctypes.c_int16,
              (2, False): ctypes.c_uint16, (4, True): ctypes.c_int32, (4, False): ctypes.c_uint32,
              (8, True): ctypes.c_int64, (8, False): ctypes.c_uint64}


def _int_value(p: Param, v: Any) -> int:
    if isinstance(v, bool):
        v = int(v)
    if not isinstance(v, int):
        raise NotLaunchable(f"argument {p.name!r} is {type(v).__name__}, not an int")
    bits = p.bits or 8 * p.size
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if p.signed else (0, (1 << bits) - 1)
    if not lo <= v <= hi:
        raise NotLaunchable(f"argument {p.name!r}={v} is out of range for its type")
    return v


def pack_args(plan: LaunchPlan, values: list[Any]) -> tuple[Any, list[Any]]:
    """The `void**` array cuLaunchKernel takes, and the ctypes objects it points into."""
    keep: list[Any] = []
    for p in plan.params:
        if p.kind == "hidden":
            c: Any = ctypes.c_uint64(0)
        elif p.kind == "ptr":
            v = values[p.index]
            if not hasattr(v, "data_ptr"):
                raise NotLaunchable(f"argument {p.name!r} is {type(v).__name__}, not a tensor")
            c = ctypes.c_uint64(int(v.data_ptr()))
        elif p.kind == "int":
            c = _INT_TYPES[(p.size, p.signed)](_int_value(p, values[p.index]))
        else:
            v = values[p.index]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise NotLaunchable(f"argument {p.name!r} is {type(v).__name__}, not a float")
            c = (ctypes.c_float if p.kind == "f32" else ctypes.c_double)(float(v))
        keep.append(c)
    arr = (ctypes.c_void_p * max(1, len(keep)))(*[ctypes.cast(ctypes.pointer(c), ctypes.c_void_p) for c in keep])
    return arr, keep


def packed_bytes(keep: list[Any]) -> list[bytes]:
    """The bytes each packed parameter holds (for tests)."""
    return [bytes(c) for c in keep]


# --------------------------------------------------------------------------------------------
# the driver

CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0
CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1
CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97
CU_FUNC_CACHE_PREFER_SHARED = 1


class DriverError(Exception):
    """A CUDA driver call failed; `code` is its CUresult."""

    def __init__(self, call: str, code: int, name: str, text: str) -> None:
        super().__init__(f"{call}: {name}: {text}")
        self.code = code


@dataclass
class LoadedKernel:
    module: ctypes.c_void_p
    function: ctypes.c_void_p
    plan: LaunchPlan


class CudaDriver:
    """The few libcuda entry points a launch needs, through ctypes (no compiler involved)."""

    def __init__(self, path: str = "libcuda.so.1") -> None:
        self.lib = ctypes.CDLL(path)
        vp, c_int, c_uint = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint
        sigs = {
            "cuCtxGetCurrent": [ctypes.POINTER(vp)],
            "cuCtxSetCurrent": [vp],
            "cuDevicePrimaryCtxRetain": [ctypes.POINTER(vp), c_int],
            "cuModuleLoadData": [ctypes.POINTER(vp), ctypes.c_char_p],
            "cuModuleGetFunction": [ctypes.POINTER(vp), vp, ctypes.c_char_p],
            "cuModuleUnload": [vp],
            "cuFuncGetAttribute": [ctypes.POINTER(c_int), c_int, vp],
            "cuFuncSetAttribute": [vp, c_int, c_int],
            "cuFuncSetCacheConfig": [vp, c_int],
            "cuDeviceGetAttribute": [ctypes.POINTER(c_int), c_int, c_int],
            "cuLaunchKernel": [vp, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, vp,
                               ctypes.POINTER(vp), ctypes.POINTER(vp)],
            "cuGetErrorName": [c_int, ctypes.POINTER(ctypes.c_char_p)],
            "cuGetErrorString": [c_int, ctypes.POINTER(ctypes.c_char_p)],
        }
        for fname, argtypes in sigs.items():
            f = getattr(self.lib, fname)
            f.argtypes, f.restype = argtypes, c_int
        self._optin: dict[int, int] = {}

    def _check(self, call: str, code: int) -> None:
        if code == 0:
            return
        name, text = ctypes.c_char_p(), ctypes.c_char_p()
        self.lib.cuGetErrorName(code, ctypes.byref(name))
        self.lib.cuGetErrorString(code, ctypes.byref(text))
        raise DriverError(call, code, (name.value or b"CUDA_ERROR_%d" % code).decode(),
                          (text.value or b"").decode())

    def _ensure_context(self, device: int) -> None:
        ctx = ctypes.c_void_p()
        self._check("cuCtxGetCurrent", self.lib.cuCtxGetCurrent(ctypes.byref(ctx)))
        if not ctx.value:
            self._check("cuDevicePrimaryCtxRetain", self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), device))
            self._check("cuCtxSetCurrent", self.lib.cuCtxSetCurrent(ctx))

    def _func_attr(self, attr: int, fn: ctypes.c_void_p) -> int:
        v = ctypes.c_int()
        self._check("cuFuncGetAttribute", self.lib.cuFuncGetAttribute(ctypes.byref(v), attr, fn))
        return v.value

    def shared_optin(self, device: int) -> int:
        if device not in self._optin:
            v = ctypes.c_int()
            self._check("cuDeviceGetAttribute", self.lib.cuDeviceGetAttribute(
                ctypes.byref(v), CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device))
            self._optin[device] = v.value
        return self._optin[device]

    def load(self, plan: LaunchPlan, device: int) -> LoadedKernel:
        """Load the cubin and get its function; NotLaunchable where Triton would refuse to launch."""
        optin = self.shared_optin(device)
        if plan.shared > optin:
            raise NotLaunchable(f"needs {plan.shared} bytes of shared memory, the device has {optin}")
        self._ensure_context(device)
        mod, fn = ctypes.c_void_p(), ctypes.c_void_p()
        self._check("cuModuleLoadData", self.lib.cuModuleLoadData(ctypes.byref(mod), plan.binary))
        loaded = LoadedKernel(mod, fn, plan)
        try:
            self._check("cuModuleGetFunction",
                        self.lib.cuModuleGetFunction(ctypes.byref(fn), mod, plan.name.encode()))
            max_threads = self._func_attr(CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn)
            if plan.threads > max_threads:
                raise NotLaunchable(f"{plan.threads} threads per program, the function allows {max_threads}")
            if plan.shared > SHARED_DEFAULT_LIMIT and optin > SHARED_DEFAULT_LIMIT:
                self._check("cuFuncSetCacheConfig", self.lib.cuFuncSetCacheConfig(fn, CU_FUNC_CACHE_PREFER_SHARED))
                static = self._func_attr(CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, fn)
                self._check("cuFuncSetAttribute", self.lib.cuFuncSetAttribute(
                    fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, optin - static))
        except BaseException:
            self.unload(loaded)
            raise
        return loaded

    def launch(self, k: LoadedKernel, grid: tuple[int, int, int], stream: int, params: Any) -> None:
        """Enqueue the kernel on `stream` (an empty grid launches nothing, as in Triton)."""
        gx, gy, gz = (int(g) for g in grid)
        if gx * gy * gz <= 0:
            return
        self._check("cuLaunchKernel", self.lib.cuLaunchKernel(
            k.function, gx, gy, gz, k.plan.threads, 1, 1, k.plan.shared, ctypes.c_void_p(stream or None),
            params, None))

    def unload(self, k: LoadedKernel) -> None:
        if k.module.value:
            self.lib.cuModuleUnload(k.module)
            k.module = ctypes.c_void_p()

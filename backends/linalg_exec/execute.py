"""Run a lowered kernel once per program id in a forked child, with guard pages and poison.

Why a fork per case: a fault or hang in the kernel must cost this case only, not the worker.
The child installs our runtime's signal handler, which reports the signal, fault address and
current program id through a pipe before the signal kills it; the parent maps the address onto the
guard pages of the case's buffers.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import platform
import resource
import select
import signal
import struct
import time
import traceback
from dataclasses import dataclass

import numpy as np

from backends.linalg_exec.convention import Convention
from backends.linalg_exec.guarded import GuardedBuffer, map_buffer
from backends.runner_api import StageError, Unsupported

CTYPE = {"int1": ctypes.c_bool, "int8": ctypes.c_int8, "int16": ctypes.c_int16,
         "int32": ctypes.c_int32, "int64": ctypes.c_int64, "fp32": ctypes.c_float,
         "fp64": ctypes.c_double}
FAULT_FMT = "<iiiiQiiii"  # magic, signo, code, internal, addr, pid[3], access
FAULT_SIZE = struct.calcsize(FAULT_FMT)
FAULT_MAGIC = 0x54444654
WORKSPACE_BYTES = 1 << 16


class MemRef1D(ctypes.Structure):
    _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                ("offset", ctypes.c_int64), ("size", ctypes.c_int64), ("stride", ctypes.c_int64)]


class UnrankedMemRef(ctypes.Structure):
    _fields_ = [("rank", ctypes.c_int64), ("descriptor", ctypes.c_void_p)]


@dataclass(frozen=True)
class JitKernel:
    """A kernel already linked into this process by the engine (inherited by the forked child)."""

    address: int
    runtime: str  # path of the runtime shared object, loaded RTLD_GLOBAL in this process


@dataclass
class ExecResult:
    outputs: dict[str, bytes]
    exec_s: float


def _half_bits(dtype: str, value: float) -> int:
    if dtype == "fp16":
        return int(np.array(value, dtype=np.float16).view(np.uint16))
    u = int(np.array(value, dtype=np.float32).view(np.uint32))  # bf16: round to nearest even
    if (u & 0x7FFFFFFF) > 0x7F800000:
        return (u >> 16) | 0x40
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF


def _scalar(dtype: str, value: object) -> ctypes._SimpleCData:
    """ctypes value for a by-value scalar.

    f16/bf16 have no ctypes type; on x86-64 SysV they travel in the low 16 bits of an SSE
    register (LLVM 19), exactly where a c_float with those bits puts them.
    """
    if dtype in ("fp16", "bf16"):
        if platform.machine() not in ("x86_64", "AMD64"):
            raise Unsupported(f"{dtype} scalar arguments are only passed on x86-64")
        return ctypes.c_float.from_buffer_copy(struct.pack("<I", _half_bits(dtype, float(value))))  # type: ignore[arg-type]
    if dtype not in CTYPE:
        raise Unsupported(f"scalar arguments of dtype {dtype} cannot be passed through ctypes")
    return CTYPE[dtype](value)  # type: ignore[arg-type]


def _resolve(kernel: str | JitKernel, name: str) -> tuple[ctypes.CDLL, object]:
    """(runtime library, kernel entry) from a kernel .so (runtime linked in) or a JIT address."""
    if isinstance(kernel, JitKernel):
        lib = ctypes.CDLL(kernel.runtime, mode=ctypes.RTLD_GLOBAL)  # already loaded: a handle
        return lib, ctypes.CFUNCTYPE(None)(kernel.address)
    lib = ctypes.CDLL(kernel)
    return lib, getattr(lib, f"_mlir_ciface_{name}")


def _child(kernel: str | JitKernel, conv: Convention, bufs: dict[str, GuardedBuffer], work: GuardedBuffer,
           grid: tuple[int, int, int], poison: int, guard_allocs: bool, fault_w: int, msg_w: int) -> None:
    """Body of the forked child; never returns."""
    code = 0
    try:
        os.dup2(2, 1)  # the worker's stdout carries its protocol; keep kernel output off it
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        _die_with_parent()
        lib, fn = _resolve(kernel, conv.kernel)
        lib.td_install_fault_handler.argtypes = [ctypes.c_int]
        lib.td_install_fault_handler(fault_w)
        lib.td_configure(poison, int(guard_allocs))
        lead = [MemRef1D(work.data_addr, work.data_addr, 0, WORKSPACE_BYTES, 1) for _ in range(conv.n_leading)]
        args: list[object] = [ctypes.byref(d) for d in lead]
        descs = []
        for p in conv.params:
            if p.kind == "ptr":
                b = bufs[p.buffer]  # type: ignore[index]
                d = MemRef1D(b.data_addr, b.data_addr, 0, b.size, 1)
                descs.append(d)
                if p.name in conv.unranked:
                    u = UnrankedMemRef(1, ctypes.addressof(d))
                    descs.append(u)
                    args.append(ctypes.byref(u))
                else:
                    args.append(ctypes.byref(d))
            else:
                args.append(_scalar(p.dtype, p.value))
        begin = lib.td_program_begin
        begin.argtypes = [ctypes.c_int32] * 3
        gx, gy, gz = grid
        for z in range(gz):
            for y in range(gy):
                for x in range(gx):
                    begin(x, y, z)
                    fn(*args, ctypes.c_int32(gx), ctypes.c_int32(gy), ctypes.c_int32(gz),
                       ctypes.c_int32(x), ctypes.c_int32(y), ctypes.c_int32(z))
        lib.td_arena_reset()
        os.write(msg_w, pickle.dumps(("ok", "")))
    except Unsupported as e:
        os.write(msg_w, pickle.dumps(("unsupported", str(e)))[:60000])
        code = 3
    except BaseException:  # noqa: BLE001 - report anything from the child to the parent
        os.write(msg_w, pickle.dumps(("error", traceback.format_exc()[-20000:]))[:60000])
        code = 4
    os._exit(code)


def _die_with_parent() -> None:
    """SIGKILL this child when its parent dies (a killed executor must not leave kernels running)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            b = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def _describe_fault(rec: bytes, bufs: dict[str, GuardedBuffer], work: GuardedBuffer) -> tuple[str, str]:
    if len(rec) < FAULT_SIZE:
        return "", ""
    magic, signo, code, internal, addr, px, py, pz, access = struct.unpack(FAULT_FMT, rec[:FAULT_SIZE])
    if magic != FAULT_MAGIC:
        return "", ""
    sig = signal.Signals(signo).name if signo in signal.valid_signals() else str(signo)
    what = {1: "read", 2: "write"}.get(access, "access")
    where = None
    for b in [*bufs.values(), work]:
        where = b.locate(addr)
        if where:
            break
    if where is not None:
        head = f"out-of-bounds {what}: guard page hit {where}"
    elif internal:
        head = (f"out-of-bounds {what} of an allocation made by the lowered kernel itself (internal "
                f"guard page)" if internal == 1 else f"{what} of an internal allocation after it was freed")
    elif signo == signal.SIGSEGV:
        head = f"invalid memory {what} outside every guarded buffer"
    else:
        head = f"kernel raised {sig}"
    return sig, f"{head}; {sig} (si_code {code}) at {addr:#x}, program id ({px}, {py}, {pz})"


def run(kernel: str | JitKernel, conv: Convention, buffers: dict[str, dict],
        grid: tuple[int, int, int], timeout: float = 20.0, guards: str = "after", poison: int = 0xFF,
        guard_allocs: bool = True) -> ExecResult:
    """Execute in a forked child; return padded outputs or raise runtime-fault/-timeout.

    `kernel` is a kernel .so (tools pipeline) or a JitKernel (engine); the child is the same.
    """
    for p in conv.params:
        if p.kind == "scalar":
            _scalar(p.dtype, p.value)  # raises Unsupported before forking
    bufs = {n: map_buffer(n, b["dtype"], b["data"], guards) for n, b in buffers.items()}
    work = map_buffer("<workspace>", "int8", bytes(WORKSPACE_BYTES), guards)
    fault_r, fault_w = os.pipe()
    msg_r, msg_w = os.pipe()
    t0 = time.perf_counter()
    try:
        pid = os.fork()
        if pid == 0:
            os.close(fault_r)
            os.close(msg_r)
            _child(kernel, conv, bufs, work, grid, poison, guard_allocs, fault_w, msg_w)
        os.close(fault_w)
        os.close(msg_w)
        os.set_blocking(msg_r, False)
        os.set_blocking(fault_r, False)
        msg = b""
        deadline = time.monotonic() + timeout
        while True:  # until the child closes its end of the pipe: it has exited (or died)
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise StageError("runtime-timeout", "Timeout",
                                 f"kernel did not finish within {timeout:.1f}s (grid {list(grid)})")
            if not select.select([msg_r], [], [], left)[0]:
                continue
            try:
                chunk = os.read(msg_r, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            msg += chunk
        _, status = os.waitpid(pid, 0)
        exec_s = time.perf_counter() - t0
        msg += _read_all(msg_r)
        fault = _read_all(fault_r)
        if os.WIFSIGNALED(status):
            signo = os.WTERMSIG(status)
            sig, text = _describe_fault(fault, bufs, work)
            if not text:
                sig = signal.Signals(signo).name if signo in signal.valid_signals() else str(signo)
                text = f"kernel process killed by {sig}"
            raise StageError("runtime-fault", sig, text)
        kind, detail = pickle.loads(msg) if msg else ("error", f"child exited {status} silently")
        if kind == "unsupported":
            raise Unsupported(detail)
        if kind != "ok":
            raise Unsupported(f"our runner failed in the child: {detail}")
        return ExecResult({n: b.padded() for n, b in bufs.items()}, exec_s)
    finally:
        for fd in (fault_r, msg_r):
            try:
                os.close(fd)
            except OSError:
                pass
        for b in [*bufs.values(), work]:
            b.free()

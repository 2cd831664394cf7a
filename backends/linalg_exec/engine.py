"""ctypes face of engine.cpp: lower MLIR text in-process and link the object into this process.

Loaded only inside the executor service (`service.py`): MLIR aborts on some malformed input, and
that must cost the service (restarted by the client), never a backend worker.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from backends.linalg_exec.build import engine_library, runtime_library

_VP = ctypes.c_void_p
_PVP = ctypes.POINTER(ctypes.c_void_p)
STEPS = ("parse", "passes", "print", "translate", "codegen")


class LowerError(Exception):
    """The engine refused the input; the message names the step (as the tools pipeline would)."""


@dataclass
class Lowered:
    lowered: str  # LLVM-dialect MLIR, as mlir-opt prints it
    obj: bytes  # ELF object, as llc -filetype=obj writes it
    times: dict[str, float]


class Engine:
    """One per process: an MLIR context (single-threaded) and an ORC JIT."""

    def __init__(self) -> None:
        self.runtime_path = runtime_library()
        ctypes.CDLL(self.runtime_path, mode=ctypes.RTLD_GLOBAL)  # JIT-linked kernels call into it
        lib = ctypes.CDLL(engine_library())
        lib.tde_create.restype = _VP
        lib.tde_create.argtypes = [_PVP]
        lib.tde_free.argtypes = [_VP]
        lib.tde_lower.restype = ctypes.c_int
        lib.tde_lower.argtypes = [_VP, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int,
                                  _PVP, _PVP, ctypes.POINTER(ctypes.c_size_t), _PVP,
                                  ctypes.POINTER(ctypes.c_double), ctypes.c_int]
        lib.tde_load.restype = ctypes.c_ulonglong
        lib.tde_load.argtypes = [_VP, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, _PVP, _PVP]
        lib.tde_unload.argtypes = [_VP, _VP]
        self.lib = lib
        err = _VP()
        self.handle = lib.tde_create(ctypes.byref(err))
        if not self.handle:
            raise LowerError(self._take(err) or "engine could not start")

    def _take(self, p: ctypes.c_void_p) -> str:
        if not p.value:
            return ""
        s = ctypes.string_at(p.value).decode(errors="replace")
        self.lib.tde_free(p)
        return s

    def lower(self, text: str, pipeline: str, opt_level: int = 0, verify_each: bool = True) -> Lowered:
        src = text.encode()
        low, obj, err = _VP(), _VP(), _VP()
        n = ctypes.c_size_t()
        times = (ctypes.c_double * len(STEPS))()
        rc = self.lib.tde_lower(self.handle, src, len(src), pipeline.encode(), int(opt_level),
                                ctypes.byref(low), ctypes.byref(obj), ctypes.byref(n), ctypes.byref(err),
                                times, int(verify_each))
        if rc != 0:
            self._take(low)
            raise LowerError(self._take(err))
        data = ctypes.string_at(obj.value, n.value)
        self.lib.tde_free(obj)
        return Lowered(self._take(low), data, dict(zip(STEPS, times)))

    def load(self, obj: bytes, symbol: str) -> tuple[int, int]:
        """(address of `symbol`, dylib handle for unload) after JIT-linking `obj`."""
        dylib, err = _VP(), _VP()
        addr = self.lib.tde_load(self.handle, obj, len(obj), symbol.encode(), ctypes.byref(dylib),
                                 ctypes.byref(err))
        if not addr:
            raise LowerError(self._take(err) or f"link: symbol {symbol} not found")
        return int(addr), int(dylib.value or 0)

    def unload(self, dylib: int) -> None:
        self.lib.tde_unload(self.handle, _VP(dylib))

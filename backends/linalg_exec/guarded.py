"""Buffers mapped between PROT_NONE guard pages, shared with a forked child.

Why: on CPU an out-of-bounds access usually lands in other heap memory and passes silently. We
place each buffer's data flush against an inaccessible page (after it by default, or before it),
so a one-element overrun faults and the fault address names the buffer. The mapping is
MAP_SHARED so the parent reads what the forked child wrote.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
from dataclasses import dataclass

import numpy as np

from backends.runner_api import CANARY_BYTE, GUARD_ELEMS, STORAGE

PAGE = mmap.PAGESIZE
PROT_NONE = 0
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                       ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MAP_FAILED = ctypes.c_void_p(-1).value


def _round_up(n: int, m: int) -> int:
    return (n + m - 1) // m * m


@dataclass
class GuardedBuffer:
    """One buffer: [guard][canary slack + data] or [guard][data + canary slack][guard]."""

    name: str
    dtype: str
    size: int
    base: int  # mapping start
    length: int  # mapping length
    data_addr: int
    side: str  # "after" | "before" | "none"

    @property
    def itemsize(self) -> int:
        return np.dtype(STORAGE[self.dtype]).itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    def guard_pages(self) -> list[tuple[int, int, str]]:
        """(start, end, where) of the inaccessible pages."""
        if self.side == "none":
            return []
        return [(self.base, self.base + PAGE, "before"),
                (self.base + self.length - PAGE, self.base + self.length, "after")]

    def locate(self, addr: int) -> str | None:
        """Describe addr relative to this buffer if it is in one of its guard pages."""
        for lo, hi, where in self.guard_pages():
            if lo <= addr < hi:
                if where == "after":
                    off = addr - (self.data_addr + self.nbytes)
                    return f"{off} bytes past the end of buffer {self.name!r} ({self.nbytes} bytes)"
                off = self.data_addr - addr
                return f"{off} bytes before the start of buffer {self.name!r}"
        return None

    def view(self, offset_bytes: int, count: int) -> np.ndarray:
        dt = np.dtype(STORAGE[self.dtype])
        raw = (ctypes.c_char * (count * dt.itemsize)).from_address(self.data_addr + offset_bytes)
        return np.frombuffer(raw, dtype=dt)

    def padded(self) -> bytes:
        """GUARD_ELEMS canaries + data + GUARD_ELEMS canaries, canaries read from memory where mapped."""
        dt = np.dtype(STORAGE[self.dtype])
        g = GUARD_ELEMS * dt.itemsize
        synthetic = bytes([CANARY_BYTE]) * g
        data = bytes(self.view(0, self.size)) if self.size else b""
        before = synthetic if self.side == "before" else bytes(self.view(-g, GUARD_ELEMS))
        after = synthetic if self.side == "after" else bytes(self.view(self.nbytes, GUARD_ELEMS))
        return before + data + after

    def free(self) -> None:
        if self.base:
            _libc.munmap(self.base, self.length)
            self.base = 0


def map_buffer(name: str, dtype: str, data: bytes, side: str = "after") -> GuardedBuffer:
    """Map a buffer with canary slack on the open side and data against the guard page."""
    item = np.dtype(STORAGE[dtype]).itemsize
    nbytes = len(data)
    slack = GUARD_ELEMS * item
    body = _round_up(nbytes + slack, PAGE)
    length = body + 2 * PAGE if side != "none" else body + 2 * PAGE
    base = _libc.mmap(None, length, mmap.PROT_READ | mmap.PROT_WRITE,
                      mmap.MAP_SHARED | mmap.MAP_ANONYMOUS, -1, 0)
    if base in (None, MAP_FAILED):
        raise MemoryError(f"mmap of {length} bytes failed (errno {ctypes.get_errno()})")
    ctypes.memset(base, CANARY_BYTE, length)
    if side == "before":
        data_addr = base + PAGE
    elif side == "after":
        data_addr = base + PAGE + body - nbytes
    else:
        data_addr = base + PAGE + slack
    if side != "none":
        _libc.mprotect(base, PAGE, PROT_NONE)
        _libc.mprotect(base + length - PAGE, PAGE, PROT_NONE)
    ctypes.memmove(data_addr, data, nbytes)
    return GuardedBuffer(name, dtype, nbytes // item, base, length, data_addr, side)

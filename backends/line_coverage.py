"""Line coverage of a backend's own Python packages (triton's frontend), measured in its worker.

Stdlib only: it runs inside every backend env (Python 3.8+). `sys.settrace` with a filter on the
*call* event: frames of code outside the watched package directories get no line tracing at all,
so the cost is one dictionary lookup per Python call elsewhere and one set insert per line
executed inside triton. Each function is line-traced on its first CALLS_PER_CASE calls of a
traced case only: the interpreter calls the same few helpers thousands of times per kernel, and
their later calls seldom reach a new line (a line only they reach is found by another case).
The worker traces one case in `every` (a sampled rate) and ships back only the lines this process
has not shipped before; the orchestrator keeps the union. bench/coverage_overhead.py measures it.
"""

from __future__ import annotations

import os
import sys
import threading
from types import FrameType
from typing import Any

CALLS_PER_CASE = 64


class LineTracer:
    """Collects (file, line) pairs executed in files under `roots` while started."""

    def __init__(self, roots: list[str]) -> None:
        self.roots = tuple(os.path.join(os.path.realpath(r), "") for r in roots)
        # What a shipped path is relative to: the directory holding each root package.
        self.bases = {r: os.path.dirname(r.rstrip(os.sep)) for r in self.roots}
        self._want: dict[Any, bool] = {}
        self._calls: dict[Any, int] = {}
        self._rel: dict[str, str] = {}
        self.lines: set[tuple[str, int]] = set()
        self.shipped: set[tuple[str, int]] = set()

    def _wanted(self, code: Any) -> bool:
        w = self._want.get(code)
        if w is None:
            path = os.path.realpath(code.co_filename) if code.co_filename.startswith(os.sep) else ""
            w = self._want[code] = path.startswith(self.roots)
            if w:
                root = next(r for r in self.roots if path.startswith(r))
                self._rel[code.co_filename] = os.path.relpath(path, self.bases[root])
        return w

    def _relative(self, filename: str) -> str:
        """Path of a watched file relative to its package's parent ("triton/language/core.py")."""
        path = os.path.realpath(filename)
        root = next((r for r in self.roots if path.startswith(r)), None)
        rel = os.path.relpath(path, self.bases[root]) if root else ""
        self._rel[filename] = rel
        return rel

    def _on_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        code = frame.f_code
        if event != "call" or not self._wanted(code):
            return None
        n = self._calls.get(code, 0)
        if n >= CALLS_PER_CASE:
            return None
        self._calls[code] = n + 1
        return self._on_line

    def _on_line(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            self.lines.add((frame.f_code.co_filename, frame.f_lineno))
        return self._on_line

    def start(self) -> None:
        self._calls = {}
        threading.settrace(self._on_call)
        sys.settrace(self._on_call)

    def stop(self) -> None:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]

    def take_new(self) -> dict[str, list[int]]:
        """Lines seen since the last call and never shipped by this process: {relative path: lines}."""
        fresh = self.lines - self.shipped
        self.shipped |= fresh
        self.lines = set()
        out: dict[str, list[int]] = {}
        for f, n in fresh:
            rel = self._rel.get(f) or self._relative(f)
            if rel:
                out.setdefault(rel, []).append(n)
        for v in out.values():
            v.sort()
        return out


def package_roots(names: list[str]) -> list[str]:
    """Directories of the packages `names` (e.g. ["triton"]), found without importing them."""
    import importlib.util

    roots = []
    for n in names:
        try:
            spec = importlib.util.find_spec(n)
        except (ImportError, ValueError):
            continue
        for loc in (spec.submodule_search_locations or []) if spec else []:
            roots.append(os.path.realpath(loc))
    return roots

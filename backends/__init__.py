"""Backends: environments, workers and runners that compile and run a KernelCase.

Kept import-free: workers import this package inside backend environments, where only the
stdlib, numpy and the backend's own packages exist. `open_backend` is loaded on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["open_backend"]


def __getattr__(name: str) -> Any:
    if name == "open_backend":
        from backends.backend import open_backend

        return open_backend
    raise AttributeError(name)

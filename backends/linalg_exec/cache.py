"""Content-addressed disk caches shared by every worker and release on this machine.

Why on disk: each backend release runs in its own worker process (its own env), so the only
place where triton-ascend 3.2.0's worker can leave its lowering and its execution for rc4's
worker is the file system. Entries are keyed by normalize.key (normalised linalg + everything
that decides the result), written to a temporary name and renamed into place, so a reader sees a
whole entry or none, and two writers of one key write the same thing. Entries are read with the
worker protocol's builtin-only unpickler: nothing in a cache file is executed.

    lowered/<key>   {"lowered": LLVM-dialect text, "obj": ELF bytes} | {"error": message}
    runs/<key>      {"kind": "ok", "outputs": {...}} | {"kind": "fault", "exc_type", "message"},
                    plus "lower_s"/"exec_s" of the run that produced it (what reuse saves)
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from backends.linalg_exec.build import CACHE
from backends.worker_main import PICKLE_PROTOCOL, ProtocolError, decode_payload

LIMITS = {"lowered": 4000, "runs": 2000}  # entries kept per kind; the oldest go first
_writes = {"lowered": 0, "runs": 0}


def root() -> Path:
    """`$TRITONDIFF_EXEC_CACHE` (benchmarks and tests point it at a fresh directory), else the cache."""
    return Path(os.environ.get("TRITONDIFF_EXEC_CACHE") or CACHE)


def _dir(kind: str) -> Path:
    return root() / kind


def _read(kind: str, key: str) -> dict[str, Any] | None:
    try:
        data = (_dir(kind) / key).read_bytes()
    except OSError:
        return None
    try:
        obj = decode_payload(data)
    except (ProtocolError, pickle.UnpicklingError, EOFError, ValueError):
        return None  # a damaged entry is a miss, and is overwritten
    return obj if isinstance(obj, dict) else None


def _write(kind: str, key: str, value: dict[str, Any]) -> None:
    d = _dir(kind)
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{key}.")
        with os.fdopen(fd, "wb") as f:
            f.write(pickle.dumps(value, protocol=PICKLE_PROTOCOL))
        os.replace(tmp, d / key)
    except OSError:
        return  # a full or read-only disk costs the reuse, never the case
    _writes[kind] += 1
    if _writes[kind] % 256 == 0:
        prune(kind)


def prune(kind: str, limit: int | None = None) -> int:
    """Drop the oldest entries beyond the limit; returns how many were removed."""
    limit = LIMITS[kind] if limit is None else limit
    try:
        entries = [(e.stat().st_mtime, e.path) for e in os.scandir(_dir(kind)) if e.is_file()]
    except OSError:
        return 0
    if len(entries) <= limit:
        return 0
    entries.sort()
    gone = 0
    for _, path in entries[:len(entries) - limit // 2]:
        try:
            os.unlink(path)
            gone += 1
        except OSError:
            pass
    return gone


def load_lowered(key: str) -> tuple[str, str, bytes] | None:
    """("ok", lowered text, object) or ("error", message, b"") or None."""
    e = _read("lowered", key)
    if e is None:
        return None
    if "error" in e:
        return "error", str(e["error"]), b""
    if isinstance(e.get("lowered"), str) and isinstance(e.get("obj"), bytes):
        return "ok", e["lowered"], e["obj"]
    return None


def has_lowered(key: str) -> bool:
    return (_dir("lowered") / key).exists()


def store_lowered(key: str, lowered: str, obj: bytes) -> None:
    _write("lowered", key, {"lowered": lowered, "obj": obj})


def store_lowering_error(key: str, message: str) -> None:
    _write("lowered", key, {"error": message})


def load_run(key: str) -> dict[str, Any] | None:
    e = _read("runs", key)
    if e is None or e.get("kind") not in ("ok", "fault"):
        return None
    return e


def store_run(key: str, entry: dict[str, Any]) -> None:
    _write("runs", key, entry)

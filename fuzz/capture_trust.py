"""Which captured corpus files this user made: a keyed signature that `capture` writes beside them.

A captured case runs its stored source as Python, so it may run only when the user made it or
says they trust it (`--trust-captured`). `tritondiff capture` signs each case file it writes with
a key that lives only in this user's tritondiff home (created on first capture, mode 0600) and
records the signatures in `<dir>/.tritondiff-captured.json`. A corpus copied from elsewhere,
marker and all, does not verify here, and a case edited after capture no longer matches. The
signature covers the file's `case` (what runs) and not its expected verdicts or note, so
`tritondiff replay --update` can record new verdicts without losing the trust.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

MARKER = ".tritondiff-captured.json"


def _key_path() -> Path:
    from backends.envs import home

    return home() / "capture-key"


def _key(create: bool) -> bytes | None:
    p = _key_path()
    try:
        return bytes.fromhex(p.read_text().strip())
    except (OSError, ValueError):
        if not create:
            return None
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(p.read_text().strip())


def _mac(key: bytes, raw: bytes) -> str | None:
    """Keyed digest of the canonical JSON of the document's case; None when it has none."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("case"), dict):
        return None
    canon = json.dumps(doc["case"], sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, hashlib.sha256(canon).digest(), hashlib.sha256).hexdigest()


def _read_marker(d: Path) -> dict[str, str]:
    try:
        doc = json.loads((d / MARKER).read_text())
        files = doc.get("files", {}) if isinstance(doc, dict) else {}
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}
    except (OSError, ValueError):
        return {}


def sign(path: Path) -> None:
    """Record `path` (just written by capture) as this user's own captured case."""
    key = _key(create=True)
    assert key is not None
    d = path.parent
    files = _read_marker(d)
    mac = _mac(key, path.read_bytes())
    if mac is None:
        raise ValueError(f"{path}: not a corpus document with a case")
    files[path.name] = mac
    from fuzz.corpus import write_json_atomic

    write_json_atomic(d / MARKER, {"about": "captured cases signed by this user's tritondiff capture key",
                                   "files": files})


def is_signed(path: Path, raw: bytes) -> bool:
    """True when `raw` (the bytes of `path`) is a captured case this user's capture wrote."""
    key = _key(create=False)
    if key is None:
        return False
    want = _read_marker(path.parent).get(path.name)
    if want is None:
        return False
    got = _mac(key, raw)
    return got is not None and hmac.compare_digest(want, got)

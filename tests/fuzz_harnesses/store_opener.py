"""atheris: byte-level damage to a real store file, then every read path a read-only command
uses; the only way out is data or a StoreError/sqlite3.Error (which the CLI turns into one line),
and a read-only open never changes the file."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from fuzz.store import Store, StoreError
    from fuzz.summary import store_summary
    from tests.test_fuzz_store import CONFIG, rec

TMP = Path(tempfile.mkdtemp(prefix="tritondiff-store-fuzz-"))
GOOD = TMP / "good.sqlite"
with Store(GOOD) as _s:
    _cid, _ = _s.open_campaign("x", CONFIG)
    for _i in range(6):
        _s.record_case(rec(_cid, _i, f"sig{_i % 2}" if _i % 3 == 0 else None))
SEED = GOOD.read_bytes()
PATH = TMP / "fuzzed.sqlite"


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    raw = bytearray(SEED)
    for _ in range(fdp.ConsumeIntInRange(0, 8)):
        at = fdp.ConsumeIntInRange(0, len(raw) - 1)
        chunk = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 32))
        raw[at:at + len(chunk)] = chunk
    if fdp.ConsumeBool():
        raw = raw[:fdp.ConsumeIntInRange(0, len(raw))]
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(f"{PATH}{suffix}")
        except FileNotFoundError:
            pass
    PATH.write_bytes(bytes(raw))
    before = hashlib.sha256(raw).digest()
    try:
        with Store(PATH, readonly=True) as s:
            store_summary(s, None)
            s.campaigns()
            for f in s.findings():
                s.finding(str(f.id))
                s.affected_backends(f.signature)
                s.reduced(f.signature)
    except (StoreError, sqlite3.Error):
        pass
    assert hashlib.sha256(PATH.read_bytes()).digest() == before


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()

"""Disk full, on a real small filesystem (a 1 MiB tmpfs): the campaign stops with one clear line,
and a rerun after space is freed ends with exactly the findings and corpus files of a campaign
that never ran out of space. Needs root to mount; skipped with the reason otherwise."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--backends", "fault-drop-scalar-mul", "--seed", "0", "-q", "--json"]
CASES = 5  # cases 0 and 3 are miscompile findings of two signatures


@pytest.fixture()
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / f"mnt-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs here ({r.stderr.strip() or r.returncode}): needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(d: Path, leave: int = 0) -> Path:
    """Use every free block of d's filesystem but `leave` bytes; returns the filler to delete."""
    filler = d / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
        f.truncate(max(0, f.tell() - leave))
    return filler


def fuzz(cwd: Path, db: Path, cases: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fuzz", "fuzz", *ARGS, "--cases", str(cases), "--db", str(db),
                           *extra], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def findings(db: Path) -> dict[str, int]:
    c = sqlite3.connect(db)
    try:
        return dict(c.execute("SELECT signature, count FROM findings"))
    finally:
        c.close()


def committed(db: Path) -> list[int]:
    c = sqlite3.connect(db)
    try:
        return sorted(r[0] for r in c.execute("SELECT idx FROM cases"))
    finally:
        c.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, int], list[str]]:
    d = tmp_path_factory.mktemp("ref")
    r = fuzz(d, d / "ref.sqlite", CASES)
    assert r.returncode == 0, r.stderr[-2000:]
    found = findings(d / "ref.sqlite")
    assert len(found) == 2, found
    return found, sorted(p.name for p in (d / "ref-corpus").iterdir())


def test_store_disk_full_stops_cleanly_and_resumes(small_fs: Path, tmp_path: Path,
                                                   reference: tuple[dict[str, int], list[str]]) -> None:
    db = small_fs / "c.sqlite"
    r = fuzz(tmp_path, db, 2)
    assert r.returncode == 0, r.stderr[-2000:]
    filler = fill(small_fs, leave=40 << 10)  # room to open the store and a little more: full mid-campaign
    r = fuzz(tmp_path, db, CASES)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "disk full while saving case" in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1].startswith("tritondiff fuzz: error: ")
    done = committed(db)
    assert done == list(range(len(done))) and 2 <= len(done) < CASES  # in-flight case not half-written
    filler.unlink()
    r = fuzz(tmp_path, db, CASES)
    assert r.returncode == 0, r.stderr[-2000:]
    assert committed(db) == list(range(CASES))
    found, files = reference
    assert findings(db) == found
    assert sorted(p.name for p in (small_fs / "c-corpus").iterdir()) == files


def test_full_disk_at_open_is_one_line(small_fs: Path, tmp_path: Path) -> None:
    fill(small_fs)
    r = fuzz(tmp_path, small_fs / "c.sqlite", 1)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "disk full" in r.stderr, r.stderr[-2000:]


def test_corpus_disk_full_stops_and_writes_the_file_on_resume(small_fs: Path, tmp_path: Path,
                                                              reference: tuple[dict[str, int], list[str]]) -> None:
    corpus = small_fs / "corpus"
    corpus.mkdir()
    filler = fill(small_fs)
    db = tmp_path / "c.sqlite"
    r = fuzz(tmp_path, db, CASES, "--corpus", str(corpus))
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "cannot save the case of a new finding" in r.stderr, r.stderr[-2000:]
    assert committed(db) == []  # case 0, the first finding, waits for its file
    filler.unlink()
    r = fuzz(tmp_path, db, CASES, "--corpus", str(corpus))
    assert r.returncode == 0, r.stderr[-2000:]
    found, files = reference
    assert findings(db) == found
    assert sorted(p.name for p in corpus.iterdir()) == files
    summary = json.loads(r.stdout)
    assert summary["resumed"]

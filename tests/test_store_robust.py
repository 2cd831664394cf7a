"""A store is input too: damaged, foreign, old, empty or doubly-linked stores get one clear line
from every read command, and read commands never create or rewrite a file (no backends needed)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from fuzz.store import Store, StoreError, StoreLock
from tests.cli_helpers import run_main
from tests.test_fuzz_store import CONFIG, rec

READ_COMMANDS = (["show", "1"], ["findings"], ["stats"], ["report", "--campaign"])


def good_store(path: Path) -> Path:
    with Store(path) as s:
        cid, _ = s.open_campaign("x", CONFIG)
        for i in range(4):
            s.record_case(rec(cid, i, "sigA" if i == 1 else None))
    return path


def _files(d: Path) -> list[str]:
    """Names in `d`, less SQLite's shared-memory index (-shm/-wal), which a reader of a WAL store
    may create beside it; the store file itself must never change."""
    return sorted(x.name for x in d.iterdir() if not x.name.endswith(("-shm", "-wal")))


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _flip(p: Path, offset: int, data: bytes) -> None:
    with open(p, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _sql(p: Path, *stmts: str) -> None:
    db = sqlite3.connect(p)
    for s in stmts:
        db.execute(s)
    db.commit()
    db.close()


def _corruptions(tmp: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}

    def make(name: str) -> Path:
        p = good_store(tmp / f"{name}.sqlite")
        out[name] = p
        return p

    (tmp / "empty.sqlite").write_bytes(b"")
    out["empty"] = tmp / "empty.sqlite"
    (tmp / "text.sqlite").write_text("not a database\n" * 100)
    out["text"] = tmp / "text.sqlite"
    p = make("truncated")
    p.write_bytes(p.read_bytes()[:3000])
    p = make("header")
    _flip(p, 0, b"SQLite format 2\x00")
    p = make("page-garbage")
    _flip(p, 4096, os.urandom(4096))
    p = make("btree-garbage")
    _flip(p, 2 * 4096, b"\xff" * 4096)
    p = make("version0")
    _sql(p, "UPDATE schema_version SET version = 0")
    p = make("version99")
    _sql(p, "UPDATE schema_version SET version = 99")
    p = make("no-version-row")
    _sql(p, "DELETE FROM schema_version")
    p = make("no-version-table")
    _sql(p, "DROP TABLE schema_version")
    p = make("missing-column")
    _sql(p, "ALTER TABLE findings DROP COLUMN reduce_summary")
    p = make("missing-table")
    _sql(p, "DROP TABLE outcomes")
    p = make("bad-json")
    _sql(p, "UPDATE findings SET case_json = '{not json', outputs_json = '['",
         "UPDATE cases SET features = 'garbage'", "UPDATE campaigns SET config = '{'")
    p = tmp / "foreign.sqlite"
    _sql(p, "CREATE TABLE notes (x TEXT)", "INSERT INTO notes VALUES ('hi')")
    out["foreign"] = p
    p = make("version-text")
    _sql(p, "UPDATE schema_version SET version = 'one'")
    d = tmp / "dir.sqlite"
    d.mkdir()
    out["directory"] = d
    return out


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _corruptions(tmp_path_factory.mktemp("stores"))


@pytest.mark.parametrize("argv", READ_COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize("name", ["empty", "text", "truncated", "header", "page-garbage", "btree-garbage",
                                  "version0", "version99", "no-version-row", "no-version-table",
                                  "missing-column", "missing-table", "bad-json", "foreign", "version-text",
                                  "directory"])
def test_read_commands_give_one_clear_line(damaged: dict[str, Path], name: str, argv: list[str],
                                           capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = damaged[name]
    before = _digest(p) if p.is_file() else None
    siblings = _files(p.parent)
    extra = ["--out", str(tmp_path / "r.html")] if argv[0] == "report" else []
    rc, out, err = run_main([*argv, "--db", str(p), *extra], capsys)
    assert rc != 0, (name, out)
    assert "Traceback" not in err
    lines = [x for x in err.strip().splitlines() if x]
    assert len(lines) == 1 and "error" in lines[0], (name, err)
    assert str(p) in lines[0] or "store" in lines[0], lines[0]
    if before is not None:
        assert _digest(p) == before, f"{name}: a read command rewrote the store"
    assert _files(p.parent) == siblings, f"{name}: a read command created files"
    assert not (tmp_path / "r.html").exists()


def test_read_commands_do_not_create_a_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in READ_COMMANDS:
        rc, _, err = run_main([*argv, "--db", str(tmp_path / "none.sqlite")], capsys)
        assert rc == 2 and "no such store" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_read_commands_leave_a_good_store_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = good_store(tmp_path / "ok.sqlite")
    before = _digest(p)
    for argv in (["show", "1"], ["findings"], ["stats"]):
        rc, out, err = run_main([*argv, "--db", str(p)], capsys)
        assert rc == 0, err
    assert _digest(p) == before
    assert _files(tmp_path) == ["ok.sqlite"]


def test_old_schema_is_refused_not_restamped(damaged: dict[str, Path]) -> None:
    with pytest.raises(StoreError, match="older than this tritondiff's .* no migration"):
        Store(damaged["version0"])
    db = sqlite3.connect(damaged["version0"])
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(0,)]
    db.close()


def test_lock_is_on_the_inode_symlink(tmp_path: Path) -> None:
    p = good_store(tmp_path / "a.sqlite")
    link = tmp_path / "b.sqlite"
    link.symlink_to(p)
    first = StoreLock(p)
    try:
        with pytest.raises(StoreError, match="another `tritondiff fuzz` is writing"):
            StoreLock(link)
    finally:
        first.release()
    StoreLock(link).release()


def test_hard_linked_store_is_refused(tmp_path: Path) -> None:
    p = good_store(tmp_path / "a.sqlite")
    os.link(p, tmp_path / "b.sqlite")
    for name in ("a.sqlite", "b.sqlite"):
        with pytest.raises(StoreError, match="hard links"):
            StoreLock(tmp_path / name)


def test_fuzz_through_a_symlink_while_another_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = good_store(tmp_path / "a.sqlite")
    link = tmp_path / "link.sqlite"
    link.symlink_to(p)
    lock = StoreLock(p)
    try:
        rc, _, err = run_main(["fuzz", "--backends", "interpreter", "--cases", "1", "--db", str(link), "-q"],
                              capsys)
    finally:
        lock.release()
    assert rc == 2 and "another `tritondiff fuzz` is writing" in err and "Traceback" not in err
    with Store(p, readonly=True) as s:
        assert s.case_counts()["cases"] == 4

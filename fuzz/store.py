"""SQLite store of campaigns, cases, outcomes and deduplicated findings.

One file per campaign by default (`runs/<campaign>.sqlite`), WAL mode so `show`/`stats` can read
while a campaign writes. A case, its outcomes and its findings are written in one transaction: a
`kill -9` at any moment loses at most the case in flight, and a rerun of the same campaign
resumes with the indices not committed yet. A file may hold several campaigns (same file, other
config); findings are keyed by signature alone, so they deduplicate across campaigns.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.records import CaseRecord

SCHEMA_VERSION = 3  # 2: outcomes.launch_s; 3: frontend coverage, guided inputs
FINDING_STATUSES = ("new", "known", "ignored")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cases (
    campaign INTEGER NOT NULL REFERENCES campaigns(id),
    idx INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    case_id TEXT NOT NULL,
    features TEXT NOT NULL,
    validity TEXT NOT NULL CHECK (validity IN ('valid', 'invalid')),
    reason TEXT NOT NULL DEFAULT '',
    case_json TEXT,
    gen_s REAL NOT NULL DEFAULT 0,
    ref_s REAL NOT NULL DEFAULT 0,
    backend_s REAL NOT NULL DEFAULT 0,
    judge_s REAL NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    PRIMARY KEY (campaign, idx)
);
CREATE INDEX IF NOT EXISTS cases_case_id ON cases(case_id);
CREATE TABLE IF NOT EXISTS outcomes (
    id INTEGER PRIMARY KEY,
    campaign INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    backend TEXT NOT NULL,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    signature TEXT NOT NULL,
    compile_s REAL NOT NULL,
    run_s REAL NOT NULL,
    wall_s REAL NOT NULL,
    message TEXT NOT NULL,
    launch_s REAL NOT NULL DEFAULT 0,
    FOREIGN KEY (campaign, idx) REFERENCES cases(campaign, idx)
);
CREATE INDEX IF NOT EXISTS outcomes_case ON outcomes(campaign, idx);
CREATE INDEX IF NOT EXISTS outcomes_signature ON outcomes(signature);
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY,
    signature TEXT NOT NULL UNIQUE,
    backend TEXT NOT NULL,
    kind TEXT NOT NULL,
    stage TEXT NOT NULL,
    first_campaign INTEGER NOT NULL,
    first_case INTEGER NOT NULL,
    first_case_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'known', 'ignored')),
    message TEXT NOT NULL,
    case_json TEXT,
    outputs_json TEXT,
    reduced_json TEXT,
    reduce_summary TEXT
);
-- Lines of each backend's own Python (triton's frontend) that the campaign's kernels ran.
CREATE TABLE IF NOT EXISTS coverage_lines (
    campaign INTEGER NOT NULL,
    backend TEXT NOT NULL,
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    PRIMARY KEY (campaign, backend, file, line)
) WITHOUT ROWID;
-- One row each time a backend's covered line count grows: the coverage-over-time curve.
CREATE TABLE IF NOT EXISTS coverage_series (
    campaign INTEGER NOT NULL,
    backend TEXT NOT NULL,
    t_s REAL NOT NULL,
    idx INTEGER NOT NULL,
    lines INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS coverage_series_campaign ON coverage_series(campaign, backend);
-- --guided: the libFuzzer input each case was generated from (resuming skips those judged).
CREATE TABLE IF NOT EXISTS guided_inputs (
    campaign INTEGER NOT NULL,
    sha1 TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (campaign, sha1)
);
"""


class StoreError(Exception):
    """A store that cannot be used as asked; the message names the file and what to do."""


@dataclass
class Finding:
    """A deduplicated finding row."""

    id: int
    signature: str
    backend: str
    kind: str
    stage: str
    first_campaign: int
    first_case: int
    first_case_id: str
    count: int
    first_seen: str
    last_seen: str
    status: str
    message: str
    case_json: dict[str, Any] | None
    outputs: dict[str, Any] | None

    def to_json(self, full: bool = False) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("case_json", "outputs")}
        if full:
            d["case"] = self.case_json
            d["outputs"] = self.outputs
        return d


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def fingerprint(config: dict[str, Any]) -> str:
    """Identity of a campaign: what decides which kernels index i produces and where they run."""
    key = {k: config.get(k) for k in ("backends", "seed", "weights", "generator_version")}
    # Oracle settings that change what runs; absent from stores written before they existed.
    key.update({k: config[k] for k in ("variants", "reference", "relation_weights", "guided") if k in config})
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


# Migrations from an older schema version to the next one; a version with none is refused.
# version -> SQL that brings a store of that version to the next one.
MIGRATIONS: dict[int, str] = {
    1: "ALTER TABLE outcomes ADD COLUMN launch_s REAL NOT NULL DEFAULT 0",  # schema 1 had no launch time
    2: _SCHEMA[_SCHEMA.index("-- Lines of each backend"):],  # schema 2 had no coverage tables
}
MAX_STORE_BYTES_CHECKED = 1 << 30  # quick_check of larger stores would delay every command


@functools.lru_cache(maxsize=1)
def _expected_columns() -> dict[str, list[str]]:
    """{table: columns} of this schema, read from _SCHEMA through an in-memory database."""
    mem = sqlite3.connect(":memory:")
    try:
        mem.executescript(_SCHEMA)
        tables = [r[0] for r in mem.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: [r[1] for r in mem.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        mem.close()


class StoreLock:
    """An exclusive lock on the store file itself (its inode), held by the one writing campaign.

    Locking the inode, not a name, means a symlink or a second name cannot bypass it. A store
    with several hard links is refused: SQLite keeps its write-ahead log beside each *name*, so two
    names of one file lose or corrupt committed cases.
    """

    def __init__(self, db: Path) -> None:
        real = Path(os.path.realpath(db))
        try:
            self.fd = os.open(real, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as e:
            raise StoreError(f"{db}: cannot open the store: {e.strerror or e}") from None
        try:
            st = os.fstat(self.fd)
            if not stat.S_ISREG(st.st_mode):
                raise StoreError(f"{db}: not a regular file")
            if st.st_nlink > 1:
                raise StoreError(f"{db}: the store has {st.st_nlink} hard links; SQLite keeps its journal "
                                 "beside each name, so two names corrupt it: use one path (copy the file)")
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"{db}: another `tritondiff fuzz` is writing this store (the same file, "
                                 "perhaps through another path); wait for it or use another --db") from None
        except BaseException:
            os.close(self.fd)
            raise
        self.path = real

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _disk_error(path: Path, e: sqlite3.Error, what: str) -> StoreError:
    text = str(e)
    if "full" in text or "disk I/O" in text:  # SQLite reports ENOSPC on its -shm file as I/O error
        return StoreError(f"{path}: disk full while {what}; the campaign stops here and nothing is lost: "
                          "free some space and rerun the same command to resume")
    return StoreError(f"{path}: cannot write while {what}: {text}")


class Store:
    """A campaign database. Single writer (the campaign's main thread); readers may be many.

    Modes: create=True (a campaign: create or migrate the file), create=False (an existing store,
    may be written, e.g. `findings --mark`), readonly=True (show/findings/stats/report: never
    creates, never rewrites, not even the journal mode). Every open checks the file's integrity and
    that its tables are the ones this tritondiff wrote.
    """

    def __init__(self, path: str | Path, create: bool = True, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        create = create and not readonly
        real = Path(os.path.realpath(self.path))
        if not create:
            if not real.exists():
                raise StoreError(f"{self.path}: no such store (run `tritondiff fuzz --db {self.path}` first)")
            if not real.is_file():
                raise StoreError(f"{self.path}: not a store file")
            if real.stat().st_size == 0:
                raise StoreError(f"{self.path}: empty file, not a tritondiff store")
        else:
            real.parent.mkdir(parents=True, exist_ok=True)
            if real.exists() and not real.is_file():
                raise StoreError(f"{self.path}: not a store file")
        mode = "ro" if readonly else ("rwc" if create else "rw")
        try:
            self.db = sqlite3.connect(f"{real.as_uri()}?mode={mode}", uri=True, timeout=30.0,
                                      isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"{self.path}: cannot open the store: {e}") from None
        # Damaged text (bytes that are not UTF-8) reads as U+FFFD rather than raising mid-command.
        self.db.text_factory = lambda b: b.decode("utf-8", "replace")
        try:
            self._check_header(real)
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode: a committed transaction survives the process being killed
                # (it is in the WAL file); only an OS crash or power loss may lose the last ones.
                self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._check_schema(create)
            self._check_integrity(real)
        except sqlite3.OperationalError as e:
            self.db.close()
            if "full" in str(e) or ("I/O" in str(e) and shutil.disk_usage(real.parent).free < (1 << 20)):
                raise _disk_error(self.path, e, "opening the store") from None
            raise StoreError(f"{self.path}: not a usable tritondiff store: {e}") from None
        except sqlite3.DatabaseError as e:
            self.db.close()
            raise StoreError(f"{self.path}: not a usable tritondiff store (corrupted?): {e}") from None
        except UnicodeDecodeError:  # SQLite's own message quotes the damaged bytes
            self.db.close()
            raise StoreError(f"{self.path}: not a usable tritondiff store (its schema is damaged)") from None
        except BaseException:
            self.db.close()
            raise

    # ---- schema ---------------------------------------------------------------------------
    def _check_header(self, real: Path) -> None:
        if real.exists() and real.stat().st_size > 0:
            with open(real, "rb") as f:
                head = f.read(16)
            if head != b"SQLite format 3\x00":
                raise StoreError(f"{self.path}: not an SQLite file, so not a tritondiff store")

    def _check_integrity(self, real: Path) -> None:
        if real.stat().st_size > MAX_STORE_BYTES_CHECKED:
            return
        rows = self.db.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            raise StoreError(f"{self.path}: the store is corrupted ({str(rows[0][0])[:200]}); "
                             "restore a copy or start a new --db")

    def _check_schema(self, create: bool) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        ours = set(_expected_columns())
        if not tables & ours:
            if not create:
                raise StoreError(f"{self.path}: not a tritondiff store (no campaign tables)")
            if tables:
                raise StoreError(f"{self.path}: an SQLite file of something else ({', '.join(sorted(tables)[:5])}); "
                                 "not a tritondiff store")
            self._create()
            return
        if "schema_version" not in tables:
            raise StoreError(f"{self.path}: has tritondiff-like tables but no schema_version; "
                             "not a store this tritondiff wrote")
        rows = self.db.execute("SELECT version FROM schema_version").fetchall()
        if len(rows) != 1 or not isinstance(rows[0][0], int):
            raise StoreError(f"{self.path}: schema_version holds {rows[:3]!r}, not one version number")
        version = rows[0][0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema {version} is newer than this tritondiff supports "
                f"({SCHEMA_VERSION}); upgrade tritondiff or use another --db")
        if version < SCHEMA_VERSION:
            missing = [v for v in range(version, SCHEMA_VERSION) if v not in MIGRATIONS]
            if missing:
                raise StoreError(f"{self.path}: store schema {version} is older than this tritondiff's "
                                 f"({SCHEMA_VERSION}) and has no migration; use a tritondiff of that "
                                 "time to read it, or start a new --db")
            if self.readonly:
                raise StoreError(f"{self.path}: store schema {version} needs a migration; run "
                                 f"`tritondiff fuzz --db {self.path}` (or any writing command) first")
            self._migrate(version)
        for table, cols in _expected_columns().items():
            have = [r[1] for r in self.db.execute(f"PRAGMA table_info({table})")]
            if have != cols:
                lack = [c for c in cols if c not in have]
                raise StoreError(f"{self.path}: table {table} " + (f"lacks column(s) {', '.join(lack)}" if lack
                                 else "has other columns than this tritondiff's") + "; not a store it can use")

    def _create(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self.db.execute(stmt)
            self.db.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _migrate(self, version: int) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for v in range(version, SCHEMA_VERSION):
                for stmt in MIGRATIONS[v].split(";"):
                    if stmt.strip():
                        self.db.execute(stmt)
            self.db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        """Roll back if a transaction is still open (SQLite ends one itself on disk full)."""
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- campaigns ------------------------------------------------------------------------
    def open_campaign(self, name: str, config: dict[str, Any]) -> tuple[int, bool]:
        """The campaign with this config's fingerprint, created if absent; (id, resumed)."""
        fp = fingerprint(config)
        row = self.db.execute("SELECT id FROM campaigns WHERE fingerprint=?", (fp,)).fetchone()
        if row:
            return int(row[0]), True
        try:
            cur = self.db.execute(
                "INSERT INTO campaigns(name, created, fingerprint, config) VALUES (?,?,?,?)",
                (name, now(), fp, json.dumps(config, sort_keys=True)))
        except sqlite3.OperationalError as e:
            raise _disk_error(self.path, e, "creating the campaign") from None
        return int(cur.lastrowid), False

    def campaigns(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT id, name, created, config FROM campaigns ORDER BY id").fetchall()
        return [{"id": r[0], "name": r[1], "created": r[2], "config": _loads(r[3])} for r in rows]

    def campaign_config(self, campaign: int) -> dict[str, Any]:
        row = self.db.execute("SELECT config FROM campaigns WHERE id=?", (campaign,)).fetchone()
        if not row:
            raise StoreError(f"{self.path}: no campaign {campaign}")
        return _loads(row[0])

    def committed_indices(self, campaign: int) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT idx FROM cases WHERE campaign=?", (campaign,))}

    # ---- writing one case -----------------------------------------------------------------
    def record_case(self, rec: CaseRecord) -> list[str]:
        """Write a case, its outcomes and finding upserts atomically; return new signatures."""
        findings = rec.findings()
        stamp = now()
        case_json = json.dumps(rec.case_json) if (findings and rec.case_json is not None) else None
        outputs_json = json.dumps(rec.outputs_summary) if (findings and rec.outputs_summary) else None
        new: list[str] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "INSERT INTO cases(campaign, idx, seed, case_id, features, validity, reason, case_json,"
                " gen_s, ref_s, backend_s, judge_s, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.campaign, rec.index, rec.seed, rec.case_id, json.dumps(sorted(rec.features)),
                 "valid" if rec.valid else "invalid", rec.reason, case_json, rec.gen_s, rec.ref_s,
                 rec.backend_s, rec.judge_s, stamp))
            self.db.executemany(
                "INSERT INTO outcomes(campaign, idx, backend, origin, kind, stage, signature, compile_s,"
                " launch_s, run_s, wall_s, message) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(rec.campaign, rec.index, o.backend, o.origin, o.kind, o.stage, o.signature,
                  o.compile_s, o.launch_s, o.run_s, o.wall_s, o.message) for o in rec.outcomes])
            for o in findings:
                cur = self.db.execute(
                    "UPDATE findings SET count = count + 1, last_seen = ? WHERE signature = ?",
                    (stamp, o.signature))
                if cur.rowcount == 0:
                    self.db.execute(
                        "INSERT INTO findings(signature, backend, kind, stage, first_campaign, first_case,"
                        " first_case_id, count, first_seen, last_seen, status, message, case_json,"
                        " outputs_json) VALUES (?,?,?,?,?,?,?,1,?,?,'new',?,?,?)",
                        (o.signature, o.backend, o.kind, o.stage, rec.campaign, rec.index, rec.case_id,
                         stamp, stamp, o.message, case_json, outputs_json))
                    new.append(o.signature)
            self._record_coverage(rec)
            if rec.guided_input is not None:
                self.db.execute("INSERT OR IGNORE INTO guided_inputs(campaign, sha1, idx, data) VALUES (?,?,?,?)",
                                (rec.campaign, hashlib.sha1(rec.guided_input).hexdigest(), rec.index,
                                 rec.guided_input))
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            self._rollback()
            raise _disk_error(self.path, e, f"saving case {rec.index}") from None
        except BaseException:
            self._rollback()
            raise
        return new

    def _record_coverage(self, rec: CaseRecord) -> None:
        """Add the case's newly covered lines; a backend whose count grew gets a point on its curve."""
        for backend, files in sorted(rec.coverage.items()):
            rows = [(rec.campaign, backend, f, int(n)) for f, lines in files.items() for n in lines]
            if not rows:
                continue
            before = self.db.total_changes
            self.db.executemany("INSERT OR IGNORE INTO coverage_lines(campaign, backend, file, line)"
                                " VALUES (?,?,?,?)", rows)
            if self.db.total_changes == before:
                continue
            (total,) = self.db.execute("SELECT COUNT(*) FROM coverage_lines WHERE campaign=? AND backend=?",
                                       (rec.campaign, backend)).fetchone()
            self.db.execute("INSERT INTO coverage_series(campaign, backend, t_s, idx, lines) VALUES (?,?,?,?,?)",
                            (rec.campaign, backend, rec.elapsed_s, rec.index, total))

    def coverage(self, campaign: int | None = None) -> list[dict[str, Any]]:
        """Per campaign and backend: lines and files of its own Python covered, by top-level
        subpackage, and the curve [[t_s, case index, lines], ...]."""
        where, args = _where_campaign(campaign)
        out: dict[tuple[int, str], dict[str, Any]] = {}
        for camp, backend, f, n in self.db.execute(
                f"SELECT campaign, backend, file, COUNT(*) FROM coverage_lines {where}"
                " GROUP BY campaign, backend, file", args):
            row = out.setdefault((camp, backend), {"campaign": camp, "backend": backend, "lines": 0, "files": 0,
                                                   "by_package": {}, "series": []})
            row["lines"] += n
            row["files"] += 1
            parts = str(f).split("/")
            pkg = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
            row["by_package"][pkg] = row["by_package"].get(pkg, 0) + n
        for camp, backend, t, idx, lines in self.db.execute(
                f"SELECT campaign, backend, t_s, idx, lines FROM coverage_series {where} ORDER BY rowid", args):
            if (camp, backend) in out:
                out[(camp, backend)]["series"].append([t, idx, lines])
        return [out[k] for k in sorted(out)]

    def coverage_elapsed(self, campaign: int) -> float:
        """Campaign time of the last coverage point (a resumed campaign's clock continues there)."""
        (t,) = self.db.execute("SELECT COALESCE(MAX(t_s), 0) FROM coverage_series WHERE campaign=?",
                               (campaign,)).fetchone()
        return float(t)

    def guided_inputs(self, campaign: int) -> set[str]:
        """SHA-1s of the libFuzzer inputs whose cases this (guided) campaign has committed."""
        return {r[0] for r in self.db.execute("SELECT sha1 FROM guided_inputs WHERE campaign=?", (campaign,))}

    def set_reduced(self, signature: str, case_json: dict[str, Any], summary: str) -> None:
        """Keep the minimal kernel next to the finding; the original case stays as it was."""
        self.db.execute("UPDATE findings SET reduced_json = ?, reduce_summary = ? WHERE signature = ?",
                        (json.dumps(case_json), summary, signature))

    def reduced(self, signature: str) -> tuple[dict[str, Any] | None, str]:
        row = self.db.execute("SELECT reduced_json, reduce_summary FROM findings WHERE signature = ?",
                              (signature,)).fetchone()
        if not row or row[0] is None:
            return None, ""
        return _loads(row[0]), row[1] or ""

    def affected_backends(self, signature: str) -> list[str]:
        """Every backend (release, target) on which this signature was seen."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT backend FROM outcomes WHERE signature = ? ORDER BY backend", (signature,))]

    # ---- reading --------------------------------------------------------------------------
    def case_timeline(self, campaigns: list[int]) -> list[tuple[int, int, str, str, str]]:
        """(campaign, idx, created, validity, features JSON) of every case, in commit order."""
        q = ",".join("?" * len(campaigns))
        return self.db.execute(
            f"SELECT campaign, idx, created, validity, features FROM cases WHERE campaign IN ({q})"
            " ORDER BY campaign, created, idx", campaigns).fetchall()

    def finding_outcomes(self, campaigns: list[int]) -> list[tuple[int, int, str]]:
        """(campaign, idx, signature) of every outcome that is a finding, in record order."""
        q = ",".join("?" * len(campaigns))
        return self.db.execute(
            f"SELECT o.campaign, o.idx, o.signature FROM outcomes o JOIN findings f ON f.signature = o.signature"
            f" WHERE o.campaign IN ({q}) ORDER BY o.id", campaigns).fetchall()

    def outcome_totals(self, campaigns: list[int]) -> list[tuple[str, str, str, str, int, float, float, float]]:
        """Per (backend, kind, stage, origin): outcomes and summed compile, run and wall seconds."""
        q = ",".join("?" * len(campaigns))
        return self.db.execute(
            f"SELECT backend, kind, stage, origin, COUNT(*), SUM(compile_s), SUM(run_s), SUM(wall_s) FROM outcomes"
            f" WHERE campaign IN ({q}) GROUP BY backend, kind, stage, origin", campaigns).fetchall()

    def known_signatures(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT signature FROM findings")}

    def campaign_signatures(self, campaign: int) -> set[str]:
        """Finding signatures this campaign has seen (new to it or not)."""
        rows = self.db.execute(
            "SELECT DISTINCT o.signature FROM outcomes o JOIN findings f ON f.signature = o.signature"
            " WHERE o.campaign = ?", (campaign,))
        return {r[0] for r in rows}

    def case_counts(self, campaign: int | None = None) -> dict[str, int]:
        where, args = _where_campaign(campaign)
        rows = self.db.execute(f"SELECT validity, COUNT(*) FROM cases {where} GROUP BY validity", args)
        counts = {"valid": 0, "invalid": 0}
        counts.update({r[0]: r[1] for r in rows})
        counts["cases"] = counts["valid"] + counts["invalid"]
        return counts

    def outcome_counts(self, campaign: int | None = None) -> dict[str, dict[str, int]]:
        """{backend: {kind: n}} over judged outcomes (cross-check divergences under their backend)."""
        where, args = _where_campaign(campaign)
        out: dict[str, dict[str, int]] = {}
        for backend, kind, n in self.db.execute(
                f"SELECT backend, kind, COUNT(*) FROM outcomes {where} GROUP BY backend, kind", args):
            out.setdefault(backend, {})[kind] = n
        return out

    def feature_counts(self, campaign: int | None = None) -> dict[str, int]:
        where, args = _where_campaign(campaign)
        counts: dict[str, int] = {}
        for (feats,) in self.db.execute(f"SELECT features FROM cases {where}", args):
            for f in _loads(feats):
                counts[f] = counts.get(f, 0) + 1
        return dict(sorted(counts.items()))

    def invalid_reasons(self, campaign: int | None = None, limit: int = 10) -> list[tuple[str, int]]:
        where, args = _where_campaign(campaign)
        where = (where + " AND" if where else "WHERE") + " validity = 'invalid'"
        # Reasons read "category: detail"; group by category so counts are not split by numbers.
        rows = self.db.execute(
            "SELECT CASE WHEN instr(reason, ': ') > 0 THEN substr(reason, 1, instr(reason, ': ') - 1)"
            f" ELSE reason END AS cat, COUNT(*) AS n FROM cases {where} GROUP BY cat ORDER BY n DESC LIMIT ?",
            (*args, limit))
        return [(r[0], r[1]) for r in rows]

    def timing(self, campaign: int | None = None) -> dict[str, float]:
        where, args = _where_campaign(campaign)
        row = self.db.execute(
            f"SELECT COALESCE(SUM(gen_s),0), COALESCE(SUM(ref_s),0), COALESCE(SUM(backend_s),0),"
            f" COALESCE(SUM(judge_s),0) FROM cases {where}", args).fetchone()
        return {"gen_s": row[0], "ref_s": row[1], "backend_s": row[2], "judge_s": row[3]}

    def findings(self, campaign: int | None = None, status: str | None = None,
                 backend: str | None = None) -> list[Finding]:
        clauses, args = [], []
        if campaign is not None:
            clauses.append("signature IN (SELECT signature FROM outcomes WHERE campaign = ?)")
            args.append(campaign)
        if status:
            clauses.append("status = ?")
            args.append(status)
        if backend:
            clauses.append("backend = ?")
            args.append(backend)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self.db.execute(f"SELECT {_FINDING_COLS} FROM findings {where} ORDER BY count DESC, id",
                               args).fetchall()
        return [_finding(r) for r in rows]

    def finding(self, key: str) -> Finding:
        """A finding by id (`12`, `#12`) or by a unique signature prefix."""
        k = key.strip()
        if k.lstrip("#").isdigit():
            row = self.db.execute(f"SELECT {_FINDING_COLS} FROM findings WHERE id = ?",
                                  (int(k.lstrip("#")),)).fetchone()
            if row:
                return _finding(row)
        if not k:
            raise StoreError("empty finding key")
        pattern = k.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.db.execute(
            f"SELECT {_FINDING_COLS} FROM findings WHERE signature LIKE ? ESCAPE '\\' ORDER BY id LIMIT 11",
            (pattern,)).fetchall()
        exact = [r for r in rows if r[1] == k]
        if exact:
            return _finding(exact[0])
        if not rows:
            raise StoreError(f"no finding with id or signature prefix {key!r} in {self.path}")
        if len(rows) > 1:
            shown = "\n  ".join(f"#{r[0]} {r[1]}" for r in rows[:10])
            raise StoreError(f"{key!r} matches several findings; be more specific:\n  {shown}")
        return _finding(rows[0])

    def set_status(self, keys: Iterable[str], status: str) -> list[Finding]:
        if status not in FINDING_STATUSES:
            raise StoreError(f"unknown status {status!r}; choose from {', '.join(FINDING_STATUSES)}")
        found = [self.finding(k) for k in keys]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("UPDATE findings SET status = ? WHERE id = ?",
                                [(status, f.id) for f in found])
            self.db.execute("COMMIT")
        except sqlite3.OperationalError as e:
            self._rollback()
            raise _disk_error(self.path, e, "setting finding status") from None
        except BaseException:
            self._rollback()
            raise
        return found

    # ---- bisections (a table of their own: created on first write, so old stores stay readable) --
    def save_bisection(self, finding_id: int, result: dict[str, Any]) -> None:
        """Keep the latest bisection of a finding per backend family."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(_BISECTIONS_DDL)
            self.db.execute("INSERT OR REPLACE INTO bisections (finding, family, result, at) VALUES (?, ?, ?, ?)",
                            (finding_id, result["family"], json.dumps(result, sort_keys=True), now()))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def bisections(self, finding_id: int | None = None) -> dict[int, list[dict[str, Any]]]:
        """{finding id: [bisection result, ...]} (empty for a store that never bisected)."""
        have = self.db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='bisections'").fetchone()
        if not have:
            return {}
        q = "SELECT finding, result FROM bisections"
        rows = (self.db.execute(q + " WHERE finding = ? ORDER BY family", (finding_id,)) if finding_id is not None
                else self.db.execute(q + " ORDER BY finding, family")).fetchall()
        out: dict[int, list[dict[str, Any]]] = {}
        for fid, text in rows:
            try:
                out.setdefault(int(fid), []).append(json.loads(text))
            except ValueError:
                continue
        return out

    def case_row(self, campaign: int, index: int) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT seed, case_id, features, validity, reason, case_json FROM cases"
            " WHERE campaign = ? AND idx = ?", (campaign, index)).fetchone()
        if not row:
            return None
        return {"seed": row[0], "case_id": row[1], "features": _loads(row[2]), "validity": row[3],
                "reason": row[4], "case": _loads(row[5]) if row[5] else None}

    def case_outcomes(self, campaign: int, index: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT backend, origin, kind, stage, signature, compile_s, launch_s, run_s, wall_s, message"
            " FROM outcomes WHERE campaign = ? AND idx = ? ORDER BY id", (campaign, index))
        keys = ("backend", "origin", "kind", "stage", "signature", "compile_s", "launch_s", "run_s", "wall_s",
                "message")
        return [dict(zip(keys, r)) for r in rows]

    # ---- merging stores of campaigns run apart ----------------------------------------------
    def merge_from(self, path: str | Path) -> dict[str, int]:
        """Copy another store's campaigns, cases and outcomes into this one, in one transaction.

        Campaigns match by fingerprint (same config: same cases). A case whose (campaign, index)
        is already here is skipped with its outcomes, and findings count only the cases actually
        added, so merging the same store twice changes nothing. Findings deduplicate by signature:
        a known one gets the new cases added to its count (its first case, triage status and
        reduction stay, gaps are filled from the other store); an unknown one is copied, with its
        bisections. The other store is opened read-only, with every check of a read command.
        """
        src_store = Store(path, readonly=True)
        stats = {"campaigns_added": 0, "campaigns_shared": 0, "cases_added": 0, "cases_duplicate": 0,
                 "outcomes_added": 0, "findings_added": 0, "findings_updated": 0}
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self._merge(src_store.db, stats)
                self.db.execute("COMMIT")
            except sqlite3.OperationalError as e:
                self._rollback()
                raise _disk_error(self.path, e, f"merging {path}") from None
            except BaseException:
                self._rollback()
                raise
        finally:
            src_store.close()
        return stats

    def _merge(self, src: sqlite3.Connection, stats: dict[str, int]) -> None:
        cmap: dict[int, int] = {}
        for cid, name, created, fp, config in src.execute(
                "SELECT id, name, created, fingerprint, config FROM campaigns ORDER BY id").fetchall():
            row = self.db.execute("SELECT id FROM campaigns WHERE fingerprint = ?", (fp,)).fetchone()
            if row:
                cmap[cid] = int(row[0])
                stats["campaigns_shared"] += 1
            else:
                cur = self.db.execute("INSERT INTO campaigns(name, created, fingerprint, config) VALUES (?,?,?,?)",
                                      (name, created, fp, config))
                cmap[cid] = int(cur.lastrowid)
                stats["campaigns_added"] += 1
        have = {(c, i) for c, i in self.db.execute("SELECT campaign, idx FROM cases")}
        dup: set[tuple[int, int]] = set()
        for row in src.execute(
                "SELECT campaign, idx, seed, case_id, features, validity, reason, case_json, gen_s, ref_s,"
                " backend_s, judge_s, created FROM cases ORDER BY campaign, idx"):
            key = (cmap[row[0]], row[1])
            if key in have:
                dup.add((row[0], row[1]))
                continue
            self.db.execute(
                "INSERT INTO cases(campaign, idx, seed, case_id, features, validity, reason, case_json,"
                " gen_s, ref_s, backend_s, judge_s, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (key[0], *row[1:]))
            stats["cases_added"] += 1
        stats["cases_duplicate"] = len(dup)
        batch = [(cmap[r[0]], *r[1:]) for r in src.execute(
            "SELECT campaign, idx, backend, origin, kind, stage, signature, compile_s, launch_s, run_s, wall_s,"
            " message FROM outcomes ORDER BY id") if (r[0], r[1]) not in dup]
        if batch:
            self.db.executemany(
                "INSERT INTO outcomes(campaign, idx, backend, origin, kind, stage, signature, compile_s,"
                " launch_s, run_s, wall_s, message) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", batch)
        stats["outcomes_added"] = len(batch)
        dup_hits: dict[str, int] = {}  # signature -> skipped (duplicate) cases that showed it
        if dup:
            for c, i, sig in src.execute("SELECT DISTINCT o.campaign, o.idx, o.signature FROM outcomes o"
                                         " JOIN findings f ON f.signature = o.signature"):
                if (c, i) in dup:
                    dup_hits[sig] = dup_hits.get(sig, 0) + 1
        fmap: dict[int, int] = {}  # src finding id -> new finding id (copied findings only)
        for (fid, sig, backend, kind, stage, first_campaign, first_case, first_case_id, count, first_seen,
             last_seen, status, message, case_json, outputs_json, reduced_json, reduce_summary) in src.execute(
                "SELECT id, signature, backend, kind, stage, first_campaign, first_case, first_case_id, count,"
                " first_seen, last_seen, status, message, case_json, outputs_json, reduced_json, reduce_summary"
                " FROM findings ORDER BY id").fetchall():
            added = max(0, count - dup_hits.get(sig, 0))
            cur = self.db.execute(
                "UPDATE findings SET count = count + ?, first_seen = MIN(first_seen, ?), last_seen = MAX(last_seen, ?),"
                " status = CASE WHEN status = 'new' THEN ? ELSE status END,"
                " case_json = COALESCE(case_json, ?), outputs_json = COALESCE(outputs_json, ?),"
                " reduce_summary = CASE WHEN reduced_json IS NULL THEN ? ELSE reduce_summary END,"
                " reduced_json = COALESCE(reduced_json, ?) WHERE signature = ?",
                (added, first_seen, last_seen, status, case_json, outputs_json, reduce_summary, reduced_json, sig))
            if cur.rowcount:
                stats["findings_updated"] += 1 if added else 0
                continue
            cur = self.db.execute(
                "INSERT INTO findings(signature, backend, kind, stage, first_campaign, first_case, first_case_id,"
                " count, first_seen, last_seen, status, message, case_json, outputs_json, reduced_json,"
                " reduce_summary) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (sig, backend, kind, stage, cmap.get(first_campaign, first_campaign), first_case, first_case_id,
                 added or count, first_seen, last_seen, status, message, case_json, outputs_json, reduced_json,
                 reduce_summary))
            fmap[fid] = int(cur.lastrowid)
            stats["findings_added"] += 1
        has_bisections = src.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='bisections'").fetchone()
        if fmap and has_bisections:
            rows = [(fmap[f], fam, res, at) for f, fam, res, at in
                    src.execute("SELECT finding, family, result, at FROM bisections") if f in fmap]
            if rows:
                self.db.execute(_BISECTIONS_DDL)
                self.db.executemany("INSERT OR IGNORE INTO bisections (finding, family, result, at)"
                                    " VALUES (?, ?, ?, ?)", rows)


_BISECTIONS_DDL = ("CREATE TABLE IF NOT EXISTS bisections (finding INTEGER NOT NULL, family TEXT NOT NULL,"
                   " result TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (finding, family))")
_FINDING_COLS = ("id, signature, backend, kind, stage, first_campaign, first_case, first_case_id, count,"
                 " first_seen, last_seen, status, message, case_json, outputs_json")


def _finding(r: tuple) -> Finding:
    return Finding(*r[:13], case_json=_loads(r[13]) if r[13] else None,
                   outputs=_loads(r[14]) if r[14] else None)


def _loads(text: Any) -> Any:
    """JSON stored in a column; a damaged value is a StoreError, not a traceback."""
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as e:
        raise StoreError(f"the store holds damaged JSON ({type(e).__name__}: {str(e)[:80]}); "
                         "restore a copy or start a new --db") from None


def _where_campaign(campaign: int | None) -> tuple[str, tuple]:
    return ("WHERE campaign = ?", (campaign,)) if campaign is not None else ("", ())

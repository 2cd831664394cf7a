"""Store round-trip, resume bookkeeping, schema checks and crash atomicity (no backends needed)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fuzz.records import CaseRecord, OutcomeRecord
from fuzz.store import SCHEMA_VERSION, Store, StoreError, fingerprint

REPO = Path(__file__).resolve().parents[1]
CONFIG = {"backends": ["a", "b"], "seed": 7, "weights": None, "generator_version": "g1", "timeout": 5}


def rec(campaign: int, i: int, finding: str | None = None, valid: bool = True) -> CaseRecord:
    outs = [OutcomeRecord("a", "ok", compile_s=0.1, run_s=0.2, wall_s=0.3)]
    if finding:
        outs.append(OutcomeRecord("b", "crash", "compile", finding, f"SIGSEGV in {finding}"))
    else:
        outs.append(OutcomeRecord("b", "ok"))
    return CaseRecord(campaign=campaign, index=i, seed=7 * 1_000_003 + i, case_id=f"c{i:04d}",
                      features=["load", "store"] + (["dot"] if i % 2 else []), valid=valid,
                      reason="" if valid else "division by zero: integer //",
                      outcomes=outs if valid else [],
                      case_json={"source": f"kernel {i}", "kernel_name": "k"} if finding else None,
                      outputs_summary={"backends": {"b": {"status": "crash"}}} if finding else None)


def test_round_trip_and_dedup(tmp_path: Path) -> None:
    db = tmp_path / "runs" / "x.sqlite"
    with Store(db) as s:
        cid, resumed = s.open_campaign("x", CONFIG)
        assert not resumed
        assert s.record_case(rec(cid, 0)) == []
        assert s.record_case(rec(cid, 1, "sigA")) == ["sigA"]
        assert s.record_case(rec(cid, 2, "sigA")) == []  # known: counted, not new
        assert s.record_case(rec(cid, 3, "sigB")) == ["sigB"]
        s.record_case(rec(cid, 4, valid=False))
    with Store(db, create=False) as s:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cid2, resumed = s.open_campaign("x", dict(CONFIG, timeout=99))  # timeout not in identity
        assert (cid2, resumed) == (cid, True)
        assert s.committed_indices(cid) == {0, 1, 2, 3, 4}
        assert s.case_counts(cid) == {"valid": 4, "invalid": 1, "cases": 5}
        assert s.outcome_counts(cid) == {"a": {"ok": 4}, "b": {"ok": 1, "crash": 3}}
        assert s.feature_counts(cid) == {"dot": 2, "load": 5, "store": 5}
        assert s.invalid_reasons(cid) == [("division by zero", 1)]
        by_sig = {f.signature: f for f in s.findings()}
        assert by_sig["sigA"].count == 2 and by_sig["sigB"].count == 1
        a = by_sig["sigA"]
        assert (a.first_case, a.first_case_id, a.status, a.kind, a.stage) == (1, "c0001", "new", "crash",
                                                                             "compile")
        assert a.case_json == {"source": "kernel 1", "kernel_name": "k"}
        assert a.outputs == {"backends": {"b": {"status": "crash"}}}
        # Only finding cases keep their full JSON; the rest are metadata.
        assert s.case_row(cid, 0)["case"] is None
        assert s.case_row(cid, 1)["case"]["source"] == "kernel 1"
        assert s.known_signatures() == {"sigA", "sigB"}
        assert s.campaign_signatures(cid) == {"sigA", "sigB"}


def test_other_config_is_another_campaign_sharing_findings(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as s:
        c1, _ = s.open_campaign("x", CONFIG)
        c2, resumed = s.open_campaign("y", dict(CONFIG, seed=8))
        assert c1 != c2 and not resumed
        assert fingerprint(CONFIG) != fingerprint(dict(CONFIG, generator_version="g2"))
        s.record_case(rec(c1, 0, "sig"))
        assert s.record_case(rec(c2, 0, "sig")) == []  # deduplicated across campaigns
        assert s.findings()[0].count == 2
        assert s.committed_indices(c2) == {0}
        assert [f.signature for f in s.findings(campaign=c2)] == ["sig"]


def test_duplicate_case_rolls_back_whole_transaction(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as s:
        cid, _ = s.open_campaign("x", CONFIG)
        s.record_case(rec(cid, 0))
        bad = rec(cid, 0, "sigZ")
        with pytest.raises(sqlite3.IntegrityError):
            s.record_case(bad)
        assert s.known_signatures() == set()
        assert s.db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] == 2


def test_finding_lookup_and_status(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as s:
        cid, _ = s.open_campaign("x", CONFIG)
        s.record_case(rec(cid, 0, "cuda|crash|abc"))
        s.record_case(rec(cid, 1, "cuda|crash|abd"))
        s.record_case(rec(cid, 2, "hip|miscompile_%"))
        f = s.finding("1")
        assert f.signature == "cuda|crash|abc"
        assert s.finding("#2").signature == "cuda|crash|abd"
        assert s.finding("hip|").signature == "hip|miscompile_%"
        assert s.finding("cuda|crash|abc").id == 1
        with pytest.raises(StoreError, match="matches several findings"):
            s.finding("cuda|crash|ab")
        with pytest.raises(StoreError, match="no finding"):
            s.finding("zzz")
        with pytest.raises(StoreError, match="no finding"):
            s.finding("cuda|crash|a_c")  # LIKE wildcards are literal
        s.set_status(["1", "hip"], "known")
        assert {f.signature for f in s.findings(status="known")} == {"cuda|crash|abc", "hip|miscompile_%"}
        with pytest.raises(StoreError, match="unknown status"):
            s.set_status(["1"], "wontfix")


def test_newer_schema_is_refused_with_clear_message(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    Store(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=rf"schema {SCHEMA_VERSION + 1} is newer .*upgrade tritondiff"):
        Store(db)


def test_not_a_database_and_missing_store(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match="junk.sqlite"):
        Store(junk)
    with pytest.raises(StoreError, match="no such store"):
        Store(tmp_path / "absent.sqlite", create=False)
    assert not (tmp_path / "absent.sqlite").exists()


WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from fuzz.records import CaseRecord, OutcomeRecord
    from fuzz.store import Store
    s = Store({db!r})
    cid, _ = s.open_campaign("k", {{"backends": ["b"], "seed": 1, "weights": None,
                                     "generator_version": "g"}})
    done = s.committed_indices(cid)
    print("ready", flush=True)
    i = 0
    while True:
        if i not in done:
            sig = "sig%d" % (i % 5)
            outs = [OutcomeRecord("b", "crash", "compile", sig, "boom") for _ in range(20)]
            s.record_case(CaseRecord(cid, i, i, "c%d" % i, ["f"], outcomes=outs,
                                     case_json={{"i": i}}))
        i += 1
""")


def test_sigkill_never_leaves_a_partial_case(tmp_path: Path) -> None:
    """Kill a writer at arbitrary moments; every committed case is whole, counts match, resume works."""
    db = tmp_path / "k.sqlite"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(repo=str(REPO), db=str(db)))
    for delay in (0.3, 0.45, 0.6):
        p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE)
        assert p.stdout is not None
        assert p.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        with Store(db) as s:
            cases = s.db.execute("SELECT idx FROM cases").fetchall()
            n = len(cases)
            assert n > 0
            assert {r[0] for r in cases} == set(range(n))  # resumed at the first uncommitted index
            # Every committed case has all 20 outcomes; no outcome without its case.
            per_case = dict(s.db.execute("SELECT idx, COUNT(*) FROM outcomes GROUP BY idx").fetchall())
            assert set(per_case) == {r[0] for r in cases}
            assert set(per_case.values()) == {20}
            # Finding counts equal the committed cases carrying each signature.
            for f in s.findings():
                k = int(f.signature[3:])
                assert f.count == sum(1 for (i,) in cases if i % 5 == k)
            assert s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_schema_1_store_gains_launch_times(tmp_path: Path) -> None:
    """A store written before launch times were kept opens, keeps its rows and records new ones."""
    db = tmp_path / "old.sqlite"
    with Store(db) as s:
        cid, _ = s.open_campaign("x", CONFIG)
        s.record_case(rec(cid, 0))
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE outcomes DROP COLUMN launch_s")  # what schema 1 wrote
    con.execute("UPDATE schema_version SET version = 1")
    con.commit()
    con.close()
    with Store(db) as s:
        assert s.db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION == 3
        r = rec(cid, 1)
        r.outcomes[0].launch_s = 0.05
        s.record_case(r)
        assert [o["launch_s"] for o in s.case_outcomes(cid, 0)] == [0.0, 0.0]
        assert s.case_outcomes(cid, 1)[0]["launch_s"] == 0.05

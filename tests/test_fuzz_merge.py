"""`tritondiff merge`: stores of campaigns run apart, merged (no backends needed).

Findings deduplicate by signature with counts summed; a case present in both stores (same
campaign config, same index) counts once, so merging twice changes nothing; inputs are never
written; a file that is not a store is refused with one line and leaves the output as it was.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from fuzz.records import CaseRecord, OutcomeRecord
from fuzz.store import Store
from tests.cli_helpers import run_main

CONF_X = {"backends": ["a", "b"], "seed": 1, "weights": None, "generator_version": "g1", "timeout": 5}
CONF_Y = {**CONF_X, "seed": 2}


def rec(campaign: int, i: int, sigs: list[str]) -> CaseRecord:
    outs = [OutcomeRecord("a", "ok")]
    outs += [OutcomeRecord("b", "miscompile", "run", s, f"wrong values ({s})") for s in sigs] or \
        [OutcomeRecord("b", "ok")]
    return CaseRecord(campaign=campaign, index=i, seed=i, case_id=f"k{campaign}-{i}", features=["load"],
                      outcomes=outs, case_json={"case": i} if sigs else None,
                      outputs_summary={"b": "x"} if sigs else None)


def make_store(path: Path, campaigns: dict[str, tuple[dict, dict[int, list[str]]]]) -> None:
    with Store(path) as s:
        for name, (conf, cases) in campaigns.items():
            cid, _ = s.open_campaign(name, conf)
            for i, sigs in cases.items():
                s.record_case(rec(cid, i, sigs))


def counts(path: Path) -> dict[str, int]:
    with Store(path, create=False) as s:
        return {f.signature: f.count for f in s.findings()}


def table(path: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    # A ran campaign X cases 0-3; B ran X cases 2-5 (2 and 3 overlap) and campaign Y.
    make_store(a, {"x": (CONF_X, {0: ["s1"], 1: ["s2"], 2: ["s1"], 3: []})})
    make_store(b, {"x": (CONF_X, {2: ["s1"], 3: [], 4: ["s1", "s3"], 5: []}),
                   "y": (CONF_Y, {0: ["s1"], 1: ["s2"], 2: []})})
    return a, b


def test_merge_sums_counts_and_skips_duplicate_cases(stores: tuple[Path, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    a, b = stores
    before_b = table(b, "SELECT * FROM findings ORDER BY id")
    out = tmp_path / "merged" / "all.sqlite"
    rc, stdout, err = run_main(["merge", str(out), str(a), str(b), "--json"], capsys)
    assert rc == 0, err
    report = json.loads(stdout)
    assert [r["cases_added"] for r in report["inputs"]] == [4, 5]
    assert [r["cases_duplicate"] for r in report["inputs"]] == [0, 2]
    # s1: A cases 0, 2; B's X case 4 (case 2 already counted) and Y case 0.
    assert counts(out) == {"s1": 4, "s2": 2, "s3": 1}
    assert report["findings"] == 3
    assert table(out, "SELECT name FROM campaigns ORDER BY id") == [("x",), ("y",)]
    assert table(out, "SELECT campaign, COUNT(*) FROM cases GROUP BY campaign") == [(1, 6), (2, 3)]
    # Every case keeps its outcomes exactly once; the new finding's first case points into OUT.
    # (one "a" outcome + one "b" outcome per signature, or an "ok" one) per case: X 0-5, then Y 0-2
    assert table(out, "SELECT COUNT(*) FROM outcomes") == [(2 + 2 + 2 + 2 + 3 + 2 + (2 + 2 + 2),)]
    assert table(out, "SELECT first_campaign, first_case FROM findings WHERE signature = 's3'") == [(1, 4)]
    assert table(b, "SELECT * FROM findings ORDER BY id") == before_b  # inputs are only read

    rc, stdout, _ = run_main(["merge", str(out), str(b), "--json"], capsys)  # again: nothing changes
    assert rc == 0
    assert json.loads(stdout)["inputs"][0]["cases_added"] == 0
    assert counts(out) == {"s1": 4, "s2": 2, "s3": 1}


def test_merge_keeps_triage_and_fills_reductions(stores: tuple[Path, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    a, b = stores
    with Store(a) as s:
        s.set_status(["s1"], "known")
    with Store(b) as s:
        s.set_status(["s1"], "ignored")
        s.set_status(["s2"], "known")
        s.set_reduced("s2", {"small": True}, "3 -> 1 statements")
        s.save_bisection(s.finding("s3").id, {"family": "interpreter", "first_bad": "3.6.0"})
    rc, _, err = run_main(["merge", str(a), str(b)], capsys)  # into A itself
    assert rc == 0, err
    with Store(a, create=False) as s:
        st = {f.signature: f.status for f in s.findings()}
        assert st == {"s1": "known", "s2": "known", "s3": "new"}  # OUT's triage wins, 'new' is filled
        assert s.reduced("s2") == ({"small": True}, "3 -> 1 statements")
        # A copied finding keeps its bisection, under its id in OUT.
        assert s.bisections(s.finding("s3").id) == {s.finding("s3").id: [{"family": "interpreter",
                                                                           "first_bad": "3.6.0"}]}


def test_merge_refuses_bad_inputs_with_one_line(stores: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = stores
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not sqlite at all" * 100)
    plain = tmp_path / "plain.sqlite"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.commit()
    before = counts(a)
    for bad, says in ((junk, "not a tritondiff store"), (plain, "not a tritondiff store"),
                      (tmp_path / "missing.sqlite", "no such store"), (a, "cannot be merged into itself")):
        rc, _, err = run_main(["merge", str(a), str(bad)], capsys)
        assert rc == 2 and says in err and err.count("\n") == 1, (bad, err)
    assert counts(a) == before
    assert table(plain, "SELECT name FROM sqlite_master") == [("t",)]  # not turned into a store

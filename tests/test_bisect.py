"""Release bisection: a known finding replayed on every installed release of its family."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fuzz.bisect import Bisection, ReleaseVerdict, corpus_targets, diagnostic, same_failure, select_releases, surprises
from fuzz.corpus import load_file
from fuzz.records import CaseRecord, OutcomeRecord
from fuzz.store import Store
from tests.cli_helpers import run_main

REPO = Path(__file__).resolve().parents[1]
RC2_CRASH = REPO / "corpus" / "9c69168690f7275f.json"  # rc2 adapter SIGSEGV on `//` in pointer offsets
LOOP_TYPEERROR = REPO / "corpus" / "b1aacb2cdebb87fe.json"  # interpreter TypeError on a runtime-bounded loop


def test_bisect_corpus_case_over_three_ascend_releases(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_main(["bisect", str(RC2_CRASH), "--family", "ascend", "--yes", "--json"], capsys)
    assert rc == 0, err
    res = json.loads(out)
    verdicts = {r["release"]: r["verdict"] for r in res["releases"]}
    assert verdicts == {"3.2.0rc2": "bad", "3.2.0rc4": "ok", "3.2.0": "ok"}
    assert (res["first_bad"], res["last_bad"], res["fixed_in"], res["still_present"]) == (
        "3.2.0rc2", "3.2.0rc2", "3.2.0rc4", False)


def test_bisect_corpus_case_over_four_interpreter_releases(capsys: pytest.CaptureFixture[str]) -> None:
    """The releases `make setup` installs; the runtime-bounded loop TypeError is fixed in 3.9.0."""
    rc, out, err = run_main(["bisect", str(LOOP_TYPEERROR), "--releases", "3.2.0,3.5.1,3.6.0,3.9.0",
                             "--jobs", "2", "--json"], capsys)
    assert rc == 0, err
    res = json.loads(out)
    assert {r["release"]: r["verdict"] for r in res["releases"]} == {
        "3.2.0": "bad", "3.5.1": "bad", "3.6.0": "bad", "3.9.0": "ok"}
    assert (res["first_bad"], res["last_bad"], res["fixed_in"], res["still_present"]) == (
        "3.2.0", "3.6.0", "3.9.0", False)
    assert res["surprises"] == []  # the corpus file expects 3.6.0 bad and 3.9.0 ok


def test_corpus_targets_one_per_family_and_signature() -> None:
    entry = load_file(REPO / "corpus" / "1866bd51d883250f.json")  # rc2 dies differently from 3.2.0/rc4
    (t,) = corpus_targets(entry, None)
    assert t.family == "ascend" and t.arch == "Ascend910B3" and len(t.signatures) == 2
    assert "SIGSEGV" in t.signatures[0] and "OffsetAnalysis" in t.signatures[1]
    assert corpus_targets(entry, "cuda") == []
    b = Bisection("ascend", t.signatures[1], [ReleaseVerdict("3.2.0rc2", "a", "ok"),
                                               ReleaseVerdict("3.2.0", "b", "bad")])
    assert surprises(b, entry.expected) == ["3.2.0rc2: corpus expects other, got ok"]


def test_bisection_is_kept_in_the_store_and_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = load_file(RC2_CRASH)
    sig = entry.expected["ascend@3.2.0rc2:Ascend910B3"]["signature"]
    db = tmp_path / "s.sqlite"
    with Store(db) as s:
        cid, _ = s.open_campaign("t", {"backends": ["ascend@3.2.0rc2"], "seed": 1, "weights": None,
                                       "generator_version": "3"})
        s.record_case(CaseRecord(campaign=cid, index=0, seed=1, case_id=entry.case.case_id,
                                 features=list(entry.case.features), valid=True, reason="",
                                 outcomes=[OutcomeRecord("ascend@3.2.0rc2:Ascend910B3", "crash", "adapter-crash",
                                                         sig, "SIGSEGV")],
                                 case_json=entry.case.to_json(), outputs_summary=None))
    rc, out, err = run_main(["bisect", "1", "--db", str(db), "--releases", "3.2.0rc2..3.2.0rc4", "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)["fixed_in"] == "3.2.0rc4"
    rc, out, _ = run_main(["findings", "--db", str(db)], capsys)
    assert rc == 0 and "fixed in 3.2.0rc4" in out
    rc, out, _ = run_main(["show", "1", "--db", str(db)], capsys)
    assert "releases:  ascend: first bad 3.2.0rc2" in out
    rc, _, err = run_main(["report", "1", "--db", str(db), "--out", str(tmp_path / "r")], capsys)
    assert rc == 0, err
    readme = (tmp_path / "r" / "README.md").read_text()
    assert "## Releases" in readme and "| 3.2.0rc2 | bad |" in readme and "| 3.2.0rc4 | ok |" in readme
    rc, _, err = run_main(["report", "--campaign", "--db", str(db), "--out", str(tmp_path / "c.html")], capsys)
    assert rc == 0, err
    assert "ascend: first bad 3.2.0rc2, last bad 3.2.0rc2; fixed in 3.2.0rc4" in (tmp_path / "c.html").read_text()


def test_summary_tells_other_failures_from_fixes() -> None:
    b = Bisection("cuda", "sig", [ReleaseVerdict("3.0.0", "cuda@3.0.0", "ok"),
                                  ReleaseVerdict("3.2.0", "cuda@3.2.0", "bad"),
                                  ReleaseVerdict("3.5.1", "cuda@3.5.1", "other", "crash", "other-sig"),
                                  ReleaseVerdict("3.9.0", "cuda@3.9.0", "bad")])
    assert (b.first_bad, b.last_bad, b.fixed_in, b.still_present) == ("3.2.0", "3.9.0", None, True)
    b.rows[-1].verdict = "ok"
    assert b.fixed_in == "3.9.0" and not b.still_present


def test_release_ranges() -> None:
    assert select_releases("cuda", "3.2.0..3.4.0") == ["3.2.0", "3.3.0", "3.3.1", "3.4.0"]
    assert select_releases("cuda", "3.7.0..3.8.0") == ["3.7.0", "3.7.1", "3.8.0"]
    assert select_releases("ascend", None) == ["3.2.0rc2", "3.2.0rc4", "3.2.0"]
    assert select_releases("interpreter", "3.9.0,3.2.0") == ["3.2.0", "3.9.0"]


def test_release_wording_of_one_failure_is_judged_alike() -> None:
    """ptxas rejecting the same PTX reads differently in 3.0/3.1, 3.2 and 3.3+ (corpus a67c80c9)."""
    st = " / Arguments mismatch for instruction 'st'|"
    old, mid, new = ("cuda|internal-error|compile|RuntimeError: Internal Triton PTX codegen error:" + st,
                     "cuda|internal-error|compile|RuntimeError: Internal Triton PTX codegen error" + st,
                     "cuda|internal-error|compile|PTXASError: PTXAS error: Internal Triton PTX codegen error" + st)
    assert same_failure(old, mid) and same_failure(mid, new)
    assert not same_failure(mid, "cuda|internal-error|compile|RuntimeError: PassManager::run failed|")
    (t,) = corpus_targets(load_file(REPO / "corpus" / "a67c80c929e074f8.json"), "cuda")
    assert t.signatures == [mid]  # one finding, not one per wording


def test_diagnostic_behind_a_generic_error() -> None:
    msg = ("RuntimeError: PassManager::run failed\nloc(\"k.py\":5:57): error: 'llvm.fcmp' op operand #0 must be "
           "floating point LLVM type, but got 'i16'")
    assert diagnostic(msg).startswith("error: 'llvm.fcmp' op operand #N")
    assert diagnostic("RuntimeError: PassManager::run failed\nk.py:1:2: error: Failures have been detected while "
                      "processing an MLIR pass pipeline\nk.py:3:4: error: 'tt.scan' op type mismatch") == (
        "error: 'tt.scan' op type mismatch")
    assert diagnostic("CompilationError: at 2:43:\ndef k():\n    ^\n`other` cannot be provided without `mask`") == (
        "`other` cannot be provided without `mask`")
    assert diagnostic("CompilationError: at 1:2:\n    ^\nloc(\"k.py\":3:4): error: 'tt.scan' op type mismatch") == (
        "error: 'tt.scan' op type mismatch")
    assert diagnostic("SIGABRT: x\nFatal Python error: Aborted\npython: A.cpp:3: f(): Assertion `x' failed.") == (
        "python: A.cpp:N: f(): Assertion `x' failed.")


def test_a_bad_corpus_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    doc = json.loads(LOOP_TYPEERROR.read_text())
    doc["case"]["source"] += "import os\n"  # a stored source that is not its spec's rendering is never run
    bad.write_text(json.dumps(doc))
    rc, out, err = run_main(["bisect", str(bad), "--yes"], capsys)
    assert rc == 2 and out == "" and "stored source differs" in err and len(err.strip().splitlines()) == 1

"""CLI argument errors, and the store/corpus views (show, findings, stats, replay of bad files)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_fuzz_corpus import make_case

from fuzz.options import UsageError, parse_weights
from fuzz.records import CaseRecord, OutcomeRecord
from fuzz.store import Store
from tests.cli_helpers import run_main

REPO = Path(__file__).resolve().parents[1]




@pytest.mark.parametrize("argv, message", [
    (["fuzz"], "the following arguments are required: --backends"),
    (["fuzz", "--backends", "a", "--cases", "0"], "--cases: must be at least 1"),
    (["fuzz", "--backends", "a", "--cases", "ten"], "--cases: expected a whole number"),
    (["fuzz", "--backends", "a", "--minutes", "-1"], "--minutes: must be a positive number"),
    (["fuzz", "--backends", "a", "--timeout", "nan"], "--timeout: must be a positive number"),
    (["fuzz", "--backends", "a", "--jobs", "0"], "--jobs/-j: must be at least 1"),
    (["fuzz", "--backends", " , "], "--backends needs at least one backend name"),
    (["fuzz", "--backends", "a,b,a"], "--backends names a more than once"),
    (["fuzz", "--backends", "a", "--seed", str(2**50)], "--seed must be between"),
    (["fuzz", "--backends", "a", "--weights", "load"], "expected 'feature=weight', got 'load'"),
    (["fuzz", "--backends", "a", "--weights", "load=x"], "weight of 'load' is not a number"),
    (["fuzz", "--backends", "a", "--weights", "load=-1"], "must be finite and >= 0"),
    (["fuzz", "--backends", "a", "--weights", "nope.json"], "--weights: cannot read nope.json"),
    (["stats", "--weights", "a=1"], "--weights only apply with --generate N"),
    (["stats", "--generate", "5", "--db", "x.sqlite"], "stats --generate runs no store"),
    (["stats", "--generate", "5", "--min-share", "150%"], "--min-share: must be between 0 and 1"),
    (["findings", "3"], "only used with --mark STATUS"),
    (["findings", "--mark", "known"], "--mark needs at least one FINDING"),
    (["findings", "--mark", "wontfix", "1"], "argument --mark: invalid choice"),
    (["show"], "the following arguments are required: FINDING"),
    (["show", "1"], "no store given and none under runs/: pass --db PATH"),
    (["show", "1", "--db", "absent.sqlite"], "--db absent.sqlite: no such store"),
    (["replay"], "the following arguments are required: PATH"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_argument_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_main(argv, capsys)
    assert rc == 2, (out, err)
    assert message in err
    assert err.count("Traceback") == 0
    assert out == ""


def test_several_stores_need_db(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for n in ("a", "b"):
        Store(Path("runs") / f"{n}.sqlite").close()
    rc, _, err = run_main(["findings"], capsys)
    assert rc == 2 and "several stores under runs/" in err


def test_parse_weights() -> None:
    assert parse_weights(None) is None
    assert parse_weights("a=1, b=0.5", "c", known=["a", "b", "c"]) == {"a": 1.0, "b": 0.5, "c": 0.0}
    msg = r"unknown feature\(s\) zz in --weights/--exclude; known features: a$"
    with pytest.raises(UsageError, match=msg):
        parse_weights("zz=1", known=["a"])


def test_weights_json_file(tmp_path: Path) -> None:
    f = tmp_path / "w.json"
    f.write_text('{"dot": 2, "fp64": 0}')
    assert parse_weights(str(f)) == {"dot": 2.0, "fp64": 0.0}
    f.write_text("[1]")
    with pytest.raises(UsageError, match="must hold a JSON object"):
        parse_weights(str(f))
    f.write_text("{oops")
    with pytest.raises(UsageError, match="is not valid JSON"):
        parse_weights(str(f))


def make_store(path: Path) -> None:
    case = make_case()
    with Store(path) as s:
        cid, _ = s.open_campaign("t", {"backends": ["a@1", "b@1"], "seed": 0, "weights": None,
                                       "generator_version": "t"})
        s.record_case(CaseRecord(cid, 0, 0, "c0", ["load"], outcomes=[
            OutcomeRecord("a@1", "ok"), OutcomeRecord("b@1", "ok")]))
        s.record_case(CaseRecord(
            cid, 1, 1, case.case_id, case.features,
            outcomes=[OutcomeRecord("a@1", "ok"),
                      OutcomeRecord("b@1", "miscompile", "run", "b|miscompile|run|y",
                                    "y differs at 3 elements")],
            case_json=case.to_json(),
            outputs_summary={"reference": {"y": [1.0, 2.0]},
                             "backends": {"b@1": {"status": "ok", "outputs": {
                                 "y": {"head": [1.0, 7.0], "diff_at": [1]}}}},
                             "details": {}}))
        s.record_case(CaseRecord(cid, 2, 2, "c2", ["dot"], valid=False, reason="racy store: x"))


def test_show_findings_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.sqlite"
    make_store(db)
    rc, out, _ = run_main(["show", "b|mis", "--db", str(db)], capsys)
    assert rc == 0
    for text in ("kind:      miscompile", "backend:   b@1", "y differs at 3 elements", "@triton.jit",
                 "reference  y: [1.0, 2.0]", "differs at [1]", "b@1  miscompile"):
        assert text in out, text
    rc, out, _ = run_main(["show", "1", "--db", str(db), "--json"], capsys)
    d = json.loads(out)
    assert d["case"]["kernel_name"] == "k" and d["outputs"]["reference"]["y"] == [1.0, 2.0]

    rc, out, _ = run_main(["findings", "--db", str(db)], capsys)
    assert rc == 0 and "b|miscompile|run|y" in out and "new" in out
    rc, out, _ = run_main(["findings", "--db", str(db), "--mark", "known", "#1"], capsys)
    assert rc == 0 and "new -> known" in out
    rc, out, _ = run_main(["findings", "--db", str(db), "--status", "new", "--json"], capsys)
    assert json.loads(out)["findings"] == []

    rc, out, err = run_main(["stats", "--db", str(db), "--json"], capsys)
    assert rc == 0 and out.count("\n") == 1
    s = json.loads(out)
    assert (s["cases"], s["valid"], s["invalid"]) == (3, 2, 1)
    assert s["outcomes"] == {"a@1": {"ok": 2}, "b@1": {"ok": 1, "miscompile": 1}}
    assert s["features"] == {"dot": 1, "load": 2, "mask": 1, "store": 1}
    assert s["invalid_reasons"] == [["racy store", 1]]
    assert [f["signature"] for f in s["findings"]] == ["b|miscompile|run|y"]
    rc, out, _ = run_main(["stats", "--db", str(db)], capsys)
    assert rc == 0 and "validity 66.7%" in out and "miscompile" in out


def test_newer_store_schema_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.sqlite"
    make_store(db)
    con = sqlite3.connect(db)
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    con.close()
    rc, out, err = run_main(["stats", "--db", str(db)], capsys)
    assert rc == 2 and "store schema 99 is newer than this tritondiff supports" in err


def test_replay_malformed_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x.json").write_text('{"schema": 1}')
    rc, out, _ = run_main(["replay", str(tmp_path / "c")], capsys)
    assert rc == 1 and "MALFORMED" in out and "x.json: missing key(s) 'case', 'expected'" in out
    rc, out, _ = run_main(["replay", str(tmp_path / "c"), "--json"], capsys)
    d = json.loads(out)
    assert rc == 1 and d["ok"] is False and len(d["malformed"]) == 1 and d["cases"] == 0


def test_python_dash_m_fuzz() -> None:
    p = subprocess.run([sys.executable, "-m", "fuzz", "--help"], cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0
    for cmd in ("fuzz", "replay", "show", "stats", "backends", "findings"):
        assert cmd in p.stdout
    p = subprocess.run([sys.executable, "-m", "fuzz", "fuzz", "--cases", "3"], cwd=REPO,
                       capture_output=True, text=True)
    assert p.returncode == 2 and "--backends" in p.stderr


def test_launcher_option_reaches_every_backend() -> None:
    from fuzz.cli import _backend_opts, build_parser

    args = build_parser().parse_args(["fuzz", "--backends", "cuda,interpreter", "--launcher", "triton",
                                      "--env-python", "cuda=/usr/bin/python3"])
    assert _backend_opts(args, ["cuda", "interpreter"]) == {
        "cuda": {"env_python": "/usr/bin/python3", "runner_options": {"launcher": "triton"}},
        "interpreter": {"runner_options": {"launcher": "triton"}}}
    args = build_parser().parse_args(["fuzz", "--backends", "cuda"])
    assert args.launcher == "direct" and _backend_opts(args, ["cuda"]) == {}

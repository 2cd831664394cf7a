"""End to end through the real CLI in subprocesses: campaign, kill -9, resume, replay, show, stats.

Uses the interpreter and the fault-injecting backends (findings on demand); needs the managed
triton env for them (built by `backends.envs`), otherwise skipped.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BACKENDS = "interpreter,fault-oob-store"
N = 16


def _env_ready() -> bool:
    try:
        from backends.envs import is_installed
        from backends.registry import resolve

        return is_installed(resolve("interpreter").env)
    except Exception:
        return False


needs_env = pytest.mark.skipif(not _env_ready(), reason="managed triton env for 'interpreter' not installed")


def cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "fuzz", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def fuzz_args(db: Path, corpus: Path, cases: int = N) -> list[str]:
    return ["fuzz", "--backends", BACKENDS, "--seed", "5", "--cases", str(cases), "--db", str(db),
            "--corpus", str(corpus), "--timeout", "60", "--json", "-q"]


def committed(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@needs_env
def test_kill9_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    db, corpus = tmp_path / "runs" / "k.sqlite", tmp_path / "corpus"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.Popen([sys.executable, "-m", "fuzz", *fuzz_args(db, corpus)], cwd=tmp_path, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while committed(db) < 3 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    before = committed(db)
    assert 3 <= before < N, "campaign finished (or never started) before the kill"
    # Every committed case is whole: 2 judged outcomes per valid case, none for invalid ones.
    for idx, validity, n in rows(db, "SELECT c.idx, c.validity, COUNT(o.id) FROM cases c LEFT JOIN outcomes o"
                                     " ON o.campaign = c.campaign AND o.idx = c.idx GROUP BY c.idx"):
        assert n >= (2 if validity == "valid" else 0), (idx, validity, n)

    r = cli(*fuzz_args(db, corpus), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("\n") == 1
    s = json.loads(r.stdout)
    assert s["resumed"] is True
    assert s["cases"] == N and s["session"]["cases"] == N - before
    assert [i for (i,) in rows(db, "SELECT idx FROM cases ORDER BY idx")] == list(range(N))

    # The same campaign without interruption gives the same cases and the same findings.
    db2 = tmp_path / "runs" / "u.sqlite"
    r2 = cli(*fuzz_args(db2, tmp_path / "corpus2"), cwd=tmp_path)
    assert r2.returncode == 0, r2.stderr[-3000:]
    q = "SELECT idx, seed, case_id, validity FROM cases ORDER BY idx"
    assert rows(db, q) == rows(db2, q)
    q = "SELECT signature, count FROM findings ORDER BY signature"
    assert rows(db, q) == rows(db2, q)
    s2 = json.loads(r2.stdout)
    for key in ("cases", "valid", "invalid", "validity_rate", "features"):
        assert s[key] == s2[key], key
    assert s2["findings"], "fault backends should have produced findings"


@needs_env
def test_corpus_replay_show_and_stats(tmp_path: Path) -> None:
    db, corpus = tmp_path / "c.sqlite", tmp_path / "corpus"
    r = cli(*fuzz_args(db, corpus, cases=10), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    for key in ("cases", "outcomes", "validity_rate", "kernels_per_s", "features", "findings", "session"):
        assert key in summary
    assert 0.0 <= summary["session"]["outside_share"] <= 1.0
    files = sorted(corpus.glob("*.json"))
    assert files and len(files) <= len(summary["findings"])
    first = summary["findings"][0]

    r = cli("show", first["signature"][:30], "--db", str(db), cwd=tmp_path)
    if r.returncode == 2 and "matches several" in r.stderr:
        r = cli("show", str(first["id"]), "--db", str(db), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"kind:      {first['kind']}" in r.stdout and "@triton.jit" in r.stdout

    r = cli("replay", str(corpus), "--json", cwd=tmp_path)
    rep = json.loads(r.stdout)
    assert rep["cases"] == len(files) and not rep["malformed"]
    flaky = rep["changes"]["new-failure"] + rep["changes"]["changed-signature"] + rep["changes"]["fixed"]
    assert flaky == 0, rep["results"]
    assert r.returncode == 0

    # A backend that used to pass and now fails is a new failure: rc 1; --update accepts it.
    doc = json.loads(files[0].read_text())
    bad = next(b for b, e in doc["expected"].items() if e["kind"] not in ("ok", "unsupported"))
    doc["expected"][bad] = {"kind": "ok", "signature": ""}
    files[0].write_text(json.dumps(doc))
    (corpus / "zz-broken.json").write_text("{")
    r = cli("replay", str(files[0]), str(corpus / "zz-broken.json"), cwd=tmp_path)
    assert r.returncode == 1
    assert "NEW-FAILURE" in r.stdout and bad in r.stdout and "zz-broken.json: malformed JSON" in r.stdout
    r = cli("replay", str(files[0]), "--update", cwd=tmp_path)
    assert r.returncode == 1 and "updated 1 file" in r.stdout
    r = cli("replay", str(files[0]), cwd=tmp_path)
    assert r.returncode == 0, r.stdout

    r = cli("stats", "--db", str(db), "--json", cwd=tmp_path)
    st = json.loads(r.stdout)
    assert st["cases"] == 10 and st["outcomes"] == summary["outcomes"]


@needs_env
def test_unknown_backend_fails_before_creating_a_store(tmp_path: Path) -> None:
    r = cli("fuzz", "--backends", "interpreter,nosuch", "--cases", "2", cwd=tmp_path)
    assert r.returncode == 2
    assert "backend 'nosuch'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()


def test_stats_generate_json(tmp_path: Path) -> None:
    r = cli("stats", "--generate", "60", "--seed", "3", "--json", cwd=tmp_path)
    assert r.returncode in (0, 1), r.stderr  # 1 = some feature below --min-share
    st = json.loads(r.stdout)
    import generators

    assert st["kernels"] == 60
    assert set(generators.FEATURES) <= set(st["features"])
    assert 0.0 <= st["validity_rate"] <= 1.0
    assert (r.returncode == 1) == bool(st["below_min_share"])
    r = cli("stats", "--generate", "20", "--exclude", "no_such_feature", cwd=tmp_path)
    assert r.returncode == 2 and "unknown feature(s) no_such_feature" in r.stderr


def test_backends_lists_interpreter(tmp_path: Path) -> None:
    r = cli("backends", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = [b["name"] for b in json.loads(r.stdout)["backends"]]
    assert any(n.startswith("interpreter") for n in names)
    r = cli("backends", cwd=tmp_path)
    assert r.returncode == 0 and "installed" in r.stdout


@needs_env
def test_sigint_finishes_in_flight_cases_with_jobs(tmp_path: Path) -> None:
    db = tmp_path / "i.sqlite"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    args = ["fuzz", "--backends", "interpreter", "--cases", "5000", "--jobs", "2", "--db", str(db),
            "--no-corpus", "--json", "-q"]
    p = subprocess.Popen([sys.executable, "-m", "fuzz", *args], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while committed(db) < 4 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-3000:]
    assert "SIGINT: finishing the case(s) in flight" in err
    s = json.loads(out)
    assert s["session"]["interrupted"] is True and s["session"]["jobs"] == 2
    assert s["cases"] == committed(db) >= 4
    assert 0.0 <= s["session"]["outside_share"] <= 1.0

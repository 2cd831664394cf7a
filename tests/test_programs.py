"""`tritondiff generate`: standalone programs that run with only triton installed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from backends.envs import envs_home
from fuzz.programs import release_weights
from generators import generate
from generators.constructs import ALL
from tests.cli_helpers import run_main


def _clean_run(python: Path, script: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run([str(python), str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_generated_programs_run_standalone_and_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    py = envs_home() / "triton-3.9.0" / "bin" / "python"
    if not py.exists():
        pytest.fail("the managed triton-3.9.0 env is missing: run `tritondiff setup --backends interpreter`")
    out = tmp_path / "progs"
    rc, stdout, _ = run_main(["generate", "--seed", "7", "--count", "3", "--out", str(out), "--backend",
                              "interpreter", "--json"], capsys)
    assert rc == 0
    summary = json.loads(stdout)
    assert summary["written"] == 3 and len(list(out.glob("kernel_*.py"))) == 3
    case = json.loads((out / summary["files"][0].replace(".py", ".json")).read_text())
    assert case["case_id"] == generate(7).case_id
    r = _clean_run(py, out / summary["files"][0], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "match the reference" in r.stdout


def test_generate_refuses_an_unusable_out_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, _, err = run_main(["generate", "--count", "1", "--out", str(blocker / "sub")], capsys)
    assert rc == 2 and "--out" in err and "Traceback" not in err


def test_release_weights_drop_what_the_release_lacks() -> None:
    late = {f for c in ALL.values() if c.since.get("triton") for f in c.features}
    w = release_weights("3.0.0", None) or {}
    for f in late:
        assert w.get(f) == 0.0, f
    assert release_weights(None, {"x": 1.0}) == {"x": 1.0}

"""Managed envs: created once, locked, rebuilt on a changed pin; clear errors otherwise.

These build tiny venvs (no packages from any index) under a temporary TRITONDIFF_HOME.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from backends.envs import MARKER, EnvError, EnvSpec, ensure_env, is_installed


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRITONDIFF_HOME", str(tmp_path))
    return tmp_path


def test_create_is_idempotent_and_locked(home: Path) -> None:
    # "pip" is installed in every venv: a satisfiable requirement that needs no index.
    spec = EnvSpec("tiny", ("pip",), extra_pip_args=("--no-index",))
    assert not is_installed(spec)
    logs: list[str] = []
    pythons: list[Path] = []
    threads = [threading.Thread(target=lambda: pythons.append(ensure_env(spec, log=logs.append)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(pythons) == 2 and pythons[0] == pythons[1] and pythons[0].exists()
    assert sum("creating" in m for m in logs) == 1  # the second caller waited on the lock
    marker = json.loads((home / "envs" / "tiny" / MARKER).read_text())
    assert marker["requirements"] == ["pip"]
    assert is_installed(spec)
    before = (home / "envs" / "tiny" / MARKER).stat().st_mtime_ns
    ensure_env(spec, log=logs.append)
    assert (home / "envs" / "tiny" / MARKER).stat().st_mtime_ns == before

    # An env built by hand (no marker) that already has every pin is adopted, not rebuilt.
    (home / "envs" / "tiny" / MARKER).unlink()
    logs.clear()
    ensure_env(spec, log=logs.append)
    assert logs == [] and json.loads((home / "envs" / "tiny" / MARKER).read_text())["adopted"] is True

    # A changed pin rebuilds, even when the old env happens to satisfy it.
    ensure_env(EnvSpec("tiny", ("pip>=1",), extra_pip_args=("--no-index",)), log=logs.append)
    assert any("rebuilding" in m for m in logs)


def test_pip_failure_shows_pips_last_lines(home: Path) -> None:
    spec = EnvSpec("broken", ("tritondiff-test-absent-dist==1.0",), extra_pip_args=("--no-index",))
    with pytest.raises(EnvError) as err:
        ensure_env(spec, log=lambda m: None)
    msg = str(err.value)
    assert "pip install failed for env 'broken'" in msg
    assert "No matching distribution found for tritondiff-test-absent-dist" in msg
    assert not (home / "envs" / "broken").exists() and not is_installed(spec)


def test_external_python_errors(home: Path) -> None:
    with pytest.raises(EnvError, match="does not exist"):
        ensure_env(EnvSpec("x", external_python="/nonexistent/python3"))
    assert ensure_env(EnvSpec("x", external_python=sys.executable)) == Path(sys.executable)


def test_missing_python_for_backend_is_clear(home: Path) -> None:
    from backends import open_backend

    with open_backend("cuda", env_python="/nonexistent/bin/python") as b:
        with pytest.raises(EnvError, match="/nonexistent/bin/python does not exist"):
            b.warm()


def test_shared_env_is_seen_by_its_users_and_outlives_them(home: Path) -> None:
    import subprocess

    from backends.envs import list_envs, remove_env, site_packages

    base = EnvSpec("shared-base", ("pip",), extra_pip_args=("--no-index",))
    child = EnvSpec("child", ("pip",), extra_pip_args=("--no-index",), shared=(base,))
    py = ensure_env(child, log=lambda _m: None)
    assert is_installed(base)
    (site_packages(home / "envs" / "shared-base" / "bin" / "python") / "shared_probe.py").write_text("X = 42\n")
    r = subprocess.run([str(py), "-c", "import shared_probe; print(shared_probe.X)"], capture_output=True, text=True)
    assert r.stdout.strip() == "42", r.stderr
    rows = {r.name: r for r in list_envs()}
    assert rows["shared-base"].used_by == ["child"] and rows["child"].shared == ["shared-base"]
    assert rows["child"].bytes > 0
    with pytest.raises(EnvError, match="shared by child"):
        remove_env("shared-base")
    remove_env("child")
    remove_env("shared-base")
    assert list_envs() == []
    with pytest.raises(EnvError, match="not an env name"):
        remove_env("../etc")

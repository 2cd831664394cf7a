"""Short runs of the atheris harnesses (tests/fuzz_harnesses/); `make fuzz-harnesses` runs 100,000
executions of each. A crash leaves the failing input as crash-* in the temporary directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("harness,runs", [("spec_validator", 600), ("corpus_loader", 1000), ("store_opener", 300)])
def test_harness_short_run(harness: str, runs: int, tmp_path: Path) -> None:
    # start-up instruments every import: two minutes on a loaded 2-core host
    out = subprocess.run([sys.executable, "-m", f"tests.fuzz_harnesses.{harness}", f"-runs={runs}", "-seed=1",
                          f"-artifact_prefix={tmp_path}/"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"Done {runs} runs" in out.stderr
    assert not list(tmp_path.glob("crash-*"))

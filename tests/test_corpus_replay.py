"""The kept corpus replays: every known bug still reproduces on its pinned release, and the
releases recorded as healthy stay healthy. This is what kernel authors run in CI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_corpus_replays_without_changes() -> None:
    out = subprocess.run([sys.executable, "-m", "fuzz", "replay", "corpus", "--json", "--timeout", "120"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["malformed"] == []
    assert report["new_failures"] == 0
    by = {(Path(r["file"]).name, r["backend"].split(":")[0]): r for r in report["results"]}
    # The field report: `//` in pointer offsets crashes triton-ascend rc2's adapter (SIGSEGV).
    rc2 = by[("9c69168690f7275f.json", "ascend@3.2.0rc2")]
    assert rc2["change"] == "unchanged" and rc2["actual"]["kind"] == "crash"
    assert "BlockData" in rc2["actual"]["signature"]
    # Execution-only verdicts (GPU) are reported as not re-checkable on a CPU machine, not as fixed.
    gpu = [r for r in report["results"] if "/gpu/" in r["file"] and r["backend"].startswith("cuda@3.6.0")]
    assert gpu and all(r["change"] in ("not-run", "unchanged") for r in gpu)


def test_update_keeps_verdicts_that_need_a_gpu(tmp_path: Path) -> None:
    import shutil

    src = ROOT / "corpus" / "gpu" / "15e6cc10c91a0635.json"  # cuda 3.6.0 misaligned address: a crash
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    out = subprocess.run([sys.executable, "-m", "fuzz", "replay", str(dst), "--update", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    expected = json.loads(dst.read_text())["expected"]
    assert expected["cuda@3.6.0:sm_90"]["kind"] == "crash"

"""`tritondiff capture` of a real script, replay of its captured cases on real backends, and trust.

The script (tests/fixtures/capture/seed_patterns.py) carries the field reports' patterns; its
`//` kernel must reproduce triton-ascend rc2's adapter crash and run clean on 3.2.0.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from fuzz.capture import capture
from fuzz.corpus import CorpusError, load_corpus, load_file
from fuzz.replay import replay

SCRIPT = Path(__file__).parent / "fixtures" / "capture" / "seed_patterns.py"
KERNELS = {"causal_scores", "block_table_gather", "scaled_dot", "masked_scale"}
SEEDS = KERNELS - {"masked_scale"}


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("cap")
    rep = capture(out, ["python", str(SCRIPT)])
    assert rep["exit_code"] == 0, rep
    return rep


def _by_kernel(out: str) -> dict[str, Path]:
    entries, errors = load_corpus([out])
    assert not errors
    return {e.case.kernel_name: e.path for e in entries}


def test_capture_writes_one_signed_case_per_launch(captured: dict) -> None:
    assert captured["cases"] == 4 and not captured["notes"]
    entries, errors = load_corpus([captured["out"]])  # signed here: no --trust-captured needed
    assert not errors and {e.case.kernel_name for e in entries} == KERNELS
    for e in entries:
        c = e.case
        assert c.kind == "captured" and c.capture["origin"].startswith(str(SCRIPT))
        assert "@triton.jit" in c.source and "import triton.language as tl" in c.source
        # A float scalar ran as fp32 under capture, not as the stock interpreter passes it: no claim.
        floats = any(a.kind == "scalar" and a.dtype == "fp32" for a in c.args)
        assert e.expected == ({} if floats else {"interpreter@3.9.0": {"kind": "ok", "signature": ""}})
        assert c.captured_outputs(), "every kernel here writes a buffer"
    gather = next(e.case for e in entries if e.case.kernel_name == "block_table_gather")
    assert [(a.name, a.kind, a.dtype, a.value) for a in gather.args] == [
        ("x_ptr", "ptr", "fp32", None), ("o_ptr", "ptr", "fp32", None), ("start_n", "scalar", "int32", 2),
        ("block_size", "scalar", "int32", 4), ("stride", "scalar", "int32", 3), ("N", "constexpr", "", 16)]
    x = np.arange(64, dtype=np.float32)
    assert np.array_equal(gather.captured_outputs()["o_ptr"], x[((2 + np.arange(16)) // 4) * 3])
    scale = next(e.case for e in entries if e.case.kernel_name == "masked_scale")
    assert scale.num_warps == 2 and scale.args[-1].to_json() == {  # a kernel parameter and the launch option
        "name": "num_warps", "kind": "constexpr", "dtype": "", "value": 2, "buffer": None}


def test_seed_patterns_reproduce_rc2_crash_and_run_clean_on_320(captured: dict, tmp_path: Path) -> None:
    """Through `matrix`: the // kernel crashes rc2's adapter, all three run clean on 3.2.0, and the
    crash cell links a report whose standalone repro.py reproduces it."""
    import subprocess

    from fuzz.matrix import matrix

    files = _by_kernel(captured["out"])
    out = tmp_path / "m" / "matrix.html"
    doc = matrix([str(files[k]) for k in sorted(SEEDS)], ["ascend@3.2.0", "ascend@3.2.0rc2"], out, timeout=120)
    assert not doc["malformed"], doc["malformed"]
    cols = doc["columns"]
    assert cols == ["ascend@3.2.0:Ascend910B3", "ascend@3.2.0rc2:Ascend910B3"]
    got = {(r["kernel"], c): r["cells"][c] for r in doc["rows"] for c in cols}
    for k in SEEDS:
        assert got[(k, cols[0])]["text"] == "ok", got[(k, cols[0])]
    crash = got[("block_table_gather", cols[1])]
    assert crash["kind"] == "crash" and crash["text"] == "crash (adapter-crash)", crash
    assert got[("causal_scores", cols[1])]["text"] == "ok"
    assert f'href="{crash["report"]}/README.md"' in out.read_text()
    rep = out.parent / crash["report"]
    assert "block_table_gather" in (rep / "README.md").read_text()
    from backends.envs import python_path
    from backends.registry import resolve

    py = python_path(resolve("ascend@3.2.0rc2").env)
    r = subprocess.run([str(py), str(rep / "repro.py")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "REPRODUCED" in r.stdout, r.stdout[-2000:]


def test_wrong_output_is_a_miscompile_with_its_max_error(captured: dict, tmp_path: Path) -> None:
    """The interpreter replays the case; against outputs off by 0.25 it must be judged wrong."""
    from fuzz.capture_trust import sign
    from fuzz.corpus import save_case

    path = _by_kernel(captured["out"])["scaled_dot"]
    case = load_file(path).case
    name = next(iter(case.capture["outputs"]))
    bad = case.captured_outputs()[name]
    bad[5] += 0.25
    import base64

    case.capture["outputs"][name] = base64.b64encode(bad.tobytes()).decode()
    sign(save_case(tmp_path, case, {"interpreter@3.9.0": {"kind": "ok", "signature": ""}}))
    rep = replay([str(tmp_path)], ["interpreter@3.9.0"])
    (v,) = rep["results"]
    assert v["actual"]["kind"] == "miscompile" and v["change"] == "new-failure", v
    assert "max error 0.25" in v["message"], v["message"]


def test_captured_source_runs_only_when_trusted(captured: dict, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = _by_kernel(captured["out"])["causal_scores"]
    copy = tmp_path / "elsewhere"
    shutil.copytree(Path(captured["out"]), copy)  # marker and all
    f = copy / src.name
    assert load_file(f).case.kind == "captured"
    monkeypatch.setattr("fuzz.capture_trust._key_path", lambda: tmp_path / "other-users-key")
    with pytest.raises(CorpusError, match="--trust-captured"):
        load_file(f)  # another user's machine: the marker does not verify there
    assert load_file(f, trust_captured=True).case.kind == "captured"
    monkeypatch.undo()
    doc = json.loads(f.read_text())
    doc["note"] = "expected verdicts and notes may change (replay --update)"
    f.write_text(json.dumps(doc))
    assert load_file(f).case.kind == "captured"
    doc["case"]["source"] += "\nimport os\n"
    f.write_text(json.dumps(doc))
    with pytest.raises(CorpusError, match="--trust-captured"):
        load_file(f)  # its case edited: no longer what capture signed


def test_capture_cli_needs_a_command(tmp_path: Path) -> None:
    import subprocess

    r = subprocess.run([sys.executable, "-m", "fuzz", "capture", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert r.returncode == 2 and "needs a command" in r.stderr


def test_pytest_plugin_from_a_scratch_project(captured: dict, tmp_path: Path) -> None:
    """The pytest11 entry point as pyproject declares it, in a project outside the repo."""
    import re
    import subprocess

    repo = Path(__file__).parents[1]
    section = (repo / "pyproject.toml").read_text().split("[project.entry-points.pytest11]", 1)[1].split("\n[")[0]
    eps = dict(re.findall(r'^(\w+)\s*=\s*"([^"]+)"', section, re.M))
    assert eps == {"tritondiff": "fuzz.pytest_plugin"}
    dist = tmp_path / "site" / "tritondiff_probe-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tritondiff-probe\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    proj = tmp_path / "proj"
    shutil.copytree(Path(captured["out"]), proj / "kernels")
    env = {**__import__("os").environ, "PYTHONPATH": f"{repo}{__import__('os').pathsep}{tmp_path / 'site'}"}

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tritondiff-corpus",
                               "kernels", "--tritondiff-backends", "interpreter@3.9.0", "--junitxml", "out.xml",
                               "-rA"], cwd=proj, env=env, capture_output=True, text=True, timeout=600)

    r = run()
    assert r.returncode == 0 and "4 passed" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]
    ids = {f"tritondiff::{k}-" for k in KERNELS}
    assert all(any(i in line for line in r.stdout.splitlines()) for i in ids), r.stdout
    assert (proj / "out.xml").read_text().count("<testcase") == 4
    target = next(p for p in (proj / "kernels").glob("*.json") if '"scaled_dot"' in p.read_text())
    doc = json.loads(target.read_text())
    doc["expected"]["interpreter@3.9.0"] = {"kind": "crash", "signature": "interpreter|crash|run|"}
    target.write_text(json.dumps(doc))
    r = run()
    assert r.returncode == 1 and "1 failed, 3 passed" in r.stdout, r.stdout[-3000:]
    assert "expected crash, got ok" in r.stdout and "scaled_dot" in r.stdout.split("FAILED")[-1]


def test_vary_keeps_the_block_sizes_the_kernel_accepts(captured: dict, tmp_path: Path) -> None:
    from fuzz.vary import vary

    src = _by_kernel(captured["out"])["masked_scale"]  # grid 4 x BLOCK 32 over 100 elements
    rep = vary([str(src)], tmp_path, per_case=3)
    kept = {r["form"] for r in rep["kept"]}
    refused = {r["form"]: r["why"] for r in rep["refused"]}
    assert "BLOCK 32->64" in kept and "num_warps 2->1" in kept, rep
    assert refused == {"BLOCK 32->16": "miscompile"}, rep  # 4 programs of 16 leave elements unwritten
    (e,) = [e for e in load_corpus([str(tmp_path)])[0] if e.case.num_warps == 2]
    assert [a.value for a in e.case.args if a.name == "BLOCK"] == [64] and e.case.kind == "captured"


def test_captured_comparison_tolerance_follows_the_inputs_scale() -> None:
    """A result that cancels to rounding noise is judged on its operands' scale; a real error is not hidden."""
    import base64

    from generators.case import GUARD_ELEMS, Arg, Buffer, KernelCase
    from oracles.compare import compare_captured

    x = np.linspace(-1, 1, 64).astype(np.float32)
    noise = (np.arange(64) % 3 - 1).astype(np.float32) * 1e-8  # what the capturing interpreter left
    case = KernelCase({}, "", "k", [Arg("x", "ptr", "fp32", buffer="x"), Arg("o", "ptr", "fp32", buffer="o")],
                      {"x": Buffer("x", "fp32", "in", x), "o": Buffer("o", "fp32", "out", np.zeros(64, np.float32))},
                      (1, 1, 1), kind="captured",
                      capture={"outputs": {"o": base64.b64encode(noise.tobytes()).decode()}})

    def padded(a: np.ndarray) -> np.ndarray:
        p = np.full(a.size + 2 * GUARD_ELEMS, 0xA5A5A5A5, dtype=np.uint32).view(np.float32)
        p[GUARD_ELEMS:GUARD_ELEMS + a.size] = a
        return p

    other_noise = -noise * 2  # another backend's rounding of the same cancellation
    assert compare_captured(case, {"x": padded(x), "o": padded(other_noise)}) == []
    wrong = noise.copy()
    wrong[7] = 1e-3
    (d,) = compare_captured(case, {"x": padded(x), "o": padded(wrong)})
    assert d.buffer == "o" and d.count == 1 and d.rows[0][0] == 7 and abs(d.max_err - 1e-3) < 1e-6

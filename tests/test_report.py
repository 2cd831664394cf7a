"""`tritondiff report`: issue-ready finding directories whose repro.py runs without tritondiff,
and the self-contained HTML campaign page, checked in a real headless Chromium screenshot.

Everything runs real backends: a short campaign against the interpreter and the
fault-drop-scalar-mul double, and a hand-written `//`-in-pointer-offsets kernel on triton-ascend
3.2.0rc2, whose adapter segfaults on it (the field report this double models).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from backends.envs import envs_home
from fuzz.store import Store
from generators.case import Arg, Buffer, KernelCase
from tests.cli_helpers import run_main as cli

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def env_python(name: str) -> Path:
    return envs_home() / name / "bin" / "python"


def clean_env(home: Path) -> dict[str, str]:
    """What a maintainer's shell would have: no PYTHONPATH, so tritondiff cannot be imported."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def run_repro(python: Path, repro: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    cwd = tmp / "maintainer"
    cwd.mkdir(exist_ok=True)
    return subprocess.run([str(python), str(repro)], cwd=cwd, env=clean_env(cwd), capture_output=True,
                          text=True, timeout=120)




@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real short campaign: the interpreter and the fault-drop-scalar-mul double."""
    if not env_python("triton-3.9.0").exists():
        pytest.fail("the managed triton-3.9.0 env is missing: run `tritondiff setup --backends interpreter`")
    d = tmp_path_factory.mktemp("campaign")
    db = d / "runs.sqlite"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "fuzz", "fuzz", "--backends", "interpreter,fault-drop-scalar-mul",
                        "--cases", "8", "--db", str(db), "--corpus", str(d / "corpus"), "-q"],
                       cwd=d, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    return db


def fault_finding(db: Path) -> int:
    with Store(db, create=False) as st:
        found = [f for f in st.findings() if f.backend.startswith("fault-drop-scalar-mul") and f.kind == "miscompile"]
    assert found, "the 8-case campaign found no miscompile on fault-drop-scalar-mul"
    return found[0].id


def test_finding_report_and_standalone_repro(campaign: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    fid = fault_finding(campaign)
    out = tmp_path / "rep"
    rc, stdout, err = cli(["report", str(fid), "--db", str(campaign), "--out", str(out)], capsys)
    assert rc == 0, err
    assert "report written to" in stdout
    for name in ("README.md", "repro.py", "kernel.py", "ir/interpreted.py"):
        assert (out / name).is_file(), name
    readme = (out / "README.md").read_text()
    first = readme.splitlines()[0]
    assert first.startswith("# [fault-drop-scalar-mul double, triton 3.9.0 interpreter] wrong output"), first
    assert "fault-injection double" in readme and "## Divergent outputs" in readme
    assert "| index | expected | got | tolerance |" in readme or "| index | expected | got |" in readme
    assert re.search(r"`interpreter@3\.9\.0` \| ok \| run \| no \| agrees with the reference", readme), readme
    assert "triton 3.9.0" in readme and "torch" in readme
    # The kernel as the double rewrote it is the interpreter's "IR".
    assert "_tritondiff_fault_mul" in (out / "ir/interpreted.py").read_text()
    m = re.search(r"^\| (\d+) \| (\S+) \| (\S+) \|", readme, re.M)
    assert m, "no divergence row in README"
    idx, exp, got = m.groups()

    repro = (out / "repro.py").read_text()
    assert not re.search(r"^\s*(from|import) (fuzz|generators|oracles|backends)\b", repro, re.M)
    r = run_repro(env_python("triton-3.9.0"), out / "repro.py", tmp_path)
    print(r.stdout[-2500:])
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert "DIVERGENCE" in r.stdout and "REPRODUCED" in r.stdout
    assert re.search(rf"^\s+{idx}\s+{re.escape(exp)}\s+{re.escape(got)}\s", r.stdout, re.M), r.stdout
    assert "_tritondiff_fault_mul" in r.stdout  # it shows what the injected defect changes


def test_repro_of_a_healthy_backend_exits_zero(campaign: Path, tmp_path: Path) -> None:
    """The same kernel, rendered for the plain interpreter, must not 'reproduce': the check is real."""
    from fuzz.repro_template import render_repro
    from oracles.reference import evaluate

    with Store(campaign, create=False) as st:
        f = st.finding(str(fault_finding(campaign)))
    case = KernelCase.from_json(f.case_json)
    backend = {"name": "interpreter@3.9.0", "family": "interpreter", "version": "3.9.0", "versions": {}}
    path = tmp_path / "repro.py"
    path.write_text(render_repro(case, evaluate(case), {"short_id": "x", "title": "t", "kind": "miscompile",
                                                        "stage": "run", "signature": "s"}, backend))
    r = run_repro(env_python("triton-3.9.0"), path, tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "not reproduced" in r.stdout and "DIVERGENCE" not in r.stdout


def test_reduced_case_is_preferred(campaign: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fid = fault_finding(campaign)
    with Store(campaign) as st:
        f = st.finding(str(fid))
        st.set_reduced(f.signature, f.case_json, "test: kept as is")
    try:
        rc, stdout, err = cli(["report", str(fid), "--db", str(campaign), "--out", str(tmp_path / "r"), "--json"],
                              capsys)
        assert rc == 0, err
        info = json.loads(stdout)
        assert info["reduced"] is True and info["reproduced"] is True
        assert "Reduced by tritondiff's spec reducer (test: kept as is)" in (tmp_path / "r/README.md").read_text()
    finally:
        with Store(campaign) as st:
            st.db.execute("UPDATE findings SET reduced_json = NULL, reduce_summary = NULL")


def test_report_argument_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    Store(db).close()
    assert cli(["report", "--db", str(db)], capsys)[0] == 2
    rc, _, err = cli(["report", "1", "--campaign", "--db", str(db)], capsys)
    assert rc == 2 and "either a FINDING or --campaign" in err
    rc, _, err = cli(["report", "1", "--with-reports", "--db", str(db)], capsys)
    assert rc == 2 and "--with-reports only applies with --campaign" in err
    rc, _, err = cli(["report", "7", "--db", str(db)], capsys)
    assert rc == 2 and "no finding" in err


# ------------------------------------------------------------------------------------------
# Ascend: the adapter crash of the field report, reproduced with triton-ascend alone

HALVE = "import triton\nimport triton.language as tl\n\n" + textwrap.dedent("""
    @triton.jit
    def halve_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        x = tl.load(x_ptr + offs // 2)
        tl.store(out_ptr + offs, x + x)
""")


def test_ascend_adapter_crash_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fuzz.pipeline import Pipeline
    from fuzz.records import CaseRecord

    for env in ("ascend-3.2.0rc2", "ascend-3.2.0"):
        if not env_python(env).exists():
            pytest.fail(f"managed env {env} is missing: run `tritondiff setup --backends ascend@3.2.0rc2,ascend@3.2.0`")
    n = 64
    case = KernelCase(spec={}, source=HALVE, kernel_name="halve_kernel",
                      args=[Arg("x_ptr", "ptr", "fp32", buffer="x"), Arg("out_ptr", "ptr", "fp32", buffer="out"),
                            Arg("BLOCK", "constexpr", "", value=32)],
                      buffers={"x": Buffer("x", "fp32", "in", np.arange(n, dtype=np.float32)),
                               "out": Buffer("out", "fp32", "out", np.full(n, -1, np.float32))},
                      grid=(2, 1, 1))
    db = tmp_path / "a.sqlite"
    names = ["ascend@3.2.0rc2", "ascend@3.2.0"]
    pipe = Pipeline(names, 60.0)
    try:
        run = pipe.run(case, run_invalid=True)
    finally:
        pipe.close()
    with Store(db) as st:
        camp, _ = st.open_campaign("hand", {"backends": list(pipe.backends), "seed": 0, "timeout": 60.0})
        rec = CaseRecord(campaign=camp, index=0, seed=0, case_id=case.case_id, outcomes=run.records,
                         case_json=case.to_json())
        st.record_case(rec)
        found = [f for f in st.findings() if f.kind == "crash"]
    assert found and found[0].stage == "adapter-crash", [r.__dict__ for r in run.records]
    out = tmp_path / "rep"
    rc, _, err = cli(["report", str(found[0].id), "--db", str(db), "--out", str(out)], capsys)
    assert rc == 0, err
    readme = (out / "README.md").read_text()
    assert readme.startswith("# [ascend 3.2.0rc2] adapter crash (SIGSEGV)"), readme.splitlines()[0]
    assert "bishengir" in readme and "MLIR 19" in readme  # the scope statement
    assert "offs // 2" in readme  # the diagnostic's source excerpt
    assert re.search(r"`ascend@3\.2\.0:Ascend910B3` \| ok", readme)
    assert (out / "ir/ttir.mlir").read_text().lstrip().startswith(("module", "#loc"))
    r = run_repro(env_python("ascend-3.2.0rc2"), out / "repro.py", tmp_path)
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert "REPRODUCED: triton-adapter-opt died with SIGSEGV" in r.stdout
    r = run_repro(env_python("ascend-3.2.0"), out / "repro.py", tmp_path)  # the fixed release
    assert r.returncode == 0 and "not reproduced" in r.stdout, r.stdout[-2000:]


# ------------------------------------------------------------------------------------------
# HTML campaign page in headless Chromium


def read_png(path: Path) -> np.ndarray:
    """Decode an 8-bit, non-interlaced RGB/RGBA PNG (what Chromium writes) into HxWx3 uint8."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    w = h = depth = ctype = interlace = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if tag == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        elif tag == b"IEND":
            break
    assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1)
        if ft == 0:
            cur = line.copy()
        elif ft == 1:  # Sub: a running sum along the row, per channel
            cur = (np.cumsum(line.reshape(w, bpp).astype(np.uint32), axis=0) & 0xFF).astype(np.uint8).ravel()
        elif ft == 2:  # Up
            cur = ((line.astype(np.uint16) + prev) & 0xFF).astype(np.uint8)
        elif ft in (3, 4):  # Average, Paeth: depend on the decoded left neighbour, byte by byte
            cb, pb_ = bytearray(line.tobytes()), prev.tobytes()
            for i in range(stride):
                a = cb[i - bpp] if i >= bpp else 0
                b = pb_[i]
                if ft == 3:
                    cb[i] = (cb[i] + ((a + b) >> 1)) & 0xFF
                    continue
                c = pb_[i - bpp] if i >= bpp else 0
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                cb[i] = (cb[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
            cur = np.frombuffer(bytes(cb), dtype=np.uint8)
        else:
            raise AssertionError(f"bad PNG filter {ft}")
        out[y] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3]


def count_color(img: np.ndarray, hex_color: str, tol: int = 3) -> int:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return int(np.all(np.abs(img.astype(np.int16) - rgb) <= tol, axis=2).sum())


def test_campaign_html_renders_plots_in_chromium(campaign: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from fuzz.html_report import PLOT_COLORS

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: `apt-get install -y chromium` is needed for the HTML report test")
    page = tmp_path / "site" / "index.html"
    rc, out, err = cli(["report", "--campaign", "--db", str(campaign), "--out", str(page), "--with-reports"], capsys)
    assert rc == 0, err
    html = page.read_text()
    # Self-contained: no scripts, stylesheets, images or fonts fetched from anywhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "external asset referenced"
    assert "<script" not in html and html.count("<svg") >= 4
    with Store(campaign, create=False) as st:
        from oracles.signature import short_id

        sids = [short_id(f.signature) for f in st.findings()]
    assert sids
    for sid in sids:
        assert f"href='reports/{sid}/README.md'" in html
        assert (page.parent / "reports" / sid / "README.md").is_file()
        assert (page.parent / "reports" / sid / "repro.py").is_file()

    shot = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--screenshot={shot}", "--window-size=1400,2000",
           page.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert shot.is_file(), f"no screenshot (exit {r.returncode}): {r.stderr[-2000:]}"
    assert shot.stat().st_size > 40_000, shot.stat().st_size
    img = read_png(shot)
    assert img.shape[:2] == (2000, 1400), img.shape
    non_bg = int(np.any(img < 245, axis=2).sum())
    assert non_bg > 0.05 * img.shape[0] * img.shape[1], f"page looks blank: {non_bg} non-white pixels"
    # Each chart is drawn with solid colours of its own: find every one of them on screen.
    for name in ("cases", "findings", "coverage", "compile", "run", "wall"):
        n = count_color(img, PLOT_COLORS[name])
        assert n > 40, f"chart colour {name} ({PLOT_COLORS[name]}) shows on only {n} pixels"
    heat = sum(count_color(img, c) for fam in ("ok", "finding") for c in PLOT_COLORS["heatmap"][fam])
    assert heat > 1000, f"outcome matrix cells cover only {heat} pixels"
    # The plots sit in the top half, above the findings table: they vary there, not just text.
    top = img[150:1100]
    assert top.reshape(-1, 3).std(axis=0).max() > 20
    shutil.copy(shot, tmp_path / "kept.png")  # left in tmp_path for a person to look at

"""`fuzz --regressions`: only what one release gets wrong and another right is a finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fuzz.records import OutcomeRecord
from fuzz.regressions import filter_shared
from tests.cli_helpers import run_main


def _rec(backend: str, kind: str, sig: str = "") -> OutcomeRecord:
    return OutcomeRecord(backend, kind, "run", sig, "msg")


def test_shared_failures_are_kept_but_not_findings() -> None:
    recs = [_rec("cuda@3.8.0:sm_90", "crash", "s1"), _rec("cuda@3.9.0:sm_90", "ok"),
            _rec("interpreter@3.2.0", "internal-error", "s2"), _rec("interpreter@3.6.0", "internal-error", "s2")]
    filter_shared(recs)
    assert recs[0].is_finding  # 3.9.0 ran it cleanly: a regression (or a fix) between releases
    assert not recs[2].is_finding and not recs[3].is_finding  # every release fails alike
    assert recs[2].origin == "shared" and "--regressions" in recs[2].message


def test_regressions_need_two_releases(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_main(["fuzz", "--backends", "interpreter", "--regressions", "--cases", "1"], capsys)
    assert rc == 2 and "two of one family" in err


def test_regression_campaign_reports_the_release_that_breaks(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The mask2d double is the interpreter with one defect: every finding it has is one the
    stock interpreter escapes, so regression mode keeps them."""
    db = tmp_path / "r.sqlite"
    rc, out, err = run_main(["fuzz", "--backends", "interpreter,fault-mask2d", "--regressions", "--cases", "30",
                             "--seed", "3", "--variants", "0", "--weights",
                             "tile_2d=6,tail_block=6,family_elementwise=6", "--db", str(db), "--no-corpus",
                             "--json"], capsys)
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["config"].get("regressions") is True
    kinds = summary["outcomes"].get("fault-mask2d@3.9.0", {})
    assert kinds.get("miscompile", 0) >= 1, summary["outcomes"]

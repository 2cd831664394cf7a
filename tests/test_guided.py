"""Frontend coverage and `fuzz --guided`: real workers, real triton, real atheris/libFuzzer.

The guided tests run a fault-injection backend (fault-oob-store: the interpreter with one injected
out-of-bounds store, so nearly every generated kernel is a finding) and few cases, to stay fast.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from backends.backend import open_backend
from fuzz.campaign import Campaign, CampaignConfig
from fuzz.guided import generate_from_bytes
from fuzz.records import CaseRecord
from fuzz.store import Store

GUIDE = "fault-oob-store"


def test_store_keeps_coverage_union_and_curve(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    with Store(db) as s:
        cid, _ = s.open_campaign("x", {"backends": ["b"], "seed": 0})
        s.record_case(CaseRecord(cid, 0, 0, "a", coverage={"b": {"triton/language/core.py": [1, 2, 3]}},
                                 elapsed_s=1.0))
        s.record_case(CaseRecord(cid, 1, 1, "b", coverage={"b": {"triton/language/core.py": [2, 3]}},
                                 elapsed_s=2.0))  # nothing new: no point on the curve
        s.record_case(CaseRecord(cid, 2, 2, "c", coverage={"b": {"triton/compiler/code_generator.py": [9]}},
                                 elapsed_s=3.0, guided_input=b"\x01\x02"))
        [row] = s.coverage(cid)
        assert row["lines"] == 4 and row["files"] == 2
        assert row["series"] == [[1.0, 0, 3], [3.0, 2, 4]]
        assert row["by_package"] == {"triton/language": 3, "triton/compiler": 1}
        assert s.coverage_elapsed(cid) == 3.0
        assert len(s.guided_inputs(cid)) == 1
        from fuzz.html_report import collect, render_html
        from fuzz.summary import render, store_summary

        page = render_html(collect(s, cid))
        text = render(store_summary(s, cid))
    assert "id='plot-frontend'" in page and "<polyline" in page and "triton/language 3" in page
    assert "frontend lines covered" in text and "triton/language 3" in text


def test_schema_2_store_gains_coverage_tables(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    with Store(db) as s:
        cid, _ = s.open_campaign("x", {"backends": ["b"], "seed": 0})
    con = sqlite3.connect(db)
    for t in ("coverage_lines", "coverage_series", "guided_inputs"):
        con.execute(f"DROP TABLE {t}")
    con.execute("UPDATE schema_version SET version = 2")
    con.commit()
    con.close()
    with Store(db) as s:
        s.record_case(CaseRecord(cid, 0, 0, "a", coverage={"b": {"triton/x.py": [5]}}))
        assert s.coverage(cid)[0]["lines"] == 1


def test_worker_reports_new_frontend_lines_only() -> None:
    """Lines of triton's own package that a kernel ran come back once per worker."""
    case = generate_from_bytes(b"", None)
    with open_backend("interpreter@3.9.0", coverage_every=1) as b:
        first = b.run(case, 120)
        again = b.run(case, 120)
    assert first.status == "ok", first.message
    lines = sum(len(v) for v in first.coverage.values())
    assert lines > 500, first.coverage.keys()
    assert any(f.startswith("triton/language/") for f in first.coverage)
    assert all(f.startswith("triton/") and f.endswith(".py") for f in first.coverage)
    # the same kernel again reaches (almost) nothing new
    assert sum(len(v) for v in again.coverage.values()) < lines / 10


# Two small inputs of the user's own (an empty seeds directory would get 16 random ones instead):
# both are kernels with a masked tail store, which fault-oob-store writes past.
SEEDS = [b"\x02" * 8, b"\xff" * 8]


def _guided(tmp_path: Path, cases: int) -> dict:
    cfg = CampaignConfig(backends=[GUIDE], cases=cases, guided=True, db=tmp_path / "g.sqlite", progress=False,
                         variants=0, timeout=120, coverage_every=1)
    return Campaign(cfg).run()


@pytest.fixture(scope="module")
def guided_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    tmp = tmp_path_factory.mktemp("guided")
    (tmp / "g-seeds").mkdir()
    for k, data in enumerate(SEEDS):
        (tmp / "g-seeds" / f"user-{k}").write_bytes(data)
    first = _guided(tmp, 2)
    second = _guided(tmp, 4)  # resumes: libFuzzer re-reads the seeds, the two judged ones are not judged again
    return tmp, first, second


def test_guided_campaign_resumes_from_its_seed_corpus(guided_store: tuple[Path, dict, dict]) -> None:
    tmp, first, second = guided_store
    seeds = tmp / "g-seeds"
    kept = [p.name for p in seeds.iterdir()]
    assert {"user-0", "user-1"} <= set(kept)  # libFuzzer adds what reaches new coverage, named by SHA-1
    assert all(len(k) == 40 for k in kept if not k.startswith("user-"))
    assert first["session"]["cases"] == 2 and first["session"]["guided"]["replayed"] == 0
    assert second["resumed"] and second["session"]["cases"] == 2
    assert second["session"]["guided"]["replayed"] >= 2
    with Store(tmp / "g.sqlite", readonly=True) as s:
        [camp] = s.campaigns()
        assert camp["config"]["guided"] is True
        assert len(s.guided_inputs(camp["id"])) == 4  # four distinct inputs, each judged once
        assert s.case_counts(camp["id"])["cases"] == 4
        [cov] = s.coverage(camp["id"])
        assert cov["lines"] > 500 and cov["series"]


def test_guided_finding_reduces_and_reports(guided_store: tuple[Path, dict, dict]) -> None:
    from fuzz.reduce import reduce_finding
    from fuzz.report import report_finding
    from generators.case import KernelCase

    tmp, _first, _second = guided_store
    db = tmp / "g.sqlite"
    with Store(db, readonly=True) as s:
        findings = [f for f in s.findings() if f.backend.startswith(GUIDE)]
        assert findings, "fault-oob-store writes past a tail block: a guided campaign must find it"
        f = findings[0]
    case = KernelCase.from_json(f.case_json)  # a guided case is reproducible from its stored JSON
    res = reduce_finding(case, f, [GUIDE], 60.0, None, db, budget_s=10)
    assert len(res.case.source) <= len(case.source)
    d, rep = report_finding(db, str(f.id), tmp / "report", None, None, quiet=True)
    assert rep.reproduced and (d / "repro.py").exists()
    corpus = list((tmp / "g-corpus").glob("*.json"))
    assert corpus and "guided input" in json.loads(corpus[0].read_text())["note"]

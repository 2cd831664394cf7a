"""Ascend throughput per worker and where its time goes: triton-ascend's frontend, its adapter
(triton-adapter-opt), tritondiff's linalg lowering (backends/linalg_exec) and execution, for the
in-process engine and the old tools pipeline (mlir-opt, mlir-translate, llc, cc per kernel) in one
run, on the same cases, with their outputs compared.

    python bench/ascend_stages.py [--backend ascend@3.2.0] [--cases 200]
        [--releases 3.2.0,3.2.0rc4,3.2.0rc2] [--reuse-cases 60] [--campaign-minutes 2]

Prints one JSON object:
  stages.<pipeline>      per-case means and shares; `per_case_vs_frontend_adapter` is the whole
                         per-case time over triton-ascend's own (frontend + adapter) time, and
                         `lowering_share` our lowering's share of the per-case time
  identical              cases whose status and every output buffer agree between the pipelines
  reuse                  the releases on the same cases (engine): the share of lowering + execution
                         time that cross-release reuse saved, and how often it applied
  campaign               cases done in the same minutes over interpreter + the releases, old
                         pipeline vs engine, and their ratio
The lowering/run caches live in a fresh temporary directory, so a rerun measures the same work.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.backend import open_backend  # noqa: E402
from backends.profiles import unsupported_reason  # noqa: E402
from generators import generate  # noqa: E402

OLD = {"lowering": "tools", "reuse": False}
NEW = {"lowering": "engine"}
PIPELINES = {"tools": OLD, "engine": NEW}
KEYS = ("frontend_s", "adapter_s", "lower_s", "exec_s")


def _timing(r) -> dict[str, str]:
    return dict(kv.partition("=")[::2] for kv in r.artifacts.get("timing", "").split())


def _summary(rows: list[dict[str, float]], walls: list[float]) -> dict:
    spent = {k: sum(r[k] for r in rows) for k in KEYS}
    total = sum(spent.values()) or 1.0
    fa = spent["frontend_s"] + spent["adapter_s"] or 1.0
    return {"cases": len(rows), "kernels_per_s": round(len(walls) / (sum(walls) or 1.0), 2),
            "mean_ms": {k: round(1000 * spent[k] / max(len(rows), 1), 1) for k in KEYS},
            "share": {k: round(spent[k] / total, 3) for k in KEYS},
            "lowering_share": round(spent["lower_s"] / total, 3),
            "per_case_vs_frontend_adapter": round(total / fa, 3)}


def stages(backend: str, n: int, seed: int) -> dict:
    """Both pipelines on the same cases in one worker, order alternating, outputs compared."""
    b = open_backend(backend)
    b.warm()
    rows = {p: [] for p in PIPELINES}
    walls = {p: [] for p in PIPELINES}
    statuses: dict[str, dict[str, int]] = {p: {} for p in PIPELINES}
    same, differ, compared, skipped = 0, [], 0, 0
    try:
        warm = generate(seed - 1)
        for opts in PIPELINES.values():
            b.run(warm, 60.0, opts)
        for i in range(n):
            case = generate(seed + i)
            if unsupported_reason(b.name, list(case.features)):
                skipped += 1
                continue
            order = list(PIPELINES) if i % 2 == 0 else list(PIPELINES)[::-1]
            res = {p: b.run(case, 60.0, PIPELINES[p]) for p in order}
            for p, r in res.items():
                statuses[p][r.status] = statuses[p].get(r.status, 0) + 1
                t = _timing(r)
                if r.status == "ok" and all(k in t for k in KEYS):
                    rows[p].append({k: float(t[k]) for k in KEYS})
                    walls[p].append(r.wall_s)
            a, e = res["tools"], res["engine"]
            compared += 1
            outs_equal = a.outputs.keys() == e.outputs.keys() and all(
                a.outputs[k].tobytes() == e.outputs[k].tobytes() for k in a.outputs)
            if a.status == e.status and a.stage == e.stage and outs_equal:
                same += 1
            else:
                differ.append({"seed": seed + i, "tools": [a.status, a.stage, a.message[:200]],
                               "engine": [e.status, e.stage, e.message[:200]]})
    finally:
        b.close()
    return {"backend": b.name, "statuses": statuses, "profile_skipped": skipped,
            "pipelines": {p: _summary(rows[p], walls[p]) for p in PIPELINES},
            "identical": {"compared": compared, "same": same, "differ": differ[:10]}}


def _same_object(r, kernel: str) -> bool:
    """Lower this release's own linalg afresh: is the object the one that reuse gave it?"""
    from backends.linalg_exec import cache, client
    from backends.linalg_exec.convention import Convention

    stored = cache.load_lowered(r.artifacts["lower_key"])
    fresh = client.lower_and_run(r.artifacts["legalized"], Convention(kernel, 0, (), ()), {}, (1, 1, 1),
                                 lowering="engine", execute=False, fresh=True)
    return stored is not None and hashlib.sha256(stored[2]).hexdigest() == fresh.obj_sha


def reuse(releases: list[str], n: int, seed: int) -> dict:
    """The releases one after another on each case (as a campaign runs them), engine pipeline.

    Every reuse is checked: the release's own linalg, lowered afresh, gives the same object.
    """
    bs = [open_backend(f"ascend@{v}") for v in releases]
    spent = saved = ours = 0.0
    hits = runs = unsound = 0
    try:
        for b in bs:
            b.warm()
            b.run(generate(seed - 1), 60.0, NEW)
        for i in range(n):
            case = generate(seed + i)
            for b in bs:
                if unsupported_reason(b.name, list(case.features)):
                    continue
                r = b.run(case, 60.0, NEW)
                t = _timing(r)
                if r.status != "ok" or "lower_s" not in t:
                    continue
                runs += 1
                spent += sum(float(t[k]) for k in KEYS)
                ours += float(t["lower_s"]) + float(t["exec_s"])
                saved += float(t.get("saved_s", 0.0))
                if t.get("reused") == "True":
                    hits += 1
                    unsound += not _same_object(r, case.kernel_name)
    finally:
        for b in bs:
            b.close()
    return {"releases": releases, "runs": runs, "reused_runs": hits, "reuse_unsound": unsound,
            "saved_share": round(saved / ((spent + saved) or 1.0), 3),
            "saved_share_of_lowering_exec": round(saved / ((ours + saved) or 1.0), 3),
            "note": "saved_share = lowering + execution time reuse saved / (per-case time + saved); "
                    "saved_share_of_lowering_exec = the same over (lowering + execution + saved)"}


def campaign(releases: list[str], minutes: float, seed: int) -> dict:
    """Cases done in `minutes` by interpreter + releases: old pipeline, then the engine."""
    from fuzz.campaign import Campaign, CampaignConfig

    names = ["interpreter", *(f"ascend@{v}" for v in releases)]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, opts in (("tools", OLD), ("engine", NEW)):
            cfg = CampaignConfig(backends=list(names), seed=seed, cases=None, minutes=minutes,
                                 db=Path(tmp) / f"{label}.sqlite", corpus=None, progress=False,
                                 name=f"bench-{label}",
                                 backend_opts={n: {"runner_options": opts} for n in names[1:]})
            t0 = time.perf_counter()
            summary = Campaign(cfg).run()
            out[label] = {"cases": summary["session"]["cases"], "wall_s": round(time.perf_counter() - t0, 1),
                          "kernels_per_s": round(summary["session"]["kernels_per_s"], 3)}
    out["ratio"] = round(out["engine"]["cases"] / max(out["tools"]["cases"], 1), 2)
    out["backends"] = names
    out["minutes_each"] = minutes
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="ascend@3.2.0")
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--seed", type=int, default=30_000)
    ap.add_argument("--releases", default="3.2.0,3.2.0rc4,3.2.0rc2")
    ap.add_argument("--reuse-cases", type=int, default=60)
    ap.add_argument("--campaign-minutes", type=float, default=1.0, help="0 skips the campaign")
    args = ap.parse_args()
    os.environ["TRITONDIFF_EXEC_CACHE"] = tempfile.mkdtemp(prefix="tritondiff-bench-cache-")
    releases = [v for v in args.releases.split(",") if v]
    result = {"stages": stages(args.backend, args.cases, args.seed)}
    if args.reuse_cases and releases:
        result["reuse"] = reuse(releases, args.reuse_cases, args.seed + 50_000)
    if args.campaign_minutes > 0 and releases:
        result["campaign"] = campaign(releases, args.campaign_minutes, args.seed)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

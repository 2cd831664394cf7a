"""`tritondiff replay`: re-run corpus cases and report how each backend's verdict changed.

This is what CI runs: exit status 1 when a backend fails where it used to pass (or a corpus file is
malformed), 0 otherwise; fixes and changed signatures are reported but do not fail.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.corpus import CorpusEntry, load_corpus, write_json_atomic
from fuzz.pipeline import CROSS_PREFIX, META_PREFIX, Pipeline, verdict_key

ORACLE_PREFIXES = (CROSS_PREFIX, META_PREFIX)

CHANGES = ("unchanged", "fixed", "new-failure", "changed-signature", "changed", "new-verdict", "invalid",
           "not-run")


def is_finding(kind: str | None) -> bool:
    from oracles.outcome import FINDING_KINDS

    return kind in FINDING_KINDS


def classify(expected: dict[str, str] | None, actual: dict[str, str] | None) -> str:
    """How a verdict moved from `expected` to `actual`, from a CI's point of view."""
    if actual is None:
        return "not-run"
    if actual["kind"] == "invalid":
        return "unchanged" if expected and expected["kind"] == "invalid" else "invalid"
    if expected is None:
        return "new-failure" if is_finding(actual["kind"]) else "new-verdict"
    if expected["kind"] == actual["kind"] and expected.get("signature", "") == actual.get("signature", ""):
        return "unchanged"
    was, now = is_finding(expected["kind"]), is_finding(actual["kind"])
    if was and now:
        return "changed-signature"
    if now:
        return "new-failure"
    if was and actual["kind"] == "ok":
        return "fixed"
    return "changed"


def _needs_execution(expected: dict[str, str]) -> bool:
    """A verdict reached by running the kernel (stage `run`) cannot be re-checked by a compile."""
    parts = expected.get("signature", "").split("|")
    return len(parts) > 2 and (parts[2] in ("run", "launch", "cross-backend") or parts[1] == "metamorphic")


@dataclass
class Verdict:
    file: str
    case_id: str
    backend: str
    expected: dict[str, str] | None
    actual: dict[str, str] | None
    change: str
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _names_for(entry: CorpusEntry, override: list[str] | None) -> list[str]:
    if override:
        return list(override)
    names = []
    for key in entry.expected:  # `meta:<relation>:<backend>` and `cross:<backend>` name a backend too
        if key.startswith(META_PREFIX):
            key = key[len(META_PREFIX):].split(":", 1)[-1]
        elif key.startswith(CROSS_PREFIX):
            key = key[len(CROSS_PREFIX):]
        if key not in names:
            names.append(key)
    return names


def _open(name: str, backend_opts: dict[str, dict[str, Any]]) -> Any:
    """Open a backend named by a corpus file or --backends; never installs one (ValueError)."""
    from backends.envs import is_installed
    from fuzz.pipeline import _open_backend_fn

    opts = backend_opts.get(name) or backend_opts.get(re.split(r"[@:]", name, maxsplit=1)[0]) or {}
    b = _open_backend_fn()(name, **opts)
    env = getattr(getattr(b, "config", None), "env", None)
    if env is not None and not is_installed(env):
        b.close()
        raise ValueError(f"{b.name} is not installed here; replay never installs a backend: run "
                         f"`tritondiff setup --backends {b.name}` or pass --env-python {name}=PYTHON")
    return b


def replay(paths: list[str], backends: list[str] | None = None, timeout: float = 60.0,
           update: bool = False, backend_opts: dict[str, dict[str, Any]] | None = None,
           trust_captured: bool = False) -> dict[str, Any]:
    """Replay every corpus file under `paths`; a JSON-able report.

    A file that cannot be used (malformed, unsafe, naming a backend that is not installed) is
    reported by name and the others still replay; an error while replaying one file is reported
    against that file, never against a backend.
    """
    t0 = time.monotonic()
    entries, errors = load_corpus(paths, trust_captured)
    opened: dict[str, Any] = {}
    unknown: dict[str, str] = {}
    verdicts: list[Verdict] = []
    updated: list[str] = []
    opts = backend_opts or {}
    replayed = 0
    try:
        for entry in entries:
            names = _names_for(entry, backends)
            if not names:
                errors.append(f"{entry.path}: 'expected' names no backend and no --backends given")
                continue
            bad = [n for n in names if n in unknown]
            for n in names:
                if n not in opened and n not in unknown:
                    try:
                        opened[n] = _open(n, opts)
                        opened[n].warm()
                    except (ValueError, RuntimeError) as e:
                        opened.pop(n, None)
                        unknown[n] = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
                        bad.append(n)
                        continue
            if bad:
                errors.append(f"{entry.path}: cannot open backend(s) {', '.join(bad)}: "
                              f"{unknown[bad[0]]} (choose others with --backends)")
                continue
            from oracles.metamorphic import stored_variants

            try:
                variants = stored_variants(entry.extra)
            except ValueError as e:
                errors.append(f"{entry.path}: 'variants': {e}")
                continue
            try:
                n_before = len(verdicts)
                _replay_entry(entry, names, opened, timeout, update, verdicts, updated, variants)
                replayed += 1
            except Exception as e:  # our own failure on this file: say so, go on with the others
                del verdicts[n_before:]
                errors.append(f"{entry.path}: tritondiff failed replaying it: {type(e).__name__}: "
                              f"{str(e).strip()[:200]}")
    finally:
        from backends.backend import close_quietly

        close_quietly(opened.values())
    counts = {c: 0 for c in CHANGES}
    for v in verdicts:
        counts[v.change] += 1
    new_failures = counts["new-failure"]
    return {
        "command": "replay",
        "files": len(entries) + len(errors),
        "cases": replayed,
        "verdicts": len(verdicts),
        "changes": counts,
        "new_failures": new_failures,
        "malformed": errors,
        "updated": updated,
        "results": [v.to_json() for v in verdicts],
        "wall_s": time.monotonic() - t0,
        # A case the reference now refuses tests nothing any more: CI must notice that too.
        "ok": new_failures == 0 and not errors and counts["invalid"] == 0,
    }


def _replay_entry(entry: CorpusEntry, names: list[str], opened: dict[str, Any], timeout: float,
                  update: bool, verdicts: list[Verdict], updated: list[str], variants: Any = None) -> None:
    """Run one corpus entry on its backends; append its verdicts (and rewrite it with --update)."""
    pipeline = Pipeline(names, timeout, opened=opened, reference=entry.extra.get("reference") is not False)
    names = list(pipeline.backends)  # canonical, as stored in `expected`
    run = pipeline.run(entry.case, variants=variants)
    actual = run.verdicts()
    if not run.valid:
        actual = {n: {"kind": "invalid", "signature": ""} for n in names}
    messages = {verdict_key(r): r.message for r in run.records}
    keys = list(dict.fromkeys([*names, *[k for k in entry.expected if k.startswith(ORACLE_PREFIXES)],
                               *actual]))
    for key in keys:
        if key.startswith(CROSS_PREFIX) and key not in actual and run.ref is not None:
            # Judged against a reference now: no vote ran, so no cross verdict to compare.
            continue
        exp = entry.expected.get(key)
        act = actual.get(key)
        if act is None and key.startswith(ORACLE_PREFIXES):
            act = {"kind": "ok", "signature": ""}  # the divergence is gone
        msg = messages.get(key, "")
        if not run.valid:
            msg = msg or f"reference refused the case: {run.reason}"
        change = classify(exp, act)
        res = run.results.get(key)
        if res is not None and not res.executed and exp and _needs_execution(exp) and \
                change != "unchanged":
            change, msg = "not-run", "compiled only here: this verdict needs the backend to execute (a GPU)"
        verdicts.append(Verdict(str(entry.path), entry.case.case_id, key, exp, act,
                                change, msg.strip().splitlines()[0][:300] if msg else ""))
    if update and run.valid:
        unverified = {v.backend for v in verdicts if v.file == str(entry.path) and v.change == "not-run"}
        keep = {k: v for k, v in entry.expected.items()
                if (k not in names or k in unverified) and not k.startswith(ORACLE_PREFIXES)}
        actual = {k: v for k, v in actual.items() if k not in unverified}
        new_expected = {**keep, **actual}
        if new_expected != entry.expected:
            entry.expected = new_expected
            write_json_atomic(Path(entry.path), entry.to_json())
            updated.append(str(entry.path))


def render(report: dict[str, Any], verbose: bool = False) -> str:
    lines = []
    for err in report["malformed"]:
        lines.append(f"MALFORMED  {err}")
    for v in report["results"]:
        if v["change"] == "unchanged" and not verbose:
            continue
        exp = v["expected"]["kind"] if v["expected"] else "-"
        act = v["actual"]["kind"] if v["actual"] else "-"
        line = f"{v['change'].upper():18s} {v['backend']:16s} {exp} -> {act}  {v['file']}"
        if v["change"] == "changed-signature" and v["expected"] and v["actual"]:
            line += (f"\n{'':19s}was: {v['expected']['signature'][:100]}"
                     f"\n{'':19s}now: {v['actual']['signature'][:100]}")
        if v["message"] and v["change"] != "unchanged":
            line += f"\n{'':19s}{v['message'][:200]}"
        lines.append(line)
    c = report["changes"]
    parts = [f"{n} {k}" for k, n in c.items() if n]
    lines.append(f"replayed {report['cases']} case(s), {report['verdicts']} verdict(s): "
                 f"{', '.join(parts) or 'nothing to compare'}"
                 + (f"; {len(report['malformed'])} malformed file(s)" if report["malformed"] else "")
                 + (f"; updated {len(report['updated'])} file(s)" if report["updated"] else ""))
    return "\n".join(lines)

"""`tritondiff bisect`: replay one finding on every published release of its backend family.

Why: "regressed in 3.3.0, fixed in 3.9.0" is the first line of a useful bug report, and "still
present in the newest release" decides whether a finding is worth filing. Each release runs the
finding's (reduced, if there is one) case through the campaign's own pipeline and is judged
against the finding's signature, so a release that fails differently is reported as that other
failure, never as "fixed". All releases are tried (not a binary search): releases are few and
regressions are not monotonic.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from fuzz.options import UsageError

FAMILY_OF_SIG = {"interpreter": "interpreter", "cuda": "cuda", "hip": "hip", "ascend": "ascend"}


@dataclass
class ReleaseVerdict:
    release: str
    backend: str
    verdict: str  # bad | ok | other | unsupported | invalid | not-installed | harness
    kind: str = ""
    signature: str = ""
    detail: str = ""


@dataclass
class Bisection:
    family: str
    signature: str
    rows: list[ReleaseVerdict]

    def _idx(self, verdict: str) -> list[int]:
        return [i for i, r in enumerate(self.rows) if r.verdict == verdict]

    @property
    def first_bad(self) -> str | None:
        bad = self._idx("bad")
        return self.rows[bad[0]].release if bad else None

    @property
    def last_bad(self) -> str | None:
        bad = self._idx("bad")
        return self.rows[bad[-1]].release if bad else None

    @property
    def fixed_in(self) -> str | None:
        """The first release after the last bad one that runs the case cleanly."""
        bad = self._idx("bad")
        if not bad:
            return None
        for r in self.rows[bad[-1] + 1:]:
            if r.verdict == "ok":
                return r.release
        return None

    @property
    def still_present(self) -> bool:
        judged = [r for r in self.rows if r.verdict in ("bad", "ok", "other")]
        return bool(judged) and judged[-1].verdict == "bad"

    def to_json(self) -> dict[str, Any]:
        return {"family": self.family, "signature": self.signature, "first_bad": self.first_bad,
                "last_bad": self.last_bad, "fixed_in": self.fixed_in, "still_present": self.still_present,
                "releases": [asdict(r) for r in self.rows]}


def published_releases(family: str) -> list[str]:
    """Every release tritondiff knows for a family, oldest first."""
    from backends.profiles import release_key
    from backends.registry import ASCEND_VERSIONS, KNOWN_TRITON

    if family == "ascend":
        return sorted(ASCEND_VERSIONS, key=release_key)
    if family in ("interpreter", "cuda", "hip"):
        return sorted(KNOWN_TRITON, key=release_key)
    raise UsageError(f"--family {family!r}: bisect knows interpreter, cuda, hip and ascend")


def select_releases(family: str, spec: str | None) -> list[str]:
    """`3.0.0..3.9.0` (inclusive), `3.2.0,3.6.0` or None (all published)."""
    from backends.profiles import release_key

    known = published_releases(family)
    if not spec:
        return known
    if ".." in spec:
        lo, _, hi = spec.partition("..")
        klo, khi = release_key(lo.strip() or known[0]), release_key(hi.strip() or known[-1])
        out = [v for v in known if klo <= release_key(v) <= khi]
    else:
        out = [v.strip() for v in spec.split(",") if v.strip()]
        for v in out:
            if not re.fullmatch(r"\d+\.\d+(\.\d+)?(rc\d+)?", v):
                raise UsageError(f"--releases: {v!r} is not a release like 3.2.0")
        out.sort(key=release_key)
    if not out:
        raise UsageError(f"--releases {spec!r} selects no published {family} release ({', '.join(known)})")
    return out


def backend_name(family: str, release: str, arch: str | None) -> str:
    return f"{family}@{release}" + (f":{arch}" if arch else "")


def bisect_case(case: Any, signature: str, family: str, releases: list[str], arch: str | None,
                timeout: float, install: Callable[[list[str]], bool],
                log: Callable[[str], None] | None = None) -> Bisection:
    """Run `case` on family@release for each release; judge each against `signature`.

    `install(names)` is asked once with the backends whose env is missing; True builds them."""
    from backends.envs import is_installed
    from backends.registry import resolve
    from fuzz.pipeline import Pipeline

    say = log or (lambda m: print(m, file=sys.stderr, flush=True))
    names = [backend_name(family, r, arch) for r in releases]
    missing = [n for n in names if not is_installed(resolve(n).env)]
    allowed = install(missing) if missing else True
    rows: list[ReleaseVerdict] = []
    for rel, name in zip(releases, names):
        if name in missing and not allowed:
            rows.append(ReleaseVerdict(rel, name, "not-installed", detail="env not installed (pass --yes)"))
            continue
        say(f"bisect: {name} ...")
        try:
            pipe = Pipeline([name], timeout)
        except Exception as e:  # an env that fails to build is reported, not fatal
            rows.append(ReleaseVerdict(rel, name, "harness", detail=f"{type(e).__name__}: {e}"[:300]))
            continue
        try:
            run = pipe.run(case)
        finally:
            pipe.close()
        if not run.valid:
            rows.append(ReleaseVerdict(rel, name, "invalid", detail=run.reason))
            continue
        rec = next((r for r in run.records if r.origin != "cross"), None)
        if rec is None:
            rows.append(ReleaseVerdict(rel, name, "harness", detail="no outcome"))
        elif rec.origin == "harness":
            rows.append(ReleaseVerdict(rel, name, "harness", rec.kind, rec.signature, rec.message[:300]))
        elif rec.kind == "unsupported":
            rows.append(ReleaseVerdict(rel, name, "unsupported", rec.kind, "", rec.message[:300]))
        elif rec.signature == signature:
            rows.append(ReleaseVerdict(rel, name, "bad", rec.kind, rec.signature))
        elif rec.kind == "ok":
            rows.append(ReleaseVerdict(rel, name, "ok", "ok"))
        else:
            rows.append(ReleaseVerdict(rel, name, "other", rec.kind, rec.signature, rec.message[:300]))
    return Bisection(family, signature, rows)


def render(b: Bisection, title: str) -> str:
    lines = [title, "", f"{'release':<12} {'verdict':<14} detail"]
    for r in b.rows:
        detail = {"bad": "the finding", "ok": "runs clean", "other": f"{r.kind}: {r.signature[:90]}"}.get(
            r.verdict, r.detail[:100])
        lines.append(f"{r.release:<12} {r.verdict:<14} {detail}")
    lines.append("")
    if b.first_bad is None:
        lines.append("the finding shows on none of these releases")
    else:
        tail = "still present in the newest release tried" if b.still_present else (
            f"fixed in {b.fixed_in}" if b.fixed_in else "not present in the newest release tried")
        lines.append(f"first bad {b.first_bad}, last bad {b.last_bad}; {tail}")
    return "\n".join(lines)


def summary_line(result: dict[str, Any]) -> str:
    """One line for `findings`/`show`/reports from a stored bisection result."""
    fam = result.get("family", "?")
    if not result.get("first_bad"):
        return f"{fam}: not seen on any release tried"
    tail = ("still present in the newest release tried" if result.get("still_present")
            else f"fixed in {result['fixed_in']}" if result.get("fixed_in") else "absent from the newest release tried")
    return f"{fam}: first bad {result['first_bad']}, last bad {result['last_bad']}; {tail}"


def release_table(result: dict[str, Any]) -> list[str]:
    """Markdown rows: release | verdict."""
    rows = ["| release | verdict |", "| --- | --- |"]
    for r in result.get("releases", []):
        v = r.get("verdict", "?")
        if v == "other":
            v = f"other failure: {r.get('kind', '')}"
        rows.append(f"| {r.get('release', '?')} | {v} |")
    return rows

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
from pathlib import Path
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
    diag: str = ""  # the compiler's first error line, when the message has one (see diagnostic())


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


@dataclass
class ReleaseRun:
    """What one release did with the case, before it is judged against a signature."""

    release: str
    backend: str
    status: str  # ran | not-installed | harness | invalid
    kind: str = ""
    signature: str = ""
    detail: str = ""
    diag: str = ""


def _run_release(cases: list[Any], rel: str, name: str, timeout: float,
                 say: Callable[[str], None]) -> list[ReleaseRun]:
    """Every case on one release, through one pipeline (one worker start per release, not per case)."""
    from fuzz.pipeline import Pipeline

    say(f"bisect: {name} ({len(cases)} case(s)) ...")
    try:
        pipe = Pipeline([name], timeout)
    except Exception as e:  # an env that fails to start is reported, not fatal
        return [ReleaseRun(rel, name, "harness", detail=f"{type(e).__name__}: {e}"[:300]) for _ in cases]
    try:
        return [_outcome(pipe.run(case), rel, name) for case in cases]
    finally:
        pipe.close()


def _outcome(run: Any, rel: str, name: str) -> ReleaseRun:
    if not run.valid:
        return ReleaseRun(rel, name, "invalid", detail=run.reason)
    rec = next((r for r in run.records if r.origin != "cross"), None)
    if rec is None:
        return ReleaseRun(rel, name, "harness", detail="no outcome")
    return ReleaseRun(rel, name, "harness" if rec.origin == "harness" else "ran", rec.kind, rec.signature,
                      rec.message[:300], diagnostic(rec.message))


def diagnostic(message: str) -> str:
    """The compiler's own first error line (e.g. an MLIR verifier message) behind a generic
    exception such as `PassManager::run failed`, which a signature's head does not show."""
    from oracles.signature import normalise

    lines = message.splitlines()
    for i, line in enumerate(lines[1:], 1):
        if re.fullmatch(r"\s*\^\s*", line) and i + 1 < len(lines):  # a frontend error: the line after the caret
            after = lines[i + 1]
            return normalise(after[after.index("error:"):] if "error:" in after else after)[:200]
        if "Failures have been detected while processing an MLIR pass pipeline" in line:
            continue  # the pass manager's wrapper, not the error
        if "error:" in line and not line.startswith("Fatal Python error"):
            return normalise(line[line.index("error:"):])[:200]  # without the location prefix
        if re.search(r"Assertion|LLVM ERROR", line):
            return normalise(line)[:200]
    return ""


# The same failure worded differently by different releases: triton 3.0/3.1 end ptxas's wrapper
# line with a colon, 3.3 and later raise PTXASError where 3.2 raised RuntimeError. Judged alike, so a
# ptxas rejection that every release shares is not split into three findings by its wrapper.
_RELEASE_WORDING = [(re.compile(r"^PTXASError: PTXAS error: "), "RuntimeError: "),
                    (re.compile(r"(Internal Triton PTX codegen error):"), r"\1")]


def canonical(signature: str) -> str:
    parts = signature.split("|")
    if len(parts) > 3:
        for pat, rep in _RELEASE_WORDING:
            parts[3] = pat.sub(rep, parts[3])
    return "|".join(parts)


def same_failure(a: str, b: str) -> bool:
    return a == b or canonical(a) == canonical(b)


def run_releases(case: Any, family: str, releases: list[str], arch: str | None, timeout: float,
                 install: Callable[[list[str]], bool], jobs: int = 1,
                 log: Callable[[str], None] | None = None) -> list[ReleaseRun]:
    """Run `case` once on family@release for each release, oldest first."""
    return run_many([case], family, releases, arch, timeout, install, jobs, log)[0]


def run_many(cases: list[Any], family: str, releases: list[str], arch: str | None, timeout: float,
             install: Callable[[list[str]], bool], jobs: int = 1,
             log: Callable[[str], None] | None = None) -> list[list[ReleaseRun]]:
    """Run each case once on family@release for each release: per case, its runs oldest first.

    `install(names)` is asked once with the backends whose env is missing; True builds them, one
    at a time (downloads are network-bound), before `jobs` releases run side by side."""
    from concurrent.futures import ThreadPoolExecutor

    from backends.envs import EnvError, ensure_env, is_installed
    from backends.registry import resolve

    say = log or (lambda m: print(m, file=sys.stderr, flush=True))
    names = [backend_name(family, r, arch) for r in releases]
    missing = [n for n in names if not is_installed(resolve(n).env)]
    allowed = install(missing) if missing else True
    skipped: dict[str, ReleaseRun] = {}
    for rel, name in zip(releases, names):
        if name not in missing:
            continue
        if not allowed:
            skipped[name] = ReleaseRun(rel, name, "not-installed", detail="env not installed (pass --yes)")
            continue
        try:
            ensure_env(resolve(name).env, log=say)
        except (EnvError, OSError) as e:  # a release pip cannot install here is a row, not the end
            skipped[name] = ReleaseRun(rel, name, "harness", detail=f"env build failed: {e}"[:300])
    todo = [(r, n) for r, n in zip(releases, names) if n not in skipped]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = dict(zip([n for _, n in todo],
                        pool.map(lambda rn: _run_release(cases, rn[0], rn[1], timeout, say), todo)))
    return [[skipped[n] if n in skipped else done[n][i] for n in names] for i in range(len(cases))]


def judge(runs: list[ReleaseRun], signature: str, family: str) -> Bisection:
    """Each release's verdict on the finding `signature`: bad, ok, other (a different failure), ..."""
    rows: list[ReleaseVerdict] = []
    for r in runs:
        if r.status != "ran":
            rows.append(ReleaseVerdict(r.release, r.backend, r.status, r.kind, r.signature, r.detail))
        elif r.kind == "unsupported":
            rows.append(ReleaseVerdict(r.release, r.backend, "unsupported", r.kind, "", r.detail))
        elif r.signature and same_failure(r.signature, signature):
            rows.append(ReleaseVerdict(r.release, r.backend, "bad", r.kind, r.signature, r.detail, r.diag))
        elif r.kind == "ok":
            rows.append(ReleaseVerdict(r.release, r.backend, "ok", "ok"))
        else:
            rows.append(ReleaseVerdict(r.release, r.backend, "other", r.kind, r.signature, r.detail, r.diag))
    return Bisection(family, signature, rows)


def bisect_case(case: Any, signature: str, family: str, releases: list[str], arch: str | None,
                timeout: float, install: Callable[[list[str]], bool],
                log: Callable[[str], None] | None = None, jobs: int = 1) -> Bisection:
    """Run `case` on family@release for each release; judge each against `signature`."""
    return judge(run_releases(case, family, releases, arch, timeout, install, jobs, log), signature, family)


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


@dataclass
class Target:
    """One thing to bisect: a case, its family and arch, and the finding signatures to judge it by."""

    label: str  # a corpus path or `#id`
    case: Any
    family: str
    arch: str | None
    signatures: list[str]
    expected: dict[str, dict[str, str]]  # the corpus file's verdicts per backend ({} for a store finding)
    note: str = ""
    finding: Any = None  # the store Finding, when the target came from a store


def _family_release_arch(backend: str) -> tuple[str, str, str | None]:
    name, _, arch = backend.partition(":")
    fam, _, rel = name.partition("@")
    return fam, rel, arch or None


def corpus_targets(entry: Any, family: str | None) -> list[Target]:
    """One target per family the corpus file expects a finding on (only `family` when given).

    A family whose expected signatures differ between releases (one bug crashing in one release
    and erroring in another) is judged against each of them, oldest release's first."""
    from backends.profiles import release_key

    by_family: dict[str, list[tuple[str, str | None, str]]] = {}
    for backend, e in entry.expected.items():
        fam, rel, arch = _family_release_arch(backend)
        if fam not in FAMILY_OF_SIG or (family and fam != family):
            continue
        if e["kind"] not in ("ok", "unsupported") and e.get("signature"):
            by_family.setdefault(fam, []).append((rel, arch, e["signature"]))
    out = []
    for fam, items in by_family.items():
        items.sort(key=lambda t: release_key(t[0]))
        sigs: dict[str, str] = {}  # canonical -> the oldest release's wording, oldest first
        for _, _, sig in items:
            sigs.setdefault(canonical(sig), sig)
        arch = next((a for _, a, _ in items if a), None)
        out.append(Target(str(entry.path), entry.case, fam, arch, list(sigs.values()), entry.expected, entry.note))
    return out


def expected_verdict(expected: dict[str, dict[str, str]], family: str, release: str, signature: str) -> str:
    """What the corpus file says this release does, in bisect's words ('' when it says nothing)."""
    for backend, e in expected.items():
        fam, rel, _ = _family_release_arch(backend)
        if fam == family and rel == release:
            if e["kind"] == "ok":
                return "ok"
            if e["kind"] == "unsupported":
                return "unsupported"
            return "bad" if same_failure(e.get("signature", ""), signature) else "other"
    return ""


def surprises(b: Bisection, expected: dict[str, dict[str, str]]) -> list[str]:
    """Releases whose verdict differs from the one the corpus file expects."""
    out = []
    for r in b.rows:
        want = expected_verdict(expected, b.family, r.release, b.signature)
        if want and r.verdict in ("bad", "ok", "other", "unsupported") and r.verdict != want:
            out.append(f"{r.release}: corpus expects {want}, got {r.verdict}")
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(t: Target, b: Bisection, command: str) -> list[str]:
    """A section of docs/bisections.md: the finding, the release table, the summary line."""
    title = t.note.split(" | ")[0] if t.note else t.label
    lines = [f"### {b.family}: {_cell(title)[:200]}", "",
             f"`{command}`  ", f"signature: `{b.signature}`", "",
             "| release | verdict | corpus expects | kind: signature of another failure | compiler diagnostic |",
             "| --- | --- | --- | --- | --- |"]
    for r in b.rows:
        want = expected_verdict(t.expected, b.family, r.release, b.signature)
        mark = " (differs)" if want and r.verdict in ("bad", "ok", "other", "unsupported") and r.verdict != want \
            else ""
        worded = (r.signature.split("|") + [""] * 4)[3][:90]
        detail = f"{r.kind}: {r.signature[:110]}" if r.verdict == "other" else (
            f"same failure, worded `{worded}`" if r.verdict == "bad" and r.signature != b.signature
            else r.detail[:110] if r.verdict not in ("bad", "ok") else "")
        diag = r.diag[:140]
        lines.append(f"| {r.release} | {r.verdict}{mark} | {want or '-'} | {_cell(detail)} | {_cell(diag)} |")
    lines += ["", f"**{summary_line(b.to_json())}**", ""]
    return lines


def summary_table(results: list[dict[str, Any]]) -> list[str]:
    """Markdown: one row per bisection (finding, family, first bad, last bad, fixed in, newest)."""
    lines = ["| finding | family | first bad | last bad | fixed in | newest release tried | differs from corpus |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        judged = [x for x in r["releases"] if x["verdict"] in ("bad", "ok", "other")]
        newest = f"{judged[-1]['release']}: {judged[-1]['verdict']}" if judged else "-"
        name = Path(r["target"]).stem if r["target"].endswith(".json") else r["target"]
        lines.append(f"| {name} | {r['family']} | {r['first_bad'] or '-'} | {r['last_bad'] or '-'} | "
                     f"{r['fixed_in'] or '-'} | {newest} | {len(r.get('surprises', [])) or ''} |")
    return lines

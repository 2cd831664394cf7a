"""The `tritondiff` command line: fuzz, replay, show, findings, stats, merge, backends.

Exit status: 0 done; 1 replay saw a new failure or malformed corpus file, or a module/env is
missing; 2 bad arguments or unusable input files; 130 a campaign stopped by Ctrl-C/SIGTERM (after
printing its summary). With `--json`, stdout carries exactly one JSON object: everything else,
including anything a backend worker prints, goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fuzz.options import UsageError, check_seed, parse_backends, parse_place, parse_weights

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse with the error format of the rest of the CLI."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {v}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return v


def _share(text: str) -> float:
    try:
        v = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction like 0.03 or 3%, got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tritondiff", description="Differential-testing fuzzer for Triton compiler backends.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    f = sub.add_parser("fuzz", help="run (or resume) a campaign",
                       description="Generate kernels, run them on every backend, judge, store findings. "
                                   "Rerunning the same command with the same --db resumes.")
    f.add_argument("--backends", required=True,
                   help="comma-separated backend names (see `tritondiff backends`)")
    f.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    f.add_argument("--cases", type=_positive_int,
                   help="run case indices 0..N-1 (default 100 unless --minutes is given)")
    f.add_argument("--minutes", type=_positive_float, help="stop taking new cases after M minutes")
    f.add_argument("--jobs", "-j", type=_positive_int, help="pipelines in parallel on this host (default 1)")
    f.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the cases on this Dask cluster instead of the local pool (docs/distributed.md)")
    f.add_argument("--place", action="append", default=[], metavar="BACKEND=RESOURCE",
                   help="with --scheduler: run BACKEND only on workers that declare RESOURCE (default GPU "
                        "for cuda/hip), or BACKEND=any to compile it anywhere")
    f.add_argument("--weights", help="feature and relation weights: 'name=w,...' or a JSON file {name: w}; "
                                     "names are generator features/knobs or metamorphic relations")
    f.add_argument("--exclude", help="comma-separated features never to generate (weight 0)")
    f.add_argument("--timeout", type=_positive_float, default=60.0,
                   help="seconds per case per backend (default 60)")
    f.add_argument("--db", type=Path, help="store file (default runs/<name>.sqlite)")
    f.add_argument("--name", help="campaign name (default <backends>-s<seed>)")
    f.add_argument("--corpus", type=Path, default=None,
                   help="where cases of new findings are saved (default: runs/<name>-corpus/, beside --db)")
    f.add_argument("--no-corpus", action="store_true", help="do not save new findings to a corpus")
    f.add_argument("--reduce", action="store_true",
                   help="reduce new findings in the background (a thread here, a task on a cluster)")
    f.add_argument("--reduce-budget", type=_positive_float, default=120.0, metavar="SECONDS",
                   help="with --reduce: seconds per finding (default 120)")
    f.add_argument("--variants", type=_count, default=1, metavar="N",
                   help="metamorphic variants per case, judged against the base form (default 1; 0: none)")
    f.add_argument("--no-reference", action="store_true",
                   help="do not judge by the numpy reference: only the cross-backend and metamorphic oracles")
    f.add_argument("--regressions", action="store_true",
                   help="report only what one release of a family gets wrong and another right "
                        "(e.g. --backends cuda@3.8.0,cuda@3.9.0)")
    f.add_argument("--env-python", action="append", default=[], metavar="BACKEND=PYTHON",
                   help="run BACKEND in an existing Python (external env, e.g. a GPU box's python3)")
    f.add_argument("--launcher", choices=("direct", "triton"), default="direct",
                   help="how cuda backends on a GPU start kernels: tritondiff's generic launcher "
                        "(default) or Triton's own, which builds a C launcher per signature")
    f.add_argument("--guided", action="store_true",
                   help="coverage-guided: atheris' libFuzzer in the first backend's worker chooses the "
                        "generator's decisions by the lines of triton's own Python they reach; inputs that "
                        "reach new coverage are kept in runs/<name>-seeds/ and resumed from")
    f.add_argument("--coverage-every", type=_count, default=50, metavar="N",
                   help="measure the backends' frontend line coverage on one case in N per worker "
                        "(default 50: about 6 %% more time on the interpreter; 1: every case; 0: off); shown by "
                        "stats and the HTML report")
    f.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    f.add_argument("--json", action="store_true", help="print one JSON summary object on stdout")

    ext_help = "run BACKEND in an existing Python (an external env: a GPU box's python3, an SMT env)"
    r = sub.add_parser("replay", help="re-run corpus cases and report verdict changes",
                       description="Exit 1 on a new failure or a malformed corpus file.")
    r.add_argument("paths", nargs="+", metavar="PATH", help="corpus files or directories")
    r.add_argument("--backends", help="comma-separated backends (default: those in each file's expected)")
    r.add_argument("--timeout", type=_positive_float, default=60.0, help="seconds per case per backend")
    r.add_argument("--update", action="store_true", help="rewrite expected verdicts with the new ones")
    r.add_argument("--verbose", "-v", action="store_true", help="also list unchanged verdicts")
    r.add_argument("--env-python", action="append", default=[], metavar="BACKEND=PYTHON",
                   help="run BACKEND (a name as in the files, or its family, e.g. cuda) in an existing Python")
    r.add_argument("--trust-captured", action="store_true",
                   help="also run cases of kind 'captured', whose stored source is imported as Python "
                        "(only for corpora you trust: see docs/design-notes.md)")
    r.add_argument("--json", action="store_true", help="print one JSON report object on stdout")

    ca = sub.add_parser("capture", help="run your own program under the Triton interpreter and keep each "
                                        "distinct kernel launch as a corpus case",
                        description="Runs CMD (e.g. `python my_test.py`, `python -m pytest tests/`) with "
                                    "TRITON_INTERPRET=1 in a triton env and writes one case of kind "
                                    "'captured' per distinct launch into --out. The cases hold your kernel "
                                    "source: replay and matrix run them here without --trust-captured "
                                    "(see docs/capture.md).")
    ca.add_argument("--out", type=Path, required=True, help="corpus directory for the captured cases")
    ca.add_argument("--backend", default="interpreter@3.9.0",
                    help="interpreter release whose env runs CMD (default interpreter@3.9.0)")
    ca.add_argument("--python", dest="env_python", metavar="PYTHON",
                    help="run CMD in this Python (it must have triton and torch) instead of a managed env")
    ca.add_argument("--max-mb", type=_positive_float, default=16.0,
                    help="skip a launch whose tensors span more than this (default 16 MB)")
    ca.add_argument("--python-float-scalars", action="store_true",
                    help="pass float arguments as the stock interpreter does (Python floats: `.to()` on "
                         "them fails) instead of as fp32 scalars like compiled Triton (default)")
    ca.add_argument("--per-kernel", type=_count, default=0, metavar="N",
                    help="keep at most N launches of each kernel, the smallest (default 0: all distinct ones)")
    ca.add_argument("--json", action="store_true", help="print one JSON report object on stdout")
    ca.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")

    mx = sub.add_parser("matrix", help="run corpus cases (captured kernels) on every backend: a kernel x "
                                       "backend@release table with a report per non-ok cell")
    mx.add_argument("paths", nargs="+", metavar="PATH", help="corpus files or directories")
    mx.add_argument("--backends", required=True, help="comma-separated backends, one column each")
    mx.add_argument("--out", type=Path, required=True, help="FILE.md or FILE.html (also FILE.<ext>.json and "
                                                            "FILE-reports/ with a repro.py per non-ok cell)")
    mx.add_argument("--timeout", type=_positive_float, default=60.0, help="seconds per case per backend")
    mx.add_argument("--no-reports", action="store_true", help="only the table")
    mx.add_argument("--env-python", action="append", default=[], metavar="BACKEND=PYTHON", help=ext_help)
    mx.add_argument("--trust-captured", action="store_true",
                    help="also run captured cases this user's capture did not sign (see docs/capture.md)")
    mx.add_argument("--json", action="store_true", help="print the table as one JSON object on stdout")

    va = sub.add_parser("vary", help="more launches of captured kernels: other block constexprs and "
                                     "num_warps, kept where the interpreter agrees with the capture")
    va.add_argument("paths", nargs="+", metavar="PATH", help="captured corpus files or directories")
    va.add_argument("--out", type=Path, required=True, help="corpus directory for the accepted forms")
    va.add_argument("--backend", default="interpreter@3.9.0", help="interpreter that decides (default 3.9.0)")
    va.add_argument("--per-case", type=_positive_int, default=4, help="forms tried per case (default 4)")
    va.add_argument("--timeout", type=_positive_float, default=60.0, help="seconds per run")
    va.add_argument("--trust-captured", action="store_true", help="as for replay")
    va.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    s = sub.add_parser("show", help="print one finding in full")
    s.add_argument("finding", metavar="FINDING", help="finding id (12 or #12) or a signature prefix")
    s.add_argument("--db", type=Path, help="store file (default: the only runs/*.sqlite)")
    s.add_argument("--json", action="store_true")

    fl = sub.add_parser("findings", help="list findings, or set their triage status")
    fl.add_argument("keys", nargs="*", metavar="FINDING",
                    help="with --mark: finding ids or signature prefixes")
    fl.add_argument("--db", type=Path, help="store file (default: the only runs/*.sqlite)")
    fl.add_argument("--status", choices=("new", "known", "ignored"), help="only findings with this status")
    fl.add_argument("--backend", help="only findings of this backend")
    fl.add_argument("--campaign", type=int, help="only findings seen by this campaign id")
    fl.add_argument("--mark", choices=("new", "known", "ignored"), metavar="STATUS",
                    help="set the status (new|known|ignored) of the FINDINGs given")
    fl.add_argument("--json", action="store_true")

    st = sub.add_parser("stats", help="statistics of a store, or of the generator alone (--generate N)")
    st.add_argument("--db", type=Path, help="store file (default: the only runs/*.sqlite)")
    st.add_argument("--campaign", type=int, help="one campaign of the store (default: all)")
    st.add_argument("--generate", type=_positive_int, metavar="N",
                    help="generate N kernels, no backends: feature coverage and reference validity")
    st.add_argument("--seed", type=int, default=0, help="with --generate: seed (default 0)")
    st.add_argument("--weights", help="with --generate: feature weights, as for fuzz")
    st.add_argument("--exclude", help="with --generate: features to exclude")
    st.add_argument("--min-share", type=_share, default=0.03,
                    help="with --generate: exit 1 if a feature is in fewer kernels (default 0.03)")
    st.add_argument("--no-reference", action="store_true", help="with --generate: skip the reference")
    st.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    rd = sub.add_parser("reduce", help="reduce a finding to a minimal kernel with the same signature")
    rd.add_argument("--env-python", action="append", default=[], metavar="BACKEND=PYTHON", help=ext_help)
    rd.add_argument("finding", metavar="FINDING", help="finding id (12 or #12) or a signature prefix")
    rd.add_argument("--db", type=Path, help="store file (default: the only runs/*.sqlite)")
    rd.add_argument("--budget", type=_positive_float, default=120.0, help="seconds (default 120)")
    rd.add_argument("--timeout", type=_positive_float, default=30.0, help="seconds per run of a candidate")
    rd.add_argument("--corpus", type=Path, default=None, help="also save the minimal case in this corpus dir")
    rd.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    su = sub.add_parser("setup", help="install what the named backends need (venvs, Debian packages)")
    su.add_argument("--backends", default="interpreter,cuda,hip,ascend@3.2.0,ascend@3.2.0rc4,ascend@3.2.0rc2,"
                                          "interpreter@3.2.0,interpreter@3.5.1,interpreter@3.6.0,cuda@3.0.0,xpu",
                    help="backends to prepare (default: every backend the test suite uses)")
    su.add_argument("--system", action="store_true",
                    help="also apt-get install the Debian packages (mlir-19-tools, llvm-19, chromium, "
                         "libze-dev) as root")

    rp = sub.add_parser("report", help="write an issue-ready report of a finding, or an HTML campaign page",
                        description="FINDING: a directory (README.md, standalone repro.py, kernel.py, ir/) "
                                    "after re-running the (reduced) kernel on its backend and on the "
                                    "campaign's others. --campaign [ID]: one self-contained HTML page.")
    rp.add_argument("finding", nargs="?", metavar="FINDING", help="finding id (12 or #12) or a signature prefix")
    rp.add_argument("--campaign", nargs="?", const="all", metavar="ID",
                    help="HTML report of campaign ID (default: every campaign of the store)")
    rp.add_argument("--db", type=Path, help="store file (default: the only runs/*.sqlite)")
    rp.add_argument("--out", type=Path, help="FINDING: directory (default reports/<short-id>/); "
                                             "--campaign: HTML file (default campaign-report.html)")
    rp.add_argument("--with-reports", action="store_true",
                    help="with --campaign: also write reports/<short-id>/ of every finding next to the page")
    rp.add_argument("--also", help="FINDING: more backends (e.g. other releases) to run the kernel on")
    rp.add_argument("--timeout", type=_positive_float, help="seconds per backend run (default: the campaign's)")
    rp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    rp.add_argument("--env-python", action="append", default=[], metavar="BACKEND=PYTHON", help=ext_help)

    gn = sub.add_parser("generate", help="write generated kernels as standalone programs (kernel, launch, "
                                         "inputs, expected outputs)")
    gn.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    gn.add_argument("--count", type=_positive_int, default=10, help="number of kernels (default 10)")
    gn.add_argument("--out", type=Path, required=True, help="directory for kernel_<seed>.py / .json")
    gn.add_argument("--release", help="only constructs this triton release has (e.g. 3.2.0)")
    gn.add_argument("--backend", default="cuda", help="what each program runs on: cuda (GPU, else compile "
                                                       "for sm_90), hip, interpreter (default cuda)")
    gn.add_argument("--weights", help="feature weights, as for fuzz")
    gn.add_argument("--exclude", help="features to exclude")
    gn.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    bi = sub.add_parser("bisect", help="replay a finding on every published release of its backend family",
                        description="FINDING: a finding id or signature prefix of the store, or a corpus "
                                    "case file. Prints the verdict per release and first-bad / last-bad / "
                                    "fixed-in, judged with the finding's own signature.")
    bi.add_argument("finding", metavar="FINDING", nargs="+")
    bi.add_argument("--db", type=Path, help="store file (default: the only runs/*.sqlite)")
    bi.add_argument("--family", choices=("interpreter", "cuda", "hip", "ascend"),
                    help="backend family (default: the finding's)")
    bi.add_argument("--releases", help="3.0.0..3.9.0 (inclusive) or a list 3.2.0,3.6.0 (default: all)")
    bi.add_argument("--arch", help="target arch (default: the finding's)")
    bi.add_argument("--yes", action="store_true", help="build missing release envs without asking")
    bi.add_argument("--timeout", type=_positive_float, default=60.0, help="seconds per release (default 60)")
    bi.add_argument("--jobs", "-j", type=_positive_int, default=1, help="releases run side by side (default 1)")
    bi.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    bi.add_argument("--markdown", action="store_true",
                    help="print a markdown section per bisection (as in docs/bisections.md)")

    ev = sub.add_parser("envs", help="list managed backend envs with their sizes; remove old ones")
    ev.add_argument("--remove", nargs="+", metavar="NAME", help="delete these envs")
    ev.add_argument("--remove-unused", type=_positive_float, metavar="DAYS",
                    help="delete envs no backend has started from for DAYS days (shared ones last)")
    ev.add_argument("--json", action="store_true")

    m = sub.add_parser("merge", help="merge stores of campaigns run apart into one",
                       description="Copy the campaigns, cases and outcomes of each IN store into OUT (created "
                                   "if missing); findings are deduplicated by signature and their counts "
                                   "summed. A case already in OUT (same campaign config and index) is not "
                                   "counted twice, so merging a store again changes nothing.")
    m.add_argument("out", type=Path, metavar="OUT.sqlite", help="the store to merge into")
    m.add_argument("inputs", type=Path, nargs="+", metavar="IN.sqlite", help="stores to merge from")
    m.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    b = sub.add_parser("backends", help="list known backends and whether their env is installed")
    b.add_argument("--json", action="store_true")
    return p


# ---- helpers ------------------------------------------------------------------------------------
@contextlib.contextmanager
def stdout_to_stderr(active: bool) -> Iterator[Any]:
    """While active, stdout (fd 1, so child workers too) goes to stderr; what is written to the
    yielded stream reaches the real stdout when the block ends."""
    if not active:
        yield sys.stdout
        return
    buf = io.StringIO()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield buf
    finally:
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)
        sys.stdout.write(buf.getvalue())
        sys.stdout.flush()


def emit_json(stream: Any, obj: dict[str, Any]) -> None:
    stream.write(json.dumps(obj, sort_keys=True, default=str) + "\n")
    stream.flush()


def default_db(db: Path | None) -> Path:
    """`--db`, or the only store under runs/; a clear error otherwise."""
    if db is not None:
        if not db.exists():
            raise UsageError(f"--db {db}: no such store")
        return db
    found = sorted(Path("runs").glob("*.sqlite"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError("no store given and none under runs/: pass --db PATH")
    raise UsageError(f"several stores under runs/ ({', '.join(str(f) for f in found[:5])}"
                     f"{', ...' if len(found) > 5 else ''}): pass --db PATH")


def _weights(args: argparse.Namespace, relations: bool = False) -> dict[str, float] | None:
    known = None
    if args.weights or args.exclude:
        import generators

        known = (list(getattr(generators, "FEATURES", [])) + list(getattr(generators, "KNOBS", []))) or None
        if known is not None and relations:
            from oracles.metamorphic import RELATIONS

            known += list(RELATIONS)
    return parse_weights(args.weights, args.exclude, known)


def _split_weights(weights: dict[str, float] | None) -> tuple[dict[str, float] | None, dict[str, float] | None]:
    """(generator weights, metamorphic relation weights) of one --weights/--exclude."""
    if not weights:
        return None, None
    from oracles.metamorphic import RELATIONS

    rel = {k: v for k, v in weights.items() if k in RELATIONS}
    gen = {k: v for k, v in weights.items() if k not in RELATIONS}
    return gen or None, rel or None


def _env_pythons(items: list[str], backends: list[str] | None) -> dict[str, dict[str, str]]:
    """`cuda=/usr/bin/python3` -> {"cuda": {"env_python": "/usr/bin/python3"}}."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        name, sep, py = item.partition("=")
        if not sep or not py:
            raise UsageError(f"--env-python {item!r}: expected BACKEND=PYTHON")
        if backends is not None and name not in backends:
            raise UsageError(f"--env-python {item!r}: {name!r} is not one of --backends")
        out[name] = {"env_python": py}
    return out


def _backend_opts(args: argparse.Namespace, backends: list[str]) -> dict[str, dict[str, Any]]:
    """Per-backend open_backend options: --env-python, and --launcher for every backend (only the
    GPU runners read it)."""
    out: dict[str, dict[str, Any]] = dict(_env_pythons(args.env_python, backends))
    if args.launcher != "direct":
        for name in backends:
            out.setdefault(name, {})["runner_options"] = {"launcher": args.launcher}
    return out


# ---- commands -----------------------------------------------------------------------------------
def cmd_fuzz(args: argparse.Namespace) -> int:
    from fuzz.campaign import Campaign, CampaignConfig
    from fuzz.summary import render

    backends = parse_backends(args.backends)
    if args.scheduler and args.jobs is not None:
        raise UsageError("--jobs is for the local pool; on a cluster, each `dask worker --nthreads N` "
                         "runs N cases at once")
    if args.place and not args.scheduler:
        raise UsageError("--place only applies with --scheduler")
    if args.regressions:
        from fuzz.regressions import check_backends

        try:
            check_backends(backends)
        except ValueError as e:
            raise UsageError(str(e)) from None
    gen_weights, rel_weights = _split_weights(_weights(args, relations=True))
    from backends.profiles import campaign_weights

    gen_weights = campaign_weights(backends, gen_weights)  # nothing no backend here can run
    cfg = CampaignConfig(
        backends=backends, seed=check_seed(args.seed),
        cases=args.cases if (args.cases is not None or args.minutes is not None) else 100,
        minutes=args.minutes, jobs=args.jobs or 1, weights=gen_weights, timeout=args.timeout, db=args.db,
        corpus=args.corpus, save_corpus=not args.no_corpus, name=args.name or "", progress=not args.quiet,
        reduce=args.reduce, reduce_budget=args.reduce_budget, backend_opts=_backend_opts(args, backends),
        scheduler=args.scheduler, place=parse_place(args.place),
        variants=args.variants, reference=not args.no_reference, relation_weights=rel_weights,
        regressions=args.regressions, guided=args.guided, coverage_every=args.coverage_every)
    with stdout_to_stderr(args.json) as out:
        summary = Campaign(cfg).run()
        if args.json:
            if not args.quiet:
                print(render(summary), file=sys.stderr)
            emit_json(out, summary)
        else:
            print(render(summary), file=out)
    return EXIT_INTERRUPTED if summary["session"]["interrupted"] else EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from fuzz.replay import render, replay

    backends = parse_backends(args.backends) if args.backends is not None else None
    with stdout_to_stderr(args.json) as out:
        report = replay(args.paths, backends, args.timeout, args.update,
                        _env_pythons(args.env_python, backends), args.trust_captured)
        if args.json:
            emit_json(out, report)
        else:
            print(render(report, args.verbose), file=out)
    return EXIT_OK if report["ok"] else EXIT_FAIL


def cmd_capture(args: argparse.Namespace) -> int:
    from fuzz.capture import main_args

    if args.cmd and args.cmd[0] == "--":
        args.cmd = args.cmd[1:]
    return main_args(args)


def cmd_matrix(args: argparse.Namespace) -> int:
    from fuzz.matrix import matrix, render

    backends = parse_backends(args.backends)
    shown = "tritondiff matrix " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["matrix"] else ""
    with stdout_to_stderr(args.json) as out:
        doc = matrix(args.paths, backends, args.out, args.timeout, args.trust_captured,
                     _env_pythons(args.env_python, backends), not args.no_reports, shown, progress=True)
        if args.json:
            emit_json(out, doc)
        else:
            print(render(doc), file=out)
    return EXIT_OK if not doc["malformed"] else EXIT_FAIL


def cmd_vary(args: argparse.Namespace) -> int:
    from fuzz.vary import render, vary

    with stdout_to_stderr(args.json) as out:
        rep = vary(args.paths, args.out, args.backend, args.per_case, args.timeout, args.trust_captured)
        if args.json:
            emit_json(out, rep)
        else:
            print(render(rep), file=out)
    return EXIT_OK if not rep["malformed"] else EXIT_FAIL


def cmd_show(args: argparse.Namespace) -> int:
    from fuzz.store import Store
    from fuzz.triage import render_finding

    with Store(default_db(args.db), readonly=True) as store:
        f = store.finding(args.finding)
        if args.json:
            d = f.to_json(full=True)
            d["affected"] = store.affected_backends(f.signature)
            d["reduced"], d["reduce_summary"] = store.reduced(f.signature)
            d["verdicts"] = store.case_outcomes(f.first_campaign, f.first_case)
            emit_json(sys.stdout, d)
        else:
            print(render_finding(store, f))
    return EXIT_OK


def cmd_findings(args: argparse.Namespace) -> int:
    from fuzz.store import Store
    from fuzz.triage import render_list

    if args.keys and not args.mark:
        raise UsageError("findings: FINDING arguments are only used with --mark STATUS")
    if args.mark and not args.keys:
        raise UsageError("findings --mark needs at least one FINDING (id or signature prefix)")
    with Store(default_db(args.db), create=False, readonly=not args.mark) as store:
        if args.mark:
            changed = store.set_status(args.keys, args.mark)
            if args.json:
                emit_json(sys.stdout, {"command": "findings", "marked": args.mark,
                                       "findings": [f.to_json() for f in changed]})
            else:
                for f in changed:
                    print(f"#{f.id} {f.signature[:80]}: {f.status} -> {args.mark}")
            return EXIT_OK
        found = store.findings(campaign=args.campaign, status=args.status, backend=args.backend)
        bis = store.bisections()
        if args.json:
            emit_json(sys.stdout, {"command": "findings", "db": str(store.path),
                                   "findings": [{**f.to_json(), "bisections": bis.get(f.id, [])} for f in found]})
        else:
            print(render_list(found, bis))
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    if args.generate is None:
        extra = [o for o, v in (("--weights", args.weights), ("--exclude", args.exclude),
                                ("--no-reference", args.no_reference)) if v]
        if extra:
            raise UsageError(f"stats: {', '.join(extra)} only apply with --generate N")
        from fuzz.store import Store
        from fuzz.summary import render, store_summary

        with Store(default_db(args.db), readonly=True) as store:
            summary = store_summary(store, args.campaign)
            summary["command"] = "stats"
            summary["campaigns"] = store.campaigns()
        if args.json:
            emit_json(sys.stdout, summary)
        else:
            print(render(summary))
        return EXIT_OK
    if args.db is not None or args.campaign is not None:
        raise UsageError("stats --generate runs no store: drop --db/--campaign")
    from fuzz.coverage import generate_stats, render

    weights = _weights(args)
    with stdout_to_stderr(args.json) as out:
        stats = generate_stats(args.generate, check_seed(args.seed), weights, args.min_share,
                               reference=not args.no_reference)
        if args.json:
            emit_json(out, stats)
        else:
            print(render(stats), file=out)
    return EXIT_FAIL if stats["below_min_share"] else EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    from fuzz.store import Store, StoreLock

    out_path = args.out.resolve()
    for p in args.inputs:
        if not p.exists():
            raise UsageError(f"merge: {p}: no such store")
        if p.resolve() == out_path:
            raise UsageError(f"merge: {p} is the output store; a store cannot be merged into itself")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lock = StoreLock(args.out)
    reports = []
    try:
        with Store(args.out) as store:
            for p in args.inputs:
                r = store.merge_from(p)
                reports.append({"input": str(p), **r})
                if not args.json:
                    print(f"{p}: {r['campaigns_added']} campaign(s) added, {r['campaigns_shared']} shared; "
                          f"{r['cases_added']} case(s) added, {r['cases_duplicate']} already there; "
                          f"findings: {r['findings_added']} new, {r['findings_updated']} counted again")
            total = len(store.findings())
    finally:
        lock.release()
    if args.json:
        emit_json(sys.stdout, {"command": "merge", "out": str(args.out), "inputs": reports, "findings": total})
    else:
        print(f"{args.out}: {total} finding(s)")
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from fuzz.programs import write_programs

    summary = write_programs(check_seed(args.seed), args.count, args.out, args.release, args.backend,
                             _weights(args))
    if args.json:
        emit_json(sys.stdout, summary)
    else:
        print(f"wrote {summary['written']} programs to {args.out} (skipped: "
              + ", ".join(f"{k} {v}" for k, v in summary["skipped"].items()) + ")")
    return EXIT_OK if summary["written"] == args.count else EXIT_FAIL


def _bisect_targets(args: argparse.Namespace, what: str) -> list[Any]:
    """Targets from a store finding (id or signature prefix) or a corpus case file."""
    from fuzz.bisect import Target, corpus_targets
    from generators.case import KernelCase

    p = Path(what)
    if p.suffix == ".json" and p.exists():
        from fuzz.corpus import CorpusError, load_file

        try:
            entry = load_file(p)  # untrusted: validated, its source rendered from its spec
        except CorpusError as e:
            raise UsageError(str(e)) from None
        found = corpus_targets(entry, args.family)
        if not found:
            raise UsageError(f"{p}: no expected finding{' on ' + args.family if args.family else ''} to bisect")
        return found
    from fuzz.store import Store

    with Store(default_db(args.db), create=False) as store:
        f = store.finding(what)
        reduced, _ = store.reduced(f.signature)
    case_json = reduced or f.case_json
    if case_json is None:
        raise UsageError(f"finding #{f.id} has no stored case")
    fam = f.backend.split("@")[0].split(":")[0]
    arch = f.backend.split(":")[1] if ":" in f.backend else None
    return [Target(f"#{f.id}", KernelCase.from_json(case_json), args.family or fam, arch, [f.signature], {},
                   finding=f)]


def _bisect_command(args: argparse.Namespace, t: Any) -> str:
    parts = ["tritondiff bisect", t.label if t.finding is None else str(t.finding.id), "--family", t.family]
    if args.releases:
        parts += ["--releases", args.releases]
    return " ".join(parts + ["--yes"])


def cmd_bisect(args: argparse.Namespace) -> int:
    from fuzz.bisect import judge, markdown, render, run_many, select_releases, summary_table, surprises

    targets = [t for what in args.finding for t in _bisect_targets(args, what)]

    def install(missing: list[str]) -> bool:
        if not missing or args.yes:
            return True
        msg = f"{len(missing)} release env(s) are not installed: {', '.join(missing)} (about 0.7 GB each)"
        if sys.stdin.isatty() and not (args.json or args.markdown):
            return input(f"{msg}. Download and build them now? [y/N] ").strip().lower() in ("y", "yes")
        print(f"tritondiff bisect: {msg}; skipping them (pass --yes to build them)", file=sys.stderr)
        return False

    results: list[dict[str, Any]] = []
    # Targets of one family and arch share a worker per release: one start per release, not per case.
    groups: dict[tuple[str, str | None], list[Any]] = {}
    for t in targets:
        groups.setdefault((t.family, args.arch or t.arch), []).append(t)
    with stdout_to_stderr(args.json) as out:
        for (family, arch), group in groups.items():
            releases = select_releases(family, args.releases)
            runs = run_many([t.case for t in group], family, releases, arch, args.timeout, install, args.jobs)
            for t, t_runs in zip(group, runs):
                for sig in t.signatures:
                    b = judge(t_runs, sig, family)
                    result = {"target": t.label, **b.to_json(), "surprises": surprises(b, t.expected)}
                    results.append(result)
                    if t.finding is not None:
                        from fuzz.store import Store

                        with Store(default_db(args.db), create=False) as store:
                            store.save_bisection(t.finding.id, b.to_json())
                    if args.markdown:  # streamed: a long run that is stopped keeps what it finished
                        print("\n".join(markdown(t, b, _bisect_command(args, t))), file=out, flush=True)
                    elif not args.json:
                        print(render(b, f"bisect of {t.label} on {family}: {sig[:100]}"), file=out)
                        for line in result["surprises"]:
                            print(f"  differs from the corpus file: {line}", file=out)
                        print(file=out, flush=True)
        if args.markdown:
            print("\n".join(["## Summary", "", *summary_table(results)]), file=out)
        if args.json:
            # One bisection: its fields at the top level too, so scripts need not dig.
            emit_json(out, {"command": "bisect", **(results[0] if len(results) == 1 else {}),
                            "bisections": results})
    return EXIT_OK


def cmd_envs(args: argparse.Namespace) -> int:
    import time

    from backends.envs import EnvError, envs_home, list_envs, remove_env

    removed: list[str] = []
    names = list(args.remove or [])
    if args.remove_unused is not None:
        cutoff = time.time() - args.remove_unused * 86400
        rows = list_envs(sizes=False)
        stale = {r.name for r in rows if (r.last_used or 0) < cutoff}
        # an env linked by a kept env stays; leaves go before the envs they share
        keep = {s for r in rows if r.name not in stale for s in r.shared}
        names += sorted(stale - keep, key=lambda n: n.startswith("shared-"))
    try:
        for n in names:
            remove_env(n)
            removed.append(n)
    except EnvError as e:
        raise UsageError(str(e)) from None
    rows = list_envs()
    if args.json:
        emit_json(sys.stdout, {"command": "envs", "home": str(envs_home()), "removed": removed,
                               "envs": [r.__dict__ for r in rows], "total_bytes": sum(r.bytes for r in rows)})
        return EXIT_OK
    for n in removed:
        print(f"removed {n}")
    print(f"{'env':<28} {'size':>9}  {'last used':<16} shares / shared by")
    for r in rows:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.last_used)) if r.last_used else "-"
        link = ", ".join([f"uses {s}" for s in r.shared] + [f"used by {u}" for u in r.used_by])
        print(f"{r.name:<28} {r.bytes / 2**30:>7.2f} G  {used:<16} {link}")
    print(f"{len(rows)} envs, {sum(r.bytes for r in rows) / 2**30:.2f} GiB under {envs_home()}")
    return EXIT_OK


def cmd_backends(args: argparse.Namespace) -> int:
    from backends.registry import list_backends

    rows = []
    for info in list_backends():
        if isinstance(info, str):
            rows.append({"name": info, "installed": None})
        elif isinstance(info, dict):
            rows.append(dict(info))
        else:
            rows.append({k: v for k, v in vars(info).items() if not k.startswith("_")})
    if args.json:
        emit_json(sys.stdout, {"command": "backends", "backends": rows})
        return EXIT_OK
    width = max((len(str(r.get("name", ""))) for r in rows), default=4)
    print(f"{'backend':{width}s}  {'installed':9s}  env")
    for r in rows:
        inst = {True: "yes", False: "no", None: "?"}.get(r.get("installed"), str(r.get("installed")))
        print(f"{r.get('name', '')!s:{width}s}  {inst:9s}  {r.get('env', '')}")
    return EXIT_OK


def cmd_reduce(args: argparse.Namespace) -> int:
    from fuzz.reduce import reduce_finding
    from fuzz.store import Store
    from generators.case import KernelCase

    db = default_db(args.db)
    with Store(db, create=False) as st:
        f = st.finding(args.finding)
        config = st.campaign_config(f.first_campaign)
    backends = config.get("backends", [])
    if not f.case_json:
        raise UsageError(f"finding #{f.id} has no stored case to reduce")
    case = KernelCase.from_json(f.case_json)
    from fuzz.reduce import DoesNotReproduce
    from oracles.metamorphic import stored_variants

    try:
        variants = stored_variants(f.case_json)
    except ValueError as e:
        raise UsageError(f"finding #{f.id}: stored variants unusable: {e}") from e
    try:
        with stdout_to_stderr(args.json):
            res = reduce_finding(case, f, list(backends), args.timeout, args.corpus, db, budget_s=args.budget,
                                 reference=config.get("reference", True) is not False, variants=variants)
    except DoesNotReproduce as e:
        print(f"tritondiff reduce: finding #{f.id} does not reproduce: {e}", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        out = {"finding": f.id, "signature": f.signature, "case_id": res.case.case_id,
               "summary": res.stats.summary(), "before": res.stats.before,
               "after": res.stats.after, "source": res.case.source}
        if res.variant is not None:
            from oracles.metamorphic import derive

            out["variant"] = res.variant.to_json()
            out["variant_source"] = derive(res.case, res.variant).source
        emit_json(sys.stdout, out)
    else:
        print(res.case.source)
        if res.variant is not None:
            from oracles.metamorphic import derive

            print(f"# the other form ({res.variant.label()}):")
            print(derive(res.case, res.variant).source)
        print(res.stats.summary())
    return EXIT_OK


def cmd_setup(args: argparse.Namespace) -> int:
    """Idempotent: a second run finds everything in place and returns at once."""
    from backends.envs import ensure_env, ensure_tool
    from backends.registry import resolve

    names = parse_backends(args.backends)
    if args.system:
        from fuzz.system_setup import build_linalg_engine, ensure_debian_packages

        ensure_debian_packages()
        build_linalg_engine()
    elif any(n.startswith("ascend") for n in names):
        from backends.linalg_exec.build import engine_library
        from backends.linalg_exec.toolchain import ensure_engine_sdk, ensure_toolchain

        ensure_toolchain(install=False)  # says exactly what to install when missing
        ensure_engine_sdk(install=False)
        engine_library()
    if any(resolve(n).family == "xpu" for n in names):
        from fuzz.system_setup import check_xpu_packages

        try:
            check_xpu_packages()
        except RuntimeError as e:  # one line saying what to install, not a traceback
            raise UsageError(str(e)) from None
    for n in names:
        cfg = resolve(n)
        py = ensure_env(cfg.env, log=lambda msg: print(msg, file=sys.stderr))
        if cfg.family == "xpu":  # builds the backend's host-side helper now, not in a campaign
            from backends import open_backend

            with open_backend(n) as b:
                b.warm()
        if cfg.env.managed and cfg.family != "cpufork":  # `fuzz --guided` runs atheris in the worker
            ensure_tool(cfg.env, "atheris", log=lambda msg: print(msg, file=sys.stderr))
        print(f"{cfg.name}: {py}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """One finding -> reports/<short-id>/; --campaign -> one HTML page (plus reports on request)."""
    if (args.finding is None) == (args.campaign is None):
        raise UsageError("report: give either a FINDING or --campaign [ID]")
    if args.with_reports and args.campaign is None:
        raise UsageError("report: --with-reports only applies with --campaign")
    db = default_db(args.db)
    with stdout_to_stderr(args.json) as out:
        if args.campaign is not None:
            from fuzz.html_report import campaign_report

            if args.also:
                raise UsageError("report: --also only applies to a FINDING")
            camp = None if args.campaign == "all" else _campaign_id(args.campaign)
            page, written = campaign_report(db, args.out or Path("campaign-report.html"), camp,
                                            args.with_reports, args.timeout, quiet=args.json)
            if args.json:
                emit_json(out, {"command": "report", "html": str(page), "reports": [str(w) for w in written]})
            else:
                print(f"campaign report: {page}" + (f" ({len(written)} finding reports under "
                                                     f"{page.parent / 'reports'})" if written else ""), file=out)
            return EXIT_OK
        from fuzz.report import report_finding, title

        also = parse_backends(args.also) if args.also else None
        d, rep = report_finding(db, args.finding, args.out, args.timeout, also, quiet=args.json)
        if args.json:
            emit_json(out, {"command": "report", "dir": str(d), "title": title(rep), "finding": rep.finding.id,
                            "short_id": rep.short_id, "reduced": rep.reduced, "reproduced": rep.reproduced})
        else:
            print(f"{title(rep)}\nreport written to {d}/ (README.md, repro.py, kernel.py"
                  + (", ir/" if (d / "ir").is_dir() else "") + ")"
                  + ("" if rep.reproduced else "\nwarning: the finding did not reproduce on re-run"), file=out)
    return EXIT_OK


def _campaign_id(text: str) -> int:
    try:
        return int(text.lstrip("#"))
    except ValueError:
        raise UsageError(f"report --campaign: expected a campaign id, got {text!r}") from None


COMMANDS = {"report": cmd_report, "setup": cmd_setup, "reduce": cmd_reduce,
            "fuzz": cmd_fuzz, "replay": cmd_replay, "show": cmd_show, "findings": cmd_findings,
            "stats": cmd_stats, "backends": cmd_backends, "generate": cmd_generate,
            "envs": cmd_envs, "bisect": cmd_bisect, "merge": cmd_merge, "capture": cmd_capture,
            "matrix": cmd_matrix, "vary": cmd_vary}


def _export_env_pythons(items: list[str]) -> None:
    """`--env-python` for commands that re-open stored backends (replay, reduce, report): the
    registry reads $TRITONDIFF_ENV_PYTHON, so every backend they open by name finds its env."""
    good = [i for i in items if "=" in i and i.split("=", 1)[0] and i.split("=", 1)[1]]
    if good:
        old = os.environ.get("TRITONDIFF_ENV_PYTHON", "")
        os.environ["TRITONDIFF_ENV_PYTHON"] = ",".join([*good, *([old] if old else [])])


def _known_errors() -> tuple[type[BaseException], ...]:
    from fuzz.corpus import CorpusError
    from fuzz.store import StoreError

    return (UsageError, StoreError, CorpusError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"tritondiff {args.command}"
    ep = getattr(args, "env_python", None)
    _export_env_pythons(ep if isinstance(ep, list) else [])
    try:
        return COMMANDS[args.command](args)
    except _known_errors() as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("generators", "oracles", "backends", "fuzz"):
            print(f"{prog}: error: {e.name} is not available ({e})", file=sys.stderr)
            return EXIT_FAIL
        raise
    except (ImportError, AttributeError) as e:
        # A sibling package that has not landed its API yet (e.g. generators.generate).
        mod = getattr(e, "name", None) or ""
        if mod.split(".")[0] in ("generators", "oracles", "backends"):
            print(f"{prog}: error: {mod} lacks what tritondiff needs: {e}", file=sys.stderr)
            return EXIT_FAIL
        raise
    except RuntimeError as e:
        if type(e).__name__ in ("EnvError", "WorkerStartError", "ClusterError"):
            print(f"{prog}: error: {e}", file=sys.stderr)
            return EXIT_FAIL
        raise
    except sqlite3.Error as e:  # a store damaged in a way the checks on open cannot see
        print(f"{prog}: error: the store cannot be read ({type(e).__name__}: {e}); restore a copy or "
              "start a new --db", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:  # before a campaign installs its own handler
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

"""The `tritondiff` command line: fuzz, replay, show, findings, stats, backends.

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
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fuzz.options import UsageError, check_seed, parse_backends, parse_weights

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
    f.add_argument("--jobs", "-j", type=_positive_int, default=1, help="pipelines in parallel (default 1)")
    f.add_argument("--weights", help="feature weights: 'feature=w,...' or a JSON file {feature: w}")
    f.add_argument("--exclude", help="comma-separated features never to generate (weight 0)")
    f.add_argument("--timeout", type=_positive_float, default=60.0,
                   help="seconds per case per backend (default 60)")
    f.add_argument("--db", type=Path, help="store file (default runs/<name>.sqlite)")
    f.add_argument("--name", help="campaign name (default <backends>-s<seed>)")
    f.add_argument("--corpus", type=Path, default=Path("corpus"),
                   help="where cases of new findings are saved (default corpus/)")
    f.add_argument("--no-corpus", action="store_true", help="do not save new findings to a corpus")
    f.add_argument("--reduce", action="store_true", help="hand new findings to fuzz.reduce, if present")
    f.add_argument("--env-python", action="append", default=[], metavar="BACKEND=PYTHON",
                   help="run BACKEND in an existing Python (external env, e.g. a GPU box's python3)")
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
    r.add_argument("--json", action="store_true", help="print one JSON report object on stdout")

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

    r.add_argument("--env-python", action="append", default=[], metavar="BACKEND=PYTHON", help=ext_help)
    rd = sub.add_parser("reduce", help="reduce a finding to a minimal kernel with the same signature")
    rd.add_argument("--env-python", action="append", default=[], metavar="BACKEND=PYTHON", help=ext_help)
    rd.add_argument("finding", metavar="FINDING", help="finding id (12 or #12) or a signature prefix")
    rd.add_argument("--db", type=Path, help="store file (default: the only runs/*.sqlite)")
    rd.add_argument("--budget", type=_positive_float, default=120.0, help="seconds (default 120)")
    rd.add_argument("--timeout", type=_positive_float, default=30.0, help="seconds per run of a candidate")
    rd.add_argument("--corpus", type=Path, default=None, help="also save the minimal case in this corpus dir")
    rd.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    su = sub.add_parser("setup", help="install what the named backends need (venvs, Debian packages)")
    su.add_argument("--backends", default="interpreter,cuda,hip,ascend@3.2.0,ascend@3.2.0rc4,ascend@3.2.0rc2",
                    help="backends to prepare (default: every backend the test suite uses)")
    su.add_argument("--system", action="store_true",
                    help="also apt-get install the Debian packages (mlir-19-tools, llvm-19, chromium) as root")

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


def _weights(args: argparse.Namespace) -> dict[str, float] | None:
    known = None
    if args.weights or args.exclude:
        import generators

        known = (list(getattr(generators, "FEATURES", [])) + list(getattr(generators, "KNOBS", []))) or None
    return parse_weights(args.weights, args.exclude, known)


def _env_pythons(items: list[str], backends: list[str]) -> dict[str, dict[str, str]]:
    """`cuda=/usr/bin/python3` -> {"cuda": {"env_python": "/usr/bin/python3"}}."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        name, sep, py = item.partition("=")
        if not sep or not py:
            raise UsageError(f"--env-python {item!r}: expected BACKEND=PYTHON")
        if name not in backends:
            raise UsageError(f"--env-python {item!r}: {name!r} is not one of --backends")
        out[name] = {"env_python": py}
    return out


# ---- commands -----------------------------------------------------------------------------------
def cmd_fuzz(args: argparse.Namespace) -> int:
    from fuzz.campaign import Campaign, CampaignConfig
    from fuzz.summary import render

    backends = parse_backends(args.backends)
    cfg = CampaignConfig(
        backends=backends, seed=check_seed(args.seed),
        cases=args.cases if (args.cases is not None or args.minutes is not None) else 100,
        minutes=args.minutes, jobs=args.jobs, weights=_weights(args), timeout=args.timeout, db=args.db,
        corpus=None if args.no_corpus else args.corpus, name=args.name or "", progress=not args.quiet,
        reduce=args.reduce, backend_opts=_env_pythons(args.env_python, backends))
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
        report = replay(args.paths, backends, args.timeout, args.update)
        if args.json:
            emit_json(out, report)
        else:
            print(render(report, args.verbose), file=out)
    return EXIT_OK if report["ok"] else EXIT_FAIL


def cmd_show(args: argparse.Namespace) -> int:
    from fuzz.store import Store
    from fuzz.triage import render_finding

    with Store(default_db(args.db), create=False) as store:
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
    with Store(default_db(args.db), create=False) as store:
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
        if args.json:
            emit_json(sys.stdout, {"command": "findings", "db": str(store.path),
                                   "findings": [f.to_json() for f in found]})
        else:
            print(render_list(found))
    return EXIT_OK


def cmd_stats(args: argparse.Namespace) -> int:
    if args.generate is None:
        extra = [o for o, v in (("--weights", args.weights), ("--exclude", args.exclude),
                                ("--no-reference", args.no_reference)) if v]
        if extra:
            raise UsageError(f"stats: {', '.join(extra)} only apply with --generate N")
        from fuzz.store import Store
        from fuzz.summary import render, store_summary

        with Store(default_db(args.db), create=False) as store:
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
        backends = st.campaign_config(f.first_campaign).get("backends", [])
    if not f.case_json:
        raise UsageError(f"finding #{f.id} has no stored case to reduce")
    case = KernelCase.from_json(f.case_json)
    from fuzz.reduce import DoesNotReproduce

    try:
        with stdout_to_stderr(args.json):
            res = reduce_finding(case, f, list(backends), args.timeout, args.corpus, db, budget_s=args.budget)
    except DoesNotReproduce as e:
        print(f"tritondiff reduce: finding #{f.id} does not reproduce: {e}", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        emit_json(sys.stdout, {"finding": f.id, "signature": f.signature, "case_id": res.case.case_id,
                               "summary": res.stats.summary(), "before": res.stats.before,
                               "after": res.stats.after, "source": res.case.source})
    else:
        print(res.case.source)
        print(res.stats.summary())
    return EXIT_OK


def cmd_setup(args: argparse.Namespace) -> int:
    """Idempotent: a second run finds everything in place and returns at once."""
    from backends.envs import ensure_env
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
    for n in names:
        cfg = resolve(n)
        py = ensure_env(cfg.env, log=lambda msg: print(msg, file=sys.stderr))
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
            "stats": cmd_stats, "backends": cmd_backends}


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
    _export_env_pythons(getattr(args, "env_python", None) or [])
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
        if type(e).__name__ in ("EnvError", "WorkerStartError"):
            print(f"{prog}: error: {e}", file=sys.stderr)
            return EXIT_FAIL
        raise
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:  # before a campaign installs its own handler
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

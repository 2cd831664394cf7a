"""pytest plugin (entry point `pytest11: tritondiff`): each corpus case is one test item.

    pytest --tritondiff-corpus kernels/ --tritondiff-backends ascend@3.2.0,cuda:sm_90 --junitxml=out.xml

A kernel author's CI gets pass/fail per case, with a stable id (`tritondiff::<kernel>-<case_id>`),
through pytest's own reporting (JUnit XML included). An item passes when every backend gives the
verdict its corpus file expects (kind and signature, as `tritondiff replay` compares them; record
new ones with `tritondiff replay DIR --update`); a backend the file has no verdict for passes
unless it finds something. Without --tritondiff-corpus the plugin adds nothing and imports nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

# Changes (fuzz.replay.CHANGES) that fail an item: anything but the expected verdict, except a
# backend the file names no verdict for that found nothing, or a verdict this host cannot check.
PASSING = ("unchanged", "new-verdict", "not-run")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("tritondiff", "tritondiff corpus cases as test items")
    g.addoption("--tritondiff-corpus", action="append", default=[], metavar="DIR",
                help="corpus directory or file; each case becomes one test item")
    g.addoption("--tritondiff-backends", default=None, metavar="LIST",
                help="comma-separated backends (default: those each file has expected verdicts for)")
    g.addoption("--tritondiff-timeout", type=float, default=60.0, metavar="S",
                help="seconds per case per backend (default 60)")
    g.addoption("--tritondiff-trust-captured", action="store_true",
                help="run captured cases this user's `tritondiff capture` did not sign")


class CorpusItem(pytest.Item):
    """One corpus case, replayed on its backends."""

    def __init__(self, *, entry: Any = None, backends: list[str] | None = None, error: str = "",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry
        self.backends = backends
        self.error = error
        if entry is not None:
            self.user_properties.append(("tritondiff_case", entry.case.case_id))

    def runtest(self) -> None:
        if self.error:
            raise CorpusFailure(self.error)
        from fuzz.replay import _names_for, _replay_entry

        names = _names_for(self.entry, self.backends)
        if not names:
            raise CorpusFailure(f"{self.entry.path}: no expected verdicts and no --tritondiff-backends")
        opened = _session_backends(self.config, names)
        verdicts: list[Any] = []
        _replay_entry(self.entry, names, opened, self.config.getoption("tritondiff_timeout"), False, verdicts, [])
        bad = [v for v in verdicts if v.change not in PASSING]
        if bad:
            raise CorpusFailure("\n".join(
                f"{v.backend}: expected {v.expected['kind'] if v.expected else '-'}, got "
                f"{v.actual['kind'] if v.actual else '-'} ({v.change})"
                + (f"\n  {v.message}" if v.message else "") for v in bad))

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        if isinstance(excinfo.value, CorpusFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return (self.entry.path if self.entry is not None else "corpus"), None, self.name


class CorpusFailure(Exception):
    """A case whose verdicts differ from those its corpus file expects."""


def _session_backends(config: pytest.Config, names: list[str]) -> dict[str, Any]:
    """Backends opened once per session (a worker each), closed at its end."""
    from fuzz.replay import _open

    cache: dict[str, Any] = config.stash.setdefault(_BACKENDS, {})
    for n in names:
        if n not in cache:
            try:
                cache[n] = _open(n, {})
                cache[n].warm()
            except (ValueError, RuntimeError) as e:
                raise CorpusFailure(f"cannot open backend {n}: {e}") from None
    return cache


_BACKENDS = pytest.StashKey[dict]()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[Any]) -> None:
    paths = config.getoption("tritondiff_corpus")
    if not paths:
        return
    from fuzz.corpus import load_corpus
    from fuzz.options import parse_backends

    raw = config.getoption("tritondiff_backends")
    backends = parse_backends(raw) if raw else None
    entries, errors = load_corpus(paths, config.getoption("tritondiff_trust_captured"))
    for e in sorted(entries, key=lambda e: (e.case.kernel_name, e.case.case_id)):
        items.append(CorpusItem.from_parent(session, name=f"tritondiff::{e.case.kernel_name}-{e.case.case_id}",
                                            entry=e, backends=backends))
    for i, err in enumerate(errors):
        items.append(CorpusItem.from_parent(session, name=f"tritondiff::unusable-{i}", error=err))


def pytest_sessionfinish(session: pytest.Session) -> None:
    for b in session.config.stash.get(_BACKENDS, {}).values():
        try:
            b.close()
        except Exception:
            pass

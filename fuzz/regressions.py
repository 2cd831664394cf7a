"""`fuzz --regressions`: keep only what one release of a family gets wrong and another gets right.

Why: a maintainer comparing cuda@3.8.0 with cuda@3.9.0 wants regressions (and fixes), not the
bugs every release shares. A finding of backend B on a case stays a finding only when another
release of B's family ran the same case cleanly; otherwise it is recorded with origin `shared`
(visible in the store and summaries, never a finding). Divergences between releases found by the
cross-backend oracle are kept as they are: they are exactly what this mode looks for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fuzz.records import OutcomeRecord

SHARED = "shared"


def family(backend: str) -> str:
    """Release family of a backend name; the fault doubles are the interpreter."""
    fam = re.split(r"[@:]", backend, maxsplit=1)[0]
    return "interpreter" if fam.startswith("fault-") else fam


def check_backends(backends: Iterable[str]) -> None:
    """--regressions needs two releases of one family; raise ValueError with what is missing."""
    seen: dict[str, set[str]] = {}
    for b in backends:
        seen.setdefault(family(b), set()).add(b)
    if not any(len(v) >= 2 for v in seen.values()):
        raise ValueError("--regressions compares releases: name at least two of one family, "
                         "e.g. cuda@3.8.0,cuda@3.9.0")


def filter_shared(records: list[OutcomeRecord]) -> None:
    """Demote, in place, judge findings that no other release of the family escaped."""
    clean: dict[str, set[str]] = {}
    for r in records:
        if r.origin == "judge" and r.kind == "ok":
            clean.setdefault(family(r.backend), set()).add(r.backend)
    for r in records:
        if r.origin != "judge" or not r.is_finding:
            continue
        others = clean.get(family(r.backend), set()) - {r.backend}
        if not others:
            r.origin = SHARED
            r.message = ("[--regressions: every release of this family that ran the case fails it] "
                         + r.message)

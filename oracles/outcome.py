"""Outcome: an oracle's verdict on one backend's result for one case."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Outcome kinds, from DESIGN.md. `unsupported` and `invalid` are never findings: the first is a
# case outside a backend's profile (or our own lowering's), the second a case the reference
# evaluator refused (undefined behaviour: a generator bug, counted against validity).
# `metamorphic`: two equivalent forms of one kernel disagree on one backend (oracles.metamorphic).
KINDS = ("ok", "crash", "internal-error", "rejects-valid", "miscompile", "oob-write", "oob-read",
         "timeout", "metamorphic", "unsupported", "invalid")
FINDING_KINDS = frozenset({"crash", "internal-error", "rejects-valid", "miscompile", "oob-write",
                           "oob-read", "timeout", "metamorphic"})


@dataclass
class Outcome:
    backend: str
    kind: str
    stage: str = ""
    message: str = ""
    signature: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_finding(self) -> bool:
        return self.kind in FINDING_KINDS

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "kind": self.kind, "stage": self.stage,
                "message": self.message, "signature": self.signature, "details": self.details}

"""Plain records that flow from a campaign pipeline into the store.

They are the pipeline's whole answer for one case, so the store can write a case, its outcomes and
its findings in one transaction without knowing about generators, backends or oracles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class OutcomeRecord:
    """One verdict: from `judge` (one backend), the cross-backend vote or a metamorphic variant."""

    backend: str
    kind: str
    stage: str = ""
    signature: str = ""
    message: str = ""
    compile_s: float = 0.0
    run_s: float = 0.0
    wall_s: float = 0.0
    launch_s: float = 0.0
    # "judge" | "cross" | "metamorphic" | "harness" (tritondiff itself failed) | "shared" (--regressions:
    # a failure every release of the family shares, kept but not a finding)
    origin: str = "judge"
    relation: str = ""  # metamorphic records: the relation of the variant (not stored in SQL)

    @property
    def is_finding(self) -> bool:
        from oracles.outcome import FINDING_KINDS

        return self.kind in FINDING_KINDS and self.origin not in ("harness", "shared")


@dataclass
class CaseRecord:
    """Everything a campaign learned about one case index."""

    campaign: int
    index: int
    seed: int
    case_id: str = ""
    features: list[str] = field(default_factory=list)
    valid: bool = True
    reason: str = ""  # why invalid (UndefinedBehaviour), or why no reference was available
    outcomes: list[OutcomeRecord] = field(default_factory=list)
    case_json: dict[str, Any] | None = None  # kept by the store only when the case has a finding
    outputs_summary: dict[str, Any] | None = None  # per-backend outputs, for findings only
    gen_s: float = 0.0
    ref_s: float = 0.0
    backend_s: float = 0.0  # time inside Backend.run calls
    judge_s: float = 0.0
    # Lines of each backend's own Python first run by this case's worker: {backend: {file: [lines]}}
    coverage: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    elapsed_s: float = 0.0  # campaign time when the case was committed (the coverage time axis)
    guided_input: bytes | None = None  # --guided: the libFuzzer input the kernel was generated from

    def findings(self) -> list[OutcomeRecord]:
        """Finding outcomes, one per signature (a case counts once per signature)."""
        seen: dict[str, OutcomeRecord] = {}
        for o in self.outcomes:
            if o.is_finding and o.signature not in seen:
                seen[o.signature] = o
        return list(seen.values())

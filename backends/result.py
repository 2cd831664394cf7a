"""RunResult: what the orchestrator learns from one backend about one case."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class RunResult:
    """Raw result of running a case on a backend, before any oracle judged it.

    status: "ok" (compiled, and executed if the backend executes), "error" (the backend raised at
    `stage`), "crash" (the worker died: `signal` or exit code), "timeout", "unsupported" (outside
    the backend's or our pipeline's profile: never a finding), "harness" (tritondiff could not run it:
    a worker killed from outside or by the OOM killer twice, its memory limit; never a finding).
    """

    backend: str
    status: str
    stage: str = ""
    exc_type: str = ""
    message: str = ""
    traceback: str = ""
    stderr_tail: str = ""
    signal: int | None = None
    exit_code: int | None = None
    executed: bool = False
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # padded: guard + data + guard
    compile_s: float = 0.0
    launch_s: float = 0.0  # loading the binary and starting the kernel (GPU runs)
    run_s: float = 0.0
    wall_s: float = 0.0
    artifacts: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    launcher: str = ""  # GPU runs: "direct" (tritondiff's generic launcher) or "triton: why"
    # Lines of the backend's own Python (triton) this worker ran for the first time: {path: lines};
    # empty when the case was not sampled for coverage (backends.line_coverage).
    coverage: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "outputs"}
        return d

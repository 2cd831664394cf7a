"""The live progress line of a campaign, on stderr, rate-limited so it never costs throughput."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts of this session plus a one-line rendering: `\\r`-updated on a terminal, else periodic."""

    def __init__(self, backends: list[str], total: int | None, done_before: int = 0,
                 findings_before: int = 0, stream: TextIO | None = None, enabled: bool = True,
                 tty_interval: float = 0.25, log_interval: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.interval = tty_interval if self.tty else log_interval
        self.backends = backends
        self.total = total
        self.done_before = done_before
        self.cases = 0
        self.invalid = 0
        self.harness = 0
        self.ok = {b: 0 for b in backends}
        self.findings = findings_before
        self.new_findings = 0
        self.start = time.monotonic()
        self._last = 0.0
        self._width = 0

    def add(self, valid: bool, ok_backends: list[str], harness: int, new_findings: int,
            campaign_findings: int) -> None:
        self.cases += 1
        self.invalid += 0 if valid else 1
        self.harness += harness
        for b in ok_backends:
            if b in self.ok:
                self.ok[b] += 1
        self.new_findings += new_findings
        self.findings = campaign_findings
        self.maybe_print()

    def rate(self) -> float:
        dt = time.monotonic() - self.start
        return self.cases / dt if dt > 0 else 0.0

    def line(self) -> str:
        done = self.done_before + self.cases
        total = f"/{self.total}" if self.total is not None else ""
        inv = 100.0 * self.invalid / self.cases if self.cases else 0.0
        oks = " ".join(f"{b}:{n}" for b, n in self.ok.items())
        harness = f"  harness-errors {self.harness}" if self.harness else ""
        return (f"[{done}{total}] {self.rate():.1f} kernels/s  invalid {inv:.1f}%  findings {self.findings}"
                f" ({self.new_findings} new)  ok {oks}{harness}")

    def maybe_print(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = self.line()
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A message that must not be overwritten by the progress line."""
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.maybe_print(force=True)
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()
                self._width = 0

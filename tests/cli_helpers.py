"""Running the CLI in-process from tests: exit code, stdout and stderr."""

from __future__ import annotations

import pytest

from fuzz.cli import main


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = int(e.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err

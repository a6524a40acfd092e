"""`sensorpoll check` over the case folders tests/cases/modbus_*/: config.yaml with either
expected.err (invalid: exit 78, exactly these problems) or expected.out (valid: this report).
A new case is a folder, not code."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorpoll.cli import EXIT_CONFIG, EXIT_OK, main

CASES = sorted((Path(__file__).parents[2] / "cases").glob("modbus_*"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check(case, capsys, monkeypatch):
    monkeypatch.chdir(case)
    code = main(["check", "-c", "config.yaml"])
    out, err = capsys.readouterr()
    if (case / "expected.err").exists():
        assert (code, err) == (EXIT_CONFIG, (case / "expected.err").read_text())
    else:
        assert (code, out) == (EXIT_OK, (case / "expected.out").read_text())

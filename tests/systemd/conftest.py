"""Figures the real-systemd tests measure (boot, stop time, exposure), printed after the run so
CI's log records them."""

from __future__ import annotations

import pytest

FIGURES: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("measured under a real systemd")
        for name, figure in FIGURES.items():
            terminalreporter.write_line(f"{name}: {figure}")

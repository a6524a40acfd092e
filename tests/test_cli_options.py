"""Command-line details a user notices: where options may go, help everywhere, no output said
twice, counts worded right."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from sensorpoll.cli import build_parser
from sensorpoll.daemon.service import status_line
from tests.export.helpers import make_cycle

FAILING = """
devices:
  - {name: dead, driver: simulated, faults: {error_rate: 1}, fields: [{name: x, value: 1}]}
"""


def run(cmd: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    path = tmp_path / "failing.yaml"
    path.write_text(FAILING)
    return path


def _parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"sensorpoll": parser, **commands.choices}


def test_every_command_and_option_has_help_text() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert {c.dest: bool(c.help) for c in commands._choices_actions} == dict.fromkeys(
        commands.choices, True
    )
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, command in _parsers(parser).items()
        for action in command._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_go_before_or_after_the_command(
    sensorpoll_cmd: list[str], failing: Path, where: str
) -> None:
    options = ["--log-level", "error"]
    command = ["once", "-v", "-c", str(failing)]
    args = [*options, *command] if where == "before" else [*command, *options]
    quiet = run(sensorpoll_cmd, *args)
    loud = run(sensorpoll_cmd, *command)
    assert (quiet.returncode, loud.returncode) == (1, 1)
    assert "dead is down" in loud.stderr
    assert quiet.stderr == ""


def test_verbose_goes_before_the_command_too(sensorpoll_cmd: list[str], failing: Path) -> None:
    proc = run(sensorpoll_cmd, "-v", "once", "-c", str(failing))
    assert "device dead is down: io: simulated fault" in proc.stderr


def test_once_does_not_log_the_failures_its_table_shows(
    sensorpoll_cmd: list[str], failing: Path
) -> None:
    proc = run(sensorpoll_cmd, "once", "-c", str(failing))
    assert proc.returncode == 1
    assert "io: simulated fault" in proc.stdout
    assert proc.stderr == ""


def test_one_device_is_counted_as_one_device(sensorpoll_cmd: list[str], failing: Path) -> None:
    check = run(sensorpoll_cmd, "check", "-c", str(failing))
    once = run(sensorpoll_cmd, "once", "-c", str(failing))
    assert "\n1 device:\n" in check.stdout
    assert once.stdout.splitlines()[-1].startswith("cycle 1: 1 device, 0 ok, 1 failed, ")


def test_the_systemd_status_line_words_one_device_for_one() -> None:
    cycle = make_cycle(1, {"tank": {"level": 1.0}}, duration_s=0.012)
    assert status_line(cycle) == "1 device, 1 up, last cycle 12 ms"


def test_a_command_without_modbus_devices_does_not_import_pymodbus(failing: Path) -> None:
    script = f"""\
import contextlib, io, sys
from sensorpoll.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["check", "-c", {str(failing)!r}])
print("pymodbus" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.stdout.split() == ["False"], result.stderr

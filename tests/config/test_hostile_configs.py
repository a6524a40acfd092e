"""Configs that used to hang or crash `sensorpoll check`: each is a config error now (exit
78, the problem named, no traceback), answered about as fast as a valid file is."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sensorpoll.config import ConfigError, DeviceConfig, load_settings
from sensorpoll.drivers import registry

REPO = Path(__file__).resolve().parents[2]
DEVICE = "devices:\n  - {name: a, driver: simulated, fields: [{name: x, value: 1}]}\n"


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": each level nine aliases of the one before, 9**9 values in all."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]")
    return "\n".join(
        [
            "devices:",
            "  - name: a",
            "    driver: simulated",
            "    fields: [{name: x, value: 1}]",
            "    labels:",
            *(f"      {line}" for line in lines),
        ]
    )


HOSTILE = {
    "alias_bomb": (alias_bomb(), "with its aliases expanded the file holds more than"),
    "timestamp_tag": (
        DEVICE.replace("value: 1}", "value: !!timestamp 2026-03-01}"),
        "unsupported tag !!timestamp",
    ),
    "bool_tag": (DEVICE.replace("value: 1}", "value: !!bool yes}"), "!!bool 'yes'"),
    "unclosed_env_run": (  # 40 KB of ${ without a closing brace
        DEVICE.replace("fields:", 'labels: {room: "' + "${" * 20_000 + '"}, fields:'),
        "${ without a closing }",
    ),
    "tiny_interval": ("interval: 1e-9\n" + DEVICE, "interval: 1e-09s is outside 10ms .. 24h"),
    "huge_interval": ("interval: 1e300\n" + DEVICE, "interval: 1e+300s is longer than a week"),
    "deep_nesting": (
        DEVICE.replace("value: 1}", "value: " + "[" * 200 + "]" * 200 + "}"),
        "nested deeper than 64 levels",
    ),
}


def check(path: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "sensorpoll", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,  # only so a hang fails the test instead of stalling the suite
    )
    return done, time.monotonic() - start


@pytest.fixture(scope="module")
def valid_check_time() -> float:
    """How long `check` of the demo config takes here, now: the baseline of this module."""
    done, elapsed = check(REPO / "config" / "demo.yaml")
    assert done.returncode == 0, done.stderr
    return elapsed


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_config_is_a_config_error_as_fast_as_a_valid_one(
    name: str, tmp_path: Path, valid_check_time: float
) -> None:
    text, problem = HOSTILE[name]
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    done, elapsed = check(path)
    assert done.returncode == 78, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert problem in done.stderr
    assert elapsed < 3 * valid_check_time, f"{elapsed:.2f}s against {valid_check_time:.2f}s"


def test_a_file_larger_than_any_config_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(DEVICE + "#" * (5 * 1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="larger than 4 MiB: not a config"):
        load_settings(path, registry.config_model)


def test_an_endless_device_as_config_is_refused() -> None:
    with pytest.raises(ConfigError, match="/dev/zero: larger than 4 MiB"):
        load_settings("/dev/zero", registry.config_model)


def test_a_file_that_changes_while_it_is_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(DEVICE)

    def models_while_a_writer_goes_on(driver: str) -> type[DeviceConfig]:
        with path.open("a") as file:  # an editor still writing the file as we validate it
            file.write("  - {name: b, driver: simulated, fields: [{name: x, value: 2}]}\n")
        return registry.config_model(driver)

    with pytest.raises(ConfigError, match="changed while it was read; write the new file"):
        load_settings(path, models_while_a_writer_goes_on)

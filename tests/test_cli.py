"""The commands as a user runs them: separate processes, exit codes, output shapes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "config" / "demo.yaml"
CASES = Path(__file__).parent / "cases"

GOOD = """
interval: 200ms
timeout: 100ms
devices:
  - name: tank
    driver: simulated
    fields:
      - {name: level, unit: percent, value: 42.5}
      - {name: valve_open, value: true}
  - name: pump
    driver: simulated
    latency: 5ms
    fields: [{name: speed, unit: rpm, waveform: sine, min: 100, max: 200, period: 10s}]
"""


def run(cmd: list[str], *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload,no-any-return]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    return path


def test_once_json_prints_the_cycle_in_config_order_and_exits_0(
    sensorpoll_cmd: list[str], good: Path
) -> None:
    proc = run(sensorpoll_cmd, "once", "-c", str(good), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    cycle = json.loads(proc.stdout)
    assert set(cycle) == {"cycle", "started", "duration_s", "devices"}
    assert [d["device"] for d in cycle["devices"]] == ["tank", "pump"]
    assert cycle["devices"][0] == {
        "device": "tank",
        "ok": True,
        "error": None,
        "duration_s": cycle["devices"][0]["duration_s"],
        "values": {"level": 42.5, "valve_open": True},
    }
    assert cycle["started"].endswith("Z")


def test_once_exits_1_when_a_device_fails(sensorpoll_cmd: list[str]) -> None:
    proc = run(
        sensorpoll_cmd,
        "once",
        "-c",
        str(CASES / "constants_and_faults" / "config.yaml"),
        env={"SENSORPOLL_CASE_SUFFIX": "x", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["DEVICE", "OK", "DURATION", "VALUES", "ERROR"]
    hung = next(line for line in lines if line.startswith("hung"))
    assert " NO " in hung
    assert "timeout" in hung
    assert lines[-1].startswith("cycle 1: 4 devices, 2 ok, 2 failed")


def test_once_table_aligns_columns(sensorpoll_cmd: list[str], good: Path) -> None:
    proc = run(sensorpoll_cmd, "once", "-c", str(good))
    assert proc.returncode == 0
    header, tank, pump = proc.stdout.splitlines()[:3]
    column = header.index("VALUES")
    assert tank[column:].startswith("level=42.5 percent, valve_open=true")
    assert pump[column:].startswith("speed=")


def test_check_lists_devices_and_fields(sensorpoll_cmd: list[str], good: Path) -> None:
    proc = run(sensorpoll_cmd, "check", "-c", str(good))
    assert proc.returncode == 0, proc.stderr
    assert "2 devices:" in proc.stdout
    assert "    level [percent] number" in proc.stdout
    assert "    valve_open bool" in proc.stdout


def test_bad_config_exits_78_without_traceback(sensorpoll_cmd: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "interval: 1s\ndevices:\n  - {name: a, driver: simulated, fields: [{name: x}]}\n"
    )
    for command in ("check", "once", "run"):
        proc = run(sensorpoll_cmd, command, "-c", str(bad))
        assert proc.returncode == 78, (command, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert f"{bad}:3: devices[0].fields[0]: give exactly one of" in proc.stderr


def test_missing_config_file_exits_78(sensorpoll_cmd: list[str], tmp_path: Path) -> None:
    proc = run(sensorpoll_cmd, "check", "-c", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 78
    assert proc.stderr.startswith(f"{tmp_path / 'nope.yaml'}: no such file")


def test_the_default_config_path_is_etc_sensorpoll(sensorpoll_cmd: list[str]) -> None:
    proc = run(sensorpoll_cmd, "check")
    assert proc.returncode == 78
    assert "/etc/sensorpoll/config.yaml" in proc.stderr


@pytest.mark.parametrize(
    "args", [["frobnicate"], ["once", "--format", "xml"], ["run", "--listen", "nowhere"], []]
)
def test_usage_errors_exit_2(sensorpoll_cmd: list[str], args: list[str]) -> None:
    assert run(sensorpoll_cmd, *args).returncode == 2


@pytest.mark.parametrize("command", ["run", "check", "once", "schema"])
def test_every_command_has_help(sensorpoll_cmd: list[str], command: str) -> None:
    proc = run(sensorpoll_cmd, command, "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: sensorpoll " + command)


def test_schema_is_json_schema_of_every_driver(sensorpoll_cmd: list[str]) -> None:
    proc = run(sensorpoll_cmd, "schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert "SimulatedConfig" in schema["$defs"]
    assert {"interval", "timeout", "http", "metrics", "sinks", "devices"} <= set(
        schema["properties"]
    )


def test_demo_config_is_valid_and_has_six_kinds_of_devices(sensorpoll_cmd: list[str]) -> None:
    proc = run(sensorpoll_cmd, "check", "-c", str(DEMO))
    assert proc.returncode == 0, proc.stderr
    import yaml

    devices = yaml.safe_load(DEMO.read_text())["devices"]
    assert len(devices) >= 6
    waveforms = {f.get("waveform") for d in devices for f in d["fields"]} - {None}
    assert waveforms == {"sine", "ramp", "square", "random_walk"}
    assert any("faults" in d for d in devices)


def test_run_serves_metrics_and_exits_0_on_sigterm(
    sensorpoll_cmd: list[str], good: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "readings.jsonl"
    good.write_text(GOOD + f"sinks:\n  - {{type: jsonl, path: {log}}}\n")
    proc = subprocess.Popen(
        [*sensorpoll_cmd, "run", "-c", str(good), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = ""
        deadline = time.monotonic() + 15
        while "sensorpoll_cycles_total" not in body or " 0\n" in body.split("cycles_total")[-1]:
            assert time.monotonic() < deadline, "no metrics within 15 s"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.1)
                continue
            if 'sensorpoll_device_up{device="pump"} 1' in body:
                break
            time.sleep(0.1)
        assert 'sensorpoll_device_up{device="tank"} 1' in body
        assert 'sensorpoll_device_up{device="pump"} 1' in body
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    lines = log.read_text().splitlines()
    assert [json.loads(line)["cycle"] for line in lines] == list(range(1, len(lines) + 1))


FAILING = """
devices:
  - {name: dead, driver: simulated, faults: {error_rate: 1}, fields: [{name: x, value: 1}]}
"""


def test_logs_have_no_timestamps_under_journald(sensorpoll_cmd: list[str], tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(FAILING)
    plain = run(sensorpoll_cmd, "once", "-v", "-c", str(path))
    assert plain.stderr.splitlines()[0][:2] == "20"  # 2026-11-24 19:00:00,123 WARNING ...
    # journald is recognised as systemd.exec(5) says: JOURNAL_STREAM names stderr's dev:inode
    log = tmp_path / "journal"
    with log.open("w") as stderr:
        stat = os.fstat(stderr.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        subprocess.run(
            [*sensorpoll_cmd, "once", "-v", "-c", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            timeout=60,
            check=False,
        )
    first = log.read_text().splitlines()[0]
    assert first == "<4>WARNING sensorpoll.poll: device dead is down: io: simulated fault"


ONE_DEVICE = "devices: [{name: a, driver: simulated, fields: [{name: x, value: 1}]}]\n"


def test_config_errors_under_journald_are_each_at_priority_err(
    sensorpoll_cmd: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"interval: soon\ncolour: blue\n{ONE_DEVICE}")
    log = tmp_path / "journal"
    with log.open("w") as stderr:
        stat = os.fstat(stderr.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
        result = subprocess.run(
            [*sensorpoll_cmd, "run", "-c", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            timeout=60,
            check=False,
        )
    assert result.returncode == 78
    lines = log.read_text().splitlines()
    assert len(lines) == 3, lines
    assert all(line.startswith("<3>") for line in lines), lines
    assert lines[0].startswith(f"<3>{path}:1: interval: ")
    assert lines[1] == f"<3>{path}:2: colour: unknown key"
    assert lines[-1] == "<3>configuration invalid: 2 problems"


def test_config_errors_on_a_terminal_have_no_priority_prefix(
    sensorpoll_cmd: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"colour: blue\n{ONE_DEVICE}")
    result = run(sensorpoll_cmd, "check", "-c", str(path))
    assert result.returncode == 78
    assert result.stderr.splitlines() == [
        f"{path}:1: colour: unknown key",
        "configuration invalid: 1 problem",
    ]


def test_log_level_filters_what_is_logged(sensorpoll_cmd: list[str], tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(FAILING)
    quiet = run(sensorpoll_cmd, "once", "-c", str(path), "--log-level", "error")
    assert quiet.returncode == 1
    assert quiet.stderr == ""


def test_once_into_a_pipe_closed_early_keeps_its_exit_code(
    sensorpoll_cmd: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "many.yaml"
    devices = "".join(
        f"  - {{name: d{i}, driver: simulated, fields: [{{name: x, value: {i}}}]}}\n"
        for i in range(2000)  # ~300 KB of JSON: more than a pipe's buffer holds
    )
    path.write_text("devices:\n" + devices)
    proc = subprocess.Popen(
        [*sensorpoll_cmd, "once", "-c", str(path), "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.readline() == "{\n"
    proc.stdout.close()  # like `| head -1`: the output is far larger than the pipe's buffer
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in err

"""systemd/sensorpoll.service under a real systemd: a Debian machine booted by systemd-nspawn
(tests/systemd/container.py) with systemd as PID 1, sensorpoll installed from this tree into
/opt/sensorpoll/venv and the unit file copied in unchanged, as docs/deploy.md installs them.
Each test starts from a stopped unit and checks one promise of the unit (its comments and
docs/deploy.md) as systemd itself reports it.

Needs root, debootstrap and systemd-nspawn (Debian's systemd-container). The first run builds
the machine's root file system and caches it (a couple of minutes); later runs boot it in
seconds. Not part of a plain `pytest` run: `pytest -m real_systemd tests/systemd` runs it
(as .ci/run does), and under CI=true a missing tool or missing root fails it.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from tests.conftest import free_port, require_tool
from tests.daemon.harness import simulated
from tests.systemd.conftest import FIGURES
from tests.systemd.container import (
    VENV,
    WHEELS,
    Machine,
    build_sensorpoll_wheel,
    ensure_rootfs,
)
from tests.systemd.unitfile import UNIT, service

# The first test waits for the machine: a cold cache builds its root file system.
pytestmark = [pytest.mark.real_systemd, pytest.mark.timeout(1200)]

SERVICE = "sensorpoll.service"
CONFIG = "/etc/sensorpoll/config.yaml"
SINK = "/var/lib/sensorpoll/readings.jsonl"
DROP_INS = "/run/systemd/system/sensorpoll.service.d"
SUCCESSFUL = "sensorpoll_config_last_reload_successful"
TIMESTAMP = "sensorpoll_config_last_reload_success_timestamp_seconds"
ERR = 3  # syslog priority err
DYNAMIC_UIDS = range(61184, 65520)  # systemd's range for DynamicUser=
MAX_EXPOSURE = 1.5
MAX_STOP_SECONDS = 3.0  # the unit promises a stop within 2 s; 3 s is the bound it must keep
INVALID = """\
interval: 500ms
devices:
  - {name: a, driver: simulated, colour: blue, fields: [{name: x, value: 1}]}
"""
INVALID_PROBLEM = f"{CONFIG}:3: devices[0].colour: unknown key"

T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """The first truthy value of `condition()`, polled until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        time.sleep(0.2)


def require_root() -> None:
    if os.geteuid() != 0:
        message = "booting a container needs root"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}, and CI must run this test")
        pytest.skip(message)


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    require_root()
    for tool in ("debootstrap", "systemd-nspawn", "nsenter"):
        require_tool(tool)
    work = tmp_path_factory.mktemp("machine")
    began = time.monotonic()
    wheel = build_sensorpoll_wheel(work / "wheels")
    root = ensure_rootfs(work, work / "build.log")
    built = time.monotonic()
    booted = Machine(root, [(work / "wheels", WHEELS)], work / "console.log")
    try:
        booted.run(
            f"{VENV}/bin/pip", "install", "-q", "--no-index", "--no-deps", f"{WHEELS}/{wheel.name}"
        )
        booted.path(f"/etc/systemd/system/{SERVICE}").write_text(UNIT.read_text())
        booted.run("install", "-d", "-m", "0755", "/etc/sensorpoll")
        booted.run("systemctl", "daemon-reload")
        # enabled as deployed: it also keeps systemd from unloading the stopped unit, and with
        # it the exit status and timestamps the tests read
        booted.run("systemctl", "enable", SERVICE)
        FIGURES["machine"] = (
            f"root file system ready in {built - began:.0f} s (cache {root.name}), "
            f"booted with sensorpoll installed in {time.monotonic() - built:.0f} s"
        )
        yield booted
    finally:
        booted.shutdown()


class Unit:
    """sensorpoll.service in the machine, and the daemon's HTTP (the machine shares the host's
    network, so its port is one the host found free)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.port = free_port()

    def write_config(
        self, devices: list[dict[str, Any]], interval: str = "500ms", **top: Any
    ) -> None:
        config = {
            "interval": interval,
            "http": {"listen": f"127.0.0.1:{self.port}"},
            "sinks": [{"type": "jsonl", "path": SINK}],
            "devices": devices,
            **top,
        }
        self.write_raw_config(json.dumps(config, indent=2) + "\n")  # JSON is YAML

    def write_raw_config(self, text: str) -> None:
        path = self.machine.path(CONFIG)
        path.write_text(text)
        path.chmod(0o644)  # whatever the umask: the dynamic user reads it as "other"

    def systemctl(self, *args: str, check: bool = True) -> Any:
        return self.machine.run("systemctl", "--no-pager", *args, check=check)

    def show(self, *properties: str, unit: str = SERVICE) -> dict[str, str]:
        output = self.systemctl("show", unit, f"--property={','.join(properties)}").stdout
        return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)

    def main_pid(self) -> int:
        return int(self.show("MainPID")["MainPID"])

    def request(self, path: str) -> tuple[int, bytes] | None:
        """(status, body) of a GET, None while nothing listens."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError:
            return None

    def cycle(self) -> dict[str, Any] | None:
        answer = self.request("/api/v1/cycle")
        if answer is None or answer[0] != 200:
            return None
        cycle: dict[str, Any] = json.loads(answer[1])
        return cycle

    def metrics(self) -> dict[str, float]:
        """The unlabelled samples of /metrics, by name (empty while there are none)."""
        answer = self.request("/metrics")
        if answer is None or answer[0] != 200:
            return {}
        samples = {}
        for line in answer[1].decode().splitlines():
            name, _, value = line.partition(" ")
            if line and not line.startswith("#") and "{" not in name:
                samples[name] = float(value)
        return samples

    def cursor(self) -> str:
        """Where the journal ends now: later reads see only what comes after."""
        newest = self.machine.run("journalctl", "--quiet", "--lines=1", "--output=json").stdout
        cursor: str = json.loads(newest)["__CURSOR"]
        return cursor

    def journal(self, after: str, priority: int = 7) -> list[str]:
        """The unit's messages since `after` (its own and systemd's about it), of `priority`
        or more urgent (3 is err). Filtered here, not by journalctl: journalctl 252 with a
        match and --after-cursor skips the first matching entry."""
        command = ["journalctl", "--no-pager", "--quiet", "--output=json"]
        output = self.machine.run(*command, f"--after-cursor={after}").stdout
        messages = []
        for line in output.splitlines():
            entry = json.loads(line)
            if SERVICE not in (entry.get("_SYSTEMD_UNIT"), entry.get("UNIT")):
                continue
            if int(entry.get("PRIORITY", 6)) > priority:
                continue
            message = entry.get("MESSAGE", "")
            if isinstance(message, list):  # journald's JSON for bytes that are not UTF-8
                message = bytes(message).decode(errors="replace")
            messages.append(message)
        return messages

    def wait_for_journal(
        self, after: str, text: str, priority: int = 7, timeout: float = 30.0
    ) -> list[str]:
        """The journal since `after`, once a line of it contains `text` (journald takes a
        moment to store what a service wrote)."""
        return wait_until(
            lambda: (
                (lines := self.journal(after, priority)) and any(text in x for x in lines) and lines
            ),
            f"{text!r} in the journal at priority {priority}",
            timeout,
        )

    def start_polling(self, devices: list[dict[str, Any]], **config: Any) -> dict[str, Any]:
        """Start the unit with these devices; the first cycle it serves."""
        self.write_config(devices, **config)
        self.systemctl("start", SERVICE)
        return wait_until(self.cycle, "a first cycle on /api/v1/cycle")


@pytest.fixture
def unit(machine: Machine) -> Iterator[Unit]:
    """The unit stopped, its failure state and any test drop-in gone, a fresh sink."""

    def reset() -> None:
        machine.run("systemctl", "stop", SERVICE)
        machine.run("systemctl", "reset-failed", SERVICE, check=False)
        if machine.path(DROP_INS).exists():
            machine.run("rm", "-rf", DROP_INS)
            machine.run("systemctl", "daemon-reload")
        machine.run("rm", "-f", "/var/lib/private/sensorpoll/readings.jsonl")

    reset()
    yield Unit(machine)
    reset()


def test_start_returns_once_ready_with_http_already_listening(unit: Unit) -> None:
    unit.write_config([simulated("a")])
    unit.systemctl("start", SERVICE)  # Type=notify: returns once READY=1 has arrived
    # asked at once, no retry: under Type=simple start returns before Python has even
    # imported its modules; the daemon sends READY=1 only after its port listens
    assert unit.request("/healthz") is not None, "active, but HTTP is not listening yet"
    state = unit.show("Type", "ActiveState", "SubState", "StatusText")
    assert state["Type"] == "notify"
    assert (state["ActiveState"], state["SubState"]) == ("active", "running")
    assert state["StatusText"], "no STATUS= sent with READY=1"


def test_status_shows_devices_up_and_the_last_cycle(unit: Unit) -> None:
    unit.start_polling([simulated("a"), simulated("dead", faults={"error_rate": 1})])
    pattern = re.compile(r"^2 devices, 1 up, last cycle \d+ ms$")
    wait_until(
        lambda: pattern.match(unit.show("StatusText")["StatusText"]),
        f"StatusText matching {pattern.pattern}",
    )


def test_runs_as_a_dynamic_user_that_owns_only_its_state_directory(unit: Unit) -> None:
    unit.start_polling([simulated("a")])
    status = unit.machine.run("cat", f"/proc/{unit.main_pid()}/status").stdout
    uid = int(re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert uid in DYNAMIC_UIDS
    assert "\nsensorpoll:" not in unit.machine.path("/etc/passwd").read_text()

    def owner(path: str) -> int:
        return int(unit.machine.run("stat", "--format=%u", path).stdout)

    # StateDirectory= with DynamicUser=: the real directory is under /var/lib/private
    state = unit.machine.path("/var/lib/sensorpoll")
    assert os.readlink(state) == "private/sensorpoll"
    assert owner("/var/lib/private/sensorpoll") == uid
    wait_until(lambda: unit.machine.path(SINK).exists(), "the jsonl sink written")
    assert owner("/var/lib/private/sensorpoll/readings.jsonl") == uid
    # ConfigurationDirectory= is the administrator's: root's, not the service's
    assert owner("/etc/sensorpoll") == 0


def test_daemon_runs_with_the_units_fd_limit_not_selects_1024(unit: Unit) -> None:
    unit.start_polling([simulated("a")])

    def open_files(pid: str) -> tuple[int, int]:
        limits = unit.machine.run("cat", f"/proc/{pid}/limits").stdout
        found = re.search(r"^Max open files\s+(\d+)\s+(\d+)", limits, re.MULTILINE)
        assert found, limits
        return int(found.group(1)), int(found.group(2))

    (configured,) = service("LimitNOFILE")
    # systemd cannot raise it past its own hard limit (a container's may be lower)
    expected = min(int(configured), open_files("1")[1])
    assert expected > 1024
    assert open_files(str(unit.main_pid())) == (expected, expected)


def test_etc_sensorpoll_is_read_only_inside_the_unit(unit: Unit) -> None:
    unit.start_polling([simulated("a")])
    pid = str(unit.main_pid())

    def touch_in_the_units_mounts(path: str) -> Any:
        # as root, in the daemon's own mount namespace: file modes do not stop root, only a
        # read-only mount does
        return unit.machine.run("nsenter", f"--target={pid}", "--mount", "touch", path, check=False)

    refused = touch_in_the_units_mounts("/etc/sensorpoll/written-from-the-unit")
    assert refused.returncode != 0, "/etc/sensorpoll is writable inside the unit"
    assert "Read-only file system" in refused.stderr
    allowed = touch_in_the_units_mounts("/var/lib/sensorpoll/written-from-the-unit")
    assert allowed.returncode == 0, allowed.stderr  # the one writable place stays writable
    unit.machine.run("rm", "/var/lib/private/sensorpoll/written-from-the-unit")


def test_good_reload_is_applied_by_the_same_process(unit: Unit) -> None:
    unit.start_polling([simulated("a")])
    pid = unit.main_pid()
    started = wait_until(lambda: unit.metrics().get(TIMESTAMP), "the reload timestamp")
    unit.write_config([simulated("a"), simulated("b")])
    # reload returns once SIGHUP is sent (no notify-reload before systemd 253): the metric
    # says when the new config has been applied
    unit.systemctl("reload", SERVICE)
    applied = wait_until(
        lambda: (m := unit.metrics()).get(TIMESTAMP, 0) > started and m,
        "a later successful reload in /metrics",
    )
    assert applied[SUCCESSFUL] == 1
    wait_until(
        lambda: (c := unit.cycle()) and [d["device"] for d in c["devices"]] == ["a", "b"],
        "a cycle of the new config",
    )
    assert unit.main_pid() == pid
    assert unit.show("NRestarts")["NRestarts"] == "0"


def test_broken_reload_is_refused_and_the_old_config_keeps_polling(unit: Unit) -> None:
    first = unit.start_polling([simulated("a"), simulated("b")])
    pid = unit.main_pid()
    after = unit.cursor()
    unit.write_raw_config(INVALID)
    unit.systemctl("reload", SERVICE)
    wait_until(lambda: unit.metrics().get(SUCCESSFUL) == 0, "the refusal in /metrics")
    later = wait_until(
        lambda: (c := unit.cycle()) and c["cycle"] > first["cycle"] + 1 and c,
        "cycles after the refused reload",
    )
    assert [d["device"] for d in later["devices"]] == ["a", "b"]
    assert unit.main_pid() == pid
    assert unit.show("ActiveState")["ActiveState"] == "active"
    errors = unit.wait_for_journal(after, "reload refused", priority=ERR)
    assert INVALID_PROBLEM in errors


def test_watchdog_restarts_a_daemon_that_stopped_running(unit: Unit) -> None:
    # the unit's 30 s watchdog, shortened for the test: the mechanism is the unit's own
    # (WatchdogSec= + Restart=on-failure) and the daemon's pings, only the wait is shorter
    unit.machine.run("mkdir", "-p", DROP_INS)
    unit.machine.path(f"{DROP_INS}/watchdog.conf").write_text("[Service]\nWatchdogSec=3s\n")
    unit.systemctl("daemon-reload")
    unit.start_polling([simulated("a")])
    pid = unit.main_pid()
    after = unit.cursor()
    unit.systemctl("kill", "--kill-who=main", "--signal=SIGSTOP", SERVICE)  # no more pings
    wait_until(
        lambda: (
            (s := unit.show("MainPID", "ActiveState"))["ActiveState"] == "active"
            and int(s["MainPID"]) not in (0, pid)
        ),
        "a new main process after the watchdog fired",
        timeout=60,
    )
    assert unit.show("NRestarts")["NRestarts"] == "1"
    unit.wait_for_journal(after, "Watchdog timeout")
    assert wait_until(unit.cycle, "the restarted daemon serving cycles")


def test_stop_cancels_a_hung_cycle_and_exits_0_within_3_s(unit: Unit) -> None:
    hung = simulated("hung", latency="60s")  # never answers within its 4 s deadline
    first = unit.start_polling([hung], interval="5s", timeout="4s")
    # cycle 1 is served 4 s after its start, cycle 2 starts 1 s later and runs for 4 s:
    # stopping 1.5 s after seeing cycle 1 lands in the middle of cycle 2
    assert first["cycle"] == 1
    time.sleep(1.5)
    after = unit.cursor()
    unit.systemctl("stop", SERVICE)
    state = unit.show(
        "ActiveState",
        "Result",
        "ExecMainCode",
        "ExecMainStatus",
        "ActiveExitTimestampMonotonic",
        "InactiveEnterTimestampMonotonic",
    )
    # measured by systemd: from leaving active (SIGTERM sent) to the unit being inactive
    took = (
        int(state["InactiveEnterTimestampMonotonic"]) - int(state["ActiveExitTimestampMonotonic"])
    ) / 1e6
    FIGURES["stop in the middle of a hung cycle"] = f"{took:.2f} s (bound {MAX_STOP_SECONDS:g} s)"
    assert (state["ActiveState"], state["Result"]) == ("inactive", "success")
    assert (state["ExecMainCode"], state["ExecMainStatus"]) == ("1", "0")  # CLD_EXITED, 0
    assert took < MAX_STOP_SECONDS
    unit.wait_for_journal(after, "cancelling the cycle in progress")


def test_config_error_exits_78_and_the_unit_does_not_restart(unit: Unit) -> None:
    unit.write_raw_config(INVALID)
    assert unit.systemctl("start", SERVICE, check=False).returncode != 0
    state = unit.show("ActiveState", "SubState", "Result", "ExecMainStatus", "NRestarts")
    # a restart would be scheduled at once (SubState auto-restart), not after RestartSec
    assert (state["ActiveState"], state["SubState"]) == ("failed", "failed")
    assert (state["Result"], state["ExecMainStatus"]) == ("exit-code", "78")
    assert state["NRestarts"] == "0"


def test_config_errors_at_start_are_logged_at_priority_err(unit: Unit) -> None:
    after = unit.cursor()
    unit.write_raw_config(INVALID)
    unit.systemctl("start", SERVICE, check=False)
    errors = unit.wait_for_journal(after, "configuration invalid: 1 problem", priority=ERR)
    assert INVALID_PROBLEM in errors


def test_usb_serial_drivers_are_loaded_before_the_unit_starts(unit: Unit) -> None:
    unit.start_polling([simulated("a")])
    started = int(unit.show("ExecMainStartTimestampMonotonic")["ExecMainStartTimestampMonotonic"])
    for module in ("usbserial", "cdc_acm"):
        loader = unit.show(
            "LoadState", "ConditionTimestampMonotonic", unit=f"modprobe@{module}.service"
        )
        assert loader["LoadState"] == "loaded"
        # checked (here skipped: a container may not load modules) before the daemon started
        assert 0 < int(loader["ConditionTimestampMonotonic"]) <= started, module


def test_serial_ports_are_reachable_under_the_device_policy(unit: Unit) -> None:
    machine = unit.machine
    # an instrument on a pty (the simulator, inside the machine), the node made
    # root:dialout 0660 as udev makes /dev/ttyUSB*: the unit reaches it through
    # SupplementaryGroups=dialout
    instrument = {
        "name": "thermometer",
        "driver": "serial",
        "port": "/run/sensorpoll-test/ttyACM-sim",
        "baudrate": 9600,
        "command": "MEAS?\r\n",
        "terminator": "\r\n",
        "parse": r"(?P<t>-?[\d.]+)",
        "fields": [{"name": "t", "unit": "celsius", "simulate": {"value": 21.5}}],
    }
    machine.run("mkdir", "-p", "/run/sensorpoll-test")
    machine.path("/run/sensorpoll-test/instrument.yaml").write_text(
        json.dumps({"devices": [instrument]})
    )
    machine.run(
        "systemd-run",
        "--unit=sensorpoll-test-instrument",
        "--collect",
        f"{VENV}/bin/sensorpoll",
        "simulate",
        "-c",
        "/run/sensorpoll-test/instrument.yaml",
    )
    try:
        link = machine.path("/run/sensorpoll-test/ttyACM-sim")
        wait_until(link.is_symlink, "the simulator's pty")
        pty = os.readlink(link)
        machine.run("chown", "root:dialout", pty)
        machine.run("chmod", "0660", pty)
        # a real ttyS node (major 4, char-ttyS) whose UART this machine lacks: the device
        # policy lets the open through to the driver, which answers ENXIO ...
        machine.run("mknod", "--mode=0660", "/dev/ttyS1", "c", "4", "65")
        machine.run("chown", "root:dialout", "/dev/ttyS1")
        # ... and a node of a major no DeviceAllow= names (misc 10:229, /dev/fuse), open to
        # everyone by its mode: only the device policy refuses it
        machine.run("mknod", "--mode=0666", "/dev/not-a-serial-port", "c", "10", "229")
        after = unit.cursor()
        port = {k: v for k, v in instrument.items() if k not in ("name", "port")}
        unit.start_polling(
            [
                instrument,
                {**port, "name": "uart", "port": "/dev/ttyS1"},
                {**port, "name": "denied", "port": "/dev/not-a-serial-port"},
            ],
            interval="1s",
        )
        cycle = wait_until(
            lambda: (c := unit.cycle()) and c["devices"][0]["ok"] and c,
            "a reading from the instrument on the pty",
        )
        assert cycle["devices"][0]["values"] == {"t": 21.5}
        unit.wait_for_journal(after, "device denied is down")
        lines = unit.wait_for_journal(after, "device uart is down")
        denied = next(line for line in lines if "device denied is down" in line)
        assert "Operation not permitted" in denied
        uart = next(line for line in lines if "device uart is down" in line)
        assert "Operation not permitted" not in uart
        assert "Permission denied" not in uart
    finally:
        machine.run("systemctl", "stop", "sensorpoll-test-instrument.service", check=False)
        machine.run("rm", "-f", "/dev/ttyS1", "/dev/not-a-serial-port")


def test_online_exposure_is_at_most_1_5(unit: Unit) -> None:
    unit.start_polling([simulated("a")])
    # online: the unit as systemd loaded it, defaults and all, not the file alone
    report = unit.machine.run("systemd-analyze", "security", "--no-pager", SERVICE).stdout
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", report)
    assert found, report
    exposure = float(found.group(1))
    FIGURES["online systemd-analyze security exposure"] = f"{exposure} (bound {MAX_EXPOSURE})"
    assert exposure <= MAX_EXPOSURE, report

"""systemd/sensorpoll.service: what the unit promises (docs/deploy.md, section 3), checked by
systemd's own tools offline, so no systemd as PID 1 is needed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_tool
from tests.systemd.unitfile import UNIT, directives, service

INSTALLED_EXEC = "/opt/sensorpoll/venv/bin/sensorpoll"
MAX_EXPOSURE = 1.5


def test_unit_is_a_notify_service_with_a_watchdog_and_reload_by_sighup() -> None:
    assert service("Type") == ["notify"]
    assert service("NotifyAccess") == ["main"]
    assert service("WatchdogSec"), "WatchdogSec missing: a wedged poll loop would never restart"
    assert service("ExecReload") == ["/bin/kill -HUP $MAINPID"]


def test_unit_runs_the_venv_install_with_the_etc_config() -> None:
    assert service("ExecStart") == [f"{INSTALLED_EXEC} run -c /etc/sensorpoll/config.yaml"]
    assert service("ConfigurationDirectory") == ["sensorpoll"]
    assert service("StateDirectory") == ["sensorpoll"]


def test_unit_cannot_write_its_configuration_directory() -> None:
    # ConfigurationDirectory= alone is mounted writable under ProtectSystem=strict
    assert service("ProtectSystem") == ["strict"]
    assert "/etc/sensorpoll" in " ".join(service("ReadOnlyPaths")).split()


def test_unit_starts_after_the_usb_serial_tty_drivers_are_loaded() -> None:
    # char-ttyUSB / char-ttyACM resolve through /proc/devices at start: the majors must exist
    wanted = {"modprobe@usbserial.service", "modprobe@cdc_acm.service"}
    unit = directives("Unit")
    for key in ("Wants", "After"):
        listed = {name for k, value in unit if k == key for name in value.split()}
        assert wanted <= listed, f"{key}= lacks {wanted - listed}"


def test_unit_allows_more_fds_than_selects_1024() -> None:
    (limit,) = service("LimitNOFILE")
    assert int(limit) > 1024


def test_unit_restarts_on_failure_but_not_on_a_config_error() -> None:
    assert service("Restart") == ["on-failure"]
    assert service("RestartPreventExitStatus") == ["78"]


def test_unit_reaches_serial_ports_only() -> None:
    assert service("DynamicUser") == ["yes"]
    assert service("SupplementaryGroups") == ["dialout"]
    assert service("DevicePolicy") == ["closed"]
    assert sorted(service("DeviceAllow")) == [
        "char-ttyACM rw",
        "char-ttyS rw",
        "char-ttyUSB rw",
    ]
    assert service("PrivateDevices") in ([], ["no"]), "PrivateDevices=yes hides /dev/tty*"


def test_unit_can_open_its_http_port_and_speak_notify() -> None:
    families = " ".join(service("RestrictAddressFamilies")).split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
    assert service("PrivateNetwork") in ([], ["no"])


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    # verify insists that ExecStart's binary exists, and /opt/sensorpoll is not installed on a
    # build machine: verify a copy that differs only in that path, pointing at the sensorpoll
    # this test suite runs (the venv's console script next to the interpreter). --man=no: man
    # pages of Documentation= need not be installed here.
    local_exec = Path(sys.executable).with_name("sensorpoll")
    assert local_exec.exists(), f"{local_exec} missing: pip install -e . first"
    text = UNIT.read_text()
    assert text.count(INSTALLED_EXEC) == 1
    copy = tmp_path / UNIT.name  # the unit's name matters to verify
    copy.write_text(text.replace(INSTALLED_EXEC, str(local_exec)))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).strip() == "", "verify found something to report"


def test_unit_exposure_is_at_most_1_5() -> None:
    analyze = require_tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    assert found, f"no exposure line in:\n{result.stdout}\n{result.stderr}"
    exposure = float(found.group(1))
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{result.stdout}"

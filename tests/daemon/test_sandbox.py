"""The daemon inside the unit's sandbox. systemd is not PID 1 here, but the kernel enforces two
of the unit's restrictions without it: MemoryDenyWriteExecute= (PR_SET_MDWE) and
SystemCallFilter= (seccomp). A dependency that needs either would otherwise break only in
production, at the first start under systemd."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.daemon.harness import Daemon, NotifySocket, simulated
from tests.systemd.unitfile import service

SANDBOX_EXEC = Path(__file__).with_name("sandbox_exec.py")
UNSUPPORTED = 3


def sandbox(*options: str) -> list[str]:
    """The wrapper command; skips the test where this kernel cannot enforce `options`."""
    wrapper = [sys.executable, str(SANDBOX_EXEC), *options, "--"]
    probe = subprocess.run([*wrapper, sys.executable, "-c", "pass"], check=False, timeout=30)
    if probe.returncode == UNSUPPORTED:
        pytest.skip(f"this kernel cannot enforce {options}")
    assert probe.returncode == 0, "the sandbox stops even a bare python"
    return wrapper


def syscall_groups(analyze: str) -> dict[str, list[str]]:
    """Every @group systemd knows -> its members (syscalls and nested @groups)."""
    output = subprocess.run(
        [analyze, "syscall-filter", "--no-pager"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    groups: dict[str, list[str]] = {}
    members: list[str] = []
    for line in output.splitlines():
        if line.startswith("@"):
            members = groups.setdefault(line.strip(), [])
        elif line.strip() and not line.strip().startswith("#") and line.startswith(" "):
            members.append(line.strip())
    return groups


def allowed_syscalls(analyze: str) -> set[str]:
    """What the unit's SystemCallFilter= lines allow: the first (an allow list), minus each
    `~` line after it, as systemd combines them."""
    groups = syscall_groups(analyze)

    def expand(items: list[str]) -> set[str]:
        names: set[str] = set()
        for item in items:
            names |= expand(groups[item]) if item.startswith("@") else {item}
        return names

    allowed: set[str] = set()
    for index, value in enumerate(service("SystemCallFilter")):
        if value.startswith("~"):
            allowed -= expand(value[1:].split())
        else:
            assert index == 0, "an allow list after a deny list: this emulation is wrong"
            allowed |= expand(value.split())
    assert "read" in allowed
    return allowed


def run_until_second_cycle(daemon: Daemon, notify: NotifySocket, wrapper: list[str]) -> None:
    daemon.write_config([simulated("a", latency="10ms")])
    daemon.start({"NOTIFY_SOCKET": notify.env_value}, wrapper=wrapper)
    notify.wait_for("READY=1")
    daemon.wait_for_cycle(lambda c: c["cycle"] >= 2)
    assert daemon.get("/api/v1/cycle")["devices"][0]["ok"]
    daemon.signal(signal.SIGHUP)
    notify.wait_for("RELOADING=1", timeout=5)
    notify.wait_for("READY=1", timeout=5)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=3) == 0
    assert "Traceback" not in daemon.stderr


def test_daemon_runs_with_write_execute_memory_refused(
    daemon: Daemon, notify: NotifySocket
) -> None:
    assert service("MemoryDenyWriteExecute") == ["yes"]
    run_until_second_cycle(daemon, notify, sandbox("--mdwe"))


def test_daemon_runs_within_the_units_system_call_filter(
    daemon: Daemon, notify: NotifySocket, tmp_path: Path
) -> None:
    assert service("SystemCallErrorNumber") == ["EPERM"]
    syscalls = tmp_path / "syscalls.txt"
    syscalls.write_text("\n".join(sorted(allowed_syscalls(require_tool("systemd-analyze")))))
    run_until_second_cycle(daemon, notify, sandbox("--syscalls", str(syscalls)))

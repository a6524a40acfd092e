"""docs/deploy.md's install, upgrade and rollback steps, run as typed in a temp prefix: build
two wheels, install the first, upgrade to the second, roll back; the pipx path; logrotate.

The steps are the shell blocks marked `<!-- deploy-test: NAME -->`. Only the machine's places
change: `/opt/sensorpoll` and `/etc/sensorpoll` become directories of the test, and
`systemctl` lines (there is no unit to restart here) are checked, not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, require_tool

DEPLOY = (REPO / "docs" / "deploy.md").read_text()
VERSION_LINE = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)

pytestmark = pytest.mark.slow


def block(name: str) -> str:
    match = re.search(
        rf"^<!-- deploy-test: {name} -->\n```\w*\n(.*?)^```$", DEPLOY, re.MULTILINE | re.DOTALL
    )
    assert match is not None, f"docs/deploy.md has no block marked deploy-test: {name}"
    return match.group(1)


class Machine:
    """A lab machine in a temp dir: /opt/sensorpoll, /etc/sensorpoll and a checkout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.opt = root / "opt" / "sensorpoll"
        self.etc = root / "etc" / "sensorpoll"
        self.opt.mkdir(parents=True)
        self.etc.mkdir(parents=True)
        shutil.copy(REPO / "config" / "demo.yaml", self.etc / "config.yaml")

    def script(self, text: str) -> str:
        lines = []
        for line in text.splitlines():
            if line.startswith("systemctl "):
                assert line in ("systemctl restart sensorpoll",), line
                continue
            lines.append(line)
        text = "\n".join(lines)
        return text.replace("/opt/sensorpoll", str(self.opt)).replace(
            "/etc/sensorpoll", str(self.etc)
        )

    def run(self, name: str, cwd: Path, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", self.script(block(name))],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, **(env or {})},
            check=False,
        )
        assert proc.returncode == 0, f"{name}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout


def checkout(where: Path, version: str) -> Path:
    """A copy of the repository that says it is `version`."""
    copy = where / "sensorpoll"
    shutil.copytree(REPO, copy, ignore=NOT_COPIED)
    init = copy / "src" / "sensorpoll" / "__init__.py"
    text, found = VERSION_LINE.subn(f'__version__ = "{version}"', init.read_text())
    assert found == 1
    init.write_text(text)
    return copy


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Machine, Path]:
    """Two builds by the documented build step, their wheels in one `dist/`."""
    machine = Machine(tmp_path_factory.mktemp("machine"))
    dist = machine.root / "dist"
    dist.mkdir()
    for version in ("0.1.0", "0.2.0"):
        where = machine.root / f"build-{version}"
        where.mkdir()
        copy = checkout(where, version)
        listed = machine.run("build", cwd=where)
        assert f"sensorpoll-{version}-py3-none-any.whl" in listed
        for wheel in (copy / "dist").iterdir():
            shutil.copy(wheel, dist)
    return machine, machine.root


def current(machine: Machine) -> str:
    out = subprocess.run(
        [str(machine.opt / "venv" / "bin" / "sensorpoll"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def test_install_upgrade_and_rollback_work_as_typed(built: tuple[Machine, Path]) -> None:
    machine, here = built
    assert "sensorpoll 0.1.0" in machine.run("install", cwd=here)
    assert current(machine) == "sensorpoll 0.1.0"
    upgraded = machine.run("upgrade", cwd=here)
    assert "config.yaml: valid" in upgraded
    assert upgraded.splitlines()[-1] == "sensorpoll 0.2.0"
    assert current(machine) == "sensorpoll 0.2.0"
    assert (machine.opt / "venv").resolve() == machine.opt / "venv-0.2.0"
    assert machine.run("rollback", cwd=here).splitlines()[-1] == "sensorpoll 0.1.0"
    assert (machine.opt / "venv").resolve() == machine.opt / "venv-0.1.0"


def test_pipx_installs_upgrades_and_rolls_back_for_one_user(
    built: tuple[Machine, Path], tmp_path: Path
) -> None:
    require_tool("pipx")
    machine, here = built
    home = tmp_path / "pipx"
    env = {"PIPX_HOME": str(home), "PIPX_BIN_DIR": str(home / "bin")}
    env["PATH"] = f"{home / 'bin'}:{os.environ['PATH']}"
    out = machine.run("pipx", cwd=here, env=env)
    versions = [line for line in out.splitlines() if line.startswith("sensorpoll ")]
    assert versions == ["sensorpoll 0.1.0", "sensorpoll 0.2.0"]


def test_logrotate_covers_the_unit_and_every_template_instance(tmp_path: Path) -> None:
    logrotate = require_tool("logrotate")
    private = tmp_path / "var" / "lib" / "private" / "sensorpoll"
    files = [private / "readings.jsonl", private / "rs485-a" / "readings.jsonl"]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"cycle": 1}\n')
    config = tmp_path / "sensorpoll.logrotate"
    config.write_text(
        block("logrotate").replace("/var/lib/private", str(tmp_path / "var/lib/private"))
    )
    proc = subprocess.run(
        [logrotate, "--debug", "--force", "--state", str(tmp_path / "state"), str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for path in files:
        assert f"rotating log {path}" in proc.stdout + proc.stderr

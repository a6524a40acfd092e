"""A Debian machine with systemd as PID 1, booted by systemd-nspawn, for tests that need a real
service manager. The root file system (debootstrap of the host's own Debian release, plus a
venv holding sensorpoll's dependencies) is built once and cached under CACHE, each layer keyed
by what goes into it; every boot runs on a throwaway overlay of it (--volatile=overlay), so the
cache stays pristine and a warm run only installs the wheel of the tree under test.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.conftest import REPO

CACHE = Path(os.environ.get("SENSORPOLL_CI_CACHE", "/var/cache/sensorpoll-ci"))
# What the machine needs beyond minbase: systemd as init, D-Bus for systemctl's online
# analyses, procps for the unit's /bin/kill (every Debian install has it, minbase does not),
# and the interpreter a venv is made with.
PACKAGES = ("systemd", "systemd-sysv", "dbus", "procps", "python3", "python3-venv")
RECIPE = 1  # bump when the way the root file system is built changes
VENV = "/opt/sensorpoll/venv"
WHEELS = "/mnt/wheels"  # where the host's wheels are bind-mounted read-only
FALLBACK_MIRROR = "http://deb.debian.org/debian"
STALE_AFTER = 3600.0  # seconds a cached layer of another recipe is kept unused
# Boot and shutdown of the machine, and one command in it: generous, the machine is shared.
BOOT_TIMEOUT = 120.0
COMMAND_TIMEOUT = 120.0


def host_release() -> tuple[str, str]:
    """(suite, mirror) of the host: its Debian codename and the archive apt uses for it."""
    release = Path("/etc/os-release").read_text()
    found = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", release, re.MULTILINE)
    if found is None:
        raise RuntimeError("/etc/os-release names no VERSION_CODENAME: not a Debian host")
    suite = found.group(1)
    return suite, _mirror_for(suite) or FALLBACK_MIRROR


def _mirror_for(suite: str) -> str | None:
    """The URI apt uses for `suite` itself (not -updates or -security), from sources.list,
    its .list files (one-line format) and .sources files (deb822)."""
    sources = Path("/etc/apt")
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE))
                if (
                    "deb" in fields.get("Types", "").split()
                    and suite in fields.get("Suites", "").split()
                ):
                    return fields["URIs"].split()[0]
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                    return words[1]
    return None


def _key(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def base_key(suite: str, mirror: str) -> str:
    """A hash of what goes into the Debian base: debootstrap's part."""
    return _key({"recipe": RECIPE, "suite": suite, "mirror": mirror, "packages": PACKAGES})


def rootfs_key(base: str) -> str:
    """A hash of the base plus the venv. sensorpoll itself is not in it (installed at every
    boot), its declared dependencies are: a change to them costs a venv, not a debootstrap."""
    project = _project()
    recipe = {
        "base": base,
        "requires-python": project["requires-python"],
        "dependencies": project["dependencies"],
    }
    return _key(recipe)


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project


def _pip_wheel(into: Path, *what: str) -> None:
    """Wheels built by the test suite's own pip, so from the registry it is configured for."""
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(into), *what]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip wheel {' '.join(what)} failed:\n{result.stderr}")


def build_sensorpoll_wheel(into: Path) -> Path:
    """The wheel of this tree, installed into the machine at every boot."""
    _pip_wheel(into, "--no-deps", str(REPO))
    (wheel,) = into.glob("sensorpoll-*.whl")
    return wheel


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Only one build at a time, across test runs on this machine."""
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_rootfs(work: Path, log: Path) -> Path:
    """The cached root file system for this tree, built first if missing, in two layers: a
    Debian base (debootstrap, the slow part) and a copy of it with the dependencies' venv.
    Each build goes to a temporary name and is renamed into place when complete, so a killed
    build is never used. Layers of other recipes (a few hundred MB each) are removed once
    unused for STALE_AFTER: another test run on this machine may still be booted from one."""
    suite, mirror = host_release()
    base_name = f"base-{base_key(suite, mirror)}"
    root = CACHE / f"rootfs-{rootfs_key(base_name)}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with _locked(CACHE / "lock"):
        for stale in CACHE.glob("*-*"):
            if stale.name not in (base_name, root.name) and _unused_for(stale) > STALE_AFTER:
                shutil.rmtree(stale, ignore_errors=True)
        if not root.is_dir():
            base = CACHE / base_name
            if not base.is_dir():
                _build(base, log, lambda building: _debootstrap(building, suite, mirror, log))
            os.utime(base)
            _build(root, log, lambda building: _add_venv(base, building, work, log))
        os.utime(root)  # in use: see above
        return root


def _unused_for(path: Path) -> float:
    return time.time() - path.stat().st_mtime


def _build(target: Path, log: Path, make: Callable[[Path], None]) -> None:
    building = target.with_name(f"building-{target.name}")
    shutil.rmtree(building, ignore_errors=True)
    make(building)
    building.rename(target)


def _debootstrap(building: Path, suite: str, mirror: str, log: Path) -> None:
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"]
    # the .debs are kept: a new base (PACKAGES changed) downloads only what is new
    command.append(f"--cache-dir={CACHE / 'debs'}")
    (CACHE / "debs").mkdir(exist_ok=True)
    _run_logged([*command, suite, str(building), mirror], log)
    # Nothing in the tests needs these, and each costs boot time.
    for unit in ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer"):
        link = building / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")


def _add_venv(base: Path, building: Path, work: Path, log: Path) -> None:
    _run_logged(["cp", "--archive", "--reflink=auto", str(base), str(building)], log)
    wheels = work / "dependencies"
    _pip_wheel(wheels, *_project()["dependencies"])
    dependencies = sorted(f"{WHEELS}/{w.name}" for w in wheels.glob("*.whl"))
    # The venv is made by the machine's own python3, as docs/deploy.md makes it on a host;
    # the wheels are the host's (same Debian release, so the same Python and libc).
    install = (
        f"umask 022 && python3 -m venv {VENV} && "
        f"{VENV}/bin/pip install -q --no-index --no-deps {' '.join(dependencies)} && "
        f"{VENV}/bin/pip check"
    )
    _run_logged(
        [
            "systemd-nspawn",
            "--quiet",
            "--register=no",
            "--keep-unit",  # no scope of its own: there may be no systemd on the host
            f"--directory={building}",
            f"--bind-ro={wheels}:{WHEELS}",
            "/bin/sh",
            "-c",
            install,
        ],
        log,
    )
    shutil.rmtree(f"/run/systemd/nspawn/propagate/{building.name}", ignore_errors=True)


def _run_logged(command: Sequence[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{command[0]} failed ({result.returncode}):\n{tail}")


class Machine:
    """One booted container. Commands run in it with nsenter (no machined on the host to ask),
    and its files are reached through /proc/<init>/root."""

    def __init__(self, root: Path, binds: Sequence[tuple[Path, str]], console: Path) -> None:
        self.name = f"sensorpoll-test-{uuid.uuid4().hex[:8]}"
        self.console = console
        command = [
            "systemd-nspawn",
            f"--directory={root}",
            "--boot",
            "--volatile=overlay",  # writes go to a tmpfs: the cached root stays as built
            "--register=no",
            "--keep-unit",
            f"--machine={self.name}",
            # device policies (DeviceAllow=) are BPF programs: without these nspawn's seccomp
            # filter and capability set refuse them, and the unit would run unconfined
            "--system-call-filter=bpf",
            "--capability=CAP_BPF",
            *(f"--bind-ro={source}:{target}" for source, target in binds),
        ]
        # cgroup v2 inside even on a hybrid host: BPF device programs need the unified tree
        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        with console.open("wb") as out:
            self.nspawn = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            self.leader = self._wait_for_init()
            self._wait_until_booted()
        except BaseException:
            self.shutdown()
            raise

    def _wait_for_init(self) -> int:
        children = Path(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children")
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited:\n{self.console_text()}")
            with contextlib.suppress(OSError):
                pids = children.read_text().split()
                if pids and Path(f"/proc/{pids[0]}/exe").resolve().name == "systemd":
                    return int(pids[0])
            time.sleep(0.1)
        raise RuntimeError(f"no init in the container:\n{self.console_text()}")

    def _wait_until_booted(self) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            result = self.run("systemctl", "is-system-running", "--wait", check=False, timeout=left)
            state = result.stdout.strip()
            if state in ("running", "degraded"):
                return
            # "offline" or nothing: systemctl cannot reach init yet (its private socket comes
            # early in the boot, but not at once; later under load)
            if state not in ("", "offline") or time.monotonic() > deadline:
                raise RuntimeError(f"boot ended {state!r}:\n{result.stderr}{self.console_text()}")
            time.sleep(0.2)

    def console_text(self) -> str:
        return self.console.read_text(errors="replace")[-5000:]

    def run(
        self,
        *command: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` as root in every namespace of the container's init, with umask 022
        whatever the test run's: the service's dynamic user must read what root creates."""
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        env["LANG"] = "C.UTF-8"
        result = subprocess.run(
            ["nsenter", f"--target={self.leader}", "--all", *command],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
            umask=0o022,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def path(self, inside: str) -> Path:
        """A path of the container's file system, as the host reaches it."""
        return Path(f"/proc/{self.leader}/root") / inside.lstrip("/")

    def shutdown(self) -> None:
        """Power off (nspawn turns SIGTERM into a clean halt), killed if that hangs."""
        if self.nspawn.poll() is None:
            self.nspawn.terminate()
            try:
                self.nspawn.wait(BOOT_TIMEOUT / 2)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait(10)
        # nspawn leaves its propagation directory behind where /run is not a tmpfs
        shutil.rmtree(f"/run/systemd/nspawn/propagate/{self.name}", ignore_errors=True)

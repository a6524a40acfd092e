"""A real `sensorpoll run` in a subprocess, watched the way systemd watches it: through a notify
socket of the test's own, its jsonl sink, its HTTP port and its exit status."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    """An ephemeral port nobody listens on right now (other suites run concurrently)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Message:
    """One sd_notify datagram: when it arrived (time.monotonic) and its assignments."""

    at: float
    fields: dict[str, str]

    def __contains__(self, assignment: str) -> bool:
        key, _, value = assignment.partition("=")
        return self.fields.get(key) == value


class NotifySocket:
    """Stands in for systemd's notify socket: an AF_UNIX datagram socket the test binds.

    A thread drains it as systemd does: a datagram socket queues only a few messages
    (net.unix.max_dgram_qlen, 10 by default) and the daemon drops what does not fit, so a test
    that reads only when it waits would lose RELOADING=1 behind a cycle's worth of STATUS."""

    def __init__(self, directory: Path, *, abstract: bool = False) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"sensorpoll-test-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            path = directory / "notify.sock"
            self.sock.bind(str(path))
            self.env_value = str(path)
        self.messages: list[Message] = []
        self._arrived: queue.Queue[Message] = queue.Queue()
        self._closing = threading.Event()
        self.sock.settimeout(0.05)
        self._drain = threading.Thread(target=self._drain_socket, name="notify-drain")
        self._drain.start()

    def _drain_socket(self) -> None:
        while not self._closing.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            lines = data.decode().split("\n")
            fields = dict(line.split("=", 1) for line in lines if line)
            self._arrived.put(Message(time.monotonic(), fields))

    def _receive(self, timeout: float) -> Message | None:
        try:
            message = self._arrived.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            return None
        self.messages.append(message)
        return message

    def wait_for(
        self, assignment: str | Callable[[Message], bool], timeout: float = 10.0
    ) -> Message:
        """The next message matching, receiving (and keeping) everything before it."""
        match = assignment if callable(assignment) else (lambda m: assignment in m)
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            message = self._receive(remaining)
            if message is not None and match(message):
                return message
        raise AssertionError(f"no {assignment} within {timeout}s; got {self.messages}")

    def collect(self, duration: float) -> list[Message]:
        """Everything that arrives in the next `duration` seconds."""
        start = len(self.messages)
        deadline = time.monotonic() + duration
        while (remaining := deadline - time.monotonic()) > 0:
            self._receive(remaining)
        return self.messages[start:]

    def close(self) -> None:
        self._closing.set()
        self._drain.join()
        self.sock.close()


# A config the loader refuses: line 6 has a key simulated devices do not take.
INVALID_CONFIG = """\
interval: 200ms
devices:
  - name: a
    driver: simulated
    fields: [{name: x, value: 1}]
    colour: blue
"""


def reload(daemon: Daemon, notify: NotifySocket) -> None:
    """SIGHUP, then wait until the daemon has said it is reloading and ready again."""
    daemon.signal(signal.SIGHUP)
    notify.wait_for("RELOADING=1", timeout=5)
    notify.wait_for("READY=1", timeout=5)


def simulated(name: str, **options: Any) -> dict[str, Any]:
    """A simulated device config with one constant field."""
    return {
        "name": name,
        "driver": "simulated",
        "fields": [{"name": "value", "value": 1.5}],
        **options,
    }


class Daemon:
    """`sensorpoll run` with a config written by the test, a jsonl sink and a free port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.config = directory / "config.yaml"
        self.sink = directory / "readings.jsonl"
        self.stderr_path = directory / "stderr.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(
        self, devices: list[dict[str, Any]], interval: str = "200ms", sink: Path | None = None
    ) -> None:
        config = {
            "interval": interval,
            "sinks": [{"type": "jsonl", "path": str(sink or self.sink)}],
            "devices": devices,
        }
        # JSON is YAML: no YAML writer needed, and the test reads what it wrote.
        self.config.write_text(json.dumps(config, indent=2) + "\n")

    def write_raw_config(self, text: str) -> None:
        self.config.write_text(textwrap.dedent(text))

    def start(
        self, env: dict[str, str] | None = None, wrapper: Sequence[str] = ()
    ) -> subprocess.Popen[bytes]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCH"))}
        full_env.pop("JOURNAL_STREAM", None)
        full_env.update(env or {})
        command = [*wrapper, sys.executable, "-m", "sensorpoll", "run", "-c", str(self.config)]
        command += ["--listen", f"127.0.0.1:{self.port}", "--log-level", "debug"]
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                command,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return self.proc

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, signum: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def get(self, path: str) -> Any:
        """GET a JSON endpoint of the daemon's HTTP server."""
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def cycles(self) -> list[dict[str, Any]]:
        """Every cycle the sink has recorded so far (a partial last line is left out)."""
        if not self.sink.exists():
            return []
        lines = self.sink.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines]

    def wait_for_cycle(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for cycle in self.cycles():
                if match(cycle):
                    return cycle
            time.sleep(0.05)
        raise AssertionError(f"no matching cycle within {timeout}s; stderr:\n{self.stderr}")

    def stop(self) -> None:
        """Kill it if a test left it running: a failed test must not leave a daemon behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

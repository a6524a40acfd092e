"""Reload rereads included template files: a changed template reaches the devices that use
it without a restart, and a broken one is refused while the old config keeps polling."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path
from typing import Any

from tests.daemon.harness import Daemon, NotifySocket

CONFIG = """\
interval: 200ms
include: [templates/*.yaml]
sinks: [{{type: jsonl, path: {sink}}}]
devices:
  - {{name: probe_1, template: probe}}
  - {{name: probe_2, template: probe, fields: [{{name: level, value: 5}}]}}
"""


def write_template(directory: Path, level: str) -> None:
    (directory / "templates").mkdir(exist_ok=True)
    (directory / "templates" / "probe.yaml").write_text(
        textwrap.dedent(
            f"""\
            templates:
              probe:
                driver: simulated
                fields: [{{name: level, value: {level}}}]
            """
        )
    )


def levels(cycle: dict[str, Any]) -> dict[str, Any]:
    return {d["device"]: d["values"].get("level") for d in cycle["devices"]}


def test_reload_rereads_an_included_template(daemon: Daemon, notify: NotifySocket) -> None:
    write_template(daemon.directory, "1")
    daemon.write_raw_config(CONFIG.format(sink=daemon.sink))
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    daemon.wait_for_cycle(lambda c: levels(c) == {"probe_1": 1, "probe_2": 5})
    write_template(daemon.directory, "2")
    daemon.signal(signal.SIGHUP)
    notify.wait_for("RELOADING=1", timeout=5)
    notify.wait_for("READY=1", timeout=5)
    daemon.wait_for_cycle(lambda c: levels(c) == {"probe_1": 2, "probe_2": 5})


def test_a_broken_included_template_is_refused_on_reload(
    daemon: Daemon, notify: NotifySocket
) -> None:
    write_template(daemon.directory, "1")
    daemon.write_raw_config(CONFIG.format(sink=daemon.sink))
    daemon.start({"NOTIFY_SOCKET": notify.env_value})
    notify.wait_for("READY=1")
    write_template(daemon.directory, "[unclosed")
    daemon.signal(signal.SIGHUP)
    notify.wait_for("READY=1", timeout=5)
    seen = len(daemon.cycles())
    daemon.wait_for_cycle(lambda c: c["cycle"] > seen + 1 and levels(c)["probe_1"] == 1)
    assert "probe.yaml" in daemon.stderr
    assert "reload refused" in daemon.stderr

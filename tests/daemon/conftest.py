"""Fixtures for driving a real `sensorpoll run` (see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.daemon.harness import Daemon, NotifySocket


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path)
    yield sock
    sock.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path)
    yield d
    d.stop()


@pytest.fixture
def recording_driver_env(tmp_path: Path) -> dict[str, str]:
    """Environment in which `driver: recording` (tests/fakes/recording_driver.py) is installed
    the way a third-party driver is: a distribution whose entry point names it."""
    site = tmp_path / "site"
    dist_info = site / "sensorpoll_recording_driver-0.0.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: sensorpoll-recording-driver\nVersion: 0.0.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[sensorpoll.drivers]\nrecording = tests.fakes.recording_driver:RecordingDriver\n"
    )
    return {"PYTHONPATH": f"{site}:{REPO}"}

"""The jsonl sink: one line per cycle, flushed each cycle, reopened on SIGHUP (logrotate)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.export.jsonl import JsonlSink
from tests.conftest import require_tool


def cycle(number: int) -> Cycle:
    result = DeviceResult("pump", True, None, 0.01, {"flow": 1.5, "on": True})
    return Cycle(number, 1_800_000_000.0 + number, 10.0 + number, 0.012, (result,))


async def test_each_cycle_is_one_flushed_line_of_cycle_json(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "readings.jsonl"
    sink = JsonlSink(path)
    await sink.start()
    sink.publish(cycle(1))
    sink.publish(cycle(2))
    lines = path.read_text().splitlines()  # read while still open: flushed per cycle
    await sink.aclose()
    assert [json.loads(line)["cycle"] for line in lines] == [1, 2]
    assert json.loads(lines[0]) == {
        "cycle": 1,
        "started": "2027-01-15T08:00:01.000000Z",
        "duration_s": 0.012,
        "devices": [
            {
                "device": "pump",
                "ok": True,
                "error": None,
                "duration_s": 0.01,
                "values": {"flow": 1.5, "on": True},
            }
        ],
    }


async def test_reopen_after_logrotate_moves_the_file_writes_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "readings.jsonl"
    sink = JsonlSink(path)
    await sink.start()
    sink.publish(cycle(1))
    path.rename(tmp_path / "readings.jsonl.1")
    sink.publish(cycle(2))  # still the old, moved file until reopened
    await sink.reopen()
    sink.publish(cycle(3))
    await sink.aclose()
    old = [json.loads(x)["cycle"] for x in (tmp_path / "readings.jsonl.1").read_text().splitlines()]
    new = [json.loads(x)["cycle"] for x in path.read_text().splitlines()]
    assert (old, new) == ([1, 2], [3])


async def test_append_only_keeps_earlier_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"cycle": 0}\n')
    sink = JsonlSink(path)
    await sink.start()
    sink.publish(cycle(1))
    await sink.aclose()
    assert path.read_text().splitlines()[0] == '{"cycle": 0}'


async def test_an_unwritable_path_does_not_stop_publishing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("")  # a file where the sink's directory should be: cannot be created
    path = blocker / "r.jsonl"
    sink = JsonlSink(path)
    with caplog.at_level(logging.INFO, logger="sensorpoll.export.jsonl"):
        await sink.start()
        sink.publish(cycle(1))  # neither raises: polling goes on
        sink.publish(cycle(2))
        blocker.unlink()  # the operator fixes it
        sink.publish(cycle(3))
        await sink.aclose()
    assert [json.loads(line)["cycle"] for line in path.read_text().splitlines()] == [3]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, "logged when it starts failing, not every cycle"
    assert str(path) in errors[0].getMessage()
    assert [r.getMessage() for r in caplog.records][-1] == (
        f"writing {path} works again; 2 lines were dropped"
    )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs, mounted for the test: a disk that fills up (needs root)."""
    mount, umount = require_tool("mount"), require_tool("umount")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        message = f"cannot mount a tmpfs: {done.stderr.strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}, and CI must run this test")
        pytest.skip(message)
    try:
        yield disk
    finally:
        subprocess.run([umount, "-l", str(disk)], check=True)


def big_cycle(number: int) -> Cycle:
    """About 1 KiB of cycle JSON, so a few dozen lines fill what is left of the disk."""
    values = {f"field_{i}": 1000.0 + number + i / 7 for i in range(40)}
    result = DeviceResult("pump", True, None, 0.01, values)
    return Cycle(number, 1_800_000_000.0 + number, 10.0 + number, 0.012, (result,))


async def test_a_full_disk_drops_whole_lines_counts_them_and_logs_once_each_way(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"x" * 40_000)  # most of the disk: it fills after ~20 lines
    path = small_disk / "readings.jsonl"
    sink = JsonlSink(path)
    with caplog.at_level(logging.DEBUG, logger="sensorpoll.export.jsonl"):
        await sink.start()
        for number in range(1, 61):
            sink.publish(big_cycle(number))
        full = path.read_bytes()
        filler.unlink()  # space again
        for number in range(61, 64):
            sink.publish(big_cycle(number))
        await sink.aclose()
    assert sink.stats.dropped > 0, "the disk never filled: the test proves nothing"
    assert sink.stats.published + sink.stats.dropped == 63
    assert full.endswith(b"\n"), "a fragment of a line was left at the end"
    lines = path.read_text().splitlines()
    numbers = [json.loads(line)["cycle"] for line in lines]  # every line parses
    assert numbers == sorted(numbers)
    assert numbers[-3:] == [61, 62, 63]
    assert len(numbers) == sink.stats.published
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert messages == [
        (logging.ERROR, f"writing {path} failed: No space left on device"),
        (logging.INFO, f"writing {path} works again; {sink.stats.dropped} lines were dropped"),
    ]


async def test_a_torn_last_line_is_set_apart_when_the_file_opens(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "readings.jsonl"
    path.write_bytes(b'{"cycle": 1}\n{"cycle": 2, "star')  # a crash in the middle of a line
    sink = JsonlSink(path)
    with caplog.at_level(logging.WARNING, logger="sensorpoll.export.jsonl"):
        await sink.start()
        sink.publish(cycle(3))
        await sink.aclose()
    assert [json.loads(line)["cycle"] for line in path.read_text().splitlines()] == [1, 3]
    assert sink.set_apart_path.read_bytes() == b'{"cycle": 2, "star\n'
    assert "torn line of 18 bytes" in caplog.text


async def test_a_file_that_is_one_torn_line_is_set_apart_whole(tmp_path: Path) -> None:
    path = tmp_path / "readings.jsonl"
    path.write_bytes(b"\x00" * 70_000)  # no newline at all: longer than one read-back chunk
    sink = JsonlSink(path)
    await sink.start()
    sink.publish(cycle(1))
    await sink.aclose()
    assert [json.loads(line)["cycle"] for line in path.read_text().splitlines()] == [1]
    assert sink.set_apart_path.read_bytes() == b"\x00" * 70_000 + b"\n"

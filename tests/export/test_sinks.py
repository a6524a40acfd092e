"""The jsonl sink: one line per cycle, flushed each cycle, reopened on SIGHUP (logrotate)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.export.sinks import JsonlSink


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
    with caplog.at_level(logging.INFO, logger="sensorpoll.export.sinks"):
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
    assert [r.getMessage() for r in caplog.records][-1] == f"writing {path} works again"

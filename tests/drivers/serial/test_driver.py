"""The serial driver against emulated instruments on pseudo-terminals, through real cycles."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import serial

from sensorpoll.daemon.cycle import Cycle
from sensorpoll.daemon.devices import Devices
from sensorpoll.daemon.schedule import Grid
from tests.drivers.serial.helpers import config, polling, settings_from, thermometer
from tests.fakes.instruments import FakeLine, counting, fixed


def result(cycle: Cycle, device: str = "thermometer") -> tuple[str | None, dict[str, object]]:
    found = next(d for d in cycle.devices if d.device == device)
    return found.error, dict(found.values)


async def test_reads_the_fields_from_the_reply(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    async with (
        FakeLine(port, fixed(b"21.5,-3.25\r\n")) as line,
        polling(config(thermometer(port))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == (None, {"t1": 21.5, "t2": -3.25})
    assert line.received == [b"MEAS?\r\n"]


async def test_two_slow_instruments_on_two_ports_are_read_in_one_answer_time(
    tmp_path: Path,
) -> None:
    a, b = tmp_path / "ttyUSB0", tmp_path / "ttyUSB1"
    async with (
        FakeLine(a, fixed(b"1,2\r\n"), delay=0.3),
        FakeLine(b, fixed(b"3,4\r\n"), delay=0.3),
        polling(config(thermometer(a, name="a"), thermometer(b, name="b"))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle, "a") == (None, {"t1": 1, "t2": 2})
    assert result(cycle, "b") == (None, {"t1": 3, "t2": 4})
    one_after_another = sum(d.duration_s for d in cycle.devices)  # each waits 0.3 s for its answer
    assert cycle.duration_s < 0.75 * one_after_another


def rs485_module(port: Path, name: str, address: str, extra: str = "") -> str:
    """An addressed module on a multi-drop line: `#01\\r` answered by `>+21.50\\r`."""
    return f"""\
  - name: {name}
    driver: serial
    port: {port}
    command: '#{address}\\r'
    terminator: '\\r'
    parse: '>(?P<temperature>[+-][\\d.]+)'
    fields: [{{name: temperature, unit: celsius}}]
{extra}"""


async def test_instruments_on_one_port_take_turns_on_the_line(tmp_path: Path) -> None:
    port = tmp_path / "ttyRS485"
    sent: list[tuple[float, bytes]] = []

    def answer(command: bytes) -> bytes:
        sent.append((time.monotonic(), command))
        return {b"#01\r": b">+21.50\r", b"#02\r": b">-04.25\r"}[command]

    async with (
        FakeLine(port, answer, command_end=b"\r", delay=0.1),
        polling(config(rs485_module(port, "m1", "01"), rs485_module(port, "m2", "02"))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle, "m1") == (None, {"temperature": 21.5})
    assert result(cycle, "m2") == (None, {"temperature": -4.25})
    (t1, _), (t2, _) = sent
    assert t2 - t1 >= 0.1  # the second command waited for the first answer


async def test_a_dead_instrument_on_a_shared_line_does_not_take_its_neighbour_down(
    tmp_path: Path,
) -> None:
    port = tmp_path / "ttyRS485"

    def answer(command: bytes) -> bytes | None:
        return b">+01.00\r" if command == b"#02\r" else None  # module 01 is dead

    devices = config(
        rs485_module(port, "m1", "01", extra="    late_reply_wait: 100ms\n"),
        rs485_module(port, "m2", "02", extra="    late_reply_wait: 100ms\n"),
        interval="400ms",
        timeout="300ms",
    )
    cycles: list[Cycle] = []
    async with FakeLine(port, answer, command_end=b"\r"), polling(devices) as poller:
        loop = asyncio.get_running_loop()
        grid = Grid(0.4, loop.time())
        for _ in range(5):
            await grid.wait()
            cycles.append(await poller.cycle())
            grid.advance(loop.time())
    # the first cycle: m2 queued behind m1 for all of the deadline; from then on m1 waits
    assert [result(c, "m2")[0] for c in cycles[1:]] == [None] * 4
    assert all(result(c, "m1")[0] == "timeout" for c in cycles)


async def test_a_reply_split_across_reads_is_reassembled(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    async with (
        FakeLine(port, fixed(b"21.5,-3.25\r\n"), chunks=4),
        polling(config(thermometer(port))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == (None, {"t1": 21.5, "t2": -3.25})


async def test_a_garbled_reply_is_a_parse_error_showing_the_reply(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    async with (
        FakeLine(port, fixed(b"21.5,2\xff.3\r\n")),
        polling(config(thermometer(port))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == ("parse", {})
    assert "21.5,2" in (cycle.devices[0].detail or "")


async def test_a_reply_without_its_terminator_is_a_timeout(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    async with (
        FakeLine(port, fixed(b"21.5,")),
        polling(config(thermometer(port), timeout="200ms")) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == ("timeout", {})


async def test_endless_garbage_without_a_terminator_is_a_parse_error(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    async with (
        FakeLine(port, fixed(b"\xaa\x55" * 3000)),
        polling(config(thermometer(port))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == ("parse", {})


async def test_a_truncated_reply_is_never_glued_to_the_next_one(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    replies = iter([b"21.", b"1,2\r\n"])
    async with (
        FakeLine(port, lambda command: next(replies)),
        polling(
            config(thermometer(port, extra="  late_reply_wait: 100ms\n"), timeout="300ms")
        ) as poller,
    ):
        first = await poller.cycle()
        second = await poller.cycle()
    assert result(first) == ("timeout", {})
    assert result(second) == (None, {"t1": 1, "t2": 2})


async def test_no_reply_is_a_timeout(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    async with (
        FakeLine(port, lambda command: None),
        polling(config(thermometer(port), timeout="200ms")) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == ("timeout", {})


async def test_bytes_received_unasked_are_discarded_before_the_next_command(
    tmp_path: Path,
) -> None:
    port = tmp_path / "ttyACM0"
    async with (
        FakeLine(port, fixed(b"21.5,-3.25\r\n")) as line,
        polling(config(thermometer(port))) as poller,
    ):
        line.write(b"99.9,99.9\r\n\x00noise")
        await asyncio.sleep(0.05)
        cycle = await poller.cycle()
    assert result(cycle) == (None, {"t1": 21.5, "t2": -3.25})


async def test_a_late_reply_is_not_taken_for_the_answer_to_the_next_command(
    tmp_path: Path,
) -> None:
    port = tmp_path / "ttyACM0"
    async with (
        FakeLine(port, counting("{n}.0,0\r\n"), delay=0.35) as line,
        polling(config(thermometer(port), timeout="250ms")) as poller,
    ):
        first = await poller.cycle()  # answer 1 comes 100 ms after this cycle gave up,
        line.delay = 0.1  # ... while the next read has begun
        second = await poller.cycle()
    assert result(first) == ("timeout", {})
    assert result(second) == (None, {"t1": 2.0, "t2": 0})


async def test_after_a_timeout_the_next_command_waits_for_a_late_reply_at_most_late_reply_wait(
    tmp_path: Path,
) -> None:
    port = tmp_path / "ttyACM0"
    replies = iter([None, b"1,2\r\n", b"3,4\r\n"])
    async with (
        FakeLine(port, lambda command: next(replies)) as line,
        polling(
            config(thermometer(port, extra="  late_reply_wait: 100ms\n"), timeout="250ms")
        ) as poller,
    ):
        await poller.cycle()
        held = await poller.cycle()  # starts as the first one times out
        free = await poller.cycle()  # nothing owed any more
    # held back, then answered within the deadline (not left waiting for the lost reply) ...
    assert (result(held), result(free)) == ((None, {"t1": 1, "t2": 2}), (None, {"t1": 3, "t2": 4}))
    # ... for about late_reply_wait: many times a read with nothing owed
    assert held.devices[0].duration_s > 4 * free.devices[0].duration_s
    assert len(line.received) == 3


async def test_the_echo_of_the_command_is_skipped(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    async with (
        FakeLine(port, fixed(b"21.5,-3.25\r\n"), echo=True),
        polling(config(thermometer(port, extra="  echo: true\n"))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == (None, {"t1": 21.5, "t2": -3.25})


async def test_init_commands_are_sent_once_after_opening(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    extra = "  init: ['*RST', 'UNIT C']\n  init_delay: 10ms\n"
    async with (
        FakeLine(port, fixed(b"1,2\r\n")) as line,
        polling(config(thermometer(port, extra=extra))) as poller,
    ):
        await poller.cycle()
        await poller.cycle()
    assert line.received == [b"*RST\r\n", b"UNIT C\r\n", b"MEAS?\r\n", b"MEAS?\r\n"]


async def test_identify_logs_the_instruments_answer_to_idn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = tmp_path / "ttyACM0"

    def answer(command: bytes) -> bytes:
        return b"ACME,T-1000,42,1.0\r\n" if command == b"*IDN?\r\n" else b"1,2\r\n"

    caplog.set_level(logging.INFO)
    async with (
        FakeLine(port, answer),
        polling(config(thermometer(port, extra="  identify: true\n"))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == (None, {"t1": 1, "t2": 2})
    assert "identifies as ACME,T-1000,42,1.0" in caplog.text


async def test_an_instrument_ignoring_idn_is_read_from_the_next_cycle_on(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"

    def answer(command: bytes) -> bytes | None:
        return None if command == b"*IDN?\r\n" else b"1,2\r\n"

    async with (
        FakeLine(port, answer),
        polling(config(thermometer(port, extra="  identify: true\n"), timeout="200ms")) as poller,
    ):
        first = await poller.cycle()
        second = await poller.cycle()
    assert result(first) == ("timeout", {})
    assert result(second) == (None, {"t1": 1, "t2": 2})


async def test_a_missing_port_is_a_connection_error(tmp_path: Path) -> None:
    async with polling(config(thermometer(tmp_path / "ttyUSB9"))) as poller:
        cycle = await poller.cycle()
    assert result(cycle) == ("connection", {})


async def unplug_scenario(tmp_path: Path) -> list[Cycle]:
    """Two thermometers on two USB adapters, polled on a 200 ms grid; `a`'s adapter is pulled
    after cycle 1 and plugged back in after cycle 4. Returns the 7 cycles."""
    a, b = tmp_path / "ttyUSB0", tmp_path / "ttyUSB1"
    devices = config(
        thermometer(a, name="a"), thermometer(b, name="b"), interval="200ms", timeout="150ms"
    )
    cycles: list[Cycle] = []
    async with (
        FakeLine(a, fixed(b"1,2\r\n")) as line_a,
        FakeLine(b, fixed(b"3,4\r\n")),
        polling(devices) as poller,
    ):
        loop = asyncio.get_running_loop()
        grid = Grid(0.2, loop.time())
        for number in range(1, 8):
            await grid.wait()
            cycles.append(await poller.cycle())
            grid.advance(loop.time())
            if number == 1:
                line_a.unplug()
            if number == 4:
                line_a.replug()
    return cycles


async def test_an_unplugged_adapter_is_a_connection_error(tmp_path: Path) -> None:
    cycles = await unplug_scenario(tmp_path)
    assert [result(c, "a")[0] for c in cycles[1:4]] == ["connection"] * 3


async def test_an_adapter_unplugged_during_a_read_fails_it_at_once_as_connection(
    tmp_path: Path,
) -> None:
    port = tmp_path / "ttyUSB0"
    async with (
        FakeLine(port, fixed(b"1,2\r\n"), delay=0.3) as line,
        polling(config(thermometer(port))) as poller,
    ):
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, line.unplug)
        cycle = await poller.cycle()
    assert result(cycle) == ("connection", {})  # at once: waiting would have ended in timeout


async def test_a_replugged_adapter_is_reopened_within_two_cycles(tmp_path: Path) -> None:
    cycles = await unplug_scenario(tmp_path)
    assert result(cycles[0], "a") == (None, {"t1": 1, "t2": 2})
    assert any(result(c, "a") == (None, {"t1": 1, "t2": 2}) for c in cycles[4:6])
    assert result(cycles[6], "a") == (None, {"t1": 1, "t2": 2})


async def test_an_unplugged_adapter_does_not_disturb_its_neighbours(tmp_path: Path) -> None:
    cycles = await unplug_scenario(tmp_path)
    assert [result(c, "b") for c in cycles] == [(None, {"t1": 3, "t2": 4})] * 7


@pytest.fixture
def slow_open(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Makes opening the given port take 300 ms in pyserial, as a sluggish USB adapter can."""
    slow: set[str] = set()
    real = serial.serial_for_url

    def serial_for_url(url: str, *args: object, **kwargs: object) -> object:
        if url in slow:
            time.sleep(0.3)
        return real(url, *args, **kwargs)

    monkeypatch.setattr(serial, "serial_for_url", serial_for_url)
    return lambda port: slow.add(str(port))


async def test_a_slow_opening_port_does_not_hold_up_other_ports(
    tmp_path: Path, slow_open: Callable[[Path], None]
) -> None:
    a, b = tmp_path / "ttyUSB0", tmp_path / "ttyUSB1"
    slow_open(a)
    async with FakeLine(a, fixed(b"1,2\r\n")), FakeLine(b, fixed(b"3,4\r\n")):
        # not opened beforehand: the first cycle's reads open their ports
        poller = Devices(settings_from(config(thermometer(a, name="a"), thermometer(b, name="b"))))
        try:
            cycle = await poller.cycle()
        finally:
            await poller.aclose()
    assert result(cycle, "a") == (None, {"t1": 1, "t2": 2})
    assert cycle.devices[1].ok
    assert cycle.devices[1].duration_s < cycle.devices[0].duration_s / 2  # a's open takes 0.3 s


async def test_a_port_opening_past_the_deadline_is_used_on_a_later_cycle(
    tmp_path: Path, slow_open: Callable[[Path], None]
) -> None:
    port = tmp_path / "ttyUSB0"
    slow_open(port)
    async with FakeLine(port, fixed(b"1,2\r\n")):
        poller = Devices(settings_from(config(thermometer(port), timeout="100ms")))
        try:
            first = await poller.cycle()
            await asyncio.sleep(0.3)
            second = await poller.cycle()
        finally:
            await poller.aclose()
    assert result(first) == ("timeout", {})
    assert result(second) == (None, {"t1": 1, "t2": 2})


def fds_open_on(path: str) -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == path
        except OSError:
            continue
    return count


async def test_closing_the_poller_closes_the_port_at_once(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    async with FakeLine(port, fixed(b"1,2\r\n")) as line:
        held_by_the_fake = fds_open_on(line.pty_path)
        poller = Devices(settings_from(config(thermometer(port))))
        await poller.cycle()
        assert fds_open_on(line.pty_path) == held_by_the_fake + 1
        await poller.aclose()
        assert fds_open_on(line.pty_path) == held_by_the_fake


async def test_a_reload_that_changes_init_sends_it_on_the_open_port(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    before = config(thermometer(port, extra="  init: ['UNIT C']\n  init_delay: 0s\n"))
    after = config(thermometer(port, extra="  init: ['UNIT K']\n  init_delay: 0s\n"))
    async with FakeLine(port, fixed(b"1,2\r\n")) as line, polling(before) as poller:
        await poller.cycle()
        await poller.apply(settings_from(after))
        cycle = await poller.cycle()
    assert result(cycle) == (None, {"t1": 1, "t2": 2})
    assert line.received == [b"UNIT C\r\n", b"MEAS?\r\n", b"UNIT K\r\n", b"MEAS?\r\n"]

"""ASCII instruments over TCP (LXI raw sockets, serial device servers) against loopback
stand-ins: replies in pieces, dead hosts, silent and half-open sockets, resets, a shared
device-server port; each one recovering when the stand-in behaves again."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sensorpoll.daemon.cycle import Cycle
from tests.conftest import free_port
from tests.drivers.serial.helpers import config, polling, thermometer
from tests.fakes.instruments import FakeLine, FakeSocket, by_command, fixed


def result(cycle: Cycle, device: str = "dmm") -> tuple[str | None, dict[str, object]]:
    found = next(d for d in cycle.devices if d.device == device)
    return found.error, dict(found.values)


def dmm(port: int, *, name: str = "dmm", command: str = "MEAS:VOLT:DC?", extra: str = "") -> str:
    """A SCPI multimeter on a raw socket: `command` answered by one number."""
    return f"""\
  - name: {name}
    driver: serial
    transport: tcp
    host: 127.0.0.1
    port: {port}
    command: "{command}\\n"
    fields: [{{name: dc_voltage, unit: volts}}]
{extra}"""


async def test_reads_an_instrument_over_a_socket() -> None:
    port = free_port()
    async with (
        FakeSocket(port, fixed(b"+1.234500E+00\n")) as instrument,
        polling(config(dmm(port))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == (None, {"dc_voltage": 1.2345})
    assert instrument.received == [b"MEAS:VOLT:DC?\n"]


async def test_a_reply_in_pieces_is_reassembled() -> None:
    port = free_port()
    async with (
        FakeSocket(port, fixed(b"-3.2E-07\n"), chunks=4),
        polling(config(dmm(port))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == (None, {"dc_voltage": -3.2e-07})


async def test_a_dead_host_is_a_connection_error_and_read_once_it_is_back() -> None:
    port = free_port()  # nothing listens: refused, as a host that is off but routable
    instrument = FakeSocket(port, fixed(b"1.5\n"))
    async with polling(config(dmm(port))) as poller:
        down = await poller.cycle()
        await instrument.up()
        try:
            back = await poller.cycle()
        finally:
            await instrument.down()
    assert result(down) == ("connection", {})
    assert result(back) == (None, {"dc_voltage": 1.5})


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose listener never accepts and whose accept queue is full: connects to it
    hang (the SYN goes unanswered), as to a host that vanished from the network."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    waiting = []
    for _ in range(8):  # fill the queue; later connects stay in SYN_SENT
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        waiting.append(client)
    try:
        yield port
    finally:
        for client in waiting:
            client.close()
        listener.close()


async def test_a_connect_that_hangs_is_a_connection_error_not_a_timeout(full_backlog: int) -> None:
    async with polling(config(dmm(full_backlog), timeout="400ms")) as poller:
        cycle = await poller.cycle()
    assert result(cycle) == ("connection", {})


async def test_a_host_that_accepts_and_never_answers_is_a_timeout_until_it_answers() -> None:
    port = free_port()
    async with (
        FakeSocket(port, fixed(b"2.5\n")) as instrument,
        polling(config(dmm(port), timeout="200ms")) as poller,
    ):
        instrument.mute = True
        silent = await poller.cycle()
        instrument.mute = False
        answering = await poller.cycle()
    assert result(silent) == ("timeout", {})
    assert result(answering) == (None, {"dc_voltage": 2.5})


async def test_a_half_open_socket_is_dropped_at_the_deadline_and_a_new_one_opened() -> None:
    port = free_port()
    async with (
        FakeSocket(port, fixed(b"2.5\n")) as instrument,
        polling(config(dmm(port), timeout="200ms")) as poller,
    ):
        first = await poller.cycle()
        instrument.mute = True  # the far side is gone, but no FIN or RST ever came
        vanished = await poller.cycle()
        instrument.mute = False
        reopened = await poller.cycle()
    assert [result(c)[0] for c in (first, vanished, reopened)] == [None, "timeout", None]
    assert instrument.connections == 2


async def test_a_reset_mid_reply_is_a_connection_error_and_the_socket_is_reopened() -> None:
    port = free_port()
    async with (
        FakeSocket(port, fixed(b"+1.25000E+01\n")) as instrument,
        polling(config(dmm(port))) as poller,
    ):
        instrument.reset_after = 4
        reset = await poller.cycle()
        instrument.reset_after = None
        after = await poller.cycle()
    assert result(reset) == ("connection", {})
    assert result(after) == (None, {"dc_voltage": 12.5})
    assert instrument.connections == 2


# An ADAM-4000-style module behind a device server: its address in the command, a '>' reply
ADAM_MODULE = """\
  - name: {name}
    driver: serial
    transport: tcp
    host: 127.0.0.1
    port: {port}
    command: '#{address}\\r'
    terminator: '\\r'
    parse: '>(?P<t>[-+\\d.]+)'
    fields: [{{name: t, unit: celsius}}]
"""


async def test_two_instruments_behind_one_device_server_port_share_one_connection_and_queue() -> (
    None
):
    port = free_port()
    replies = by_command({b"#01\r": b">+21.50\r", b"#02\r": b">+22.75\r"})
    devices = config(
        ADAM_MODULE.format(name="m1", port=port, address="01"),
        ADAM_MODULE.format(name="m2", port=port, address="02"),
    )
    async with (
        FakeSocket(port, replies, command_end=b"\r", delay=0.05) as server,
        polling(devices) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle, "m1") == (None, {"t": 21.5})
    assert result(cycle, "m2") == (None, {"t": 22.75})
    assert server.connections == 1
    kinds = [kind for _, kind, _ in server.events]
    assert kinds == ["command", "reply", "command", "reply"]  # one at a time, never overlapped


async def test_identify_over_a_socket_logs_the_instruments_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    replies = by_command(
        {b"*IDN?\n": b"KEITHLEY INSTRUMENTS,MODEL DMM6500,0123,1.7\n", b"MEAS:VOLT:DC?\n": b"5\n"}
    )
    caplog.set_level(logging.INFO)
    async with (
        FakeSocket(port, replies),
        polling(config(dmm(port, extra="    identify: true\n"))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == (None, {"dc_voltage": 5})
    assert "identifies as KEITHLEY INSTRUMENTS,MODEL DMM6500" in caplog.text


async def test_an_error_in_the_scpi_queue_drops_the_values_until_the_queue_is_empty() -> None:
    port = free_port()
    queue = [b'-113,"Undefined header"\n', b'-222,"Data out of range"\n']

    def errors(command: bytes) -> bytes:
        return queue.pop(0) if queue else b'+0,"No error"\n'

    replies = by_command({b"MEAS:VOLT:DC?\n": b"+4.2E+00\n", b"SYST:ERR?\n": errors})
    async with (
        FakeSocket(port, replies) as instrument,
        polling(config(dmm(port, extra="    check_errors: true\n"))) as poller,
    ):
        failed = await poller.cycle()
        clean = await poller.cycle()
    assert result(failed) == ("instrument_error", {})
    detail = failed.devices[0].detail or ""
    assert '-113,"Undefined header"' in detail
    assert "1 more" in detail
    assert result(clean) == (None, {"dc_voltage": 4.2})
    assert instrument.received.count(b"SYST:ERR?\n") == 4  # 2 errors + "0" ; then "0" again


async def test_an_unreadable_error_queue_answer_is_a_parse_error() -> None:
    port = free_port()
    replies = by_command({b"MEAS:VOLT:DC?\n": b"1\n", b"SYST:ERR?\n": b"what?\n"})
    async with (
        FakeSocket(port, replies),
        polling(config(dmm(port, extra="    check_errors: true\n"))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == ("parse", {})
    assert "SYST:ERR? answered 'what?'" in (cycle.devices[0].detail or "")


async def test_closing_the_poller_closes_the_socket() -> None:
    port = free_port()
    async with FakeSocket(port, fixed(b"1\n")) as instrument:
        async with polling(config(dmm(port))) as poller:
            await poller.cycle()
        for _ in range(100):  # the close reaches the server within a few loop iterations
            if not instrument.open_connections:
                break
            await asyncio.sleep(0.01)
        assert instrument.open_connections == 0


async def test_a_socket_instrument_and_a_serial_one_are_read_in_parallel(tmp_path: Path) -> None:
    tcp_port, tty = free_port(), tmp_path / "ttyACM0"
    async with (
        FakeSocket(tcp_port, fixed(b"1.5\n"), delay=0.2) as dmm_server,
        FakeLine(tty, fixed(b"21.5,-3.25\r\n"), delay=0.2) as line,
        polling(config(dmm(tcp_port), thermometer(tty))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle) == (None, {"dc_voltage": 1.5})
    assert result(cycle, "thermometer") == (None, {"t1": 21.5, "t2": -3.25})
    # each instrument had its command before either answered ...
    (asked_tcp, _, _), (answered_tcp, _, _) = dmm_server.events
    (asked_serial, _, _), (answered_serial, _, _) = line.events
    assert max(asked_tcp, asked_serial) < min(answered_tcp, answered_serial)
    # ... so the cycle took about the slower read, not the two one after the other
    reads = [d.duration_s for d in cycle.devices]
    assert cycle.duration_s < 0.75 * sum(reads)


async def test_a_dead_instrument_behind_a_device_server_does_not_take_its_neighbour_down() -> None:
    port = free_port()
    devices = config(
        ADAM_MODULE.format(name="m1", port=port, address="01"),
        ADAM_MODULE.format(name="m2", port=port, address="02"),
        interval="400ms",
        timeout="300ms",
    )
    replies = by_command({b"#02\r": b">+01.00\r"})  # module 01 is dead
    async with FakeSocket(port, replies, command_end=b"\r"), polling(devices) as poller:
        cycles = [await poller.cycle() for _ in range(4)]
    # the first cycle: m2 queued behind m1 for all of the deadline; from then on m1 waits
    assert [result(c, "m2")[0] for c in cycles[1:]] == [None] * 3
    assert all(result(c, "m1")[0] == "timeout" for c in cycles)


async def test_a_connection_the_instrument_closed_between_reads_is_reopened_at_once() -> None:
    port = free_port()
    async with (
        FakeSocket(port, fixed(b"7\n")) as instrument,
        polling(config(dmm(port))) as poller,
    ):
        first = await poller.cycle()
        await instrument.hang_up()  # an LXI instrument closing an idle socket
        await asyncio.sleep(0.05)  # the close reaches us before the next read
        second = await poller.cycle()
    assert [result(c) for c in (first, second)] == [(None, {"dc_voltage": 7})] * 2
    assert instrument.connections == 2

"""Several queries per reading, and ACK/ENQ handshakes, against instruments on ptys (and one
behind a device-server socket); each failure recovering when the stand-in behaves again."""

from __future__ import annotations

from pathlib import Path

from sensorpoll.daemon.cycle import Cycle
from tests.conftest import free_port
from tests.drivers.serial.helpers import config, polling
from tests.fakes.instruments import Answer, FakeLine, FakeSocket, by_command


def result(cycle: Cycle, device: str) -> tuple[str | None, dict[str, object]]:
    found = next(d for d in cycle.devices if d.device == device)
    return found.error, dict(found.values)


def detail(cycle: Cycle, device: str) -> str:
    return next(d for d in cycle.devices if d.device == device).detail or ""


def cryo(port: Path, name: str = "cryo") -> str:
    """A two-channel temperature monitor: one query per channel."""
    return f"""\
  - name: {name}
    driver: serial
    port: {port}
    terminator: "\\r\\n"
    queries:
      - {{command: "KRDG? A\\r\\n", parse: '(?P<stage_a>[-+\\d.E]+)',
         fields: [{{name: stage_a, unit: kelvin}}]}}
      - {{command: "KRDG? B\\r\\n", parse: '(?P<stage_b>[-+\\d.E]+)',
         fields: [{{name: stage_b, unit: kelvin}}]}}
"""


def neighbour(port: Path) -> str:
    return f"""\
  - name: heater
    driver: serial
    port: {port}
    command: "HTR?\\r\\n"
    fields: [{{name: output, unit: percent}}]
"""


CRYO_REPLIES = {b"KRDG? A\r\n": b"+4.2150E+00\r\n", b"KRDG? B\r\n": b"+7.70E+01\r\n"}


async def test_queries_run_in_order_and_hold_the_line_between_them(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB1"
    replies = by_command({**CRYO_REPLIES, b"HTR?\r\n": b"35.5\r\n"})
    async with (
        FakeLine(port, replies, delay=0.02) as line,
        polling(config(cryo(port), neighbour(port))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle, "cryo") == (None, {"stage_a": 4.215, "stage_b": 77.0})
    assert result(cycle, "heater") == (None, {"output": 35.5})
    # the heater's command never comes between the two channels of the monitor
    assert line.received in (
        [b"KRDG? A\r\n", b"KRDG? B\r\n", b"HTR?\r\n"],
        [b"HTR?\r\n", b"KRDG? A\r\n", b"KRDG? B\r\n"],
    )


async def test_a_reply_that_does_not_parse_names_its_query_until_it_parses(
    tmp_path: Path,
) -> None:
    port = tmp_path / "ttyUSB1"
    channel_b = [b"OVER\r\n"]

    def b_reply(command: bytes) -> bytes:
        return channel_b.pop() if channel_b else b"+7.70E+01\r\n"

    replies = by_command({b"KRDG? A\r\n": b"+4.2150E+00\r\n", b"KRDG? B\r\n": b_reply})
    async with FakeLine(port, replies), polling(config(cryo(port))) as poller:
        broken = await poller.cycle()
        fixed = await poller.cycle()
    assert result(broken, "cryo") == ("parse", {})
    assert detail(broken, "cryo").startswith("query 2 (KRDG? B): reply 'OVER'")
    assert result(fixed, "cryo") == (None, {"stage_a": 4.215, "stage_b": 77.0})


def gauge(port: Path, extra: str = "") -> str:
    """An ACK/ENQ gauge controller: PR1 is acknowledged, the value follows an ENQ."""
    return f"""\
  - name: gauge
    driver: serial
    port: {port}
    terminator: "\\r\\n"
{extra}    queries:
      - {{command: "PR1\\r\\n", expect: "\\x06\\r\\n", then: "\\x05",
         parse: '(?P<status>\\d),(?P<pressure>[-+\\d.E]+)',
         fields: [{{name: status}}, {{name: pressure, unit: pascals, scale: 100}}]}}
"""


def ack_enq(acknowledgements: list[bytes]) -> Answer:
    """PR1 answered by the next of `acknowledgements` (ACK once they run out), ENQ by the
    value."""

    def answer(command: bytes) -> bytes | None:
        if command == b"PR1\r\n":
            return acknowledgements.pop(0) if acknowledgements else b"\x06\r\n"
        if command == b"\x05":
            return b"0,1.2500E-03\r\n"
        return None

    return answer


async def test_an_ack_enq_handshake_reads_the_value_after_the_enq(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB2"
    async with (
        FakeLine(port, ack_enq([]), command_end=(b"\r\n", b"\x05")) as line,
        polling(config(gauge(port))) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle, "gauge") == (None, {"status": 0, "pressure": 0.125})
    assert line.received == [b"PR1\r\n", b"\x05"]


async def test_a_nak_is_a_parse_error_naming_it_until_the_gauge_acknowledges(
    tmp_path: Path,
) -> None:
    port = tmp_path / "ttyUSB2"
    async with (
        FakeLine(port, ack_enq([b"\x15\r\n"]), command_end=(b"\r\n", b"\x05")) as line,
        polling(config(gauge(port))) as poller,
    ):
        nak = await poller.cycle()
        ack = await poller.cycle()
    assert result(nak, "gauge") == ("parse", {})
    assert "got '\\x15\\r\\n' (NAK)" in detail(nak, "gauge")
    assert result(ack, "gauge") == (None, {"status": 0, "pressure": 0.125})
    assert line.received == [b"PR1\r\n", b"PR1\r\n", b"\x05"]  # no ENQ after the NAK


async def test_a_handshake_through_a_device_server_socket(tmp_path: Path) -> None:
    port = free_port()
    section = gauge(Path("unused")).replace(
        "    port: unused\n", f"    transport: tcp\n    host: 127.0.0.1\n    port: {port}\n"
    )
    async with (
        FakeSocket(port, ack_enq([]), command_end=(b"\r\n", b"\x05")),
        polling(config(section)) as poller,
    ):
        cycle = await poller.cycle()
    assert result(cycle, "gauge") == (None, {"status": 0, "pressure": 0.125})

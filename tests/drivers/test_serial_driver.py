"""The serial driver against emulated instruments on pseudo-terminals, through real cycles."""

from __future__ import annotations

from pathlib import Path

from sensorpoll.daemon.service import Poller
from tests.drivers.serial_helpers import settings_from
from tests.fakes.instruments import FakeLine, fixed


def thermometer(port: Path, extra: str = "", timeout: str = "500ms") -> str:
    return f"""
    interval: 1s
    timeout: {timeout}
    devices:
      - name: thermometer
        driver: serial
        port: {port}
        baudrate: 9600
        command: "MEAS?\\r\\n"
        terminator: "\\r\\n"
        parse: '(?P<t1>-?[\\d.]+),(?P<t2>-?[\\d.]+)'
        fields:
          - {{name: t1, unit: celsius}}
          - {{name: t2, unit: celsius}}
{extra}
    """


async def test_reads_the_fields_from_the_reply(tmp_path: Path) -> None:
    port = tmp_path / "ttyACM0"
    async with FakeLine(port, fixed(b"21.5,-3.25\r\n")) as line:
        poller = Poller(settings_from(thermometer(port)))
        try:
            await poller.open()
            cycle = await poller.cycle()
        finally:
            await poller.aclose()
    assert cycle.devices[0].ok, cycle.devices[0].detail
    assert dict(cycle.devices[0].values) == {"t1": 21.5, "t2": -3.25}
    assert line.received == [b"MEAS?\r\n"]

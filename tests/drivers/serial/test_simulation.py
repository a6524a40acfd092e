"""`simulate` for serial configs: ptys answering each device's command with its hinted values."""

from __future__ import annotations

import asyncio
import os
import re
import tty
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorpoll.daemon.cycle import Cycle
from sensorpoll.drivers.serial.config import SerialConfig
from sensorpoll.drivers.serial.reply import ReplyBuilder, ReplyParser, SimulationError
from sensorpoll.drivers.serial.simulation import SerialSimulator, serial_devices, serve
from tests.conftest import free_port
from tests.drivers.serial.helpers import polling, settings_from


def lab(port: Path, rs485: Path) -> str:
    return f"""
    interval: 1s
    timeout: 500ms
    devices:
      - name: thermometer
        driver: serial
        port: {port}
        command: "MEAS?\\r\\n"
        terminator: "\\r\\n"
        parse: '(?P<t1>-?[\\d.]+),(?P<t2>-?[\\d.]+)'
        fields:
          - {{name: t1, unit: celsius, simulate: {{value: 21.5}}}}
          - {{name: t2, unit: celsius, simulate: {{waveform: sine, min: -5, max: 5, period: 10s}}}}
      - name: m1
        driver: serial
        port: {rs485}
        command: '#01\\r'
        terminator: '\\r'
        split: ';'
        fields:
          - {{name: status, index: 0, type: string, simulate: {{value: OK}}}}
          - {{name: level, index: 2, scale: 0.1, simulate: {{value: 42.5}}}}
      - name: m2
        driver: serial
        port: {rs485}
        command: '#02\\r'
        terminator: '\\r'
        fields: [{{name: pump_on, type: bool, simulate: {{value: true}}}}]
    """


def devices_of(yaml_text: str) -> list[SerialConfig]:
    return serial_devices(settings_from(yaml_text).devices)


async def poll_own_simulation_showing(text: str) -> tuple[Cycle, list[str]]:
    """One cycle of the config against `SerialSimulator` of itself, and what it announced."""
    simulator = SerialSimulator(devices_of(text))
    try:
        shown = await simulator.start()
        async with polling(text) as poller:
            return await poller.cycle(), shown
    finally:
        await simulator.aclose()


async def poll_own_simulation(text: str) -> Cycle:
    cycle, _ = await poll_own_simulation_showing(text)
    return cycle


async def test_the_config_polls_its_own_simulation_with_the_hinted_values(tmp_path: Path) -> None:
    text = lab(tmp_path / "ttyACM0", tmp_path / "ttyRS485")
    cycle = await poll_own_simulation(text)
    values = {d.device: dict(d.values) for d in cycle.devices}
    assert [d.error for d in cycle.devices] == [None, None, None]
    assert values["thermometer"]["t1"] == 21.5
    assert -5 <= float(values["thermometer"]["t2"]) <= 5
    assert values["m1"] == {"status": "OK", "level": pytest.approx(42.5)}
    assert values["m2"] == {"pump_on": True}


def link_targets(directory: Path) -> list[str]:
    return sorted(os.readlink(directory / name) for name in os.listdir(directory))


async def test_serve_prints_each_device_and_its_pty(tmp_path: Path) -> None:
    shown: list[str] = []
    printed = asyncio.Event()

    def out(text: str) -> None:
        shown.append(text)
        if len(shown) == 3:
            printed.set()

    devices = devices_of(lab(Path("/dev/ttyACM0"), Path("/dev/ttyUSB0")))
    task = asyncio.create_task(serve(devices, link_dir=tmp_path, announce=out))
    await asyncio.wait_for(printed.wait(), 2)
    links = link_targets(tmp_path)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [line.split(" -> ")[0] for line in shown] == ["thermometer", "m1", "m2"]
    assert all(line.split(" -> ")[1].startswith("/dev/pts/") for line in shown)
    assert f"linked at {tmp_path / 'ttyUSB0'}" in shown[1]
    assert len(links) == 2
    assert link_targets(tmp_path) == []  # links removed when serving stops


def test_a_regex_no_reply_can_match_is_a_simulation_error(tmp_path: Path) -> None:
    (device,) = devices_of(
        f"""
        devices:
          - name: counter
            driver: serial
            port: {tmp_path / "tty"}
            command: 'N?'
            parse: 'N=(?P<n>\\d+)'
            fields: [{{name: n, simulate: {{value: -5}}}}]
        """
    )
    with pytest.raises(SimulationError, match="cannot print '-5' for field n"):
        ReplyBuilder(device, device.all_queries[0]).reply({"n": -5.0})


@pytest.mark.parametrize(
    "parse",
    [
        r"(?P<v>[+-]?\d+\.\d{2})\s?(?:mbar|Pa)",
        r"^\x02P(?P<v>\d+)\x03$",
        r"[A-Z]{3}: *(?P<v>\S+) [^0-9]+",
        r"(?:OK|ERR),(?P<v>-?\d*\.?\d+)(?:,.*)?",
    ],
)
def test_replies_are_built_to_match_the_configs_own_regex(parse: str) -> None:
    config = SerialConfig.model_validate(
        {
            "name": "g",
            "port": "/dev/null",
            "command": "P?",
            "parse": parse,
            "fields": [{"name": "v"}],
        }
    )
    reply = ReplyBuilder(config, config.all_queries[0]).reply({"v": 12.0}).rstrip("\n")
    match = re.fullmatch(parse, reply)
    assert match is not None, reply
    assert float(match.group("v")) == 12.0


async def test_the_example_serial_config_reads_its_own_simulation(tmp_path: Path) -> None:
    example = Path(__file__).parents[3] / "config" / "serial-sim.yaml"
    text = example.read_text().replace("/tmp/sensorpoll-", f"{tmp_path}/")
    cycle = await poll_own_simulation(text)
    assert [(d.device, d.error) for d in cycle.devices] == [
        ("thermometer", None),
        ("tank1", None),
        ("tank2", None),
    ]
    assert dict(cycle.devices[2].values) == {"level": pytest.approx(64.2), "valve_open": False}


THERMOMETER = SerialConfig.model_validate(
    {
        "name": "thermometer",
        "port": "/dev/null",
        "command": "MEAS?\\r\\n",
        "terminator": "\\r\\n",
        "parse": r"(?P<t1>-?[\d.]+),(?P<t2>-?[\d.]+)",
        "fields": [{"name": "t1"}, {"name": "t2", "scale": 0.01, "offset": -273.15}],
    }
)


@given(st.floats(min_value=-1e6, max_value=1e6), st.floats(min_value=-1e4, max_value=1e4))
def test_simulated_replies_read_back_as_the_simulated_values(t1: float, t2: float) -> None:
    reply = ReplyBuilder(THERMOMETER, THERMOMETER.all_queries[0]).reply({"t1": t1, "t2": t2})
    values = ReplyParser(THERMOMETER.all_queries[0]).parse(reply)
    assert values["t1"] == pytest.approx(t1, abs=1e-6)
    assert values["t2"] == pytest.approx(t2, abs=1e-6)


async def test_an_echoing_instrument_is_simulated_with_its_echo(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB0"
    text = f"""
    devices:
      - name: balance
        driver: serial
        port: {port}
        command: 'W\\r\\n'
        terminator: '\\r\\n'
        echo: true
        fields: [{{name: mass, unit: grams, simulate: {{value: 12.5}}}}]
    """
    cycle = await poll_own_simulation(text)
    assert dict(cycle.devices[0].values) == {"mass": 12.5}


async def ask(path: Path, *pieces: bytes, terminator: bytes = b"\r") -> bytes:
    """A bare client: writes `pieces` 20 ms apart, returns the reply up to `terminator`."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        tty.setraw(fd)
        for piece in pieces:
            os.write(fd, piece)
            await asyncio.sleep(0.02)
        reply = b""
        async with asyncio.timeout(1):
            while not reply.endswith(terminator):
                try:
                    reply += os.read(fd, 100)
                except BlockingIOError:
                    await asyncio.sleep(0.01)
        return reply
    finally:
        os.close(fd)


async def test_each_instrument_answers_its_own_command_even_sent_in_pieces(
    tmp_path: Path,
) -> None:
    port = tmp_path / "ttyRS485"
    text = f"""
    devices:
      - {{name: t, driver: serial, port: {port}, command: 'T\\r', terminator: '\\r',
          fields: [{{name: v, simulate: {{value: 1}}}}]}}
      - {{name: st, driver: serial, port: {port}, command: 'ST\\r', terminator: '\\r',
          fields: [{{name: v, simulate: {{value: 2}}}}]}}
    """
    simulator = SerialSimulator(devices_of(text))
    try:
        await simulator.start()
        answers = [await ask(port, b"S", b"T\r"), await ask(port, b"T\r")]
    finally:
        await simulator.aclose()
    assert answers == [b"2\r", b"1\r"]


def bench(tcp_port: int, gauge_port: int) -> str:
    """A SCPI meter on a loopback socket (identify, error queue), a two-channel monitor
    behind the same socket, and an ACK/ENQ gauge behind another one."""
    return f"""
    interval: 1s
    timeout: 500ms
    devices:
      - name: meter
        driver: serial
        transport: tcp
        host: 127.0.0.1
        port: {tcp_port}
        identify: true
        check_errors: true
        command: "READ?\\n"
        fields: [{{name: current, unit: amperes, simulate: {{value: 3.2e-07}}}}]
      - name: cryo
        driver: serial
        transport: tcp
        host: 127.0.0.1
        port: {tcp_port}
        queries:
          - {{command: "KRDG? A\\n", parse: '(?P<a>[-+\\d.E]+)',
             fields: [{{name: a, simulate: {{value: 4.2}}}}]}}
          - {{command: "KRDG? B\\n", parse: '(?P<b>[-+\\d.E]+)',
             fields: [{{name: b, simulate: {{value: 1.5e+9}}}}]}}
      - name: gauge
        driver: serial
        transport: tcp
        host: 127.0.0.1
        port: {gauge_port}
        terminator: "\\r\\n"
        queries:
          - {{command: "PR1\\r\\n", expect: "\\x06\\r\\n", then: "\\x05",
             parse: '(?P<status>\\d),(?P<pressure>[-+\\d.E]+)',
             fields: [{{name: status, simulate: {{value: 0}}}},
                      {{name: pressure, scale: 100, simulate: {{value: 0.0125}}}}]}}
    """


async def test_sockets_queries_and_handshakes_poll_their_own_simulation() -> None:
    text = bench(free_port(), free_port())
    cycle, shown = await poll_own_simulation_showing(text)
    assert [d.error for d in cycle.devices] == [None, None, None]
    values = {d.device: dict(d.values) for d in cycle.devices}
    assert values["meter"] == {"current": 3.2e-07}
    assert values["cryo"] == {"a": 4.2, "b": 1.5e9}
    assert values["gauge"] == {"status": 0, "pressure": pytest.approx(0.0125)}
    assert shown[0].startswith("meter -> tcp 127.0.0.1:")


def test_tcp_instruments_on_other_hosts_are_not_simulated() -> None:
    (device,) = devices_of(
        """
        devices:
          - {name: dmm, driver: serial, transport: tcp, host: 10.0.0.40, port: 5025,
             command: "READ?\\n", fields: [{name: v}]}
        """
    )
    assert SerialSimulator([device]).skipped == [
        "dmm: not simulated: 10.0.0.40 is not a loopback address"
    ]


@pytest.mark.parametrize("value", [3.2e-07, -4.56e-12, 1.5e9, 6.02214076e23])
def test_small_and_large_numbers_are_printed_in_scientific_notation(value: float) -> None:
    config = SerialConfig.model_validate(
        {
            "name": "meter",
            "port": "/dev/null",
            "command": "READ?",
            "parse": r"(?P<v>[-+\d.E]+)",
            "fields": [{"name": "v"}],
        }
    )
    query = config.all_queries[0]
    reply = ReplyBuilder(config, query).reply({"v": value})
    assert "E" in reply
    assert ReplyParser(query).parse(reply) == {"v": value}

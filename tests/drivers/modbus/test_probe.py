"""`sensorpoll probe`: raw registers once, every decoding side by side; exit 0/1/2."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from sensorpoll.drivers.modbus.codec import encode
from sensorpoll.drivers.modbus.server import SimulatedSlave

from .conftest import image


async def probe(*args: str) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sensorpoll",
        "probe",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return subprocess.CompletedProcess(args, proc.returncode, out.decode(), err.decode())


@pytest.fixture
async def slave():
    regs = encode(12.5, "float32", "CDAB")
    served = await SimulatedSlave.tcp({4: image({100: regs[0], 101: regs[1], 102: 0, 103: 0})})
    yield served
    await served.aclose()


async def test_probe_prints_a_word_swapped_float_in_the_cdab_column(slave):
    result = await probe(
        "--host", "127.0.0.1", "--port", str(slave.port), "--unit", "4", "--address", "100"
    )
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("type"))
    float_row = next(line for line in result.stdout.splitlines() if "float32" in line)
    cdab = header.index("CDAB")
    assert float_row[cdab:].split()[0] == "12.5"


async def test_probe_prints_every_type_and_the_raw_registers(slave):
    result = await probe(
        "--host", "127.0.0.1", "--port", str(slave.port), "--unit", "4", "--address", "100"
    )
    for name in ("int16", "uint16", "int32", "uint32", "int64", "uint64", "float64", "string"):
        assert f"  {name}" in result.stdout
    assert "0x4148" in result.stdout


async def test_probe_exits_1_when_the_read_fails(unused_tcp_port):
    result = await probe("--host", "127.0.0.1", "--port", str(unused_tcp_port), "--address", "0")
    assert result.returncode == 1
    assert "connection" in result.stderr


async def test_probe_exits_1_on_an_exception_response(slave):
    result = await probe(
        "--host", "127.0.0.1", "--port", str(slave.port), "--unit", "4", "--address", "500"
    )
    assert result.returncode == 1
    assert "modbus_exception:2" in result.stderr


async def test_probe_without_host_or_serial_is_a_usage_error():
    assert (await probe("--address", "0")).returncode == 2


async def test_probe_reads_a_serial_rtu_unit(pty_link, rtu_slave):
    await rtu_slave({9: image({0: 0x4142, 1: 0x4300})}, baudrate=115200)
    result = await probe(
        "--serial",
        pty_link.ends[0],
        "--baudrate",
        "115200",
        "--unit",
        "9",
        "--address",
        "0",
        "--count",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert "'ABC' (ABCD/CDAB)" in result.stdout
    assert "(needs 4 registers)" in result.stdout

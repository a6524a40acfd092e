"""One test per pymodbus shim in `drivers/modbus/compat.py`, against real pymodbus clients and
servers: each fails when a pymodbus release breaks the shim it names (CI runs these on the
oldest allowed pymodbus as well as the newest)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient, AsyncModbusUdpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.server import ModbusTcpServer, ModbusUdpServer

from sensorpoll.drivers.modbus import compat
from sensorpoll.drivers.modbus.server import SimulatedSlave, UnitImage
from tests.fakes.modbus_tcp import MisbehavingSlave

from .conftest import image

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def silent_slave() -> AsyncIterator[MisbehavingSlave]:
    fake = await MisbehavingSlave().start()
    fake.behaviour = "never_answer"
    yield fake
    await fake.aclose()


@pytest.fixture
async def slave() -> AsyncIterator[SimulatedSlave]:
    served = await SimulatedSlave.tcp({1: image({0: 7, 1: 8})})
    yield served
    await served.aclose()


def client(port: int, timeout: float = 1.0) -> AsyncModbusTcpClient:
    return AsyncModbusTcpClient(
        "127.0.0.1", port=port, timeout=timeout, retries=0, reconnect_delay=0
    )


async def test_connect_connects_without_a_fixed_sleep(slave, monkeypatch):
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float, *args: Any) -> Any:
        slept.append(delay)
        return await real_sleep(delay, *args)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    connecting = client(slave.port)
    try:
        assert await compat.connect(connecting)
        monkeypatch.undo()
        response = await connecting.read_holding_registers(0, count=2, device_id=1)
    finally:
        connecting.close()
    assert response.registers == [7, 8]
    assert not [delay for delay in slept if delay >= 0.05]


async def test_a_cancelled_request_is_recognised_as_the_cancellation(silent_slave):
    requesting = client(silent_slave.port, timeout=5.0)
    assert await compat.connect(requesting)

    async def request() -> bool:
        try:
            await requesting.read_holding_registers(0, count=1, device_id=1)
        except BaseException as exc:  # what pymodbus makes of the cancellation
            return compat.is_cancellation(exc, asyncio.current_task())
        return False

    try:
        task = asyncio.create_task(request())
        for _ in range(3):  # the request goes out; pymodbus awaits its answer
            await asyncio.sleep(0)
        task.cancel()
        recognised = await task
    finally:
        requesting.close()
    assert recognised


async def test_a_request_left_unanswered_is_recognised_as_a_missing_answer(silent_slave):
    requesting = client(silent_slave.port, timeout=0.1)
    assert await compat.connect(requesting)
    try:
        with pytest.raises(ModbusIOException) as failure:
            await requesting.read_holding_registers(0, count=1, device_id=1)
    finally:
        requesting.close()
    assert compat.is_missing_answer(failure.value)


async def test_image_context_serves_the_mapped_registers(slave):
    reading = client(slave.port)
    assert await compat.connect(reading)
    try:
        response = await reading.read_holding_registers(0, count=2, device_id=1)
    finally:
        reading.close()
    assert response.registers == [7, 8]


async def test_image_context_answers_an_unmapped_address_with_exception_2(slave):
    reading = client(slave.port)
    assert await compat.connect(reading)
    try:
        response = await reading.read_holding_registers(5, count=1, device_id=1)
    finally:
        reading.close()
    assert response.isError()
    assert response.exception_code == 2


async def test_image_context_refuses_writes_with_exception_1(slave):
    writing = client(slave.port)
    assert await compat.connect(writing)
    try:
        response = await writing.write_register(0, 1, device_id=1)
    finally:
        writing.close()
    assert response.isError()
    assert response.exception_code == 1


async def test_image_context_leaves_an_unknown_unit_unanswered_when_told_to_ignore_it():
    served = await SimulatedSlave.tcp({1: image({0: 7})}, framer="rtu")  # ignores missing ones
    reading = AsyncModbusTcpClient(
        "127.0.0.1", port=served.port, framer="rtu", timeout=0.2, retries=0, reconnect_delay=0
    )
    try:
        assert await compat.connect(reading)
        with pytest.raises(ModbusIOException) as failure:
            await reading.read_holding_registers(0, count=1, device_id=9)
    finally:
        reading.close()
        await served.aclose()
    assert compat.is_missing_answer(failure.value)


async def test_listening_address_is_where_a_tcp_server_on_port_0_listens():
    server = ModbusTcpServer(compat.ImageContext({1: image({0: 3})}), address=("127.0.0.1", 0))
    await server.serve_forever(background=True)
    try:
        host, port = compat.listening_address(server)
        reading = client(port)
        assert await compat.connect(reading)
        response = await reading.read_holding_registers(0, count=1, device_id=1)
        reading.close()
    finally:
        await server.shutdown()
    assert (host, response.registers) == ("127.0.0.1", [3])


async def test_listening_address_is_where_a_udp_server_on_port_0_listens():
    unit: UnitImage = image({0: 4})
    server = ModbusUdpServer(compat.ImageContext({1: unit}), address=("127.0.0.1", 0))
    await server.serve_forever(background=True)
    try:
        host, port = compat.listening_address(server)
        reading = AsyncModbusUdpClient(
            "127.0.0.1", port=port, timeout=1.0, retries=0, reconnect_delay=0
        )
        assert await compat.connect(reading)
        response = await reading.read_holding_registers(0, count=1, device_id=1)
        reading.close()
    finally:
        await server.shutdown()
    assert (host, response.registers) == ("127.0.0.1", [4])

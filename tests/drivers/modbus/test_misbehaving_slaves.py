"""Slaves that break the protocol: the daemon survives, reports a reason and no value, and
recovers as soon as the slave behaves again."""

from __future__ import annotations

import os

import pytest

from tests.fakes.modbus_tcp import MisbehavingSlave

from .conftest import device

pytestmark = pytest.mark.asyncio

DEADLINE = 0.25

# behaviour -> the reason the cycle shows
CASES = {
    "garbage": "timeout",
    "wrong_transaction_id": "timeout",  # pymodbus drops the frame: no answer arrives
    "half_frame": "timeout",
    "exception": "modbus_exception:6",
    "lying_byte_count": "protocol",
    "close_on_connect": "connection",
    "never_answer": "timeout",
    "junk_before_frame": "timeout",
}


@pytest.fixture
async def slave():
    fake = await MisbehavingSlave(value=0x1234).start()
    yield fake
    await fake.aclose()


@pytest.mark.parametrize(("behaviour", "reason"), CASES.items(), ids=list(CASES))
async def test_misbehaving_slave_reports_a_reason_and_no_value(
    slave, open_driver, behaviour, reason
):
    polled = open_driver(device(port=slave.port), deadline=DEADLINE)
    slave.behaviour = behaviour
    result = await polled.poll()
    assert (result.ok, result.error, result.values) == (False, reason, {})


@pytest.mark.parametrize("behaviour", list(CASES))
async def test_device_recovers_in_the_next_cycle_once_the_slave_behaves(
    slave, open_driver, behaviour
):
    polled = open_driver(device(port=slave.port), deadline=DEADLINE)
    assert (await polled.poll()).ok
    slave.behaviour = behaviour
    assert not (await polled.poll()).ok
    slave.behaviour = "good"
    result = await polled.poll()
    assert (result.ok, result.values) == (True, {"value": 0x1234})


async def test_connection_is_reopened_after_a_corrupt_answer(slave, open_driver):
    polled = open_driver(device(port=slave.port), deadline=DEADLINE)
    await polled.poll()
    slave.behaviour = "junk_before_frame"
    await polled.poll()
    slave.behaviour = "good"
    await polled.poll()
    assert slave.connections == 2


async def test_reconnecting_many_times_leaks_no_file_descriptors(slave, open_driver):
    polled = open_driver(device(port=slave.port), deadline=DEADLINE)
    slave.behaviour = "close_on_connect"
    await polled.poll()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert not (await polled.poll()).ok
    assert len(os.listdir("/proc/self/fd")) <= before
    assert slave.connections >= 20


async def test_after_a_good_read_reads_are_begun_and_a_failed_one_sends_the_next_through_read(
    slave, open_driver
):
    polled = open_driver(device(port=slave.port), deadline=DEADLINE)
    assert ((await polled.poll()).ok, polled.begun) == (True, 0)  # the first read connects: read()
    assert ((await polled.poll()).ok, polled.begun) == (True, 1)
    slave.behaviour = "never_answer"
    result = await polled.poll()
    assert (result.ok, result.error, polled.begun) == (False, "timeout", 2)
    slave.behaviour = "good"
    assert ((await polled.poll()).ok, polled.begun) == (True, 2)  # reconnecting: read() again
    assert ((await polled.poll()).ok, polled.begun) == (True, 3)
    assert slave.connections == 2, "the begun read that timed out dropped its connection"

"""Per-device workarounds for slow devices: pauses after connecting and between requests,
and one request per field."""

from __future__ import annotations

import pytest

from tests.fakes.modbus_tcp import MisbehavingSlave

from .conftest import device

pytestmark = pytest.mark.asyncio

TWO_BLOCKS = [{"name": "a", "address": 0}, {"name": "b", "address": 100}]


@pytest.fixture
async def slave():
    fake = await MisbehavingSlave().start()
    yield fake
    await fake.aclose()


async def test_first_request_waits_pause_after_connect(slave, open_driver):
    polled = open_driver(device(port=slave.port, pause_after_connect="150ms"), deadline=0.5)
    assert (await polled.poll()).ok
    assert slave.requests_at[0] - slave.connected_at[0] >= 0.15


async def test_pause_after_connect_applies_only_after_connecting(slave, open_driver):
    polled = open_driver(device(port=slave.port, pause_after_connect="100ms"), deadline=0.5)
    first = await polled.poll()  # connects, then pauses 100 ms
    result = await polled.poll()
    assert result.ok
    assert result.duration_s < first.duration_s / 2


async def test_requests_of_a_device_are_spaced_by_pause_between_requests(slave, open_driver):
    polled = open_driver(
        device(port=slave.port, pause_between_requests="80ms", fields=TWO_BLOCKS), deadline=0.5
    )
    assert (await polled.poll()).ok
    first, second = slave.requests_at
    assert second - first >= 0.08


async def test_one_request_per_field_sends_each_field_alone(slave, open_driver):
    fields = [{"name": "a", "address": 0}, {"name": "b", "address": 1}]
    polled = open_driver(device(port=slave.port, one_request_per_field=True, fields=fields))
    result = await polled.poll()
    assert result.values == {"a": 0x1234, "b": 0x1234}
    assert len(slave.requests_at) == 2


async def test_pause_between_requests_spans_polls_of_a_one_request_device(slave, open_driver):
    polled = open_driver(device(port=slave.port, pause_between_requests="80ms"), deadline=0.5)
    assert (await polled.poll()).ok
    assert (await polled.poll()).ok
    first, second = slave.requests_at
    assert second - first >= 0.08

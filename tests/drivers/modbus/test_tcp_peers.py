"""Our Modbus TCP framing against an implementation other than pymodbus: pyModbusTCP's
server, in a process of its own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from tests.conftest import REPO, free_port

from .conftest import device

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def peer() -> AsyncIterator[int]:
    port = free_port()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.pymodbustcp_slave",
        str(port),
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stdin is not None
    assert (await asyncio.wait_for(child.stdout.readline(), 10)).strip() == b"ready"
    yield port
    child.stdin.close()
    await child.wait()


async def test_reads_every_table_from_pymodbustcp(peer, open_driver):
    polled = open_driver(
        device(
            port=peer,
            fields=[
                {"name": "temperature", "address": 0, "type": "float32"},
                {"name": "status", "address": 2},
                {"name": "counter", "address": 3, "type": "int32", "byte_order": "CDAB"},
                {"name": "flow", "table": "input", "address": 11},
                {"name": "pump", "table": "coil", "address": 0},
                {"name": "valve", "table": "coil", "address": 1},
                {"name": "heater", "table": "coil", "address": 8},
                {"name": "door", "table": "discrete", "address": 6},
            ],
        )
    )
    result = await polled.poll()
    assert result.values == {
        "temperature": 21.5,
        "status": 7,
        "counter": -2,
        "flow": 200,
        "pump": True,
        "valve": False,
        "heater": True,
        "door": True,
    }


async def test_reads_the_largest_register_block_from_pymodbustcp(peer, open_driver):
    fields = [{"name": "first", "address": 0}, {"name": "last", "address": 124}]
    polled = open_driver(device(port=peer, max_gap=125, fields=fields))
    assert [len(r.fields) for r in polled.driver.plan.requests] == [2]  # one 125-register read
    assert (await polled.poll()).values == {"first": 0x41AC, "last": 0}


async def test_many_reads_from_pymodbustcp_keep_one_connection(peer, open_driver):
    polled = open_driver(device(port=peer, fields=[{"name": "status", "address": 2}]))
    results = [await polled.poll() for _ in range(20)]
    assert all(r.values == {"status": 7} for r in results)
    assert polled.driver.line.opened == 1

"""`is_loopback`: where `sensorpoll simulate` may serve a stand-in device."""

from __future__ import annotations

import pytest

from sensorpoll.drivers import is_loopback


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1"])
def test_localhost_and_loopback_addresses_are_loopback(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.20", "0.0.0.0", "::", "plc.lab", "localhost.lab", ""])
def test_other_addresses_and_names_are_not(host: str) -> None:
    assert not is_loopback(host)

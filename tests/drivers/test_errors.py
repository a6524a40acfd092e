"""The drivers' one exception mapping: a table per driver, first matching row wins."""

from __future__ import annotations

import pytest

from sensorpoll.drivers.errors import (
    DeviceConnectionError,
    DeviceIOError,
    DeviceTimeout,
    ExceptionTable,
    map_exceptions,
)

TABLE: ExceptionTable = (
    (ConnectionError, lambda exc: DeviceConnectionError(str(exc))),
    (OSError, lambda exc: DeviceIOError(str(exc))),
)


def test_the_first_matching_row_maps_the_exception() -> None:
    with pytest.raises(DeviceConnectionError, match="refused") as caught, map_exceptions(TABLE):
        raise ConnectionRefusedError("refused")
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_a_general_row_catches_what_the_specific_ones_miss() -> None:
    with pytest.raises(DeviceIOError, match="disk"), map_exceptions(TABLE):
        raise OSError("disk")


def test_an_exception_no_row_matches_passes_through() -> None:
    with pytest.raises(KeyError), map_exceptions(TABLE):
        raise KeyError("x")


def test_device_errors_pass_through_unchanged() -> None:
    with pytest.raises(DeviceTimeout, match=r"^slow$"), map_exceptions(TABLE, "/dev/ttyUSB0"):
        raise DeviceTimeout("slow")


def test_where_is_put_in_front_unless_the_message_names_it() -> None:
    for message, shown in [("gone", "/dev/ttyUSB0: gone"), ("/dev/ttyUSB0 gone", None)]:
        with pytest.raises(DeviceIOError) as caught, map_exceptions(TABLE, "/dev/ttyUSB0"):
            raise OSError(message)
        assert str(caught.value) == (shown or message)

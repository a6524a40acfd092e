"""The serial driver's exception table: what a port's failures become."""

from __future__ import annotations

import errno
import termios

import pytest
import serial

from sensorpoll.drivers.errors import DeviceConnectionError, DeviceIOError, map_exceptions
from sensorpoll.drivers.serial.errors import SERIAL_ERRORS, TCP_ERRORS


def test_a_port_that_is_not_there_is_a_connection_error() -> None:
    with (
        pytest.raises(DeviceConnectionError, match="/dev/ttyUSB9: "),
        map_exceptions(SERIAL_ERRORS, "/dev/ttyUSB9"),
    ):
        raise serial.SerialException(errno.ENOENT, "could not open port")


def test_line_settings_the_port_refuses_are_an_io_error() -> None:
    with (
        pytest.raises(DeviceIOError, match="line settings refused"),
        map_exceptions(SERIAL_ERRORS, "/dev/pts/3"),
    ):
        raise termios.error(errno.EINVAL, "Invalid argument")


def test_a_refused_connect_is_a_connection_error() -> None:
    with (
        pytest.raises(DeviceConnectionError, match=r"10\.0\.0\.40:5025: "),
        map_exceptions(TCP_ERRORS, "10.0.0.40:5025"),
    ):
        raise ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")

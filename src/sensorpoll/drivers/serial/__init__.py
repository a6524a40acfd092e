"""`driver: serial`: ASCII request/response instruments on serial lines (flow stage 2).

config (keys), line (the shared port), errors (pyserial -> our reasons), reply (text <->
values), driver, report (`check`), simulation (`simulate`, on ptys).
"""

from sensorpoll.drivers.serial.driver import SerialDriver

__all__ = ["SerialDriver"]

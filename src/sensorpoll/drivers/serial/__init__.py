"""`driver: serial`: ASCII request/response instruments on serial lines and TCP sockets
(flow stage 2).

config, query, text (keys), line (what a port or socket's instruments share), transports
and errors (the only pyserial and socket users), reply and pattern (text <-> values), driver,
report (`check`), simulation (`simulate`, on ptys and loopback sockets).
"""

from sensorpoll.drivers.serial.driver import SerialDriver

__all__ = ["SerialDriver"]

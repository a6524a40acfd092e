"""`driver: modbus`: Modbus TCP/UDP/RTU/ASCII/RTU-over-TCP devices (flow stage 2).

config (keys), codec (values), plan (requests), wire (line timing, CRC), client + errors
(pymodbus clients), compat (pymodbus beyond its public API), line (bus queue), driver,
report (`check`), probe (`probe`), server + pty + simulation (`simulate`).
"""

from sensorpoll.drivers.modbus.driver import ModbusDriver

__all__ = ["ModbusDriver"]

"""`driver: modbus`: Modbus TCP/UDP/RTU/ASCII/RTU-over-TCP devices (flow stage 2).

config (keys), codec (values), plan (requests), wire (line timing), client + errors (the only
pymodbus users), line (bus queue), driver, report (`check`), server + pty (`simulate`).
"""

from sensorpoll.drivers.modbus.driver import ModbusDriver

__all__ = ["ModbusDriver"]

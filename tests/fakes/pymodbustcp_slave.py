"""An independent Modbus TCP slave for the tests: pyModbusTCP's server (not pymodbus), run as
its own process (it serves from threads), with fixed tables. Prints "ready" once listening.

    python -m tests.fakes.pymodbustcp_slave PORT
"""

from __future__ import annotations

import sys

from pyModbusTCP.server import DataBank, ModbusServer

# float32 21.5 (0x41AC 0x0000), then 7, then a CDAB int32 -2 (0xFFFE 0xFFFF)
HOLDING = [0x41AC, 0x0000, 7, 0xFFFE, 0xFFFF]
INPUT = [100, 200, 300]
COILS = [True, False, True, True, False, False, False, False, True]
DISCRETE = [False, True]


def main() -> None:
    bank = DataBank()
    bank.set_holding_registers(0, HOLDING)
    bank.set_input_registers(10, INPUT)
    bank.set_coils(0, COILS)
    bank.set_discrete_inputs(5, DISCRETE)
    server = ModbusServer("127.0.0.1", int(sys.argv[1]), no_block=True, data_bank=bank)
    server.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # serve until the test closes our stdin
    finally:
        server.stop()


if __name__ == "__main__":
    main()

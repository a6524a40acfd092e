"""A raw Modbus TCP slave that misbehaves on demand: garbage, wrong transaction ids, half
frames, lying byte counts, closing on connect, silence. Switch `behaviour` at any time."""

from __future__ import annotations

import asyncio
import struct
from typing import Literal

Behaviour = Literal[
    "good",
    "garbage",
    "wrong_transaction_id",
    "half_frame",
    "exception",
    "lying_byte_count",
    "close_on_connect",
    "never_answer",
    "junk_before_frame",
]
BEHAVIOURS: tuple[Behaviour, ...] = Behaviour.__args__  # type: ignore[attr-defined]


class MisbehavingSlave:
    """Answers read-holding/input requests with register value `value` at every address,
    unless told to misbehave."""

    def __init__(self, value: int = 0x1234) -> None:
        self.behaviour: Behaviour = "good"
        self.value = value
        self.connections = 0
        self.connected_at: list[float] = []  # loop time of each accepted connection
        self.requests_at: list[float] = []  # loop time each request arrived
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self, port: int = 0) -> MisbehavingSlave:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def aclose(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    def answer(self, tid: int, unit: int, function: int, count: int) -> bytes:
        data = struct.pack(f">{count}H", *([self.value] * count))
        pdu = bytes([function, len(data)]) + data
        behaviour = self.behaviour
        if behaviour == "exception":
            pdu = bytes([function | 0x80, 6])  # slave device busy
        if behaviour == "lying_byte_count":
            pdu = bytes([function, len(data) - 2]) + data  # claims one register fewer
        if behaviour == "wrong_transaction_id":
            tid = (tid + 1) & 0xFFFF
        frame = struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu
        if behaviour == "half_frame":
            return frame[: len(frame) // 2]
        if behaviour == "junk_before_frame":
            return b"\x13\x37\xde\xad\xbe\xef\x00" + frame
        if behaviour == "garbage":
            return b"\xff\xfe\x00\x10garbage that is not modbus\r\n"
        return frame

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.connected_at.append(asyncio.get_running_loop().time())
        if self.behaviour == "close_on_connect":
            writer.close()
            return
        self._writers.add(writer)
        try:
            while True:
                header = await reader.readexactly(7)
                tid, _, length, unit = struct.unpack(">HHHB", header)
                pdu = await reader.readexactly(length - 1)
                function, _address, count = struct.unpack(">BHH", pdu[:5])
                self.requests_at.append(asyncio.get_running_loop().time())
                if self.behaviour == "never_answer":
                    continue
                if self.behaviour == "close_on_connect":
                    break
                writer.write(self.answer(tid, unit, function, count))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

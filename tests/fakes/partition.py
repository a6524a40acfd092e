"""A TCP relay on loopback that can be cut like a network partition, for outage tests.

While cut, nothing gets through in either direction: connections stay open (or are accepted)
but no byte arrives, so clients time out as they do when a route is gone. On `heal`, the
connections that lived through the cut are reset (their TCP state died with the partition)
and new ones are relayed again.
"""

from __future__ import annotations

import asyncio
import contextlib


class Partition:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.cut_now = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._cut_through: set[asyncio.Task[None]] = set()

    async def start(self) -> Partition:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        self.cut_now = True
        self._cut_through = set(self._tasks)

    def heal(self) -> None:
        self.cut_now = False
        for task in self._cut_through:
            task.cancel()
        self._cut_through = set()

    async def aclose(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        if self.cut_now:
            self._cut_through.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            if self.cut_now:  # accepted, but nothing will come of it
                while await reader.read(4096):
                    pass
                return
            up_reader, upstream = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            pipes = [
                asyncio.create_task(self._pipe(reader, upstream)),
                asyncio.create_task(self._pipe(up_reader, writer)),
            ]
            try:  # until either side closes (or fails)
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            for end in (writer, upstream):
                if end is not None:
                    end.transport.abort()  # a reset, as a connection lost in a partition gets
                    with contextlib.suppress(ConnectionError):
                        await end.wait_closed()

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(4096):
            if not self.cut_now:
                sink.write(data)
                await sink.drain()

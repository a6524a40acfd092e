"""A real headless Chromium driven over the DevTools protocol (websocket, via aiohttp): set a
viewport, load a page, evaluate JavaScript in it, take a full-page screenshot."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import require_tool

_LISTENING = re.compile(rb"DevTools listening on ws://([^/]+)/")


class Page:
    """One tab. Commands are sent one at a time; events that arrive meanwhile are kept."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        await self.ws.send_json({"id": self._next_id, "method": method, "params": params})
        while True:
            message = await self._receive()
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._events.append(message)

    async def event(self, method: str) -> dict[str, Any]:
        while True:
            for i, message in enumerate(self._events):
                if message.get("method") == method:
                    del self._events[i]
                    return message
            self._events.append(await self._receive())

    async def _receive(self) -> dict[str, Any]:
        async with asyncio.timeout(30):
            message = await self.ws.receive()
        assert message.type == aiohttp.WSMsgType.TEXT, message
        data: dict[str, Any] = json.loads(message.data)
        return data

    async def viewport(self, width: int, height: int = 900) -> None:
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,  # a phone honours the page's viewport meta
        )

    async def load(self, url: str) -> None:
        self._events.clear()
        await self.send("Page.navigate", url=url)
        await self.event("Page.loadEventFired")

    async def evaluate(self, expression: str) -> Any:
        reply = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def screenshot(self, path: Path, width: int) -> None:
        """The whole page, not just the viewport, as PNG."""
        height = await self.evaluate("document.documentElement.scrollHeight")
        await self.viewport(width, int(height))
        shot = await self.send("Page.captureScreenshot", format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))  # noqa: ASYNC240 (a test's one file)


@contextlib.asynccontextmanager
async def chromium(profile: Path, *, javascript: bool = True) -> AsyncIterator[Page]:
    """A headless Chromium with one blank tab, its DevTools on a port it picks itself."""
    binary = require_tool("chromium")
    process = await asyncio.create_subprocess_exec(
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}", "about:blank",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    drain: asyncio.Task[bytes] | None = None
    try:
        seen = b""
        async with asyncio.timeout(60):
            while (match := _LISTENING.search(seen)) is None:
                line = await process.stderr.readline()
                if not line:
                    raise AssertionError(f"chromium did not start:\n{seen.decode()}")
                seen += line
        drain = asyncio.create_task(process.stderr.read())  # keep its pipe from filling
        host = match.group(1).decode()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{host}/json/list") as response:
                targets = await response.json()
            page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            async with http.ws_connect(page_url, max_msg_size=0) as ws:
                page = Page(ws)
                await page.send("Page.enable")
                if not javascript:
                    await page.send("Emulation.setScriptExecutionDisabled", value=True)
                yield page
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        if drain is not None:
            await drain

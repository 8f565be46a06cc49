"""Full-page PNGs of the snapshot pages with headless Chromium, and every console error it reports.

Chromium's `--screenshot` flag captures only the window, so this drives one headless Chromium over
the DevTools protocol instead: load the page, collect console messages, uncaught exceptions and
failed loads, size the viewport to the page's full height, capture.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from exporters.core.tools import find_tool

WIDTH = 1600
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class ScreenshotError(RuntimeError):
    pass


@dataclass
class Shot:
    page: Path
    png: Path
    console_errors: list[str] = field(default_factory=list)


def screenshots(pages: list[Path], out: Path, timeout: float = 60) -> list[Shot]:
    """One PNG per page in `out` (same name, .png); ScreenshotError if Chromium is missing or fails."""
    return asyncio.run(asyncio.wait_for(_all(pages, out), timeout))


async def _all(pages: list[Path], out: Path) -> list[Shot]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="alismon-chromium-") as profile:
        argv = [
            find_tool("chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},1000",
            "about:blank",
        ]
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        try:
            browser_ws = await _devtools_url(proc)
            http = browser_ws.split("/devtools/")[0].replace("ws://", "http://")
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{http}/json/list") as r:
                    targets = await r.json(content_type=None)
                page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
                async with session.ws_connect(page_ws, max_msg_size=0) as ws:
                    devtools = _DevTools(ws)
                    for method in ("Page.enable", "Runtime.enable", "Log.enable"):
                        await devtools.call(method)
                    return [await _shoot(devtools, page, out / f"{page.stem}.png") for page in pages]
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def _devtools_url(proc: asyncio.subprocess.Process) -> str:
    assert proc.stderr is not None
    seen = []
    while line := (await proc.stderr.readline()).decode(errors="replace"):
        seen.append(line)
        if m := _LISTENING.search(line):
            # Keep draining stderr so Chromium never blocks on a full pipe.
            asyncio.get_running_loop().create_task(_drain(proc.stderr))
            return m.group(1)
    raise ScreenshotError("chromium exited before it listened for DevTools:\n" + "".join(seen[-10:]))


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


class _DevTools:
    """Calls and events on one DevTools page session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send_str(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = await self._receive()
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise ScreenshotError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    async def until(self, event: str) -> None:
        while not any(e.get("method") == event for e in self.events):
            self.events.append(await self._receive())

    async def _receive(self) -> dict[str, Any]:
        message = await self.ws.receive()
        if message.type != aiohttp.WSMsgType.TEXT:
            raise ScreenshotError(f"the DevTools connection ended: {message.type.name}")
        decoded: dict[str, Any] = json.loads(message.data)
        return decoded


def console_errors(events: list[dict[str, Any]]) -> list[str]:
    """What Chromium reported as wrong: console errors and warnings, uncaught exceptions, failed loads."""
    errors = []
    for e in events:
        params = e.get("params", {})
        if e.get("method") == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            errors.append(f"console.{params['type']}: {args}")
        elif e.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(f"exception: {details.get('exception', {}).get('description', details.get('text', ''))}")
        elif e.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
            entry = params["entry"]
            errors.append(f"{entry.get('source', 'log')}: {entry.get('text', '')} {entry.get('url', '')}".strip())
    return errors


async def _shoot(devtools: _DevTools, page: Path, png: Path) -> Shot:
    devtools.events.clear()
    await devtools.call(
        "Emulation.setDeviceMetricsOverride", width=WIDTH, height=1000, deviceScaleFactor=1, mobile=False
    )
    await devtools.call("Page.navigate", url=page.resolve().as_uri())
    await devtools.until("Page.loadEventFired")
    metrics = await devtools.call("Page.getLayoutMetrics")
    height = int(metrics.get("cssContentSize", metrics.get("contentSize", {})).get("height", 1000))
    await devtools.call(
        "Emulation.setDeviceMetricsOverride", width=WIDTH, height=min(max(height, 200), 16000), deviceScaleFactor=1,
        mobile=False,
    )  # fmt: skip
    shot = await devtools.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
    png.write_bytes(base64.b64decode(shot["data"]))
    return Shot(page, png, console_errors(devtools.events))


def distinct_bytes(png: Path) -> int:
    """How many distinct byte values an 8-bit PNG's pixels hold: a blank page has a handful, a drawn one ~256."""
    data = png.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ScreenshotError(f"{png} is not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width = struct.unpack(">I", chunk[:4])[0]
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    if not width or not idat:
        raise ScreenshotError(f"{png} has no image data")
    return len(set(zlib.decompress(idat)))

"""Tiny loopback HTTP servers the tests own: a node that hangs, one that answers garbage, and a proxy in
front of a real anvil that changes how answers look (no batches, integers instead of hex, a syncing node)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

# Result fields whose hex quantities the "ints" proxy turns into JSON integers.
_QUANTITY_KEYS = {"number", "timestamp", "gasUsed", "gasLimit", "baseFeePerGas", "status", "pending", "queued"}


def _ints(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) <= 18:
        return int(value, 16)
    if isinstance(value, dict):
        return {k: _ints(v) if k in _QUANTITY_KEYS else v for k, v in value.items()}
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, mode: str, upstream: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.upstream = upstream
        self.released = threading.Event()
        self.requests = 0
        # mode "flaky-receipts": eth_getTransactionReceipt fails this often per transaction before it is answered.
        self.receipt_failures = 0
        self.failed: dict[str, int] = {}
        self.method_sets: list[frozenset[str]] = []  # the methods of each HTTP request, in order
        # mode "flaky-receipts": (method, first parameter) pairs refused every time.
        self.refused: set[tuple[str, str]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.server.requests += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        mode = self.server.mode
        if mode == "hang":
            self.server.released.wait(120)  # never answers while the test runs
            return
        if mode == "garbage":
            self._send(200, b"<html>\x00\xff not json", "text/html")
            return
        request = json.loads(body)
        entries = request if isinstance(request, list) else [request]
        self.server.method_sets.append(frozenset(str(e.get("method")) for e in entries if isinstance(e, dict)))
        if isinstance(request, list):
            if mode == "no-batch":
                self._send(
                    200,
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": None,
                            "error": {"code": -32600, "message": "batch requests are not supported"},
                        }
                    ).encode(),
                )
                return
            answer: Any = [self._one(r) for r in request]
        else:
            answer = self._one(request)
        self._send(200, json.dumps(answer).encode())

    def _one(self, request: dict[str, Any]) -> dict[str, Any]:
        method = request.get("method")
        if self.server.mode == "syncing" and method == "eth_syncing":
            return {
                "jsonrpc": "2.0",
                "id": request["id"],
                "result": {"startingBlock": "0x0", "currentBlock": "0x5", "highestBlock": "0x64"},
            }
        if self.server.mode == "syncing" and method == "net_peerCount":
            return {"jsonrpc": "2.0", "id": request["id"], "result": "0x7"}
        params = request.get("params") or [None]
        if self.server.mode == "flaky-receipts" and (method, str(params[0])) in self.server.refused:
            return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32000, "message": "not available"}}
        if self.server.mode == "flaky-receipts" and method == "eth_getTransactionReceipt":
            tx = str(request["params"][0])
            if self.server.failed.get(tx, 0) < self.server.receipt_failures:
                self.server.failed[tx] = self.server.failed.get(tx, 0) + 1
                return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32000, "message": "try later"}}
        assert self.server.upstream is not None
        answer = requests.post(self.server.upstream, json=request, timeout=10).json()
        if self.server.mode == "no-batch" and "result" in answer:
            answer["result"] = _ints(answer["result"])
        return answer


@contextmanager
def rpc_server(mode: str, upstream: str | None = None) -> Iterator[_Server]:
    """mode: hang, garbage, no-batch (refuses batches, answers quantities as integers), syncing,
    flaky-receipts (refuses each receipt `receipt_failures` times first, and the calls in `refused` always)."""
    server = _Server(mode, upstream)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()

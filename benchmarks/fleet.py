"""One loopback HTTP server that impersonates many exporters, for sharding tests and capacity measurements.

Target i is served at /t/<i>/metrics with the payload of kind `i % len(payloads)` (real exporter output
captured beforehand). Prometheus tells the targets apart by the `instance` label each target group
sets in the file-SD file (`targets_file`), and reaches each through `__metrics_path__`, so a few
hundred or thousand targets cost one port and one thread pool.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

_PATH = re.compile(r"^/t/(\d+)/metrics$")
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256

    def __init__(self, payloads: Sequence[bytes], targets: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.payloads = list(payloads)
        self.targets = targets
        self.scrapes = [0] * targets
        self.lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A scraper hanging up mid-answer (Prometheus stopping, a scrape timeout) is not a fault here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        m = _PATH.match(self.path.split("?", 1)[0])
        if m is None or int(m.group(1)) >= self.server.targets:
            self.send_error(404)
            return
        i = int(m.group(1))
        with self.server.lock:
            self.server.scrapes[i] += 1
        body = self.server.payloads[i % len(self.server.payloads)]
        self.send_response(200)
        self.send_header("Content-Type", TEXT_FORMAT)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Fleet:
    def __init__(self, server: _Server) -> None:
        self._server = server

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def scrapes(self) -> list[int]:
        with self._server.lock:
            return list(self._server.scrapes)

    def target_groups(self, prefix: str = "agent", labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """File-SD groups, one per target: instance `<prefix>-<i>`, its own metrics path, extra labels."""
        return [
            {
                "targets": [self.address],
                "labels": {"instance": f"{prefix}-{i}", "__metrics_path__": f"/t/{i}/metrics", **(labels or {})},
            }
            for i in range(self._server.targets)
        ]

    def targets_file(self, path: Path, prefix: str = "agent", labels: dict[str, str] | None = None) -> Path:
        path.write_text(yaml.safe_dump(self.target_groups(prefix, labels)))
        return path


@contextmanager
def fleet(payloads: Sequence[bytes], targets: int) -> Iterator[Fleet]:
    server = _Server(payloads, targets)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Fleet(server)
    finally:
        server.shutdown()
        server.server_close()


def series_count(payload: bytes) -> int:
    """Samples in a text-format payload (one series each): what one target adds to a TSDB, before `up` & co."""
    return sum(1 for line in payload.decode().splitlines() if line and not line.startswith("#"))

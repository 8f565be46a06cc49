"""Hostile and careless clients against a real business exporter with TLS and basic auth on.

Outcomes and bounds only: every scrape answers within the test's timeout while the attack runs,
the exporter's CPU time stays a small fraction of what inflating the bombs would cost, and
each refusal has its documented status and reason.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from exporters.stack.procs import ManagedProcess
from tests.business_util import TOKEN, Business, start_business
from tests.helpers import samples, value
from tests.integration.test_tls_auth import make_tls_files, web_config

PASSWORD = "correct horse"
BOMB_MIB = 256  # spaces inside; about 260 KB gzipped


@pytest.fixture(scope="module")
def bomb() -> bytes:
    pack = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    return b"".join([*(pack.compress(block) for _ in range(BOMB_MIB)), pack.flush()])


PER_CLIENT = 150
HTTP_LIMITS = {"max_connections": 200, "max_connections_per_client": PER_CLIENT, "header_timeout": "2s"}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, tls: tuple[Path, Path]) -> Iterator[tuple[Business, str]]:
    """One exporter with TLS and basic auth for the tests of this module (each asserts on what it
    did itself: counters as differences, connections of its own)."""
    tmp_path = tmp_path_factory.mktemp("secured")
    cert, key = tls
    web = web_config(tmp_path, cert, key, PASSWORD)
    exporters = {"business": {"listen_address": "127.0.0.1:9812", "http": HTTP_LIMITS}}
    started: list[ManagedProcess] = []
    try:
        biz = start_business(
            tmp_path,
            started,
            extra=["--web.config.file", str(web)],
            scheme="https",
            verify=str(cert),
            auth=("prometheus", PASSWORD),
            config={"exporters": exporters},
        )
        yield biz, str(cert)
    finally:
        for p in started:
            p.stop()


def scrape(biz: Business, cert: str) -> str:
    return requests.get(f"{biz.url}/metrics", auth=("prometheus", PASSWORD), verify=cert, timeout=5).text


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def claim(status: str = "submitted") -> dict:
    return {"type": "claims", "labels": {"type": "land", "status": status}}


def test_basic_auth_guards_scrapes_and_the_bearer_token_guards_ingest(secured: tuple[Business, str]) -> None:
    biz, cert = secured
    basic = ("prometheus", PASSWORD)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    events = f"{biz.url}/api/v1/events"
    before = scrape(biz, cert)
    assert requests.post(events, json=claim(), headers=bearer, verify=cert, timeout=5).json() == {
        "accepted": 1,
        "duplicates": 0,
    }
    # The ingest API takes the bearer token only: basic credentials or none are refused in its JSON shape.
    for kwargs in ({"auth": basic}, {}):
        r = requests.post(events, json=claim(), verify=cert, timeout=5, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    # Under the API's prefix its own auth comes first, as a server behind basic auth puts auth before
    # routing: without the token any path or method is 401; with it, a wrong method 405, a wrong path 404.
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", "/api/v1/events", {}, 401, "unauthorized"),
        ("GET", "/api/v1/events", {"auth": basic}, 401, "unauthorized"),
        ("GET", "/api/v1/events", {"headers": bearer}, 405, "method_not_allowed"),
        ("POST", "/api/v1/nope", {}, 401, "unauthorized"),
        ("POST", "/api/v1/nope", {"headers": bearer}, 404, "not_found"),
    ]
    for method, path, kwargs, status, error in cases:
        r = requests.request(method, f"{biz.url}{path}", verify=cert, timeout=5, **kwargs)  # type: ignore[arg-type]
        assert (r.status_code, r.json()["error"]) == (status, error), (method, path, kwargs, r.text)
    # Everything else takes basic auth, even when reached through the API's prefix.
    for path in ("/metrics", "/", "/-/ready", "/api/v1/../metrics"):
        assert requests.get(f"{biz.url}{path}", verify=cert, timeout=5).status_code == 401, path
        assert requests.get(f"{biz.url}{path}", headers=bearer, verify=cert, timeout=5).status_code == 401, path
    answer = requests.get(f"{biz.url}/metrics", auth=basic, verify=cert, timeout=5)
    assert answer.status_code == 200
    after = answer.text

    def added(name: str, **labels: str) -> float:
        return value(after, name, **labels) - (value(before, name, **labels) if f"{name}{{" in before else 0.0)

    assert added("business_claims_total", type="land", status="submitted") == 1
    assert added("business_events_rejected_total", reason="unauthorized") == 2 + 3
    assert added("business_events_rejected_total", reason="method_not_allowed") == 1
    # The API's description is public: it documents the API and holds no data.
    assert requests.get(f"{biz.url}/api/v1/openapi.json", verify=cert, timeout=5).json()["openapi"] == "3.1.0"


def test_gzip_bombs_with_and_without_credentials_leave_scrapes_and_cpu_alone(
    secured: tuple[Business, str], bomb: bytes
) -> None:
    biz, cert = secured
    basic = ("prometheus", PASSWORD)
    gz = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    targets = [
        (f"{biz.url}/api/v1/events", {**gz, "Authorization": f"Bearer {TOKEN}"}, None, 413),  # credentials
        (f"{biz.url}/api/v1/events", gz, None, 401),
        (f"{biz.url}/metrics", gz, None, 401),  # a body where none is read, unauthenticated
        (f"{biz.url}/metrics", gz, basic, 405),  # and authenticated (POST is not a scrape)
    ]
    assert requests.get(f"{biz.url}/metrics", auth=basic, verify=cert, timeout=5).ok  # the scraper's login is cached
    too_large_before = samples(scrape(biz, cert)).get(
        ("business_events_rejected_total", (("reason", "body_too_large"),)), 0
    )
    statuses: list[int] = []
    stop = threading.Event()

    def attack(url: str, headers: dict[str, str], auth: tuple[str, str] | None) -> None:
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    statuses.append(
                        s.post(url, data=bomb, headers=headers, auth=auth, verify=cert, timeout=10).status_code
                    )
                except requests.ConnectionError:
                    statuses.append(0)  # the server closed the connection after answering: fine, counted apart

    before = cpu_seconds(biz.process.pid)
    attackers = [threading.Thread(target=attack, args=t[:3]) for t in targets]
    for t in attackers:
        t.start()
    scrapes = []
    try:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            # The bound: a scrape answers within 2 s while 4 bombs are in flight (it took 8 s when they were inflated).
            r = requests.get(f"{biz.url}/metrics", auth=basic, verify=cert, timeout=2)
            scrapes.append(r.status_code)
            time.sleep(0.1)
    finally:
        stop.set()
        for t in attackers:
            t.join(15)
    used = cpu_seconds(biz.process.pid) - before
    bombs = len(statuses)
    assert scrapes and set(scrapes) == {200}
    assert bombs >= 8, statuses
    assert set(statuses) <= {413, 401, 405, 0} and 413 in statuses and 401 in statuses, statuses
    # Inflating one bomb costs about 0.6 s of CPU; reading it raw costs a few ms.
    assert used < 0.1 * bombs + 1.0, f"{used:.2f}s CPU for {bombs} bombs"
    print(f"{bombs} bombs, {used:.2f}s exporter CPU, {len(scrapes)} scrapes all 200")
    too_large = value(scrape(biz, cert), "business_events_rejected_total", reason="body_too_large")
    assert too_large - too_large_before == statuses.count(413)


def test_wrong_password_flood_is_throttled_and_cannot_hold_an_authorized_scrape(
    secured: tuple[Business, str],
) -> None:
    biz, cert = secured
    basic = ("prometheus", PASSWORD)
    assert requests.get(f"{biz.url}/metrics", auth=basic, verify=cert, timeout=5).ok
    statuses: list[int] = []
    retry_after: set[str] = set()

    def flood() -> None:
        with requests.Session() as s:
            for i in range(25):
                r = s.get(f"{biz.url}/metrics", auth=("prometheus", f"wrong-{i}"), verify=cert, timeout=30)
                statuses.append(r.status_code)
                retry_after.add(r.headers.get("Retry-After", ""))

    flooders = [threading.Thread(target=flood) for _ in range(4)]
    for t in flooders:
        t.start()
    scraped: list[int] = []
    while any(t.is_alive() for t in flooders):
        # A cached login is answered without queueing behind the bcrypt checks of the flood.
        scraped.append(requests.get(f"{biz.url}/metrics", auth=basic, verify=cert, timeout=2).status_code)
    for t in flooders:
        t.join()
    assert scraped and set(scraped) == {200}
    assert len(statuses) == 100 and set(statuses) == {401, 429}
    # 30 failures a minute per address are checked; the rest are refused without a bcrypt check.
    assert statuses.count(401) <= 33 and statuses.count(429) >= 68, statuses
    assert any(v.isdigit() and 1 <= int(v) <= 60 for v in retry_after), retry_after


def raw_http(url: str, request: bytes, timeout: float = 10) -> tuple[int, dict]:
    """Send bytes as they are (framing a client library would never break) and read the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"application/json" in head, head
    return int(head.split()[1]), json.loads(body)


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_every_client_fault_gets_a_4xx_in_the_json_shape(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    biz = start_business(tmp_path, procs, {"limits": {"body_timeout": "1s"}})
    url = f"{biz.url}/api/v1/events"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    as_json = {**auth, "Content-Type": "application/json"}

    def refused(r: requests.Response, status: int, error: str, words: str) -> None:
        assert r.status_code == status and r.headers["Content-Type"].startswith("application/json"), r.text
        assert r.json()["error"] == error and words in r.json()["message"], r.json()

    refused(requests.post(url, data=b"{}", headers=auth, timeout=5), 415, "unsupported_media_type", "missing")
    refused(requests.post(url, data=b'"\xff"', headers=as_json, timeout=5), 400, "bad_json", "not valid UTF-8")
    refused(requests.post(url, data=b"", headers=as_json, timeout=5), 400, "bad_json", "empty")
    refused(
        requests.post(url, data=b"{}", headers={**as_json, "Content-Encoding": "br"}, timeout=5),
        415,
        "unsupported_encoding",
        "'br' is not supported",
    )
    refused(
        requests.post(url, data=b"{}", headers={**as_json, "Content-Encoding": "gzip"}, timeout=5),
        400,
        "bad_encoding",
        "not valid gzip",
    )
    refused(
        biz.post({"type": "claims", "labels": {"type": 5, "status": "submitted"}}),
        422,
        "invalid_label_value",
        "must be a string, not a number",
    )
    huge = biz.post({"type": "x" * (1 << 19)})
    refused(huge, 422, "unknown_type", "(524288 characters)")
    assert len(huge.content) < 500
    refused(requests.get(url, headers=auth, timeout=5), 405, "method_not_allowed", "GET /api/v1/events")
    refused(requests.post(f"{biz.url}/api/v1/nope", headers=auth, timeout=5), 404, "not_found", "/api/v1/nope")

    head = f"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
    head += "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    # Framing that breaks after the headers: an answer, at once.
    status, body = raw_http(biz.url, head.encode() + b"5\r\n[{}, \r\nzz\r\n")
    assert (status, body["error"]) == (400, "bad_framing"), body
    # Framing that stalls (a chunk announced, never sent): an answer once body_timeout has passed.
    status, body = raw_http(biz.url, head.encode() + b'64\r\n[{"ty')
    assert (status, body["error"]) == (408, "request_timeout"), body
    # A request the HTTP parser refuses before any handler: the same shape, one clean log line.
    status, body = raw_http(biz.url, b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nBad Header\x01: y\r\n\r\n")
    assert (status, body["error"]) == (400, "bad_request"), body
    assert "^" not in body["message"]

    metrics = biz.metrics()
    for reason, count in {
        "unsupported_media_type": 1,
        "bad_json": 2,
        "unsupported_encoding": 1,
        "bad_encoding": 1,
        "invalid_label_value": 1,
        "unknown_type": 1,
        "method_not_allowed": 1,
        "not_found": 1,
        "bad_framing": 1,
        "request_timeout": 1,
        "bad_request": 1,
    }.items():
        assert value(metrics, "business_events_rejected_total", reason=reason) == count, reason
    log = biz.process.log_path.read_text()
    assert "Traceback" not in log and 'err="      ^"' not in log and "status=500" not in log


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def scrape_from(address: str, url: str, cert: str) -> int:
    """A scrape from another loopback address (a client other than the one holding connections)."""
    host, port = url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=cert)
    conn = http.client.HTTPSConnection(host, int(port), timeout=2, context=context, source_address=(address, 0))
    token = base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Basic {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_idle_and_slow_connections_are_capped_timed_out_and_give_memory_back(secured: tuple[Business, str]) -> None:
    biz, cert = secured
    host, port = biz.url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=cert)
    assert scrape_from("127.0.0.2", biz.url, cert) == 200  # warms the login cache and the code paths
    start_rss = rss_bytes(biz.process.pid)
    held: list[ssl.SSLSocket] = []
    refused = 0
    for i in range(300):
        raw = socket.create_connection((host, int(port)), timeout=5)
        try:
            tls = context.wrap_socket(raw, server_hostname=host)
        except (ssl.SSLError, OSError):
            refused += 1  # closed during the handshake: past a limit
            continue
        if i % 2:
            tls.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # a head that never ends
        held.append(tls)
    try:
        # A connection past the per-client cap is closed as soon as it is made.
        closed = 0
        for tls in held:
            tls.settimeout(0.05)
            try:
                closed += tls.recv(1) == b""
            except (TimeoutError, ssl.SSLError, OSError):
                pass
        open_now = len(held) - closed
        assert open_now <= PER_CLIENT, (open_now, refused)
        assert refused + closed >= 300 - PER_CLIENT
        # Another client still scrapes while one holds 150 idle or half-sent connections.
        assert scrape_from("127.0.0.2", biz.url, cert) == 200
        peak_rss = rss_bytes(biz.process.pid)
        # Past header_timeout (2 s) the server has closed every connection that sent no complete head.
        deadline = time.monotonic() + 10
        for tls in held:
            tls.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                assert tls.recv(1) == b""
            except (ssl.SSLError, ConnectionResetError):
                pass  # closed under the TLS layer: closed all the same
    finally:
        for tls in held:
            tls.close()
    assert scrape_from("127.0.0.1", biz.url, cert) == 200  # the slots are free again
    # Each connection closed unserved is counted, by reason.
    metrics = requests.get(f"{biz.url}/metrics", auth=("prometheus", PASSWORD), verify=cert, timeout=5).text
    unserved = {
        reason: value(metrics, "alismon_http_connections_refused_total", reason=reason)
        for reason in ("max_connections", "max_connections_per_client", "header_timeout")
    }
    at_caps = unserved["max_connections"] + unserved["max_connections_per_client"]
    assert at_caps >= 1 and unserved["header_timeout"] >= 1, unserved
    assert at_caps + unserved["header_timeout"] >= 300 - PER_CLIENT, unserved
    time.sleep(0.5)
    end_rss = rss_bytes(biz.process.pid)
    print(f"RSS {start_rss >> 20} MiB -> {peak_rss >> 20} MiB with 150 connections -> {end_rss >> 20} MiB")
    assert end_rss < start_rss + 16 * 2**20, (start_rss, peak_rss, end_rss)


def test_gzip_bombs_at_the_system_exporter_leave_its_scrapes_alone(
    tmp_path: Path, tls: tuple[Path, Path], start_system_exporter: Callable[..., str], bomb: bytes
) -> None:
    cert, key = tls
    web = web_config(tmp_path, cert, key, PASSWORD)
    basic = ("prometheus", PASSWORD)
    base = start_system_exporter("--web.config.file", str(web), scheme="https", verify=str(cert), auth=basic)
    stop = threading.Event()
    statuses: list[int] = []

    def attack() -> None:
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    r = s.post(f"{base}/metrics", data=bomb, headers={"Content-Encoding": "gzip"}, verify=str(cert))
                    statuses.append(r.status_code)
                except requests.ConnectionError:
                    statuses.append(0)

    attackers = [threading.Thread(target=attack) for _ in range(4)]
    for t in attackers:
        t.start()
    try:
        deadline = time.monotonic() + 3
        scrapes = []
        while time.monotonic() < deadline:
            # Within 2 s while 4 bombs are in flight (10 s when the server inflated them).
            scrapes.append(requests.get(f"{base}/metrics", auth=basic, verify=str(cert), timeout=2).status_code)
    finally:
        stop.set()
        for t in attackers:
            t.join(15)
    assert scrapes and set(scrapes) == {200}
    assert len(statuses) >= 8 and set(statuses) <= {401, 0}, statuses

"""Hostile and careless clients against a real business exporter with TLS and basic auth on.

Outcomes and bounds only: every scrape answers within the test's timeout while the attack runs,
the exporter's CPU time stays a small fraction of what inflating the bombs would cost, and
each refusal has its documented status and reason.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from pathlib import Path

import pytest
import requests

from exporters.stack.procs import ManagedProcess
from tests.business_util import TOKEN, Business, start_business
from tests.helpers import value
from tests.integration.test_tls_auth import tls_files, web_config

__all__ = ["tls_files"]  # a fixture, used by name

PASSWORD = "correct horse"
BOMB_MIB = 256  # spaces inside; about 260 KB gzipped


@pytest.fixture(scope="module")
def bomb() -> bytes:
    pack = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    return b"".join([*(pack.compress(block) for _ in range(BOMB_MIB)), pack.flush()])


@pytest.fixture
def secured(tmp_path: Path, procs: list[ManagedProcess], tls_files: tuple[Path, Path]) -> tuple[Business, str]:
    cert, key = tls_files
    web = web_config(tmp_path, cert, key, PASSWORD)
    biz = start_business(
        tmp_path,
        procs,
        extra=["--web.config.file", str(web)],
        scheme="https",
        verify=str(cert),
        auth=("prometheus", PASSWORD),
    )
    return biz, str(cert)


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
    assert requests.post(events, json=claim(), headers=bearer, verify=cert, timeout=5).json() == {
        "accepted": 1,
        "duplicates": 0,
    }
    # The ingest API takes the bearer token only: basic credentials or none are refused in its JSON shape.
    for kwargs in ({"auth": basic}, {}):
        r = requests.post(events, json=claim(), verify=cert, timeout=5, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    # Everything else takes basic auth, even when reached through the API's prefix.
    for path in ("/metrics", "/", "/-/ready", "/api/v1/../metrics"):
        assert requests.get(f"{biz.url}{path}", verify=cert, timeout=5).status_code == 401, path
        assert requests.get(f"{biz.url}{path}", headers=bearer, verify=cert, timeout=5).status_code == 401, path
    scrape = requests.get(f"{biz.url}/metrics", auth=basic, verify=cert, timeout=5)
    assert scrape.status_code == 200
    assert value(scrape.text, "business_claims_total", type="land", status="submitted") == 1
    assert value(scrape.text, "business_events_rejected_total", reason="unauthorized") == 2
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
    metrics = requests.get(f"{biz.url}/metrics", auth=basic, verify=cert, timeout=5).text
    assert value(metrics, "business_events_rejected_total", reason="body_too_large") == statuses.count(413)


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

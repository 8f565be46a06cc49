"""The system exporter as a process: exposition formats, promtool lint, endpoints, watched processes."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import requests

from exporters.stack.procs import alismon_argv
from tests.conftest import REPO, tool
from tests.helpers import families, value, wait_for


def documented_system_metrics() -> set[str]:
    """Metric names in docs/metrics.md's system table (first column, `system_...` or alismon_...)."""
    text = (REPO / "docs/metrics.md").read_text()
    section = text.split("## System exporter", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `((?:system|alismon)_[a-z0-9_]+)`", section, re.M))


def exposed_names(text: str) -> set[str]:
    return {m for m in re.findall(r"^# TYPE (\S+) ", text, re.M)}


def test_promtool_check_metrics_is_clean(start_system_exporter: Callable[..., str]) -> None:
    base = start_system_exporter()
    body = requests.get(f"{base}/metrics", timeout=5).text
    result = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=body, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def test_every_documented_metric_is_exposed_and_vice_versa(start_system_exporter: Callable[..., str]) -> None:
    # A watched process that exists, so the process families have series.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "alismon-doc-probe"])
    try:
        base = start_system_exporter(
            config={"system": {"processes": [{"name": "probe", "match": {"cmdline": "alismon-doc-probe"}}]}}
        )
        body = requests.get(f"{base}/metrics", timeout=5).text
    finally:
        sleeper.kill()
    documented = documented_system_metrics()
    exposed = exposed_names(body)
    assert len(documented) >= 40
    assert documented - exposed == set(), "documented but not exposed"
    assert exposed - documented == set(), "exposed but not documented in docs/metrics.md"
    parsed = families(body)
    empty = [n for n, f in parsed.items() if not f.samples]
    assert empty == [], f"families without samples: {empty}"


def test_openmetrics_and_gzip_by_request_headers(start_system_exporter: Callable[..., str]) -> None:
    base = start_system_exporter()
    r = requests.get(f"{base}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}, timeout=5)
    assert r.headers["Content-Type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")
    raw = requests.get(f"{base}/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True).raw
    assert raw.headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(raw.read(decode_content=False)).decode()
    assert "system_memory_total_bytes" in text
    plain = requests.get(f"{base}/metrics", headers={"Accept-Encoding": "identity"}, timeout=5)
    assert "Content-Encoding" not in plain.headers
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_keep_alive_reuses_one_connection(start_system_exporter: Callable[..., str]) -> None:
    base = start_system_exporter()
    with requests.Session() as session:
        for _ in range(5):
            r = session.get(f"{base}/metrics", timeout=5)
            assert r.status_code == 200
            assert r.raw.version == 11
        adapter = session.adapters["http://"]
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
        pool = next(iter(adapter.poolmanager.pools._container.values()))
        assert pool.num_connections == 1


def test_landing_health_and_readiness(start_system_exporter: Callable[..., str]) -> None:
    base = start_system_exporter()
    landing = requests.get(base + "/", timeout=5)
    assert landing.ok and 'href="/metrics"' in landing.text
    assert requests.get(base + "/-/healthy", timeout=5).text == "Healthy\n"
    assert requests.get(base + "/-/ready", timeout=5).text == "Ready\n"
    assert requests.get(base + "/nope", timeout=5).status_code == 404


def test_self_metrics_per_collector(start_system_exporter: Callable[..., str]) -> None:
    base = start_system_exporter("--no-collector.diskstats")
    body = requests.get(f"{base}/metrics", timeout=5).text
    assert (
        value(
            body,
            "alismon_build_info",
            exporter="system",
            version="0.1.0",
            python_version=sys.version.split()[0],
        )
        == 1
    )
    for collector in ("cpu", "loadavg", "meminfo", "filesystem", "netdev", "kernel", "processes"):
        assert value(body, "system_scrape_collector_success", collector=collector) == 1
        assert 0 <= value(body, "system_scrape_collector_duration_seconds", collector=collector) < 5
    assert 'collector="diskstats"' not in body
    assert "system_disk_read_bytes_total" not in body


def test_watched_process_up_and_down(start_system_exporter: Callable[..., str], tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "alismon-watch-me"])
    pidfile = tmp_path / "sleeper.pid"
    pidfile.write_text(f"{sleeper.pid}\n")
    try:
        base = start_system_exporter(
            config={
                "system": {
                    "processes": [
                        {"name": "by-cmdline", "match": {"cmdline": "alismon-watch-me"}},
                        {"name": "by-pidfile", "match": {"pidfile": str(pidfile)}},
                        {"name": "absent", "match": {"comm": "no-such-binary"}},
                    ]
                }
            }
        )
        body = requests.get(f"{base}/metrics", timeout=5).text
        for name in ("by-cmdline", "by-pidfile"):
            assert value(body, "system_process_up", process=name) == 1
            assert value(body, "system_process_matched", process=name) == 1
            assert value(body, "system_process_resident_memory_bytes", process=name) > 1_000_000
            assert value(body, "system_process_threads", process=name) >= 1
            assert value(body, "system_process_open_fds", process=name) >= 3
        assert value(body, "system_process_up", process="absent") == 0
    finally:
        sleeper.kill()
        sleeper.wait()
    body = requests.get(f"{base}/metrics", timeout=5).text
    assert value(body, "system_process_up", process="by-cmdline") == 0
    assert value(body, "system_process_up", process="by-pidfile") == 0


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_watched_process_by_comm_gone_and_restarted(start_system_exporter: Callable[..., str], tmp_path: Path) -> None:
    """A real process with a distinctive comm (sleep run through a symlink named alismon-watchme): absent,
    started and found by a rescan, killed (a zombie until reaped: down at once), restarted and found again."""
    link = tmp_path / "alismon-watchme"
    link.symlink_to(shutil.which("sleep") or "/bin/sleep")
    interval = 2.0
    base = start_system_exporter(
        config={
            "system": {
                "processes": [{"name": "sleeper", "match": {"comm": "alismon-watchme"}}],
                "process_rescan_interval": interval,
            }
        }
    )

    def scrape() -> str:
        return requests.get(f"{base}/metrics", timeout=5).text

    def scrape_when_up() -> str | None:
        body = scrape()
        return body if value(body, "system_process_up", process="sleeper") == 1 else None

    assert value(scrape(), "system_process_up", process="sleeper") == 0
    sleepers = []
    try:
        for _ in range(2):
            sleeper = subprocess.Popen([str(link), "60"])
            sleepers.append(sleeper)
            body = wait_for(scrape_when_up, 3 * interval + 5, "a rescan to find the started process")
            assert value(body, "system_process_matched", process="sleeper") == 1
            assert value(body, "system_process_threads", process="sleeper") == 1
            sleeper.kill()
            # Dead but not reaped yet: a zombie still has its /proc entry, and is down at the next scrape.
            wait_for(lambda p=sleeper.pid: process_state(p) == "Z", 10, "the killed process to die")
            assert value(scrape(), "system_process_up", process="sleeper") == 0
            sleeper.wait()
            assert value(scrape(), "system_process_up", process="sleeper") == 0
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


def test_sigterm_exits_cleanly(start_system_exporter: Callable[..., str], procs: list) -> None:
    start_system_exporter()
    proc = procs[-1]
    assert proc.stop() == 0
    assert 'msg="shutting down"' in proc.log_path.read_text()


def test_port_in_use_is_a_clear_error(start_system_exporter: Callable[..., str]) -> None:
    base = start_system_exporter()
    port = base.rsplit(":", 1)[1]
    result = subprocess.run(
        alismon_argv("system", config_file=REPO / "config.yml", listen_address=f"127.0.0.1:{port}"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr

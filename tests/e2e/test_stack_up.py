"""`alismon stack up` (what ./scripts/demo runs): starts, prints URLs, scrapes, stops on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from exporters.stack.procs import free_port
from tests.conftest import write_config
from tests.helpers import prom_query, wait_for


def start_stack(tmp_path: Path, sys_port: int, prom_port: int) -> subprocess.Popen[str]:
    cfg = write_config(
        tmp_path / "config.yml",
        {
            "exporters": {"system": {"listen_address": f"127.0.0.1:{sys_port}"}},
            "prometheus": {"listen_address": f"127.0.0.1:{prom_port}", "scrape_interval": "1s"},
        },
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporters.cli",
            "stack",
            "up",
            "--config.file",
            str(cfg),
            "--run-dir",
            str(tmp_path / "run"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_stack_up_scrapes_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    sys_port, prom_port = free_port(), free_port()
    stack = start_stack(tmp_path, sys_port, prom_port)
    try:
        assert stack.stdout is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = stack.stdout.readline()
            assert line, f"stack exited early: {stack.stderr.read() if stack.stderr else ''}"
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{sys_port}/" in output
        assert f"http://127.0.0.1:{prom_port}/" in output
        assert "Grafana is not packaged for Debian" in output
        prom = f"http://127.0.0.1:{prom_port}"
        wait_for(lambda: prom_query(prom, 'up{job="alismon-system"} == 1'), 30, "Prometheus to scrape the exporter")
        children = psutil.Process(stack.pid).children(recursive=True)
        assert len(children) == 2
        assert (tmp_path / "run/logs/prometheus.log").exists()
    finally:
        stack.send_signal(signal.SIGINT)
        out, _ = stack.communicate(timeout=30)
    assert stack.returncode == 0
    assert "stack stopped" in out
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


def test_stack_up_refuses_a_taken_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        stack = start_stack(tmp_path, taken, free_port())
        _, err = stack.communicate(timeout=30)
    assert stack.returncode == 1
    assert err.strip() == (f"error: port already in use: 127.0.0.1:{taken}; stop what holds it or change config.yml")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["json", "logfmt"])
def test_log_formats(tmp_path: Path, fmt: str) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporters.cli",
            "system",
            "--config.file",
            str(write_config(tmp_path / "c.yml")),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.format",
            fmt,
            "--log.level",
            "debug",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        head = []
        while not head or "listening" not in head[-1]:  # bounded by the 60 s pytest-timeout below
            line = proc.stderr.readline()
            assert line, "exporter exited before listening"
            head.append(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0
    lines = [*head, *rest.splitlines()]
    if fmt == "json":
        records = [json.loads(line) for line in lines if line.strip()]
        listening = next(r for r in records if r["msg"] == "listening")
        assert listening["level"] == "info" and listening["address"] == f"http://127.0.0.1:{port}"
        assert records[-1]["msg"] == "shutting down"
    else:
        assert all(line.startswith("ts=") for line in lines if line.strip())
        assert " level=info " in head[-1] and " msg=listening " in head[-1]

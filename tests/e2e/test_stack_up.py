"""`alismon stack up|status|down|break` (what ./scripts/demo runs), on free loopback ports."""

from __future__ import annotations

import html
import json
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from exporters.core.exporter_table import EXPORTER_NAMES, EXPORTERS
from exporters.stack.procs import alismon_argv, free_port, port_in_use
from exporters.stack.topology import AGENT_NAME
from tests.conftest import write_config
from tests.dashboards_util import JOBS, load, panel_queries
from tests.helpers import prom_query, wait_for


def stack_config(tmp_path: Path, **overrides: object) -> tuple[Path, dict[str, int]]:
    """The repo's config.yml with every stack component on a free loopback port."""
    names = (*EXPORTER_NAMES, "prometheus", "alertmanager", "anvil", "inbox", "smtp")
    ports = {name: free_port() for name in names}
    cfg = write_config(
        tmp_path / "config.yml",
        {
            "exporters": {n: {"listen_address": f"127.0.0.1:{ports[n]}"} for n in EXPORTER_NAMES},
            "prometheus": {
                "listen_address": f"127.0.0.1:{ports['prometheus']}",
                "scrape_interval": "1s",
                "evaluation_interval": "1s",
            },
            "stack": {
                "alertmanager_listen_address": f"127.0.0.1:{ports['alertmanager']}",
                "demo_chain_listen_address": f"127.0.0.1:{ports['anvil']}",
                "demo_inbox_listen_address": f"127.0.0.1:{ports['inbox']}",
                "demo_smtp_listen_address": f"127.0.0.1:{ports['smtp']}",
            },
            **overrides,
        },
    )
    return cfg, ports


def alismon_stack(cfg: Path, run: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = alismon_argv("stack", *args, "--run-dir", str(run), config_file=cfg)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def start_foreground(cfg: Path, run: Path) -> subprocess.Popen[str]:
    argv = alismon_argv("stack up", "--foreground", "--run-dir", str(run), config_file=cfg)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_foreground_stack_scrapes_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    cfg, ports = stack_config(tmp_path)
    # With VictoriaMetrics selected as the store, the stack also starts it and vmalert (Debian's binaries).
    raw = yaml.safe_load(cfg.read_text())
    raw["prometheus"]["scale_out"].update(store="victoriametrics", victoriametrics={"query_latency_offset": "1s"})
    ports.update(victoriametrics=free_port(), vmalert=free_port())
    raw["stack"].update(
        victoriametrics_listen_address=f"127.0.0.1:{ports['victoriametrics']}",
        vmalert_listen_address=f"127.0.0.1:{ports['vmalert']}",
    )
    cfg.write_text(yaml.safe_dump(raw))
    stack = start_foreground(cfg, tmp_path / "run")
    try:
        assert stack.stdout is not None
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = stack.stdout.readline()
            assert line, f"stack exited early: {stack.stderr.read() if stack.stderr else ''}"
            lines.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        output = "".join(lines)
        for name in (*EXPORTER_NAMES, "prometheus", "alertmanager", "victoriametrics", "vmalert"):
            assert f"http://127.0.0.1:{ports[name]}/" in output, name
        assert "anvil" not in output and "traffic" not in output  # only with --demo
        assert "Grafana is not packaged for Debian" in output
        prom = f"http://127.0.0.1:{ports['prometheus']}"
        wait_for(
            lambda: (
                len(prom_query(prom, 'up{job=~"alismon-system|alismon-business|alertmanager|prometheus"} == 1')) == 4
            ),
            30,
            "Prometheus to scrape both exporters, itself and Alertmanager",
        )
        # Prometheus loaded the rendered rules (the Watchdog fires) and found the stack's Alertmanager.
        # (Delivery to Alertmanager is the demo test's: a first alert sent before discovery completes
        # waits for Prometheus's 1m resend delay.)
        wait_for(lambda: prom_query(prom, 'ALERTS{alertname="Watchdog", alertstate="firing"}'), 30, "the Watchdog")
        am = prom_query(prom, "prometheus_notifications_alertmanagers_discovered")
        assert am and am[0]["value"][1] == "1"
        # Prometheus writes what it scrapes into VictoriaMetrics (rule results it keeps: vmalert records
        # its own there), and vmalert evaluates the same rules over it.
        vm, vmalert = (f"http://127.0.0.1:{ports[n]}" for n in ("victoriametrics", "vmalert"))
        wait_for(lambda: prom_query(vm, 'up{job="alismon-system"} == 1'), 60, "Prometheus's samples in VictoriaMetrics")

        def vmalert_watchdog() -> bool:
            alerts = requests.get(f"{vmalert}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            return any(a["name"] == "Watchdog" and a["state"] == "firing" for a in alerts)

        wait_for(vmalert_watchdog, 60, "the Watchdog in vmalert")
        # vmalert's alert has the labels of Prometheus's (external labels, no `alertgroup`): whichever ruler
        # sends it, Alertmanager holds one alert.
        am_url = f"http://127.0.0.1:{ports['alertmanager']}"

        def watchdogs() -> list[dict]:
            query = {"filter": 'alertname="Watchdog"'}
            alerts: list[dict] = requests.get(f"{am_url}/api/v2/alerts", params=query, timeout=5).json()
            return alerts

        wait_for(watchdogs, 60, "the Watchdog in Alertmanager")
        (prom_watchdog,) = prom_query(prom, 'ALERTS{alertname="Watchdog"}')
        expected = {k: v for k, v in prom_watchdog["metric"].items() if k not in ("__name__", "alertstate")}
        assert [a["labels"] for a in watchdogs()] == [{**expected, "monitor": "alischain"}]
        children = psutil.Process(stack.pid).children(recursive=True)
        assert len(children) == len(EXPORTERS) + 4  # and Prometheus, Alertmanager, VictoriaMetrics, vmalert
        assert (tmp_path / "run/logs/prometheus.log").exists()
        assert (tmp_path / "run/tree/rules/alerts.yml").exists()
    finally:
        stack.send_signal(signal.SIGINT)
        out, _ = stack.communicate(timeout=60)
    assert stack.returncode == 0
    assert "stack stopped" in out
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert not (tmp_path / "run/state.json").exists()


def test_a_taken_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    import socket

    cfg, ports = stack_config(tmp_path)
    with socket.socket() as held:
        held.bind(("127.0.0.1", ports["business"]))
        held.listen()
        result = alismon_stack(cfg, tmp_path / "run", "up")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: port already in use: business-exporter 127.0.0.1:{ports['business']}; "
        "stop what holds it or change config.yml"
    )
    assert not (tmp_path / "run/state.json").exists()


def test_status_and_down_without_a_stack_and_down_spares_a_reused_pid(tmp_path: Path) -> None:
    cfg, _ = stack_config(tmp_path)
    run = tmp_path / "run"
    result = alismon_stack(cfg, run, "status")
    assert result.returncode == 3 and "the stack is not running" in result.stdout
    # A state file naming a live process that `up` did not start (same PID, other start time).
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run.mkdir()
        entry = {"name": "prometheus", "pid": bystander.pid, "create_time": 1.0, "argv": ["prometheus"]}
        entry.update({"url": "http://127.0.0.1:1/", "ready_url": "http://127.0.0.1:1/-/ready", "rpc": False})
        entry["log"] = str(run / "logs/prometheus.log")
        (run / "state.json").write_text(json.dumps({"demo": False, "components": [entry]}))
        status = alismon_stack(cfg, run, "status")
        assert status.returncode == 1 and "prometheus" in status.stdout and "exited" in status.stdout
        down = alismon_stack(cfg, run, "down")
        assert down.returncode == 0 and "nothing was still running" in down.stdout
        assert bystander.poll() is None, "down killed a process it did not start"
    finally:
        bystander.kill()


# Panels that cannot have data on an anvil chain: anvil has no net_peerCount (asked once, then shown as
# unsupported in "Methods the node lacks").
NO_DATA_ON_ANVIL = {("blockchain.json", "Peers")}


def _queries_with_units(name: str, job: str) -> list[tuple[str, str, str]]:
    """(panel title, query, the panel's unit) of one dashboard, in panel_queries' order."""
    panels = [p for p in load(name)["panels"] for _ in p.get("targets", [])]
    return [
        (title, expr, str(p.get("fieldConfig", {}).get("defaults", {}).get("unit", "")))
        for (title, expr), p in zip(panel_queries(load(name), job), panels, strict=True)
    ]


def test_demo_stack_feeds_every_panel_and_each_break_fires_its_alert(tmp_path: Path) -> None:
    cfg, ports = stack_config(tmp_path)
    run = tmp_path / "run"
    result = alismon_stack(cfg, run, "up", "--demo")
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "./scripts/demo --break chain|business|host" in result.stdout
        inbox = f"http://127.0.0.1:{ports['inbox']}/"
        assert f"notifications land in the demo inbox: {inbox}" in result.stdout
        # Every page it prints exists on the installed builds (anvil's URL is JSON-RPC, POST only).
        pages = re.findall(r"^  (\S+) +(http://\S+)$", result.stdout, flags=re.M)
        assert len(pages) >= 6, result.stdout
        dead = [(n, u) for n, u in pages if n != "anvil" and not requests.get(u, timeout=5).ok]
        assert dead == [], result.stdout
        status = alismon_stack(cfg, run, "status")
        assert status.returncode == 0, status.stdout
        rows = [line.split() for line in status.stdout.splitlines()[1:]]
        assert [r[0] for r in rows] == [
            "inbox", "anvil", *(row.service for row in EXPORTERS), "alertmanager", "prometheus", "traffic",
            "node-agent-1",
        ]  # fmt: skip
        assert all(r[2:4] == ["running", "ok"] for r in rows), status.stdout
        again = alismon_stack(cfg, run, "up", "--demo")
        assert again.returncode == 1 and "already running" in again.stderr

        prom = f"http://127.0.0.1:{ports['prometheus']}"
        # A panel has data when one of its queries returns series (a panel of accepted and rejected
        # events shows accepted ones when nothing is rejected).
        panels: dict[tuple[str, str], list[str]] = {}
        for name, job in JOBS.items():
            for title, expr in panel_queries(load(name), job):
                if (name, title) not in NO_DATA_ON_ANVIL:
                    panels.setdefault((name, title), []).append(expr)
        assert len(panels) > 60
        remaining: list[str] = []

        def every_panel_has_data() -> bool:
            remaining[:] = [
                f"{n} / {t}: {exprs}" for (n, t), exprs in panels.items() if not any(prom_query(prom, e) for e in exprs)
            ]
            return not remaining

        try:
            wait_for(every_panel_has_data, 120, "every dashboard panel to have data")
        except AssertionError:
            raise AssertionError("panels without data:\n" + "\n".join(remaining)) from None
        failed = prom_query(prom, 'sum(blockchain_transactions_total{status="failed"})')
        assert float(failed[0]["value"][1]) >= 1, "the demo sends reverting calls"

        # Without Grafana: the same dashboards as static pages drawn from this Prometheus.
        snap = subprocess.run(
            alismon_argv("snapshot", "--out", str(run / "snap"), "--minutes", "5", config_file=cfg),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert snap.returncode == 0 and "wrote 5 dashboards" in snap.stdout, snap.stderr
        drawn = 0
        for name in JOBS:
            page = (run / "snap" / f"{load(name)['uid']}.html").read_text()
            sections = re.findall(r'<section class="panel[^"]*"[^>]*><h3>(.*?)</h3>(.*?)</section>', page, re.S)
            assert len(sections) == len([p for p in load(name)["panels"] if p["type"] != "row"])
            assert "class=error" not in page
            for title, body in sections:
                if (name, html.unescape(title)) not in NO_DATA_ON_ANVIL:
                    assert re.search(r"<svg|<table|class=stat", body), f"{name} / {title}: {body[:200]}"
                    drawn += 1
        assert drawn > 80
        assert all(f"{load(n)['uid']}.html" in (run / "snap/index.html").read_text() for n in JOBS)

        broken_at = time.time()
        for what in ("chain", "business", "host"):
            broke = alismon_stack(cfg, run, "break", what)
            assert broke.returncode == 0 and f"broke {what}" in broke.stdout, broke.stderr
            assert inbox in broke.stdout
        am = f"http://127.0.0.1:{ports['alertmanager']}"
        expected = {
            ("BlockchainChainDown", ""),
            ("BlockchainEndpointDown", "anvil"),
            ("WatchedProcessDown", "chain-client"),
            ("WatchedProcessDown", "node-agent-1"),
            ("HighFailureRate", ""),
        }
        seen: set[tuple[str, str]] = set()

        def alerts_arrived() -> bool:
            for a in requests.get(f"{am}/api/v2/alerts", timeout=5).json():
                labels = a["labels"]
                seen.add((labels["alertname"], labels.get("endpoint") or labels.get("process") or ""))
            return expected <= seen

        try:
            wait_for(alerts_arrived, 180, "the alerts of the three breaks in Alertmanager")
        except AssertionError as exc:
            # Say how far each break got: in Prometheus (pending or firing) or also in Alertmanager.
            rules = requests.get(f"{prom}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            states = sorted((r["labels"]["alertname"], r["state"]) for r in rules)
            raise AssertionError(f"{exc}; in Alertmanager: {sorted(seen)}; in Prometheus: {states}") from None

        # During the breaks the pages still tell no lies, and the index says what is wrong.
        for name, job in JOBS.items():
            for title, expr, unit in _queries_with_units(name, job):
                for sample in prom_query(prom, expr):
                    value = float(sample["value"][1])
                    assert math.isfinite(value), f"{name} / {title}: {expr} = {value}"
                    assert unit != "percentunit" or 0 <= value <= 1, f"{name} / {title}: {expr} = {value}"
        broken = subprocess.run(
            alismon_argv("snapshot", "--out", str(run / "broken"), "--minutes", "5", config_file=cfg),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert broken.returncode == 0, broken.stderr
        for broken_page in (run / "broken").glob("*.html"):
            assert not re.search(r"\b(NaN|[+-]Inf)\b", re.sub(r"<[^>]+>", " ", broken_page.read_text())), (
                broken_page.name
            )
        index = (run / "broken" / "index.html").read_text()
        assert "Something is wrong" in index and "BlockchainEndpointDown" in index and "WatchedProcessDown" in index
        # ...and their notifications in the inbox: one per break, in Slack and (critical ones) by email. The
        # chain's own alerts are held back under the chain-client process that runs its endpoint.
        paged = {"chain": ("WatchedProcessDown", "chain-client"), "host": ("WatchedProcessDown", AGENT_NAME)}
        paged["business"] = ("HighFailureRate", "type=kyc")  # the one verifier the break breaks
        critical = {"chain", "host"}
        messages: list[dict] = []

        def about(what: str, status: str, channel: str) -> list[dict]:
            alert, mark = paged[what]
            return [
                m for m in messages
                if m["channel"] == channel and m["title"].startswith(f"[{status}") and f"] {alert} " in m["title"]
                and mark in m["text"]
            ]  # fmt: skip

        def arrived(status: str) -> bool:
            messages[:] = requests.get(f"{inbox}api/messages", timeout=5).json()["messages"]
            return all(about(w, status, "slack") for w in paged) and all(about(w, status, "email") for w in critical)

        def titles() -> list[tuple[str, str]]:
            return [(m["channel"], m["title"]) for m in messages]

        wait_for(lambda: arrived("FIRING"), 120, "the notifications of the breaks in the inbox")
        first = {w: min(m["received_at"] for m in about(w, "FIRING", "slack")) - broken_at for w in paged}
        print("\nbreak -> page in the inbox: " + ", ".join(f"{w} {t:.0f} s" for w, t in first.items()))
        fixed_at = time.time()
        # Each break undone in place; every page gets its resolved notice.
        for what in ("chain", "business", "host"):
            fixed = alismon_stack(cfg, run, "fix", what)
            assert fixed.returncode == 0 and f"fixed {what}" in fixed.stdout, fixed.stdout + fixed.stderr
        wait_for(lambda: arrived("RESOLVED"), 240, "the resolved notices in the inbox")
        resolved = {w: min(m["received_at"] for m in about(w, "RESOLVED", "slack")) - fixed_at for w in paged}
        print("fix -> resolved notice: " + ", ".join(f"{w} {t:.0f} s" for w, t in resolved.items()))
        print(f"inbox: {titles()}")
        # Exactly one page and one resolved notice per break and receiver; nothing about the chain itself.
        for what in paged:
            for channel in ("slack", "email") if what in critical else ("slack",):
                assert [len(about(what, s, channel)) for s in ("FIRING", "RESOLVED")] == [1, 1], (what, titles())
        breaks_alerts = r"\] (WatchedProcessDown|HighFailureRate|Blockchain|Exporter)"
        about_breaks = [t for _, t in titles() if re.search(breaks_alerts, t)]
        assert len(about_breaks) == 2 * len(paged) + 2 * len(critical), titles()
        status = alismon_stack(cfg, run, "status")
        assert status.returncode == 0, status.stdout
        pids = [s["pid"] for s in json.loads((run / "state.json").read_text())["components"]]
    finally:
        down = alismon_stack(cfg, run, "down")
    assert down.returncode == 0 and down.stdout.startswith("stopped: ")
    assert not (run / "state.json").exists()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not [n for n, p in ports.items() if port_in_use("127.0.0.1", p)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["json", "logfmt"])
def test_log_formats(tmp_path: Path, fmt: str) -> None:
    port = free_port()
    proc = subprocess.Popen(
        alismon_argv(
            "system",
            "--log.format",
            fmt,
            "--log.level",
            "debug",
            config_file=write_config(tmp_path / "c.yml"),
            listen_address=f"127.0.0.1:{port}",
        ),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        head: list[str] = []
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


def test_stack_up_refuses_a_key_the_installed_alertmanager_lacks(tmp_path: Path) -> None:
    hb = tmp_path / "heartbeat_url"
    hb.write_text("http://127.0.0.1:1/\n")
    cfg, ports = stack_config(tmp_path, alerting={"notification_channels": {"heartbeat": {"url_file": str(hb)}}})
    result = alismon_stack(cfg, tmp_path / "run", "up", timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: alerting.notification_channels.heartbeat.url_file: needs Alertmanager 0.26.0 or newer; "
        "the installed Alertmanager is 0.25.0"
    ), result.stderr
    assert not [n for n, p in ports.items() if port_in_use("127.0.0.1", p)]


def test_stack_up_reports_a_component_that_exits_with_its_log(tmp_path: Path) -> None:
    cfg, ports = stack_config(tmp_path)
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "data/prometheus").write_text("not a directory\n")  # Prometheus cannot open its TSDB here
    result = alismon_stack(cfg, run, "up", timeout=120)
    assert result.returncode == 1
    assert re.search(r"^error: prometheus exited with code [1-9]\d* after \d+\.\d+s; the end of ", result.stderr, re.M)
    assert "did not become healthy" not in result.stderr
    assert "data/prometheus" in result.stderr.split("the end of", 1)[1]  # its own log line, naming the path
    assert not (run / "state.json").exists()
    assert not [n for n, p in ports.items() if port_in_use("127.0.0.1", p)]

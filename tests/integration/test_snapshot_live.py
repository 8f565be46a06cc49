"""Dashboards and `alismon snapshot` against a real Prometheus fed by real exporters: healthy, during a chain
break, and down (one stack for both, since a start costs more than the checks).

Healthy, every panel query of every dashboard returns series. In both states every panel query answers with
no NaN, no Inf and no ratio outside 0..1; the pages carry axes, units and table labels; every page loads in
headless Chromium without a console error and its screenshot is not blank; a stopped Prometheus makes the
command fail, naming the URL.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from exporters.stack.procs import ManagedProcess, alismon_argv
from tests.conftest import Anvil, tool
from tests.dashboards_util import JOBS, REPO, load, panel_queries
from tests.helpers import prom_query, wait_for
from tests.integration.blockchain_support import DEV_ACCOUNT, deploy_registry, network, registry_config, web3
from tests.integration.live_feed import every_query_answers, feed_business, feed_chain
from tests.integration.rpc_servers import rpc_server
from tests.stack_util import start_stack

RATIO_UNITS = ("percentunit",)


def panel_values(prometheus: str) -> list[tuple[str, str, str, float]]:
    """(dashboard, panel, unit, value) for every sample every panel query returns now."""
    out: list[tuple[str, str, str, float]] = []
    for name, job in JOBS.items():
        for panel in load(name)["panels"]:
            unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
            for title, expr in panel_queries({"panels": [panel]}, job):
                out.extend((name, title, unit, float(s["value"][1])) for s in prom_query(prometheus, expr))
    return out


def assert_no_lies(prometheus: str) -> None:
    values = panel_values(prometheus)
    assert len(values) > 80
    bad = [v for v in values if not math.isfinite(v[3]) or (v[2] in RATIO_UNITS and not 0 <= v[3] <= 1)]
    assert not bad, "panels showing NaN, Inf or a ratio outside 0..1:\n" + "\n".join(map(str, bad))
    ratios = prom_query(prometheus, '{__name__=~".+:ratio", __name__!="system:load1_per_cpu:ratio"}')
    assert ratios and all(0 <= float(r["value"][1]) <= 1 for r in ratios), ratios


def snapshot(cfg: Path, prometheus: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = alismon_argv("snapshot", "--prometheus", prometheus, "--out", str(out), "--minutes", "3", *extra,
                        config_file=cfg)  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=REPO)


def assert_a_failed_query_fails_the_snapshot(cfg: Path, prometheus: str, tmp_path: Path) -> None:
    """A dashboard with a query Prometheus rejects: exit 1 naming it, and the panel says so."""
    bad = {
        "uid": "bad",
        "title": "Bad",
        "panels": [{"type": "stat", "title": "Broken", "targets": [{"expr": "sum(up"}]}],
    }
    (tmp_path / "root" / "dashboards").mkdir(parents=True)
    (tmp_path / "root" / "dashboards" / "bad.json").write_text(json.dumps(bad))
    failed = snapshot(cfg, prometheus, tmp_path / "bad", "--root", str(tmp_path / "root"))
    assert failed.returncode == 1 and "query failed: Bad / Broken: sum(up: bad_data" in failed.stderr, failed.stderr
    page = (tmp_path / "bad" / "bad.html").read_text()
    assert 'class="panel failed"' in page and "query failed" in page and "1 queries failed" in page


def assert_pages_readable(out: Path) -> None:
    pages = sorted(out.glob("alischain-*.html"))
    assert len(pages) == 5
    for page in pages:
        html = page.read_text()
        text = re.sub(r"<[^>]+>", " ", html)
        assert not re.search(r"\b(NaN|[+-]Inf)\b", text), page.name
        panels = re.findall(r'<section class="panel" data-type="(\w+)"[^>]*>(.*?)</section>', html, re.S)
        assert 'class="panel failed"' not in html and len(panels) >= 6, page.name
        charts = [body for kind, body in panels if kind == "timeseries" and "<svg class=chart" in body]
        assert charts, page.name
        for body in charts:  # a time axis and value ticks
            assert (
                re.search(r"class=tick>\d\d:\d\d(:\d\d)?<", body)
                and len(re.findall(r'text-anchor="end" class=tick', body)) >= 2
            )
        assert "<th>last</th><th>min</th><th>max</th>" in html, page.name
    system = (out / "alischain-system.html").read_text()
    assert "<th>process</th>" in system and "<td>chain-client</td>" in system
    business = (out / "alischain-business.html").read_text()
    assert "<th>sender</th>" in business and "<td>node-1</td>" in business
    for page in [*pages, out / "index.html"]:
        png = page.with_suffix(".png")
        assert png.stat().st_size > 20_000, png  # written, and drawn (the command checks it is not blank)


def test_every_panel_answers_and_snapshots_hold_healthy_during_a_chain_break_and_with_prometheus_down(
    tmp_path: Path, procs: list[ManagedProcess], start_anvil: Callable[..., Anvil]
) -> None:
    tool("chromium")
    stack_exit = ExitStack()
    watched = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "alismon-dash-probe"])
    anvil = start_anvil()
    try:
        w3 = web3(anvil.url)
        registry = deploy_registry(w3)
        # A second endpoint through a proxy that reports peers and a sync in progress (anvil has neither).
        syncing = stack_exit.enter_context(rpc_server("syncing", anvil.url))
        chain = network(
            "dev",
            {"name": "a", "url": anvil.url},
            {"name": "b", "url": syncing.url},
            accounts=[{"alias": "dev0", "address": DEV_ACCOUNT}],
            contracts=[registry_config(registry)],
        )
        stack = start_stack(
            tmp_path,
            procs,
            system={"processes": [{"name": "chain-client", "match": {"cmdline": "alismon-dash-probe"}}]},
            business=True,
            networks=[chain],
            # Short rule windows, so that the traffic stopping by the break empties them within the test.
            alerting={"rate_window": "20s"},
        )
        business = stack.business
        assert business is not None

        def feed() -> None:
            feed_business(business)
            feed_chain(registry, w3)

        # Rates need increases inside their window: feed, wait for a scrape, feed again.
        feed()
        wait_for(lambda: prom_query(stack.prometheus, "business_claims_total"), 30, "the first business scrape")
        wait_for(lambda: prom_query(stack.prometheus, "blockchain_gas_used_count"), 30, "the first chain scrape")
        feed()
        for rule in ("blockchain:transactions_failed:ratio", "business:verifications_failed:ratio",
                     "blockchain:rpc_errors:ratio", "system:cpu_usage:ratio"):  # fmt: skip
            wait_for(lambda r=rule: prom_query(stack.prometheus, r), 60, f"{rule} recorded")
        every_query_answers(stack.prometheus, feed)

        assert_no_lies(stack.prometheus)
        healthy = snapshot(stack.config_file, stack.prometheus, tmp_path / "healthy", "--png")
        assert healthy.returncode == 0, healthy.stderr
        assert_pages_readable(tmp_path / "healthy")

        # The chain break: the node goes away; its endpoint errors on every poll.
        anvil.stop()
        wait_for(lambda: prom_query(stack.prometheus, "blockchain_up == 0"), 30, "the endpoint to be down")
        wait_for(
            lambda: prom_query(stack.prometheus, "sum(increase(blockchain_rpc_errors_total[1m])) > 2"),
            60,
            "errors counted after the break",
        )
        # No transaction in the rule window: a ratio over it has an empty denominator (it was NaN).
        wait_for(
            lambda: prom_query(stack.prometheus, "sum(rate(blockchain_transactions_total[20s])) == 0"),
            60,
            "no platform transaction in the rule window",
        )
        assert_no_lies(stack.prometheus)
        broken = snapshot(stack.config_file, stack.prometheus, tmp_path / "broken", "--png")
        assert broken.returncode == 0, broken.stderr
        assert_pages_readable(tmp_path / "broken")
        index = (tmp_path / "broken" / "index.html").read_text()
        assert "alismon-blockchain" in index and "Components" in index

        assert_a_failed_query_fails_the_snapshot(stack.config_file, stack.prometheus, tmp_path)

        prometheus = next(p for p in procs if p.name == "prometheus")
        prometheus.stop()
        down = snapshot(stack.config_file, stack.prometheus, tmp_path / "down")
        assert down.returncode == 1
        assert f"Prometheus at {stack.prometheus} is unreachable" in down.stderr
        assert not (tmp_path / "down").exists()
    finally:
        stack_exit.close()
        watched.kill()
        watched.wait()

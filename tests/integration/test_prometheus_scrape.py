"""A real Prometheus scrapes the system exporter: up == 1 and every documented family has series."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from tests.helpers import prom_query, wait_for
from tests.integration.test_system_exporter import documented_system_metrics


def test_prometheus_scrapes_every_documented_family(
    start_system_exporter: Callable[..., str], start_prometheus: Callable[[dict], str]
) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "alismon-prom-probe"])
    try:
        exporter = start_system_exporter(
            config={"system": {"processes": [{"name": "probe", "match": {"cmdline": "alismon-prom-probe"}}]}}
        )
        prom = start_prometheus(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "system",
                        "static_configs": [{"targets": [exporter.removeprefix("http://")]}],
                    }
                ],
            }
        )
        wait_for(lambda: prom_query(prom, 'up{job="system"} == 1'), 30, "the first successful scrape")
        missing = []
        for name in sorted(documented_system_metrics()):
            if not prom_query(prom, f'count({{__name__="{name}", job="system"}})'):
                missing.append(name)
        assert missing == []
        assert prom_query(prom, 'scrape_samples_scraped{job="system"}')[0]["value"][1] != "0"
    finally:
        sleeper.kill()

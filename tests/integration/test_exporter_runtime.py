"""What every exporter of the table gets from the shared runtime: build info, its landing page title, and
the process/platform/gc metrics only with --web.enable-exporter-metrics, clean for promtool."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from exporters.core.exporter_table import EXPORTER_NAMES, exporter_row
from exporters.stack.procs import ManagedProcess
from tests.business_util import start_business
from tests.conftest import tool
from tests.helpers import value

RUNTIME_FLAG = "--web.enable-exporter-metrics"
# A family of client_python's process, platform or gc collectors, on a sample line or a HELP/TYPE line.
RUNTIME_FAMILY = re.compile(r"^(?:# (?:HELP|TYPE) )?((?:process|python)_\w+)", re.M)
RUNTIME_EXPECTED = {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"}

Start = Callable[..., str]


@pytest.fixture
def start_exporter(
    tmp_path: Path,
    procs: list[ManagedProcess],
    start_system_exporter: Start,
    start_blockchain_exporter: Start,
) -> Callable[[str, bool], str]:
    """Start the named exporter with or without the runtime metrics flag; returns its base URL."""
    serial = itertools.count()  # each business exporter gets its own store
    starters: dict[str, Start] = {
        "system": start_system_exporter,
        "blockchain": lambda *extra: start_blockchain_exporter([], *extra),  # no chain needed for the runtime
        "business": lambda *extra: start_business(tmp_path, procs, name=f"business-{next(serial)}", extra=extra).url,
    }
    assert set(starters) == set(EXPORTER_NAMES), "give the new exporter a starter here"

    def start(name: str, runtime_metrics: bool) -> str:
        return starters[name](*([RUNTIME_FLAG] if runtime_metrics else []))

    return start


def scrape(base: str) -> str:
    r = requests.get(f"{base}/metrics", timeout=10)
    r.raise_for_status()
    return r.text


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", EXPORTER_NAMES)
def test_runtime_metrics_only_when_asked(name: str, start_exporter: Callable[[str, bool], str]) -> None:
    plain = scrape(start_exporter(name, False))
    assert RUNTIME_FAMILY.findall(plain) == []

    asked = scrape(start_exporter(name, True))
    found = set(RUNTIME_FAMILY.findall(asked))
    assert RUNTIME_EXPECTED <= found, f"missing: {RUNTIME_EXPECTED - found}"
    assert any(f.startswith("python_gc_") for f in found), found
    result = subprocess.run(
        [tool("promtool"), "check", "metrics"], input=asked, capture_output=True, text=True, timeout=30
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", EXPORTER_NAMES)
def test_build_info_and_landing_title(name: str, start_exporter: Callable[[str, bool], str]) -> None:
    base = start_exporter(name, False)
    labels = {"exporter": name, "version": "0.1.0", "python_version": sys.version.split()[0]}
    assert value(scrape(base), "alismon_build_info", **labels) == 1
    landing = requests.get(f"{base}/", timeout=10).text
    assert f"<title>{exporter_row(name).title}</title>" in landing

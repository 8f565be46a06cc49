"""Runbook pages give the values config.yml sets, not the defaults."""

from __future__ import annotations

from exporters.config import Config, parse_config
from exporters.render.runbooks import render_runbooks
from tests.conftest import REPO


def test_a_runbook_header_follows_the_config() -> None:
    config = parse_config(
        {
            "alerting": {
                "rate_window": "2m",
                "alerts": {
                    "BlockchainEndpointDown": {"for": "7m", "severity": "warning"},
                    "SystemOverload": {"cpu_ratio": 0.5},
                    "FilesystemAlmostFull": {"critical": {"for": "1m", "available_ratio": 0.01}},
                    "BlockchainReorgDeep": {"enabled": False},
                },
            }
        }
    )
    pages = render_runbooks(config, REPO)
    header = {name.split("/")[-1]: text.splitlines()[2] for name, text in pages.items()}
    assert header["BlockchainEndpointDown.md"].startswith("**Severity:** warning · **for:** 7m · **Tune:**")
    assert "`cpu_ratio` 0.5, `memory_ratio` 0.85" in header["SystemOverload.md"]
    assert "**critical:** `for` 1m, `available_ratio` 0.01" in header["FilesystemAlmostFull.md"]
    assert header["BlockchainReorgDeep.md"].startswith("**Disabled** in config.yml")
    assert "**Holds:** `alerting.rate_window` 2m" in header["ExporterOutage.md"]
    # Everything below the header is the template's own text.
    default = render_runbooks(Config(), REPO)["docs/runbooks/SystemOverload.md"]
    assert default.splitlines()[3:] == pages["docs/runbooks/SystemOverload.md"].splitlines()[3:]
    assert "**for:** 10m" in default.splitlines()[2]

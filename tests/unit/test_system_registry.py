"""One registry of system collectors: the flag names, their defaults and the `collector` label agree."""

from __future__ import annotations

import argparse

import pytest

from exporters.cli import build_parser
from exporters.config.system import SystemConfig
from exporters.system import exporter
from exporters.system.collectors import COLLECTORS
from exporters.system.collectors.loadavg import LoadavgCollector
from exporters.system.collectors.spec import CollectorSpec
from exporters.system.exporter import SystemExporter, build_collectors

NAMES = ["cpu", "loadavg", "meminfo", "filesystem", "diskstats", "netdev", "kernel", "processes"]


def test_the_registry_keeps_the_collector_names_and_builds_what_it_names() -> None:
    assert [spec.name for spec in COLLECTORS] == NAMES  # flag names and `collector` label values
    built = build_collectors(SystemConfig(), NAMES)
    assert [c.name for c in built] == NAMES


def test_alismon_system_flags_default_to_the_registry() -> None:
    parser = build_parser()
    assert SystemExporter.enabled_collectors(parser.parse_args(["system"])) == NAMES
    args = parser.parse_args(["system", "--no-collector.kernel", "--no-collector.processes"])
    assert SystemExporter.enabled_collectors(args) == [n for n in NAMES if n not in ("kernel", "processes")]


def test_a_collector_off_by_default_needs_its_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = CollectorSpec("costly", False, "an opt-in collector", lambda _: LoadavgCollector())
    monkeypatch.setattr(exporter, "COLLECTORS", (*COLLECTORS, extra))
    parser = argparse.ArgumentParser()
    SystemExporter.add_arguments(parser)
    assert "costly" not in SystemExporter.enabled_collectors(parser.parse_args([]))
    assert "costly" in SystemExporter.enabled_collectors(parser.parse_args(["--collector.costly"]))
    assert "an opt-in collector (default: off)" in " ".join(parser.format_help().split())

"""The exporter table against everything that must agree with it: classes, config models, CLI, provisioning, stack."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import yaml

from exporters.cli import build_parser
from exporters.config import Config, parse_config
from exporters.config.alerting import Jobs
from exporters.config.exporters import ExportersConfig
from exporters.config.inventory import ExporterKind, Inventory
from exporters.config.prometheus import PrometheusTargets
from exporters.core.exporter_table import EXPORTER_NAMES, EXPORTERS, ExporterRow, exporter_row
from exporters.core.http import Exporter
from exporters.render.links import DASHBOARD_UIDS
from exporters.render.main import render_all
from exporters.stack.topology import components, effective_config, exporters_to_start
from tests.conftest import REPO

# Fields of the config models that are not exporters.
SERVERS = {"prometheus", "alertmanager"}


@pytest.mark.parametrize("row", EXPORTERS, ids=EXPORTER_NAMES)
def test_each_row_names_its_exporter_class_package_and_config_section(row: ExporterRow) -> None:
    cls = row.load()
    assert issubclass(cls, Exporter) and cls.name == row.name
    assert cls.__module__ == f"exporters.{row.name}.exporter"
    (base,) = [b for b in cls.__orig_bases__ if typing.get_origin(b) is Exporter]  # type: ignore[attr-defined]
    (section_model,) = typing.get_args(base)
    assert Config.model_fields[row.section].annotation is section_model
    assert (REPO / f"exporters/config/{row.section}.py").is_file()


def test_names_and_ports_are_unique() -> None:
    assert len(set(EXPORTER_NAMES)) == len(EXPORTERS)
    assert len({row.port for row in EXPORTERS}) == len(EXPORTERS)
    with pytest.raises(KeyError, match="no exporter named 'node'"):
        exporter_row("node")


def test_config_models_have_one_field_per_row_defaulting_from_it() -> None:
    assert typing.get_args(ExporterKind) == EXPORTER_NAMES
    assert tuple(ExportersConfig.model_fields) == EXPORTER_NAMES
    assert tuple(PrometheusTargets.model_fields)[: len(EXPORTERS)] == EXPORTER_NAMES
    assert set(PrometheusTargets.model_fields) - set(EXPORTER_NAMES) == SERVERS
    assert tuple(Jobs.model_fields)[: len(EXPORTERS)] == EXPORTER_NAMES
    config, jobs, targets = Config(), Jobs(), PrometheusTargets()
    for row in EXPORTERS:
        assert getattr(config.exporters, row.name).listen_address == f"0.0.0.0:{row.port}"
        assert getattr(targets, row.name) == [f"{row.name}-exporter:{row.port}"]
        assert getattr(jobs, row.name) == f"alismon-{row.name}"
        assert Inventory().ports[row.name] == row.port  # type: ignore[index]
        assert DASHBOARD_UIDS[row.name] == f"alischain-{row.name}"
    assert jobs.exporter_jobs() == [row.job for row in EXPORTERS]


def test_inventory_ports_left_out_keep_their_default() -> None:
    ports = parse_config({"inventory": {"ports": {"system": 9100}}}).inventory.ports
    assert ports == {**{row.name: row.port for row in EXPORTERS}, "system": 9100}


def test_the_command_line_has_a_subcommand_per_row_with_the_shared_flags() -> None:
    parser = build_parser()
    for row in EXPORTERS:
        args = parser.parse_args([row.name, "--web.enable-exporter-metrics", "--web.listen-address", ":1"])
        assert args.command == row.name and args.runtime_metrics is True and args.listen_address == ":1"
        assert parser.parse_args([row.name]).runtime_metrics is False
    # The system exporter's own flags come from its class.
    assert parser.parse_args(["system", "--no-collector.cpu"]).collector_cpu is False
    with pytest.raises(SystemExit):
        parser.parse_args(["business", "--no-collector.cpu"])


def test_the_rendered_prometheus_config_scrapes_every_row() -> None:
    files = render_all(Config(), REPO)
    prom = yaml.safe_load(files["provisioning/prometheus/prometheus.yml"])
    jobs = [job["job_name"] for job in prom["scrape_configs"]]
    assert jobs[: len(EXPORTERS)] == [row.job for row in EXPORTERS]
    for row in EXPORTERS:
        assert yaml.safe_load(files[f"provisioning/prometheus/targets/{row.name}.yml"]) == [
            {"targets": [f"{row.service}:{row.port}"]}
        ]
    alerts = files["rules/alerts.yml"]
    for row in EXPORTERS:
        assert f'absent(up{{job="{row.job}"}})' in alerts


def test_the_stack_starts_an_exporter_only_when_it_has_work(tmp_path: Path) -> None:
    without_chains = parse_config({"blockchain": {"networks": []}})
    assert [row.name for row in exporters_to_start(without_chains)] == ["system", "business"]
    raw = effective_config(without_chains, tmp_path, demo=False)
    assert raw["prometheus"]["targets"]["blockchain"] == []
    assert raw["prometheus"]["targets"]["system"] == ["127.0.0.1:9810"]
    # The demo brings its own chain, so the blockchain exporter runs and is scraped.
    demo = parse_config(effective_config(without_chains, tmp_path, demo=True))
    assert [row.name for row in exporters_to_start(demo)] == list(EXPORTER_NAMES)
    assert demo.prometheus.targets.blockchain == ["127.0.0.1:9811"]
    plan = components(demo, tmp_path, tmp_path / "config.yml", demo=True)
    started = {c.name: c.argv for c in plan}
    for row in EXPORTERS:
        argv = started[row.service]
        assert argv[argv.index("exporters.cli") + 1] == row.name

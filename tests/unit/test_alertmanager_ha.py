"""Alertmanager HA in the rendered files: every peer is an Alertmanager target of Prometheus."""

from __future__ import annotations

import yaml

from exporters.config import parse_config
from exporters.render.provisioning import prometheus_config, target_files

PEERS = ["alertmanager-1:9093", "alertmanager-2:9093", "alertmanager-3:9093"]


def test_every_peer_is_a_target_of_the_one_alertmanagers_entry() -> None:
    config = parse_config({"prometheus": {"targets": {"alertmanager": PEERS}}})
    alerting = prometheus_config(config)["alerting"]["alertmanagers"]
    # One entry, discovered from one file: Prometheus sends each alert to every target in it.
    assert alerting == [{"file_sd_configs": [{"files": ["targets/alertmanager.yml"]}], "api_version": "v2"}]
    groups = yaml.safe_load(target_files(config)["provisioning/prometheus/targets/alertmanager.yml"])
    assert groups == [{"targets": PEERS}]

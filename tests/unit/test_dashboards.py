"""Dashboards: structure lint, lossless SDK round trip, config-driven selectors (PromQL validity: tests/tools)."""

from __future__ import annotations

import json
import re

import yaml

from exporters.config import parse_config
from exporters.lint.dashboards import dropped_keys, lint_dashboard, lint_dashboard_files, sdk_round_trip
from exporters.lint.rules import load_rules
from exporters.render.dashboards import render_dashboards
from exporters.render.links import DASHBOARD_UIDS
from tests.conftest import REPO
from tests.dashboards_util import DASHBOARDS, JOBS, load


def test_expected_dashboards_exist_with_stable_uids() -> None:
    assert set(JOBS) <= set(DASHBOARDS)
    uids = {load(name)["uid"] for name in DASHBOARDS}
    assert uids <= set(DASHBOARD_UIDS.values())
    assert load("overview.json")["title"] == "AlisChain Overview"


def test_structure_lint_is_clean() -> None:
    assert lint_dashboard_files(REPO / "dashboards") == []


def test_sdk_round_trip_drops_nothing() -> None:
    for name in DASHBOARDS:
        dashboard = load(name)
        assert dropped_keys(dashboard, sdk_round_trip(dashboard)) == [], name


def test_sdk_round_trip_catches_a_misspelt_key() -> None:
    dashboard = load("system.json")
    dashboard["panels"][1]["fieldConfig"]["defaults"]["unti"] = "bytes"
    dashboard["refrsh"] = "1m"
    assert sorted(dropped_keys(dashboard, sdk_round_trip(dashboard))) == [
        "panels[1].fieldConfig.defaults.unti",
        "refrsh",
    ]


def test_lint_catches_each_fault() -> None:
    dashboard = load("system.json")
    panel = dashboard["panels"][1]
    panel["type"] = "graph"
    panel["fieldConfig"]["defaults"]["unit"] = ""
    panel["targets"][0]["expr"] = 'rate(system_cpu_seconds_total{job=~"$job"}[5m]) and $nosuch'
    panel["datasource"] = {"type": "prometheus", "uid": "abc"}
    dashboard["panels"][2]["id"] = panel["id"]
    dashboard["panels"][2]["gridPos"] = dict(panel["gridPos"])
    dashboard["panels"][3]["gridPos"]["x"] = 20
    dashboard["__inputs"] = []
    problems = lint_dashboard(dashboard, "d")
    title = f"d: panel {panel['title']!r}"
    for expected in [
        "d: __inputs are never resolved by file provisioning",
        "d: variable $nosuch is used but not defined",
        f"d: duplicate panel ids [{panel['id']}]",
        f"{title}: type 'graph' is not one of ['bargauge', 'gauge', 'row', 'stat', 'table', 'timeseries']",
        f"{title}: no unit",
        f"{title}: datasource is not the ${{datasource}} variable",
        f"{title}: rate() over [5m]; use [$__rate_interval]",
    ]:
        assert expected in problems, (expected, problems)
    assert any("overlaps panel" in p for p in problems)
    assert any("does not fit 24 columns" in p for p in problems)


def test_templates_have_no_literal_job_selector() -> None:
    for path in (REPO / "dashboards/templates").glob("*.j2"):
        assert not re.search(r'job=~?\\?"[A-Za-z]', path.read_text()), path.name


def test_alert_dashboard_links_point_at_real_dashboards() -> None:
    uids = {load(name)["uid"] for name in DASHBOARDS}
    for rule in load_rules(REPO / "rules/alerts.yml"):
        if "alert" in rule:
            assert rule["annotations"]["dashboard_url"].rsplit("/d/", 1)[1] in uids, rule["alert"]


def test_non_default_config_changes_selectors_and_thresholds_everywhere() -> None:
    base = yaml.safe_load((REPO / "config.yml").read_text())
    default = render_dashboards(parse_config(base), REPO)
    base["alerting"]["jobs"] = {
        "system": "node-host",
        "prometheus": "prom-main",
        "alertmanager": "am-main",
        "business": "apps-events",
        "blockchain": "evm-nodes",
    }
    base["alerting"]["alerts"] = {
        "SystemOverload": {"cpu_ratio": 0.66, "memory_ratio": 0.77},
        "HighFailureRate": {"ratio": 0.33},
        "BlockchainSync": {"delay_seconds": 44},
        "BlockchainReorgDeep": {"depth_blocks": 12},
    }
    custom = render_dashboards(parse_config(base), REPO)
    assert default.keys() == custom.keys()
    for path in default:
        before, after = default[path], custom[path]
        assert before != after, path
        assert "alismon-system" not in after or path.endswith("exporters.json"), path
    system, overview = json.loads(custom["dashboards/system.json"]), json.loads(custom["dashboards/overview.json"])
    assert system["templating"]["list"][1]["current"]["value"] == "node-host"
    steps = [
        s["value"]
        for p in system["panels"]
        if p["title"] == "CPU busy"
        for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]
    ]
    assert 0.66 in steps
    assert any(
        s["value"] == 0.77
        for p in overview["panels"]
        if p["title"] == "Fullest memory"
        for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]
    )
    chain = json.loads(custom["dashboards/blockchain.json"])
    assert chain["templating"]["list"][1]["current"]["value"] == "evm-nodes"
    assert [v["name"] for v in chain["templating"]["list"]] == ["datasource", "job", "instance", "chain", "endpoint"]
    assert "Reorgs deeper than 12 blocks" in [p["title"] for p in chain["panels"]]
    for board in (chain, overview):
        assert any(
            s["value"] == 44
            for p in board["panels"]
            if "age" in p["title"]
            for s in p.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
        )
    assert "alismon-blockchain" not in custom["dashboards/overview.json"]
    business = json.loads(custom["dashboards/business.json"])
    assert business["templating"]["list"][1]["current"]["value"] == "apps-events"
    assert any(
        s["value"] == 0.33
        for p in business["panels"]
        if p["title"] == "Failure ratio"
        for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]
    )
    assert "alismon-business" not in custom["dashboards/business.json"]
    exporters = custom["dashboards/exporters.json"]
    assert 'job=\\"prom-main\\"' in exporters and 'job=\\"am-main\\"' in exporters


def test_grafana_provisioning() -> None:
    ds = yaml.safe_load((REPO / "provisioning/grafana/datasources/prometheus.yml").read_text())["datasources"][0]
    assert ds["uid"] == "alischain-prometheus" and ds["isDefault"] is True and ds["editable"] is False
    for name in DASHBOARDS:
        variable = load(name)["templating"]["list"][0]
        assert variable["name"] == "datasource" and variable["current"]["value"] == ds["uid"]
    provider = yaml.safe_load((REPO / "provisioning/grafana/dashboards/alischain.yml").read_text())["providers"][0]
    assert provider["allowUiUpdates"] is False and provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/alischain"

"""Alertmanager and Prometheus provisioning as rendered: jobs and limits, file secrets, channels (amtool and
promtool checks are in tests/tools/test_alertmanager.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporters.config import parse_config
from exporters.core.errors import ConfigError
from exporters.core.exporter_table import EXPORTERS
from exporters.lint.provisioning import missing_secret_files
from exporters.render.provisioning import alertmanager_config
from tests.conftest import REPO

AM_CONFIG = REPO / "provisioning/alertmanager/alertmanager.yml"


def test_prometheus_config_has_jobs_limits_and_alertmanagers() -> None:
    prom = yaml.safe_load((REPO / "provisioning/prometheus/prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    assert set(jobs) == {*(row.job for row in EXPORTERS), "prometheus", "alertmanager"}
    for job in jobs.values():
        assert job["sample_limit"] > 0 and job["label_limit"] > 0 and job["body_size_limit"] == "10MB"
        assert job["label_value_length_limit"] > 0
    assert prom["global"]["external_labels"] == {"monitor": "alischain"}
    assert prom["alerting"]["alertmanagers"][0]["file_sd_configs"][0]["files"] == ["targets/alertmanager.yml"]


def test_secrets_are_files_never_inline() -> None:
    text = AM_CONFIG.read_text()
    am = yaml.safe_load(text)
    slack = next(r for r in am["receivers"] if r["name"] == "alismon-slack")["slack_configs"][0]
    email = next(r for r in am["receivers"] if r["name"] == "alismon-email")["email_configs"][0]
    assert slack["api_url_file"] == "/run/secrets/slack_webhook_url" and "api_url" not in slack
    assert email["auth_password_file"] == "/run/secrets/smtp_password" and "auth_password" not in email
    assert slack["send_resolved"] is True and email["send_resolved"] is True
    assert "hooks.slack.com" not in text


def test_missing_secret_files_are_named(tmp_path: Path) -> None:
    # On a development machine the compose secrets do not exist: each one is named.
    problems = missing_secret_files(AM_CONFIG)
    assert problems == [
        f"{AM_CONFIG}: receivers[1].slack_configs[0].api_url_file: secret file /run/secrets/slack_webhook_url "
        "does not exist",
        f"{AM_CONFIG}: receivers[2].email_configs[0].auth_password_file: secret file /run/secrets/smtp_password "
        "does not exist",
    ]
    hook, pw = tmp_path / "hook", tmp_path / "pw"
    hook.write_text("http://127.0.0.1:1/x")
    pw.write_text("secret")
    config = parse_config(
        {
            "alerting": {
                "notification_channels": {
                    "slack": [{"name": "a", "api_url_file": str(hook)}],
                    "email": [
                        {
                            "name": "b",
                            "to": ["x@y.z"],
                            "from": "a@b.c",
                            "smarthost": "h:25",
                            "auth_username": "u",
                            "auth_password_file": str(pw),
                        }
                    ],
                }
            }
        }
    )
    path = tmp_path / "am.yml"
    path.write_text(yaml.safe_dump(alertmanager_config(config.alerting)))
    assert missing_secret_files(path) == []


def test_several_channels_of_each_kind() -> None:
    config = parse_config(
        {
            "alerting": {
                "notification_channels": {
                    "slack": [
                        {"name": "a", "api_url_file": "/s/a"},
                        {"name": "b", "api_url_file": "/s/b", "channel": "#b"},
                    ],
                    "email": [
                        {"name": "c", "to": ["x@y.z", "w@y.z"], "from": "a@b.c", "smarthost": "h:25"},
                        {"name": "d", "to": ["v@y.z"], "from": "a@b.c", "smarthost": "h:25", "require_tls": False},
                    ],
                    "heartbeat": {"url_file": "/s/hb", "interval": "1m"},
                }
            }
        }
    )
    am = alertmanager_config(config.alerting)
    receivers = {r["name"]: r for r in am["receivers"]}
    assert [c["api_url_file"] for c in receivers["alismon-slack"]["slack_configs"]] == ["/s/a", "/s/b"]
    assert [c["to"] for c in receivers["alismon-email"]["email_configs"]] == ["x@y.z, w@y.z", "v@y.z"]
    assert receivers["alismon-heartbeat"]["webhook_configs"] == [{"send_resolved": False, "url_file": "/s/hb"}]


def test_an_inline_heartbeat_url_for_alertmanager_0_25() -> None:
    """`url_file` needs Alertmanager 0.26; `url` is written as is and loads on 0.25 (the e2e posts to one)."""
    channels = {"heartbeat": {"url": "http://127.0.0.1:8080/hb", "interval": "30s"}}
    am = alertmanager_config(parse_config({"alerting": {"notification_channels": channels}}).alerting)
    receivers = {r["name"]: r for r in am["receivers"]}
    assert receivers["alismon-heartbeat"]["webhook_configs"] == [
        {"send_resolved": False, "url": "http://127.0.0.1:8080/hb"}
    ]
    watchdog = am["route"]["routes"][0]
    assert watchdog["matchers"] == ['alertname="Watchdog"'] and watchdog["repeat_interval"] == "30s"
    with pytest.raises(ConfigError) as info:
        parse_config({"alerting": {"notification_channels": {"heartbeat": {"url": "http://h/", "url_file": "/s"}}}})
    assert info.value.problems == ["alerting.notification_channels.heartbeat: set url or url_file, not both"]


def test_a_process_mutes_the_endpoints_it_runs_and_the_chain_only_when_it_runs_them_all() -> None:
    raw = {
        "system": {"processes": [{"name": n, "match": {"comm": n}} for n in ("geth", "erigon")]},
        "blockchain": {
            "networks": [
                {"name": "eth", "chain_id": 1, "endpoints": [{"name": "a", "url": "http://h:1", "process": "geth"}]},
                {
                    "name": "pol",
                    "chain_id": 137,
                    "endpoints": [
                        {"name": "a", "url": "http://h:2", "process": "erigon"},
                        {"name": "b", "url": "http://h:3", "process": "erigon"},
                        {"name": "c", "url": "http://h:4"},
                    ],
                },
            ]
        },
    }
    config = parse_config(raw)
    rules = [r for r in alertmanager_config(config.alerting, config.blockchain)["inhibit_rules"] if "equal" not in r]
    sources = 'alertname=~"WatchedProcessDown|WatchedProcessOutage"'
    assert rules == [
        {
            "source_matchers": [sources, 'process="geth"'],
            "target_matchers": ['chain="eth"', 'alertname!="BlockchainChainIdMismatch"'],
        },
        {
            "source_matchers": [sources, 'process="erigon"'],
            "target_matchers": ['chain="pol"', 'endpoint=~"a|b"', 'alertname!="BlockchainChainIdMismatch"'],
        },
    ]
    # Without WatchedProcessDown nothing would page for the process: the chain pages for itself.
    raw["alerting"] = {"alerts": {"WatchedProcessDown": {"enabled": False}}}
    config = parse_config(raw)
    assert all("equal" in r for r in alertmanager_config(config.alerting, config.blockchain)["inhibit_rules"])

"""Prometheus and Alertmanager provisioning, built as data from config.yml and dumped as YAML.

Paths inside the files are relative to the file (both tools resolve them that way), so the
same provisioning/ tree works mounted in compose and copied into the native stack's run dir.
Secrets are referenced by file path only (`api_url_file`, `auth_password_file`, `url_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporters.core.alerting import AlertingConfig
from exporters.core.config import Config
from exporters.core.types import format_duration
from exporters.render.rules import HEADER, dump_yaml, jinja_env

PROMETHEUS_DIR = "provisioning/prometheus"
ALERTMANAGER_DIR = "provisioning/alertmanager"
MESSAGE_TEMPLATES = ("slack.tmpl", "email.tmpl")
TEMPLATE_SOURCE = Path("provisioning/templates")


def prometheus_config(config: Config) -> dict[str, Any]:
    prom, jobs = config.prometheus, config.alerting.jobs
    limits = prom.limits.model_dump()
    scrape_configs = []
    for key in ("system", "blockchain", "business", "prometheus", "alertmanager"):
        job: dict[str, Any] = {
            "job_name": getattr(jobs, key),
            "file_sd_configs": [{"files": [f"targets/{key}.yml"], "refresh_interval": "1m"}],
        }
        job.update(limits)
        scrape_configs.append(job)
    return {
        "global": {
            "scrape_interval": format_duration(prom.scrape_interval),
            "scrape_timeout": format_duration(prom.effective_scrape_timeout),
            "evaluation_interval": format_duration(prom.evaluation_interval),
            "external_labels": dict(prom.external_labels),
        },
        "rule_files": ["../../rules/recording.yml", "../../rules/alerts.yml"],
        "alerting": {
            "alertmanagers": [{"file_sd_configs": [{"files": ["targets/alertmanager.yml"]}], "api_version": "v2"}]
        },
        "scrape_configs": scrape_configs,
    }


def target_files(config: Config) -> dict[str, str]:
    targets = config.prometheus.targets
    return {
        f"{PROMETHEUS_DIR}/targets/{key}.yml": HEADER + dump_yaml([{"targets": list(getattr(targets, key))}])
        for key in type(targets).model_fields
    }


def _receiver_name(kind: str) -> str:
    return f"alismon-{kind}"


def alertmanager_config(alerting: AlertingConfig) -> dict[str, Any]:
    channels, routing = alerting.notification_channels, alerting.routing
    slack = {
        "name": _receiver_name("slack"),
        "slack_configs": [
            {
                "send_resolved": True,
                "api_url_file": c.api_url_file,
                **({"channel": c.channel} if c.channel else {}),
                "username": c.username,
                "color": '{{ template "alismon.slack.color" . }}',
                "title": '{{ template "alismon.slack.title" . }}',
                "title_link": '{{ template "alismon.slack.title_link" . }}',
                "text": '{{ template "alismon.slack.text" . }}',
                "fallback": '{{ template "alismon.slack.title" . }}',
            }
            for c in channels.slack
        ],
    }
    email = {
        "name": _receiver_name("email"),
        "email_configs": [
            {
                "send_resolved": True,
                "to": ", ".join(c.to),
                "from": c.from_,
                "smarthost": c.smarthost,
                **(
                    {"auth_username": c.auth_username, "auth_password_file": c.auth_password_file}
                    if c.auth_username
                    else {}
                ),
                "require_tls": c.require_tls,
                "headers": {"Subject": '{{ template "alismon.email.subject" . }}'},
                "html": '{{ template "alismon.email.html" . }}',
                "text": '{{ template "alismon.email.text" . }}',
            }
            for c in channels.email
        ],
    }
    heartbeat: dict[str, Any] = {"name": _receiver_name("heartbeat")}
    if channels.heartbeat.url_file:
        heartbeat["webhook_configs"] = [{"send_resolved": False, "url_file": channels.heartbeat.url_file}]
    heartbeat_interval = format_duration(channels.heartbeat.interval)
    critical_repeat = format_duration(routing.repeat_interval_critical)
    return {
        "global": {"resolve_timeout": format_duration(routing.resolve_timeout)},
        "templates": ["templates/*.tmpl"],
        "route": {
            "receiver": "null",
            "group_by": list(routing.group_by),
            "group_wait": format_duration(routing.group_wait),
            "group_interval": format_duration(routing.group_interval),
            "repeat_interval": format_duration(routing.repeat_interval_warning),
            "routes": [
                # The dead man's switch: sent often, never grouped with anything else.
                {
                    "receiver": heartbeat["name"],
                    "matchers": ['alertname="Watchdog"'],
                    "group_by": ["alertname"],
                    "group_wait": "0s",
                    "group_interval": heartbeat_interval,
                    "repeat_interval": heartbeat_interval,
                },
                {
                    "receiver": slack["name"],
                    "matchers": ['severity="critical"'],
                    "continue": True,
                    "repeat_interval": critical_repeat,
                },
                {"receiver": email["name"], "matchers": ['severity="critical"'], "repeat_interval": critical_repeat},
                {"receiver": slack["name"], "matchers": ['severity="warning"']},
                {"receiver": "null", "matchers": ['severity="info"']},
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"warning|info"'],
                "equal": list(routing.inhibit_equal),
            },
            {
                "source_matchers": ['severity="warning"'],
                "target_matchers": ['severity="info"'],
                "equal": list(routing.inhibit_equal),
            },
        ],
        "receivers": [{"name": "null"}, slack, email, heartbeat],
    }


GRAFANA_DIR = "provisioning/grafana"
# Where compose mounts dashboards/ inside the Grafana container.
GRAFANA_DASHBOARD_PATH = "/var/lib/grafana/dashboards/alischain"


def grafana_files() -> dict[str, str]:
    from exporters.render.dashboards import DATASOURCE_UID

    datasource = {
        "apiVersion": 1,
        "deleteDatasources": [{"name": "Prometheus", "orgId": 1}],
        "datasources": [
            {
                "name": "Prometheus",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "orgId": 1,
                "url": "http://prometheus:9090",
                "isDefault": True,
                "editable": False,
                "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
            }
        ],
    }
    dashboards = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "alischain",
                "orgId": 1,
                "folder": "AlisChain",
                "folderUid": "alischain",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": GRAFANA_DASHBOARD_PATH, "foldersFromFilesStructure": False},
            }
        ],
    }
    return {
        f"{GRAFANA_DIR}/datasources/prometheus.yml": HEADER + dump_yaml(datasource),
        f"{GRAFANA_DIR}/dashboards/alischain.yml": HEADER + dump_yaml(dashboards),
    }


def render_provisioning(config: Config, root: Path) -> dict[str, str]:
    env = jinja_env(root / TEMPLATE_SOURCE)
    context = {"alerting": config.alerting}
    out = {
        f"{PROMETHEUS_DIR}/prometheus.yml": HEADER + dump_yaml(prometheus_config(config)),
        f"{ALERTMANAGER_DIR}/alertmanager.yml": HEADER + dump_yaml(alertmanager_config(config.alerting)),
        **target_files(config),
        **grafana_files(),
    }
    for name in MESSAGE_TEMPLATES:
        out[f"{ALERTMANAGER_DIR}/templates/{name}"] = env.get_template(f"{name}.j2").render(context)
    return out

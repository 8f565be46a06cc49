"""Prometheus and Alertmanager provisioning, built as data from config.yml and dumped as YAML.

Paths inside the files are relative to the file (both tools resolve them that way), so the
same provisioning/ tree works mounted in compose and copied into the native stack's run dir.
Secrets are referenced by file path only (`api_url_file`, `auth_password_file`, `url_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from exporters.config import Config
from exporters.config.alerting import AlertingConfig
from exporters.config.blockchain import BlockchainConfig
from exporters.config.prometheus import RemoteWriteQueue
from exporters.core.exporter_table import EXPORTER_NAMES
from exporters.core.types import format_duration, parse_duration
from exporters.render.inhibition import cause_rules
from exporters.render.rules import HEADER, dump_yaml, jinja_env, render_rules

PROMETHEUS_DIR = "provisioning/prometheus"
ALERTMANAGER_DIR = "provisioning/alertmanager"
MESSAGE_TEMPLATES = ("slack.tmpl", "email.tmpl")
TEMPLATE_SOURCE = Path("provisioning/templates")
SCALE_OUT_DIR = f"{PROMETHEUS_DIR}/scale-out"


def _job(config: Config, key: str, targets_dir: str = "targets") -> dict[str, Any]:
    job: dict[str, Any] = {
        "job_name": getattr(config.alerting.jobs, key),
        "file_sd_configs": [{"files": [f"{targets_dir}/{key}.yml"], "refresh_interval": "1m"}],
    }
    job.update(config.prometheus.limits.model_dump())
    return job


def _global(config: Config, **labels: str) -> dict[str, Any]:
    prom = config.prometheus
    return {
        "scrape_interval": format_duration(prom.scrape_interval),
        "scrape_timeout": format_duration(prom.effective_scrape_timeout),
        "evaluation_interval": format_duration(prom.evaluation_interval),
        "external_labels": {**prom.external_labels, **labels},
    }


def _alerting(targets_dir: str = "targets") -> dict[str, Any]:
    files = [f"{targets_dir}/alertmanager.yml"]
    return {"alertmanagers": [{"file_sd_configs": [{"files": files}], "api_version": "v2"}]}


def prometheus_config(config: Config) -> dict[str, Any]:
    out = {
        "global": _global(config),
        "rule_files": ["../../rules/recording.yml", "../../rules/alerts.yml"],
        "alerting": _alerting(),
        "scrape_configs": [_job(config, key) for key in (*EXPORTER_NAMES, "prometheus", "alertmanager")],
    }
    scale = config.prometheus.scale_out
    if scale.store == "victoriametrics" and not scale.rendered:
        # VictoriaMetrics as the long-term store of a single Prometheus (scaled out, the shards write
        # there instead): what it scrapes goes there, what its rules produce does not (vmalert evaluates
        # the same rules over the store and writes their results there itself).
        drop_rule_results = {"source_labels": ["__name__"], "regex": "ALERTS|ALERTS_FOR_STATE|.*:.*", "action": "drop"}
        out["remote_write"] = [{**_victoriametrics_write(config), "write_relabel_configs": [drop_rule_results]}]
    return out


def target_files(config: Config) -> dict[str, str]:
    """Static `prometheus.targets` plus one group per inventory host, with the host's labels."""
    targets, inventory = config.prometheus.targets, config.inventory
    out = {}
    for key in type(targets).model_fields:
        groups: list[dict[str, Any]] = []
        if getattr(targets, key):
            groups.append({"targets": list(getattr(targets, key))})
        for host in inventory.hosts:
            if key in host.exporters:
                address = f"{host.address}:{inventory.ports[key]}"
                labels = {"host": host.name, **inventory.labels, **host.labels}
                groups.append({"targets": [address], "labels": labels})
        out[f"{PROMETHEUS_DIR}/targets/{key}.yml"] = HEADER + dump_yaml(groups)
    return out


# ---------------------------------------------------------------- scale-out


def hashmod_relabel(shards: int, shard: int) -> list[dict[str, Any]]:
    """Keep this shard's share of a job's targets. The path is hashed too: one address may serve many targets."""
    return [
        {
            "source_labels": ["__address__", "__metrics_path__"],
            "modulus": shards,
            "target_label": "__tmp_hashmod",
            "action": "hashmod",
        },
        {"source_labels": ["__tmp_hashmod"], "regex": str(shard), "action": "keep"},
    ]


def _remote_write(config: Config) -> list[dict[str, Any]]:
    out = []
    for rw in config.prometheus.scale_out.remote_write:
        queue = _remote_write_queue(rw.queue_config)
        entry: dict[str, Any] = {"name": rw.name, "url": rw.url, "queue_config": queue}
        if rw.headers:
            entry["headers"] = dict(rw.headers)
        if rw.bearer_token_file:
            entry["authorization"] = {"credentials_file": str(rw.bearer_token_file)}
        out.append(entry)
    scale = config.prometheus.scale_out
    if scale.store == "victoriametrics" and scale.victoriametrics_write_url not in [rw["url"] for rw in out]:
        out.append(_victoriametrics_write(config))
    return out


def _victoriametrics_write(config: Config) -> dict[str, Any]:
    """The remote write into VictoriaMetrics as the store, with the default queue."""
    url = config.prometheus.scale_out.victoriametrics_write_url
    return {"name": "victoriametrics", "url": url, "queue_config": _remote_write_queue(RemoteWriteQueue())}


def _remote_write_queue(queue_config: RemoteWriteQueue) -> dict[str, Any]:
    queue = queue_config.model_dump()
    for key in ("batch_send_deadline", "min_backoff", "max_backoff"):
        queue[key] = format_duration(queue[key])
    return queue


def shard_config(config: Config, shard: int, replica: int, agent: bool) -> dict[str, Any]:
    """One shard replica: its hashmod share of every exporter job, remote-written to the store.

    Server mode keeps a local TSDB (queryable, a buffer while the store is down) but evaluates no
    rules: a shard sees only part of the fleet. Agent mode keeps only the WAL (`--enable-feature=agent`).
    """
    scrape_configs = []
    for key in EXPORTER_NAMES:
        job = _job(config, key, "../targets")
        job["relabel_configs"] = hashmod_relabel(config.prometheus.scale_out.shards, shard)
        scrape_configs.append(job)
    glob = _global(config, shard=str(shard), replica=str(replica))
    if agent:
        glob.pop("evaluation_interval")
    return {"global": glob, "scrape_configs": scrape_configs, "remote_write": _remote_write(config)}


def central_config(config: Config) -> dict[str, Any]:
    """The central Prometheus of the local proof: receives every shard's remote writes and evaluates all rules."""
    shards = _job(config, "prometheus_shards")
    shards["file_sd_configs"] = [{"files": ["targets/shards.yml"], "refresh_interval": "1m"}]
    return {
        "global": _global(config),
        "rule_files": ["../../../rules/recording.yml", "../../../rules/alerts.yml"],
        "alerting": _alerting("../targets"),
        "scrape_configs": [shards, _job(config, "alertmanager", "../targets")],
    }


def scale_out_files(config: Config) -> dict[str, str]:
    scale = config.prometheus.scale_out
    if scale.shards == 1 and scale.replicas == 1:
        return {}
    out = {
        f"{SCALE_OUT_DIR}/central.yml": HEADER + dump_yaml(central_config(config)),
        f"{SCALE_OUT_DIR}/targets/shards.yml": HEADER + dump_yaml([{"targets": list(scale.shard_targets)}]),
    }
    for shard in range(scale.shards):
        for replica in range(scale.replicas):
            for agent, prefix in ((False, "shard"), (True, "agent")):
                data = shard_config(config, shard, replica, agent)
                out[f"{SCALE_OUT_DIR}/{prefix}-{shard}-{replica}.yml"] = HEADER + dump_yaml(data)
    return out


def _receiver_name(kind: str) -> str:
    return f"alismon-{kind}"


def alertmanager_config(alerting: AlertingConfig, blockchain: BlockchainConfig | None = None) -> dict[str, Any]:
    """`blockchain` gives the chain endpoints a watched process runs (their alerts are muted under it)."""
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
    elif channels.heartbeat.url:
        heartbeat["webhook_configs"] = [{"send_resolved": False, "url": channels.heartbeat.url}]
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
            *cause_rules(alerting, blockchain),
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


def pending_periods(config: Config, root: Path) -> list[tuple[str, str, int]]:
    """(alertname, severity, `for` in nanoseconds) of every alert with a `for`, as rendered into the rules.

    Prometheus sends an alert when it starts firing, `for` after its condition began; the message
    templates subtract it to say since when the condition holds."""
    rules = yaml.safe_load(render_rules(config, root)["rules/alerts.yml"].split("\n", 1)[1])
    out = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule and "for" in rule:
                key = (rule["alert"], rule["labels"]["severity"])
                out[key] = int(parse_duration(rule["for"]) * 1e9)
    return [(name, severity, ns) for (name, severity), ns in out.items()]


def render_provisioning(config: Config, root: Path) -> dict[str, str]:
    env = jinja_env(root / TEMPLATE_SOURCE)
    context = {
        "alerting": config.alerting,
        "am": config.alerting.alertmanager_url.rstrip("/"),
        "pending": pending_periods(config, root),
    }
    out = {
        f"{PROMETHEUS_DIR}/prometheus.yml": HEADER + dump_yaml(prometheus_config(config)),
        f"{ALERTMANAGER_DIR}/alertmanager.yml": HEADER
        + dump_yaml(alertmanager_config(config.alerting, config.blockchain)),
        **target_files(config),
        **scale_out_files(config),
        **grafana_files(),
    }
    for name in MESSAGE_TEMPLATES:
        out[f"{ALERTMANAGER_DIR}/templates/{name}"] = env.get_template(f"{name}.j2").render(context)
    return out

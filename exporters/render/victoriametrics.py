"""VictoriaMetrics as the store of the scale-out: the store, vmalert as its ruler, vmagent as shard scraper.

Each process gets a flags file (one `-flag=value` per line, `#` comments) holding everything that
comes from config.yml; paths in it are relative to the rendered tree's root, so the process runs
with that root as its working directory (compose: `working_dir: /etc/alismon`, the native stack:
<run-dir>/tree). What belongs to one deployment (listen address, data directory) is added by
whoever starts the process. Scrape configs are written for VictoriaMetrics' parser, which is
strict and knows fewer keys than Prometheus's (no label limits, no file-SD refresh interval).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporters.config import Config
from exporters.core.exporter_table import EXPORTER_NAMES
from exporters.core.types import format_duration
from exporters.render.provisioning import hashmod_relabel
from exporters.render.rules import HEADER, dump_yaml

VM_DIR = "provisioning/victoriametrics"
SCALE_OUT_DIR = "provisioning/prometheus/scale-out"
RULE_FILES = ("rules/recording.yml", "rules/alerts.yml")
# The external label that tells the two replicas of a shard apart (provisioning.shard_config sets it).
REPLICA_LABEL = "replica"


def vm_duration(seconds: float) -> str:
    """-retentionPeriod takes h, d, w, y suffixes (a bare number means months)."""
    if seconds % 86400 == 0:
        return f"{int(seconds // 86400)}d"
    return f"{max(1, round(seconds / 3600))}h"


def dedup_interval(config: Config) -> float:
    configured = config.prometheus.scale_out.victoriametrics.dedup_interval
    return config.prometheus.scrape_interval if configured is None else configured


def _flags_file(title: str, flags: list[str]) -> str:
    return (
        HEADER
        + f"# {title}\n# Paths are relative to the tree root: run with it as the working directory.\n"
        + ("\n".join(flags) + "\n")
    )


def read_flags(text: str) -> list[str]:
    """The flags of a rendered flags file, in order."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _global(config: Config, **labels: str) -> dict[str, Any]:
    prom = config.prometheus
    return {
        "scrape_interval": format_duration(prom.scrape_interval),
        "scrape_timeout": format_duration(prom.effective_scrape_timeout),
        "external_labels": {**prom.external_labels, **labels},
    }


def _job(config: Config, key: str, target_file: str) -> dict[str, Any]:
    return {
        "job_name": getattr(config.alerting.jobs, key),
        "file_sd_configs": [{"files": [target_file]}],
        "sample_limit": config.prometheus.limits.sample_limit,
    }


def store_flags(config: Config) -> list[str]:
    interval = dedup_interval(config)
    return [
        f"-retentionPeriod={vm_duration(config.prometheus.scale_out.victoriametrics.retention)}",
        # Keep one sample per series and interval: the two replicas of a shard pair store one copy.
        f"-dedup.minScrapeInterval={format_duration(interval)}",
        # Drop the replica label on ingestion, so both replicas' series are the same series to deduplicate.
        f"-relabelConfig={VM_DIR}/relabel.yml",
        f"-search.latencyOffset={format_duration(config.prometheus.scale_out.victoriametrics.query_latency_offset)}",
        # The store scrapes the shards (PrometheusShardDown) and Alertmanager, as the central Prometheus does.
        f"-promscrape.config={VM_DIR}/scrape.yml",
    ]


def store_relabel() -> list[dict[str, Any]]:
    return [{"action": "labeldrop", "regex": REPLICA_LABEL}]


def store_scrape(config: Config) -> dict[str, Any]:
    shards = _job(config, "prometheus_shards", "targets/shards.yml")
    return {
        "global": _global(config),
        "scrape_configs": [shards, _job(config, "alertmanager", "../prometheus/targets/alertmanager.yml")],
    }


def shard_targets(config: Config) -> list[str]:
    scale = config.prometheus.scale_out
    return list(scale.victoriametrics.vmagent_targets or scale.shard_targets)


def vmalert_flags(config: Config) -> list[str]:
    """vmalert evaluates the same rules files as Prometheus against the store.

    Recording results and ALERTS / ALERTS_FOR_STATE are written back into the store (remote write);
    on restart vmalert restores the `for` state of pending and firing alerts from it (remote read)."""
    url = config.prometheus.scale_out.victoriametrics.url
    flags = [f"-rule={path}" for path in RULE_FILES]
    flags += [f"-datasource.url={url}", f"-remoteWrite.url={url}", f"-remoteRead.url={url}"]
    flags += [f"-notifier.url=http://{target}" for target in config.prometheus.targets.alertmanager]
    flags.append(f"-evaluationInterval={format_duration(config.prometheus.evaluation_interval)}")
    # Prometheus adds its external labels to the alerts it sends, and no `alertgroup` label: with the
    # same labels, Alertmanager sees one alert whichever ruler (or both) sent it.
    flags += [f"-external.label={k}={v}" for k, v in config.prometheus.external_labels.items()]
    flags.append("-disableAlertgroupLabel")
    vm = config.prometheus.scale_out.victoriametrics
    # Alert source links open the expression in VictoriaMetrics' vmui.
    flags += [
        f"-external.url={vm.external_url.rstrip('/')}",
        "-external.alert.source=vmui/#/?g0.expr={{$expr|queryEscape}}",
    ]
    return flags


def vmagent_scrape(config: Config, shard: int, replica: int) -> dict[str, Any]:
    """One vmagent shard replica: the same hashmod rules over the same file-SD targets as shard-<i>-<r>.yml.

    The rules are the same, the hash is not: vmagent's hashmod uses xxhash where Prometheus uses
    md5, so vmagent shard i does not own the targets of Prometheus shard i. Within one kind of
    scraper every target is in exactly one shard; do not mix both kinds in one shard set."""
    jobs = []
    for key in EXPORTER_NAMES:
        job = _job(config, key, f"../targets/{key}.yml")
        job["relabel_configs"] = hashmod_relabel(config.prometheus.scale_out.shards, shard)
        jobs.append(job)
    return {"global": _global(config, shard=str(shard), replica=str(replica)), "scrape_configs": jobs}


def vmagent_flags(config: Config, shard: int, replica: int) -> list[str]:
    return [
        f"-promscrape.config={SCALE_OUT_DIR}/vmagent-{shard}-{replica}.yml",
        # Prometheus's body_size_limit: vmagent's per-scrape limit is a flag.
        f"-promscrape.maxScrapeSize={config.prometheus.limits.body_size_limit}",
        f"-remoteWrite.url={config.prometheus.scale_out.victoriametrics_write_url}",
    ]


def victoriametrics_files(config: Config) -> dict[str, str]:
    scale = config.prometheus.scale_out
    if not scale.victoriametrics_rendered:
        return {}
    out = {
        f"{VM_DIR}/victoria-metrics.flags": _flags_file(
            "victoria-metrics (single node): the store", store_flags(config)
        ),
        f"{VM_DIR}/relabel.yml": HEADER + dump_yaml(store_relabel()),
        f"{VM_DIR}/scrape.yml": HEADER + dump_yaml(store_scrape(config)),
        f"{VM_DIR}/targets/shards.yml": HEADER + dump_yaml([{"targets": shard_targets(config)}]),
        f"{VM_DIR}/vmalert.flags": _flags_file("vmalert: the rules over the store", vmalert_flags(config)),
    }
    if scale.rendered:
        for shard in range(scale.shards):
            for replica in range(scale.replicas):
                name = f"vmagent-{shard}-{replica}"
                out[f"{SCALE_OUT_DIR}/{name}.yml"] = HEADER + dump_yaml(vmagent_scrape(config, shard, replica))
                title = f"vmagent: shard {shard} replica {replica}"
                out[f"{SCALE_OUT_DIR}/{name}.flags"] = _flags_file(title, vmagent_flags(config, shard, replica))
    return out


def flags_of(tree: Path, name: str) -> list[str]:
    """The flags of provisioning/victoriametrics/<name>.flags (or scale-out/<name>.flags) in a rendered tree."""
    for directory in (VM_DIR, SCALE_OUT_DIR):
        path = tree / directory / f"{name}.flags"
        if path.exists():
            return read_flags(path.read_text())
    raise FileNotFoundError(f"no rendered flags file {name}.flags under {tree}")

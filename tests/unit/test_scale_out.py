"""Target inventory and scale-out rendering: file-SD groups, hashmod shards, agent variant, central config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporters.config import parse_config
from exporters.core.errors import ConfigError
from exporters.core.exporter_table import EXPORTERS
from tests.scale_out_util import REPO, SCALE, render


def test_inventory_hosts_become_labelled_target_groups() -> None:
    files = render(
        {
            "inventory": {
                "labels": {"region": "eu-west"},
                "hosts": [
                    {"name": "val-1", "address": "10.0.1.11", "exporters": ["system", "blockchain"],
                     "labels": {"role": "validator", "chain": "polygon"}},
                    {"name": "agent-0001", "address": "10.0.8.1", "labels": {"role": "agent"}},
                ],
            }
        }
    )  # fmt: skip
    system = yaml.safe_load(files["provisioning/prometheus/targets/system.yml"])
    assert system == [
        {"targets": ["system-exporter:9810"]},
        {"targets": ["10.0.1.11:9810"], "labels": {"host": "val-1", "region": "eu-west", "role": "validator",
                                                   "chain": "polygon"}},
        {"targets": ["10.0.8.1:9810"], "labels": {"host": "agent-0001", "region": "eu-west", "role": "agent"}},
    ]  # fmt: skip
    chain = yaml.safe_load(files["provisioning/prometheus/targets/blockchain.yml"])
    assert [g["targets"] for g in chain] == [["blockchain-exporter:9811"], ["10.0.1.11:9811"]]
    business = yaml.safe_load(files["provisioning/prometheus/targets/business.yml"])
    assert business == [{"targets": ["business-exporter:9812"]}]


@pytest.mark.parametrize(
    ("inventory", "expected"),
    [
        ({"hosts": [{"name": "a", "address": "h"}, {"name": "a", "address": "i"}]},
         "inventory.hosts: host names must be unique, repeated: a"),
        ({"hosts": [{"name": "a", "address": "h", "labels": {"instance": "x"}}]},
         "inventory.hosts[0].labels: labels set by Prometheus or the sharding: instance"),
        ({"labels": {"__meta": "x", "bad-name": "y"}},
         "inventory.labels: not usable as Prometheus label names: __meta, bad-name"),
        ({"hosts": [{"name": "a", "address": "h", "exporters": ["node"]}]},
         "inventory.hosts[0].exporters[0]: Input should be 'system', 'blockchain' or 'business'"),
    ],
)  # fmt: skip
def test_bad_inventory_is_a_config_error_with_a_key_path(inventory: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"inventory": inventory})
    assert info.value.problems == [expected]


def test_scale_out_needs_a_store_and_matching_shard_targets() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"prometheus": {"scale_out": {"shards": 2}}})
    assert info.value.problems == [
        "prometheus.scale_out: remote_write needs at least one store when shards or replicas > 1"
    ]
    with pytest.raises(ConfigError) as info:
        parse_config({"prometheus": {"scale_out": {**SCALE, "shard_targets": ["a:9090"]}}})
    assert info.value.problems == ["prometheus.scale_out: shard_targets lists 1 addresses for 6 shard replicas"]


def test_single_prometheus_renders_no_scale_out_files() -> None:
    single = render({"prometheus": {"scale_out": {"shards": 1}}})
    assert not [p for p in single if "scale-out" in p]
    # The shipped config renders the compose `scale` profile's two shards.
    assert "provisioning/prometheus/scale-out/agent-1-0.yml" in render({})


def test_every_shard_keeps_its_own_hashmod_share_and_writes_to_the_store(tmp_path: Path) -> None:
    files = render({"prometheus": {"scale_out": SCALE}}, tmp_path)
    names = sorted(p.rsplit("/", 1)[-1] for p in files if "/scale-out/" in p and "/targets/" not in p)
    assert names == sorted(["central.yml"] + [f"{kind}-{s}-{r}.yml" for kind in ("agent", "shard", "vmagent")
                                       for s in range(3) for r in range(2)]
                           + [f"vmagent-{s}-{r}.flags" for s in range(3) for r in range(2)])  # fmt: skip
    for s in range(3):
        for r in range(2):
            cfg = yaml.safe_load(files[f"provisioning/prometheus/scale-out/shard-{s}-{r}.yml"])
            assert cfg["global"]["external_labels"] == {"monitor": "alischain", "shard": str(s), "replica": str(r)}
            assert "rule_files" not in cfg and "alerting" not in cfg  # a shard sees part of the fleet only
            assert [j["job_name"] for j in cfg["scrape_configs"]] == [row.job for row in EXPORTERS]
            for job in cfg["scrape_configs"]:
                hashmod, keep = job["relabel_configs"]
                assert hashmod["modulus"] == 3 and hashmod["action"] == "hashmod"
                assert keep == {"source_labels": ["__tmp_hashmod"], "regex": str(s), "action": "keep"}
            (rw,) = cfg["remote_write"]
            assert rw["url"] == "http://mimir:9009/api/v1/push" and rw["headers"] == {"X-Scope-OrgID": "alischain"}
            assert rw["queue_config"]["max_samples_per_send"] == 2000
    central = yaml.safe_load(files["provisioning/prometheus/scale-out/central.yml"])
    assert central["rule_files"] == ["../../../rules/recording.yml", "../../../rules/alerts.yml"]
    assert [j["job_name"] for j in central["scrape_configs"]] == ["prometheus-shards", "alertmanager"]
    shard_targets = yaml.safe_load(files["provisioning/prometheus/scale-out/targets/shards.yml"])
    assert shard_targets == [{"targets": SCALE["shard_targets"]}]


# ---------------------------------------------------------------- VictoriaMetrics as the store


def _flags(text: str) -> list[str]:
    from exporters.render.victoriametrics import read_flags

    return read_flags(text)


def test_victoriametrics_store_vmalert_and_vmagent_files_follow_the_config() -> None:
    vm = {"url": "http://vm:8428", "retention": "90d", "vmagent_targets": [f"vmagent-{s}-{r}:8429" for s in range(3)
                                                                          for r in range(2)]}  # fmt: skip
    files = render({"prometheus": {"scale_out": {**SCALE, "victoriametrics": vm}}})
    store = _flags(files["provisioning/victoriametrics/victoria-metrics.flags"])
    assert "-retentionPeriod=90d" in store
    assert "-dedup.minScrapeInterval=15s" in store  # the scrape interval: one sample per interval and series
    # Both replicas of a shard pair become one series: the replica label is dropped on ingestion.
    assert "-relabelConfig=provisioning/victoriametrics/relabel.yml" in store
    assert yaml.safe_load(files["provisioning/victoriametrics/relabel.yml"]) == [
        {"action": "labeldrop", "regex": "replica"}
    ]
    scrape = yaml.safe_load(files["provisioning/victoriametrics/scrape.yml"])
    assert [j["job_name"] for j in scrape["scrape_configs"]] == ["prometheus-shards", "alertmanager"]
    shards = yaml.safe_load(files["provisioning/victoriametrics/targets/shards.yml"])
    assert shards == [{"targets": vm["vmagent_targets"]}]  # the shards writing into the store are the vmagents
    vmalert = _flags(files["provisioning/victoriametrics/vmalert.flags"])
    assert vmalert[:2] == ["-rule=rules/recording.yml", "-rule=rules/alerts.yml"]
    for flag in ("-datasource.url", "-remoteWrite.url", "-remoteRead.url"):
        assert f"{flag}=http://vm:8428" in vmalert
    assert "-notifier.url=http://alertmanager:9093" in vmalert
    assert "-external.label=monitor=alischain" in vmalert and "-disableAlertgroupLabel" in vmalert
    for s in range(3):
        for r in range(2):
            prom = yaml.safe_load(files[f"provisioning/prometheus/scale-out/shard-{s}-{r}.yml"])
            agent = yaml.safe_load(files[f"provisioning/prometheus/scale-out/vmagent-{s}-{r}.yml"])
            assert agent["global"]["external_labels"] == prom["global"]["external_labels"]
            # The same hashmod rules over the same target files as the Prometheus shard.
            for vm_job, prom_job in zip(agent["scrape_configs"], prom["scrape_configs"], strict=True):
                assert vm_job["relabel_configs"] == prom_job["relabel_configs"]
                assert vm_job["file_sd_configs"][0]["files"] == prom_job["file_sd_configs"][0]["files"]
                assert "label_limit" not in vm_job  # VictoriaMetrics' strict parser refuses it
            flags = _flags(files[f"provisioning/prometheus/scale-out/vmagent-{s}-{r}.flags"])
            assert f"-promscrape.config=provisioning/prometheus/scale-out/vmagent-{s}-{r}.yml" in flags
            assert "-remoteWrite.url=http://vm:8428/api/v1/write" in flags
            # The Prometheus shards still write where remote_write says: the store is not the default one.
            assert [rw["url"] for rw in prom["remote_write"]] == ["http://mimir:9009/api/v1/push"]


def test_victoriametrics_as_the_store_receives_every_prometheus() -> None:
    scale = {**SCALE, "remote_write": [], "store": "victoriametrics", "victoriametrics": {"url": "http://vm:8428"}}
    files = render({"prometheus": {"scale_out": scale}})
    shard = yaml.safe_load(files["provisioning/prometheus/scale-out/agent-2-1.yml"])
    assert [rw["url"] for rw in shard["remote_write"]] == ["http://vm:8428/api/v1/write"]
    shards = yaml.safe_load(files["provisioning/victoriametrics/targets/shards.yml"])
    assert shards == [{"targets": SCALE["shard_targets"]}]  # no vmagents: the store watches the Prometheus shards
    # A single Prometheus with VictoriaMetrics as its long-term store: samples go there, rule results do not
    # (vmalert writes its own).
    single = render(
        {"prometheus": {"scale_out": {"store": "victoriametrics", "victoriametrics": {"url": "http://vm:8428"}}}}
    )
    assert not [p for p in single if "/scale-out/" in p]
    assert "provisioning/victoriametrics/vmalert.flags" in single
    (rw,) = yaml.safe_load(single["provisioning/prometheus/prometheus.yml"])["remote_write"]
    assert rw["url"] == "http://vm:8428/api/v1/write"
    assert rw["write_relabel_configs"] == [
        {"source_labels": ["__name__"], "regex": "ALERTS|ALERTS_FOR_STATE|.*:.*", "action": "drop"}
    ]
    # The default single Prometheus has no store and writes nowhere.
    assert "remote_write" not in yaml.safe_load(render({"prometheus": {"scale_out": {"shards": 1}}})[
        "provisioning/prometheus/prometheus.yml"])  # fmt: skip


def test_bad_victoriametrics_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"prometheus": {"scale_out": {**SCALE, "victoriametrics": {"vmagent_targets": ["a:8429"]}}}})
    assert info.value.problems == [
        "prometheus.scale_out: victoriametrics.vmagent_targets lists 1 addresses for 6 shard replicas"
    ]
    with pytest.raises(ConfigError) as info:
        parse_config({"prometheus": {"scale_out": {"victoriametrics": {"retention": "12h", "url": "vm:8428"}}}})
    assert len(info.value.problems) == 2
    assert info.value.problems[0].startswith("prometheus.scale_out.victoriametrics.url:")
    assert info.value.problems[1].startswith("prometheus.scale_out.victoriametrics.retention:")


def test_native_stack_starts_victoriametrics_and_vmalert_when_the_config_selects_it(tmp_path: Path) -> None:
    from exporters.render.main import render_all, write
    from exporters.stack.topology import components, effective_config

    config = parse_config({"prometheus": {"scale_out": {**SCALE, "store": "victoriametrics"}}})
    effective = parse_config(effective_config(config, tmp_path, demo=False))
    # One Prometheus natively, writing into the local store that vmalert evaluates.
    assert (effective.prometheus.scale_out.shards, effective.prometheus.scale_out.remote_write) == (1, [])
    assert effective.prometheus.scale_out.victoriametrics.url == "http://127.0.0.1:8428"
    tree = tmp_path / "tree"
    write(render_all(effective, REPO), tree)
    (rw,) = yaml.safe_load((tree / "provisioning/prometheus/prometheus.yml").read_text())["remote_write"]
    assert rw["url"] == "http://127.0.0.1:8428/api/v1/write"
    plan = [c.name for c in components(effective, tmp_path, tmp_path / "config.yml", demo=False)]
    assert plan.index("alertmanager") < plan.index("victoriametrics") < plan.index("vmalert") < plan.index("prometheus")
    by_name = {c.name: c for c in components(effective, tmp_path, tmp_path / "config.yml", demo=False)}
    store, vmalert = by_name["victoriametrics"].argv, by_name["vmalert"].argv
    assert (
        f"-storageDataPath={tmp_path / 'data/victoriametrics'}" in store and "-httpListenAddr=127.0.0.1:8428" in store
    )
    assert "-notifier.url=http://127.0.0.1:9093" in vmalert and "-httpListenAddr=127.0.0.1:8880" in vmalert
    # Paths are absolute, so `stack fix` restarts them from any working directory.
    paths = [a.split("=", 1)[1] for a in store + vmalert if a.startswith(("-rule=", "-relabelConfig=", "-promscrape."))]
    assert len(paths) == 4 and all(Path(p).is_absolute() and Path(p).is_file() for p in paths), paths
    # Without the store selected, neither is started.
    plain = parse_config(effective_config(parse_config({}), tmp_path, demo=False))
    names = [c.name for c in components(plain, tmp_path, tmp_path / "config.yml", demo=False)]
    assert "victoriametrics" not in names and "vmalert" not in names

"""Target inventory and scale-out rendering: file-SD groups, hashmod shards, agent variant, central config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporters.config import parse_config
from exporters.core.errors import ConfigError
from exporters.core.exporter_table import EXPORTERS
from tests.scale_out_util import SCALE, render


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
    assert names == sorted(["central.yml"] + [f"{kind}-{s}-{r}.yml" for kind in ("agent", "shard") for s in range(3)
                                       for r in range(2)])  # fmt: skip
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

"""Target inventory and scale-out rendering: file-SD groups, hashmod shards, agent variant, central config."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporters.config import parse_config
from exporters.core.errors import ConfigError
from exporters.core.exporter_table import EXPORTERS
from exporters.render.main import render_all, write
from tests.conftest import REPO, tool

SCALE = {
    "shards": 3,
    "replicas": 2,
    "remote_write": [
        {"name": "mimir", "url": "http://mimir:9009/api/v1/push", "headers": {"X-Scope-OrgID": "alischain"}}
    ],
    "shard_targets": [f"prometheus-shard-{s}-{r}:9090" for s in range(3) for r in range(2)],
}


def render(overrides: dict[str, Any], out: Path | None = None) -> dict[str, str]:
    base = yaml.safe_load((REPO / "config.yml").read_text())
    for section, values in overrides.items():
        base[section] = {**base.get(section, {}), **values}
    files = render_all(parse_config(base), REPO)
    if out is not None:
        write(files, out)
    return files


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


def test_promtool_accepts_every_rendered_variant(tmp_path: Path) -> None:
    render({"prometheus": {"scale_out": SCALE}}, tmp_path)
    out = tmp_path / "provisioning/prometheus"
    variants: list[tuple[Path, list[str]]] = [(out / "prometheus.yml", []), (out / "scale-out/central.yml", [])]
    for s in range(3):
        for r in range(2):
            variants.append((out / f"scale-out/shard-{s}-{r}.yml", []))
            variants.append((out / f"scale-out/agent-{s}-{r}.yml", ["--agent"]))
    for path, flags in variants:
        result = subprocess.run(
            [tool("promtool"), "check", "config", *flags, str(path)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{path.name}: {result.stdout}{result.stderr}"
    # An agent config with rules is refused by promtool --agent: the check can fail.
    agent = yaml.safe_load((out / "scale-out/agent-0-0.yml").read_text())
    bad = tmp_path / "bad-agent.yml"
    bad.write_text(yaml.safe_dump({**agent, "rule_files": ["x.yml"]}))
    result = subprocess.run([tool("promtool"), "check", "config", "--agent", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0


@pytest.mark.parametrize("store", ["mimir", "thanos-receive", "victoriametrics"])
def test_store_snippets_render_configs_promtool_accepts(store: str, tmp_path: Path) -> None:
    snippet = yaml.safe_load((REPO / f"docs/scaling/{store}.yml").read_text())
    scale = snippet["prometheus"]["scale_out"]
    files = render({"prometheus": {"scale_out": scale}}, tmp_path)
    agents = sorted(p for p in files if "/scale-out/agent-" in p)
    assert len(agents) == scale["shards"] * scale["replicas"] == len(scale["shard_targets"])
    for path in agents:
        cfg = yaml.safe_load(files[path])
        assert [rw["url"] for rw in cfg["remote_write"]] == [rw["url"] for rw in scale["remote_write"]]
        result = subprocess.run(
            [tool("promtool"), "check", "config", "--agent", str(tmp_path / path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr

"""Every rendered Prometheus variant of the scale-out (single, shards, agents, central) passes promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, tool
from tests.scale_out_util import SCALE, render


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


def test_victoriametrics_vmalert_and_vmagent_accept_their_rendered_configs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alismon lint`'s dry runs with VictoriaMetrics as the store: the binaries' own checks of every rendered file."""
    from exporters.config import parse_config
    from exporters.lint.main import _victoriametrics
    from exporters.lint.victoriametrics import dry_runs

    for binary in ("victoria-metrics", "vmalert", "vmagent"):
        tool(binary)  # missing: fail with the install command
    vmagents = [f"vmagent-{s}-{r}:8429" for s in range(3) for r in range(2)]
    scale = {**SCALE, "store": "victoriametrics", "victoriametrics": {"vmagent_targets": vmagents}}
    render({"prometheus": {"scale_out": scale}}, tmp_path)
    config = yaml.safe_load((REPO / "config.yml").read_text())
    config["prometheus"]["scale_out"] = scale
    parsed = parse_config(config)
    titles = [run.title for run in dry_runs(parsed, tmp_path)]
    assert len(titles) == 2 + 6 and "vmalert -dryRun (the rules files Prometheus loads)" in titles
    assert _victoriametrics(parsed, tmp_path) == [True] * 8
    assert capsys.readouterr().out.count("ok   ") == 8
    # The checks can fail: a Prometheus-only key in a scrape config is refused, and lint names it.
    bad = tmp_path / "provisioning/prometheus/scale-out/vmagent-0-0.yml"
    bad.write_text(bad.read_text().replace("  sample_limit:", "  label_limit: 30\n  sample_limit:", 1))
    assert _victoriametrics(parsed, tmp_path).count(False) == 1
    out = capsys.readouterr()
    assert "FAIL vmagent -dryRun (vmagent-0-0)" in out.out and "label_limit" in out.err

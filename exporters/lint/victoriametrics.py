"""With VictoriaMetrics as the store: its own binaries dry-run the rendered flags files (vmalert parses the rules)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exporters.config import Config
from exporters.core.tools import find_tool
from exporters.render.victoriametrics import SCALE_OUT_DIR, flags_of


@dataclass(frozen=True)
class DryRun:
    title: str
    argv: list[str]


def dry_runs(config: Config, root: Path) -> list[DryRun]:
    """The store's scrape config, vmalert over the rules files, each vmagent shard; none when the store is Prometheus.
    Raises ToolMissing naming the package when a binary is not installed."""
    if config.prometheus.scale_out.store != "victoriametrics":
        return []
    store, vmalert, vmagent = find_tool("victoria-metrics"), find_tool("vmalert"), find_tool("vmagent")
    scrape = [f for f in flags_of(root, "victoria-metrics") if f.startswith("-promscrape.config=")]
    runs = [
        DryRun("victoria-metrics -promscrape.config.dryRun", [store, *scrape, "-promscrape.config.dryRun"]),
        DryRun("vmalert -dryRun (the rules files Prometheus loads)", [vmalert, *flags_of(root, "vmalert"), "-dryRun"]),
    ]
    for path in sorted((root / SCALE_OUT_DIR).glob("vmagent-*.flags")):
        runs.append(DryRun(f"vmagent -dryRun ({path.stem})", [vmagent, *flags_of(root, path.stem), "-dryRun"]))
    return runs

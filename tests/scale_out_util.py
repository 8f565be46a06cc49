"""Scale-out settings and rendering from the repo's config.yml, shared by the rendering and promtool tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from exporters.config import parse_config
from exporters.render.main import render_all, write

REPO = Path(__file__).resolve().parents[1]

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

"""Every dashboard panel query is valid PromQL, as promtool parses it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import tool
from tests.dashboards_util import DASHBOARDS, JOBS, load, panel_queries


def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    rules = []
    for name in DASHBOARDS:
        for i, (_title, expr) in enumerate(panel_queries(load(name), JOBS[name])):
            rules.append({"record": f"dashboard:{name.removesuffix('.json')}_{i}:check", "expr": expr})
    assert len(rules) > 40
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}))
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

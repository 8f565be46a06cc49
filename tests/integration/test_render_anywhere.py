"""`alismon render --out DIR` from any directory: the templates come with the package."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

from exporters.render.main import PACKAGE_TEMPLATES
from exporters.stack.procs import alismon_argv
from tests.conftest import REPO


def test_render_out_from_outside_the_repository(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.yml").write_text((REPO / "config.yml").read_text())
    argv = alismon_argv("render", "--out", "tree", config_file="config.yml")
    result = subprocess.run(argv, cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    some = ["rules/alerts.yml", "provisioning/alertmanager/templates/slack.tmpl", "dashboards/overview.json"]
    for rel in [*some, "docs/runbooks/SystemOverload.md"]:
        assert (elsewhere / "tree" / rel).read_text() == (REPO / rel).read_text(), rel
    check = subprocess.run([*argv, "--check"], cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_every_template_is_package_data() -> None:
    """The wheel takes what pyproject's package-data globs match under the package: every template."""
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    packaged = {p.resolve() for g in globs["exporters.render"] for p in PACKAGE_TEMPLATES.parent.glob(g)}
    templates = {
        p.resolve()
        for d in ("rules", "dashboards", "provisioning", "docs/runbooks")
        for p in (REPO / d / "templates").glob("*")
    }
    assert len(templates) >= 10
    assert templates == packaged

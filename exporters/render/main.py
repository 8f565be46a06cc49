"""Write or check every generated file: `alismon render [--check]`."""

from __future__ import annotations

import difflib
from pathlib import Path

from exporters.config import Config
from exporters.render.dashboards import render_dashboards
from exporters.render.provisioning import render_provisioning
from exporters.render.rules import render_rules
from exporters.render.runbooks import render_runbooks
from exporters.render.victoriametrics import victoriametrics_files

# The templates as installed with the package, laid out as in the repository (rules/templates, ...):
# `alismon render` works from any directory. In a checkout these are links to the repository's templates.
PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "source"


def render_all(config: Config, root: Path = PACKAGE_TEMPLATES) -> dict[str, str]:
    """Every generated file, path relative to the output root -> content (templates are read from `root`)."""
    return {
        **render_rules(config, root),
        **render_provisioning(config, root),
        **render_dashboards(config, root),
        **render_runbooks(config, root),
        **victoriametrics_files(config),
    }


def write(files: dict[str, str], root: Path) -> list[str]:
    changed = []
    for rel, content in files.items():
        path = root / rel
        if not path.exists() or path.read_text() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            changed.append(rel)
    return changed


def stale(files: dict[str, str], root: Path) -> list[tuple[str, str]]:
    """(path, unified diff) for every file that differs from what rendering gives."""
    out = []
    for rel, content in files.items():
        path = root / rel
        current = path.read_text() if path.exists() else ""
        if current != content:
            diff = "".join(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    content.splitlines(keepends=True),
                    f"{rel} (on disk)",
                    f"{rel} (rendered)",
                    n=1,
                )
            )
            out.append((rel, diff))
    return out

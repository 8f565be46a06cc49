"""The versions of the Prometheus and Alertmanager binaries the native stack starts."""

from __future__ import annotations

import subprocess

from exporters.core.tools import ToolMissing, find_tool
from exporters.render.versions import Version, parse_version

BINARIES = {"alertmanager": "prometheus-alertmanager", "prometheus": "prometheus"}


def installed_versions() -> dict[str, Version]:
    """Component -> version from `<binary> --version`; a binary whose version cannot be read is left out."""
    out = {}
    for component, binary in BINARIES.items():
        try:
            result = subprocess.run([find_tool(binary), "--version"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError, ToolMissing):
            continue
        version = parse_version(result.stdout + result.stderr)
        if version is not None:
            out[component] = version
    return out

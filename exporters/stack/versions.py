"""The Prometheus and Alertmanager binaries the native stack starts: their versions and builds."""

from __future__ import annotations

import subprocess

from exporters.core.tools import ToolMissing, find_tool
from exporters.render.versions import Version, parse_version

BINARIES = {"alertmanager": "prometheus-alertmanager", "prometheus": "prometheus"}


def installed_builds() -> dict[str, str]:
    """Component -> the first line of `<binary> --version`; a binary that is missing or fails is left out."""
    out = {}
    for component, binary in BINARIES.items():
        try:
            result = subprocess.run([find_tool(binary), "--version"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError, ToolMissing):
            continue
        lines = (result.stdout + result.stderr).strip().splitlines()
        if lines:
            out[component] = lines[0]
    return out


def installed_versions(builds: dict[str, str] | None = None) -> dict[str, Version]:
    """Component -> version of the installed binaries (of `builds`, when given)."""
    found = installed_builds() if builds is None else builds
    out = {}
    for component, line in found.items():
        version = parse_version(line)
        if version is not None:
            out[component] = version
    return out


def debian_build(line: str) -> bool:
    """Debian's builds leave out the web UIs: Prometheus serves only /classic/..., Alertmanager none at all."""
    return "debian" in line.lower()

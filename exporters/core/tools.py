"""Where the external programs the project runs are found, and how to install one that is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

# Where `scripts/setup` puts the npm tools (anvil, ganache, Hardhat); Debian's packages put the rest on PATH.
REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINTS = {
    "prometheus": "apt-get install -y --no-install-recommends prometheus (or run ./scripts/setup)",
    "promtool": "apt-get install -y --no-install-recommends prometheus (or run ./scripts/setup)",
    "prometheus-alertmanager": "apt-get install -y --no-install-recommends prometheus-alertmanager",
    "amtool": "apt-get install -y --no-install-recommends prometheus-alertmanager",
    "prometheus-node-exporter": "apt-get install -y --no-install-recommends prometheus-node-exporter",
    "prometheus-pushgateway": "apt-get install -y --no-install-recommends prometheus-pushgateway",
    "prometheus-process-exporter": "apt-get install -y --no-install-recommends prometheus-process-exporter",
    "unshare": "apt-get install -y util-linux",
    "docker-compose": "apt-get install -y --no-install-recommends docker-compose",
    "chromium": "apt-get install -y --no-install-recommends chromium (or run ./scripts/setup)",
    "victoria-metrics": "apt-get install -y --no-install-recommends victoria-metrics (or run ./scripts/setup)",
    "vmagent": "apt-get install -y --no-install-recommends victoria-metrics (or run ./scripts/setup)",
    "vmalert": "apt-get install -y --no-install-recommends victoria-metrics (or run ./scripts/setup)",
    "anvil": "npm install --prefix .tools @foundry-rs/anvil-linux-amd64 (or run ./scripts/setup)",
    "ganache": "npm install --prefix .tools ganache@7.9.2 (or run ./scripts/setup)",
    "hardhat": "npm install --prefix .tools hardhat@2.29.1 (or run ./scripts/setup)",
    "node": "apt-get install -y nodejs npm",
}
# npm tools in .tools/: anvil is a binary; ganache and Hardhat are scripts run with `node`.
_LOCAL = {
    "anvil": ".tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil",
    "ganache": ".tools/node_modules/ganache/dist/node/cli.js",
    "hardhat": ".tools/node_modules/hardhat/internal/cli/bootstrap.js",
}


class ToolMissing(RuntimeError):
    pass


def find_tool(name: str) -> str:
    """Absolute path of a tool, or ToolMissing saying how to install it."""
    if name in _LOCAL:
        local = REPO_ROOT / _LOCAL[name]
        if local.exists():
            return str(local)
        if name != "anvil":  # a script in .tools/ only, never a global install of another version
            raise ToolMissing(f"{name} is not installed: {INSTALL_HINTS[name]}")
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(f"{name} is not installed: {INSTALL_HINTS.get(name, 'run ./scripts/setup')}")
    return found

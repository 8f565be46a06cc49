"""The whole config file: `Config` composes one model per section; `load_config` reads and validates it.

Every problem is reported as `key.path[i].name: message` and raised as ConfigError; the
command line prints those lines and exits 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from exporters.config.alerting import AlertingConfig
from exporters.config.blockchain import BlockchainConfig
from exporters.config.business import BusinessConfig
from exporters.config.exporters import ExportersConfig
from exporters.config.inventory import Inventory
from exporters.config.prometheus import PrometheusConfig
from exporters.config.stack import StackConfig
from exporters.config.system import SystemConfig
from exporters.core.errors import ConfigError
from exporters.core.interpolate import interpolate
from exporters.core.models import Strict, format_validation_error, load_yaml

DEFAULT_CONFIG_FILE = "config.yml"


class Config(Strict):
    exporters: ExportersConfig = ExportersConfig()
    system: SystemConfig = SystemConfig()
    blockchain: BlockchainConfig = BlockchainConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    alerting: AlertingConfig = AlertingConfig()
    business: BusinessConfig = BusinessConfig()
    stack: StackConfig = StackConfig()
    inventory: Inventory = Inventory()


def parse_config(raw: Any, source: str = "config") -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of sections"])
    tree, problems = interpolate(raw)
    if problems:
        raise ConfigError(problems)
    try:
        config = Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    problems = cross_section_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


def cross_section_problems(config: Config) -> list[str]:
    """References from one section to another: an endpoint's `process` must be a watched process."""
    watched = [p.name for p in config.system.processes]
    out = []
    for i, network in enumerate(config.blockchain.networks):
        for j, endpoint in enumerate(network.endpoints):
            if endpoint.process is not None and endpoint.process not in watched:
                known = ", ".join(watched) or "none"
                out.append(
                    f"blockchain.networks[{i}].endpoints[{j}].process: {endpoint.process!r} is not a watched process "
                    f"(system.processes[].name: {known})"
                )
    return out


def load_config(path: str | Path = DEFAULT_CONFIG_FILE) -> Config:
    return parse_config(load_yaml(path), str(path))

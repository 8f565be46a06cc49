"""config.yml as typed models: one module per top-level section, `loader` for the whole file.

Imports only exporters.core; everything above (the exporters, render, lint, stack, cli) reads its
settings from here.
"""

from exporters.config.loader import DEFAULT_CONFIG_FILE, Config, load_config, parse_config

__all__ = ["DEFAULT_CONFIG_FILE", "Config", "load_config", "parse_config"]

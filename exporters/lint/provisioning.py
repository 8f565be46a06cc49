"""Checks of the rendered provisioning that amtool and promtool do not make."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SECRET_KEYS = ("api_url_file", "auth_password_file", "url_file", "password_file", "credentials_file")


def secret_file_references(config_file: Path) -> list[tuple[str, str]]:
    """(key path, file) for every *_file secret an Alertmanager or Prometheus config names."""
    found: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}" if path else str(key)
                if key in SECRET_KEYS and isinstance(value, str):
                    found.append((where, value))
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(yaml.safe_load(config_file.read_text()), "")
    return found


def missing_secret_files(config_file: Path) -> list[str]:
    """amtool check-config does not look at *_file secrets: a missing one only fails at send time."""
    problems = []
    for where, file in secret_file_references(config_file):
        path = Path(file) if Path(file).is_absolute() else config_file.parent / file
        if not path.is_file():
            problems.append(f"{config_file}: {where}: secret file {file} does not exist")
    return problems

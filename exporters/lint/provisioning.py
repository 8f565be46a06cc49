"""Checks of the rendered provisioning that amtool and promtool do not make."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

SECRET_KEYS = ("api_url_file", "auth_password_file", "url_file", "password_file", "credentials_file")
# Secrets the config itself names (the exporters' and Prometheus' own).
CONFIG_SECRET_KEYS = (*SECRET_KEYS, "auth_token_file", "bearer_token_file")


def secret_file_references(config_file: Path) -> list[tuple[str, str]]:
    """(key path, file) for every *_file secret an Alertmanager or Prometheus config names."""
    return secret_references(yaml.safe_load(config_file.read_text()), SECRET_KEYS)


def secret_references(data: Any, keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """(key path, file) for every value under one of `keys` in nested dicts and lists."""
    found: list[tuple[str, str]] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                where = f"{path}.{key}" if path else str(key)
                if key in keys and isinstance(value, str) and value:
                    found.append((where, value))
                else:
                    walk(value, where)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")

    walk(data, "")
    return found


def secret_file_problem(where: str, file: str, path: Path) -> str | None:
    """Why the secret at `path` cannot be read, or None."""
    if not path.is_file():
        return f"{where}: secret file {file} does not exist"
    if not os.access(path, os.R_OK):
        return f"{where}: secret file {file} is not readable"
    return None


def missing_secret_files(config_file: Path) -> list[str]:
    """amtool check-config does not look at *_file secrets: a missing one only fails at send time."""
    problems = []
    for where, file in secret_file_references(config_file):
        path = Path(file) if Path(file).is_absolute() else config_file.parent / file
        problem = secret_file_problem(where, file, path)
        if problem:
            problems.append(f"{config_file}: {problem}")
    return problems


def config_secret_problems(raw: dict[str, Any], root: Path) -> list[str]:
    """Missing or unreadable *_file secrets named by config.yml (its model dump, by alias).

    Relative paths resolve as their reader does: Alertmanager's against its rendered config's directory,
    the rest against the current directory."""
    problems = []
    for where, file in secret_references(raw, CONFIG_SECRET_KEYS):
        base = root / "provisioning/alertmanager" if where.startswith("alerting.") else Path.cwd()
        path = Path(file) if Path(file).is_absolute() else base / file
        problem = secret_file_problem(where, file, path)
        if problem:
            problems.append(problem)
    return problems

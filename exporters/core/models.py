"""Typed models loaded from YAML files: the strict base, YAML reading, and `key.path: problem` errors.

Shared by config.yml (exporters.config) and the exporter-toolkit web config (core.webconfig).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from exporters.core.errors import ConfigError
from exporters.core.interpolate import key_path


class Strict(BaseModel):
    """Unknown keys are refused; models are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg: str = err["msg"]
    return msg.removeprefix("Value error, ")


def format_validation_error(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[str]:
    lines = []
    for err in exc.errors():
        # pydantic adds validator names and a "[key]" marker (a dict key failed) to the location: not the user's keys.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]")))
        lines.append(f"{key_path((*prefix, *loc))}: {_message(err)}")
    return lines


def load_yaml(path: str | Path) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None

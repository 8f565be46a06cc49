"""`${VAR}` and `${VAR:-default}` substitution in the string values of a parsed YAML tree.

Substituting after parsing (not in the raw text) means a value can never change the YAML
structure, and an unset variable is reported with the key path that used it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def key_path(parts: tuple[Any, ...]) -> str:
    """('a', 'b', 1, 'c') -> 'a.b[1].c'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def interpolate(tree: Any, env: Mapping[str, str] | None = None) -> tuple[Any, list[str]]:
    """Return the tree with variables substituted, plus one problem line per unset variable."""
    env = os.environ if env is None else env
    problems: list[str] = []

    def sub(value: str, path: tuple[Any, ...]) -> str:
        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name, default = m.group(1), m.group(2)
            if name in env and env[name] != "":
                return env[name]
            if default is not None:
                return default
            problems.append(f"{key_path(path)}: environment variable {name} is not set")
            return ""

        return _VAR.sub(repl, value)

    def walk(node: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, (*path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, (*path, i)) for i, v in enumerate(node)]
        if isinstance(node, str) and "$" in node:
            value = sub(node, path)
            # A value that is only `${VAR:-}` and comes out empty means "not set" (None), so a config can
            # offer both `token: ${T:-}` and `token_file: ${T_FILE:-}` and let the environment pick one.
            if value == "" and _VAR.fullmatch(node):
                return None
            return value
        return node

    return walk(tree, ()), problems

"""Small value types shared by the config models: durations, listen addresses, regexes."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """'1m30s', '500ms', '15s' or a plain number of seconds -> seconds as float."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15s, 1m or 500ms")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        pos, seconds = 0, 0.0
        for m in _DURATION_PART.finditer(text):
            if m.start() != pos:
                break
            seconds += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
            pos = m.end()
        if pos != len(text) or not text:
            raise ValueError(f"{value!r} is not a duration (use e.g. 15s, 1m, 500ms)")
    else:
        raise ValueError("expected a duration such as 15s, 1m or 500ms")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds -> the Prometheus duration string ('90' -> '1m30s', '0.5' -> '500ms')."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    s = ms // 1000
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out += f"{s // size}{unit}"
            s %= size
    return out or "0s"


def parse_listen_address(value: object) -> str:
    """'host:port' or ':port' with a port in 1..65535; returned unchanged."""
    if not isinstance(value, str):
        raise ValueError("expected host:port, e.g. 0.0.0.0:9810")
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r} is not host:port with a port from 1 to 65535")
    if host.startswith("[") != host.endswith("]"):
        raise ValueError(f"{value!r}: an IPv6 host must be written in brackets, e.g. [::1]:9810")
    return value


def split_listen_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def parse_regex(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a regular expression string")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
ListenAddress = Annotated[str, BeforeValidator(parse_listen_address)]
Regex = Annotated[str, BeforeValidator(parse_regex)]

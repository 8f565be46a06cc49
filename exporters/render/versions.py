"""Features of Prometheus and Alertmanager that only some versions have, and which config keys use them.

The rendered files must load on the version that runs them: the native stack's installed binaries
(detected by `exporters.stack.versions`), or the images compose pins (COMPOSE_VERSIONS). A key that
needs a newer version is refused with a message naming the key, the version it needs and the one found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from exporters.config import Config

Version = tuple[int, ...]


@dataclass(frozen=True)
class Requirement:
    key: str
    component: str  # "alertmanager" or "prometheus"
    since: Version
    used: Callable[[Config], bool]
    instead: str = ""  # what works on the older version


REQUIREMENTS = (
    Requirement(
        "alerting.notification_channels.heartbeat.url_file",
        "alertmanager",
        (0, 26, 0),  # webhook_configs[].url_file
        lambda c: c.alerting.notification_channels.heartbeat.url_file is not None,
        "give the URL as heartbeat.url instead, which is written into alertmanager.yml",
    ),
)

# compose/docker-compose.yml's images (a test keeps them in step).
COMPOSE_VERSIONS: dict[str, Version] = {"alertmanager": (0, 28, 1), "prometheus": (3, 5, 0)}

NAMES = {"alertmanager": "Alertmanager", "prometheus": "Prometheus"}


def dotted(version: Version) -> str:
    return ".".join(map(str, version))


def parse_version(text: str) -> Version | None:
    """The first dotted number in a `--version` line: `alertmanager, version 0.25.0 (branch: ...)` -> (0, 25, 0)."""
    for word in text.replace(",", " ").split():
        parts = word.lstrip("v").split("+")[0].split("-")[0].split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts):
            return tuple(int(p) for p in parts)
    return None


def unsupported(config: Config, versions: dict[str, Version], where: str) -> list[str]:
    """One message per key the config uses that the given versions lack; `where` says whose versions they are."""
    out = []
    for req in REQUIREMENTS:
        found = versions.get(req.component)
        if found is not None and found < req.since and req.used(config):
            name = NAMES[req.component]
            out.append(
                f"{req.key}: needs {name} {dotted(req.since)} or newer; {where} {name} is {dotted(found)} "
                f"({req.instead or 'unset the key'}, or install a newer version)"
            )
    return out

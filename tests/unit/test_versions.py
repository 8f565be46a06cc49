"""Features rendered only for versions that have them: parsing `--version`, naming key and version."""

from __future__ import annotations

from pathlib import Path

import yaml

from exporters.config import parse_config
from exporters.render.versions import COMPOSE_VERSIONS, parse_version, unsupported
from tests.conftest import REPO


def test_parse_version_lines_of_the_real_binaries() -> None:
    assert parse_version("alertmanager, version 0.25.0 (branch: debian/sid, revision: 0.25.0-1+b4)") == (0, 25, 0)
    assert parse_version("prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-5)") == (2, 42, 0)
    assert parse_version("no version here") is None


def test_heartbeat_url_file_is_refused_on_alertmanager_0_25_only() -> None:
    config = parse_config({"alerting": {"notification_channels": {"heartbeat": {"url_file": "/run/secrets/hb"}}}})
    assert unsupported(config, {"alertmanager": (0, 25, 0)}, "the installed") == [
        "alerting.notification_channels.heartbeat.url_file: needs Alertmanager 0.26.0 or newer; the installed "
        "Alertmanager is 0.25.0 (give the URL as heartbeat.url instead, which is written into alertmanager.yml, or "
        "install a newer version)"
    ]
    inline = parse_config({"alerting": {"notification_channels": {"heartbeat": {"url": "http://127.0.0.1:1/hb"}}}})
    assert unsupported(inline, {"alertmanager": (0, 25, 0)}, "the installed") == []
    assert unsupported(config, {"alertmanager": (0, 28, 1)}, "the installed") == []
    assert unsupported(parse_config({}), {"alertmanager": (0, 25, 0)}, "the installed") == []


def test_compose_versions_are_the_pinned_images() -> None:
    services = yaml.safe_load((REPO / "compose/docker-compose.yml").read_text())["services"]
    images = {s["image"] for s in services.values() if "image" in s}
    for component, version in COMPOSE_VERSIONS.items():
        assert f"prom/{component}:v{'.'.join(map(str, version))}" in images


def test_the_native_stack_links_pages_the_installed_builds_serve(tmp_path: Path) -> None:
    from exporters.config.loader import load_config
    from exporters.stack.topology import components, effective_config

    debian = {
        "alertmanager": "alertmanager, version 0.25.0 (branch: debian/sid, revision: 0.25.0-1+b4)",
        "prometheus": "prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-5+deb12u1)",
    }
    base = load_config(str(REPO / "config.yml"))
    config = parse_config(effective_config(base, tmp_path, demo=False, builds=debian))
    assert config.alerting.prometheus_page("alerts") == "http://127.0.0.1:9090/classic/alerts"
    assert config.alerting.alertmanager_ui is False
    urls = {c.name: c.url for c in components(config, tmp_path, tmp_path / "config.yml", demo=False)}
    assert urls["prometheus"] == "http://127.0.0.1:9090/classic/alerts"
    assert urls["alertmanager"] == "http://127.0.0.1:9093/api/v2/alerts"
    upstream = parse_config(
        effective_config(base, tmp_path, demo=False, builds={"prometheus": "prometheus, version 3.5.0"})
    )
    assert upstream.alerting.prometheus_page("alerts") == "http://127.0.0.1:9090/alerts"
    assert upstream.alerting.alertmanager_ui is True

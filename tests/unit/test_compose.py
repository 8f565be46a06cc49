"""The compose stack (compose/) checked statically; docker-compose's own validation is in tests/tools/test_compose.py.

These read the YAML and the Dockerfile: mounted paths exist, images are pinned, secrets are files, ports are
loopback, health checks gate start order, and the generated provisioning agrees with the service names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from exporters.config import load_config, parse_config
from exporters.core.exporter_table import EXPORTERS as EXPORTER_TABLE
from exporters.core.interpolate import interpolate as interpolate_config
from exporters.core.models import load_yaml
from tests.compose_util import COMPOSE, COMPOSE_DIR, compose, env_example, services
from tests.conftest import REPO

DOCKERFILE = COMPOSE_DIR / "Dockerfile"
DEMO_CONFIG = COMPOSE_DIR / "demo/config.yml"
# Where the test contract's compiled artefact lives in this checkout (it may move into the package).
ABI_CANDIDATES = [REPO / "exporters/demo/contracts/AlisRegistry.json"]

# Compose service -> port: the compose file lists the exporters of the table, and these tests hold it to it.
EXPORTERS = {row.service: row.port for row in EXPORTER_TABLE}
# The one service whose port is meant for other machines.
PUBLIC_PORTS = {"grafana"}
# One-shot or client services allowed to be waited on with a weaker condition than service_healthy, and why.
WEAKER_DEPENDS_ON: dict[str, str] = {}

_VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's ${VAR} / ${VAR:-default} substitution with the .env.example values."""
    env = env_example() if env is None else env
    return _VAR.sub(lambda m: env.get(m.group(1)) or m.group(2) or "", value).replace("$$", "$")


def strings(node: Any) -> list[str]:
    """Every string value of a parsed YAML tree (what compose interpolates; comments are not)."""
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [node] if isinstance(node, str) else []


def mounts(service: str) -> list[tuple[str, str, str]]:
    """(source, target, options) of each short-syntax volume, sources interpolated."""
    out = []
    for spec in services()[service].get("volumes", []):
        assert isinstance(spec, str), f"{service}: use the short volume syntax, got {spec!r}"
        parts = interpolate(spec).split(":")
        assert len(parts) in (2, 3), f"{service}: cannot parse volume {spec!r}"
        out.append((parts[0], parts[1], parts[2] if len(parts) == 3 else ""))
    return out


def host_path(service: str, container_path: str) -> Path:
    """The repository file a container path of `service` shows, through its bind mounts."""
    target = PurePosixPath(os.path.normpath(container_path))
    best: tuple[str, str] | None = None
    for source, mount_target, _ in mounts(service):
        if not source.startswith("."):
            continue
        if target == PurePosixPath(mount_target) or PurePosixPath(mount_target) in target.parents:
            if best is None or len(mount_target) > len(best[1]):
                best = (source, mount_target)
    assert best is not None, f"{service}: nothing in the repository is mounted at {container_path}"
    rel = target.relative_to(best[1])
    return (COMPOSE_DIR / best[0] / rel).resolve()


def flag(service: str, name: str) -> str:
    for arg in services()[service]["command"]:
        if arg.startswith(f"{name}="):
            return interpolate(arg.split("=", 1)[1])
    raise AssertionError(f"{service}: no {name}= in its command")


# ---------------------------------------------------------------- variables


def test_env_example_lists_exactly_the_variables_compose_uses() -> None:
    used = {match for value in strings(compose()) for match in _VAR.findall(value)}
    used_names = {name for name, _ in used}
    assert used_names == set(env_example()), (
        f"missing from .env.example: {sorted(used_names - set(env_example()))}; "
        f"unused: {sorted(set(env_example()) - used_names)}"
    )
    # Every variable has a default in the compose file too, so an incomplete .env still starts.
    without_default = sorted(name for name, default in used if not default)
    assert without_default == [], without_default


# ---------------------------------------------------------------- mounts


def test_every_mounted_host_path_exists() -> None:
    declared = set(compose().get("volumes") or {})
    for name in services():
        for source, target, options in mounts(name):
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source} (mounted at {target}) does not exist"
                assert "ro" in options.split(","), f"{name}: {source} must be mounted read-only"
            elif source.startswith("/"):
                # Only the system exporter looks at the host itself, read-only.
                assert name == "system-exporter", f"{name}: mounts host path {source}"
                assert "ro" in options.split(","), f"{name}: {source} must be mounted read-only"
            else:
                assert source in declared, f"{name}: named volume {source} is not declared"


@pytest.mark.parametrize("config", ["../config.yml", "./demo/config.yml"])
def test_exporters_config_path_exists_for_both_configs(config: str) -> None:
    for name in EXPORTERS:
        for spec in services()[name]["volumes"]:
            if spec.endswith(":/etc/alismon/config.yml:ro"):
                source = interpolate(spec, {"ALISMON_CONFIG": config}).split(":")[0]
                assert (COMPOSE_DIR / source).is_file()
                break
        else:
            raise AssertionError(f"{name}: config.yml is not mounted at /etc/alismon/config.yml")
        assert "--config.file=/etc/alismon/config.yml" in services()[name]["command"]


def test_prometheus_finds_its_config_rules_and_targets() -> None:
    config_file = flag("prometheus", "--config.file")
    host_config = host_path("prometheus", config_file)
    assert host_config == (REPO / "provisioning/prometheus/prometheus.yml").resolve()
    prom = yaml.safe_load(host_config.read_text())
    config_dir = PurePosixPath(config_file).parent
    rule_files = [host_path("prometheus", str(config_dir / r)) for r in prom["rule_files"]]
    assert sorted(p.name for p in rule_files) == ["alerts.yml", "recording.yml"]
    for path in rule_files:
        assert path.is_file(), path
    sd_files = [
        f
        for section in [*prom["scrape_configs"], *prom["alerting"]["alertmanagers"]]
        for sd in section.get("file_sd_configs", [])
        for f in sd["files"]
    ]
    assert sd_files
    for f in sd_files:
        assert host_path("prometheus", str(config_dir / f)).is_file(), f


def test_alertmanager_finds_its_config_and_templates() -> None:
    config_file = flag("alertmanager", "--config.file")
    host_config = host_path("alertmanager", config_file)
    assert host_config == (REPO / "provisioning/alertmanager/alertmanager.yml").resolve()
    am = yaml.safe_load(host_config.read_text())
    for pattern in am["templates"]:
        found = list(host_config.parent.glob(pattern))
        assert found, f"alertmanager: template glob {pattern} matches nothing"


def test_grafana_provisioning_and_dashboards_are_mounted() -> None:
    datasources = host_path("grafana", "/etc/grafana/provisioning/datasources")
    providers = host_path("grafana", "/etc/grafana/provisioning/dashboards")
    assert list(datasources.glob("*.yml")) and list(providers.glob("*.yml"))
    for provider_file in providers.glob("*.yml"):
        for provider in yaml.safe_load(provider_file.read_text())["providers"]:
            dashboards = host_path("grafana", provider["options"]["path"])
            assert dashboards == (REPO / "dashboards").resolve()
            assert len(list(dashboards.glob("*.json"))) >= 5
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_path("grafana", home).is_file()


def test_persistent_data_lives_in_named_volumes() -> None:
    def volume_at(service: str, target: str) -> str:
        for source, mount_target, _ in mounts(service):
            if mount_target == target:
                return source
        raise AssertionError(f"{service}: nothing mounted at {target}")

    assert volume_at("prometheus", flag("prometheus", "--storage.tsdb.path")) == "prometheus-data"
    assert volume_at("alertmanager", flag("alertmanager", "--storage.path")) == "alertmanager-data"
    assert volume_at("grafana", "/var/lib/grafana") == "grafana-data"
    store = services()["business-exporter"]["environment"]["ALISMON_BUSINESS_STORE"]
    assert volume_at("business-exporter", str(PurePosixPath(store).parent)) == "business-data"
    # config.yml reads the store path from that variable.
    assert "${ALISMON_BUSINESS_STORE" in load_yaml(REPO / "config.yml")["business"]["store"]["path"]


# ---------------------------------------------------------------- images


def test_images_are_pinned() -> None:
    for name, svc in services().items():
        image = interpolate(svc["image"])
        if "build" in svc:
            assert not image.endswith(":latest"), f"{name}: the built image is tagged latest"
            continue
        if "@sha256:" in image:
            continue
        _, sep, tag = image.rpartition(":")
        assert sep and "/" not in tag, f"{name}: image {image} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: image {image} is not pinned to a version"
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{name}: pin an exact version, not {tag}"


def test_exporters_share_one_locally_built_image() -> None:
    built = {name: svc for name, svc in services().items() if "build" in svc}
    assert set(EXPORTERS) <= set(built)
    assert len({svc["image"] for svc in built.values()}) == 1
    for svc in built.values():
        assert svc["build"] == {"context": "..", "dockerfile": "compose/Dockerfile"}


# ---------------------------------------------------------------- secrets


_SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|WEBHOOK|API_KEY", re.I)
_SECRET_VALUE = re.compile(r"hooks\.slack\.com|://[^/\s:@]+:[^/\s@]+@|xox[abpr]-|Bearer\s", re.I)


def test_secrets_are_files_only() -> None:
    secrets = compose()["secrets"]
    assert set(secrets) == {"slack_webhook_url", "smtp_password", "grafana_admin_password", "ingest_token"}
    for name, spec in secrets.items():
        assert set(spec) == {"file"}, f"secret {name}: only `file:` is allowed, got {sorted(spec)}"
        path = COMPOSE_DIR / spec["file"]
        assert path.parent == COMPOSE_DIR / "secrets", f"secret {name}: keep it under compose/secrets/"
        assert path.with_name(path.name + ".example").is_file(), f"secret {name}: no {path.name}.example"
        assert path.name in (COMPOSE_DIR / "secrets/README.md").read_text(), f"secret {name}: not documented"


def test_no_secret_inline_in_compose_or_env_example() -> None:
    for name, svc in services().items():
        env = svc.get("environment", {})
        assert isinstance(env, dict), f"{name}: write environment as a mapping"
        for key, value in env.items():
            if _SECRET_NAME.search(key):
                assert key.endswith("_FILE"), f"{name}: {key} carries a secret inline; use a *_FILE variant"
                assert str(value).startswith("/run/secrets/"), f"{name}: {key} must point into /run/secrets"
                secret = str(value).removeprefix("/run/secrets/")
                assert secret in svc.get("secrets", []), f"{name}: {key} names secret {secret} it does not get"
            assert not _SECRET_VALUE.search(str(value)), f"{name}: {key} looks like a credential"
    for key, value in env_example().items():
        assert not _SECRET_NAME.search(key) or key.endswith("_FILE"), f".env.example: {key} is a secret"
        assert not _SECRET_VALUE.search(value), f".env.example: {key} looks like a credential"
    assert not _SECRET_VALUE.search(COMPOSE.read_text()), "docker-compose.yml contains a credential-like value"


def test_alertmanager_secret_files_are_mounted() -> None:
    am = (REPO / "provisioning/alertmanager/alertmanager.yml").read_text()
    wanted = set(re.findall(r"_file: /run/secrets/([A-Za-z0-9_.-]+)", am))
    assert wanted == {"slack_webhook_url", "smtp_password"}
    assert wanted <= set(services()["alertmanager"]["secrets"])


def test_ingest_token_reaches_the_business_exporter_from_a_secret(tmp_path: Path) -> None:
    business = services()["business-exporter"]
    assert "ingest_token" in business["secrets"]
    assert business["environment"]["ALISMON_INGEST_TOKEN_FILE"] == "/run/secrets/ingest_token"
    token = tmp_path / "ingest_token"
    token.write_text("from-the-secret\n")
    for config in (REPO / "config.yml", DEMO_CONFIG):
        section = load_yaml(config)["business"]
        assert section["auth_token_file"] == "${ALISMON_INGEST_TOKEN_FILE:-}", config
        # As the business container sees it: the file variable set, the inline one not.
        tree, problems = interpolate_config(load_yaml(config), env={"ALISMON_INGEST_TOKEN_FILE": str(token)})
        tree["blockchain"] = {"networks": []}  # the demo's ABI path exists only in the image
        assert problems == [] and parse_config(tree).business.token() == "from-the-secret"
    assert "/run/secrets/ingest_token" in services()["demo-traffic"]["command"]
    assert "ingest_token" in services()["demo-traffic"]["secrets"]


# ---------------------------------------------------------------- ports, health, start order


def test_ports_bind_loopback_except_grafana() -> None:
    for name, svc in services().items():
        for spec in svc.get("ports", []):
            assert isinstance(spec, str), f"{name}: use the short port syntax"
            if name in PUBLIC_PORTS:
                continue
            assert spec.startswith("127.0.0.1:"), f"{name}: port {spec} is not bound to 127.0.0.1"


def test_every_service_has_a_healthcheck() -> None:
    for name, svc in services().items():
        check = svc.get("healthcheck")
        assert check, f"{name}: no healthcheck"
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck test {check['test']}"
        assert "start_interval" not in check  # docker-compose 1.29 rejects it


def test_exporter_services_run_their_subcommand_and_probe_their_own_ready_endpoint() -> None:
    for row in EXPORTER_TABLE:
        svc, port = services()[row.service], row.port
        assert svc["command"][0] == row.name
        assert f"http://127.0.0.1:{port}/-/ready" in " ".join(svc["healthcheck"]["test"])
        assert svc["environment"]["ALISMON_HEALTH_URL"] == f"http://127.0.0.1:{port}/-/ready"
        assert svc["ports"] == [f"127.0.0.1:{port}:{port}"]


def test_depends_on_waits_for_health() -> None:
    all_services = services()
    seen = 0
    for name, svc in all_services.items():
        depends = svc.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must name a condition per service"
        for other, spec in depends.items():
            seen += 1
            assert other in all_services, f"{name}: depends on unknown service {other}"
            condition = spec.get("condition")
            if condition != "service_healthy":
                assert other in WEAKER_DEPENDS_ON, f"{name}: waits on {other} with {condition}, not service_healthy"
            # A service without a profile must not wait on one that only runs with a profile.
            if not svc.get("profiles"):
                assert not all_services[other].get("profiles"), f"{name}: depends on profile-only {other}"
    assert seen >= 4


# ---------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_pinned_non_root_with_healthcheck() -> None:
    instructions = dockerfile_instructions()
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert len(froms) >= 2, "the Dockerfile must build in one stage and run in another"
    for image in froms:
        base = image.split()[0]
        assert base.startswith("python:3.11"), base
        tag = base.split(":", 1)[1]
        assert re.match(r"3\.11\.\d+-slim", tag), f"pin the base image to a patch release: {base}"
    final = instructions[max(i for i, (word, _) in enumerate(instructions) if word == "FROM") :]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the runtime stage has no USER"
    assert users[-1].split(":")[0] not in ("root", "0"), users[-1]
    healthchecks = [rest for word, rest in final if word == "HEALTHCHECK"]
    assert healthchecks and "/-/ready" in " ".join(healthchecks) + DOCKERFILE.read_text()
    assert ("ENTRYPOINT", '["alismon"]') in final
    # The runtime stage takes the installed venv from the build stage, nothing else.
    assert any(word == "COPY" and rest.startswith("--from=build") for word, rest in final)


def test_dockerfile_copies_only_what_exists() -> None:
    for word, rest in dockerfile_instructions():
        if word == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"


def test_dockerfile_exposes_the_port_of_every_exporter() -> None:
    exposed = {int(port) for word, rest in dockerfile_instructions() if word == "EXPOSE" for port in rest.split()}
    assert exposed == set(EXPORTERS.values())


# ---------------------------------------------------------------- the generated provisioning agrees


def test_prometheus_targets_are_compose_services() -> None:
    names = set(services())
    for target_file in sorted((REPO / "provisioning/prometheus/targets").glob("*.yml")):
        for group in yaml.safe_load(target_file.read_text()):
            for target in group["targets"]:
                host, _, port = target.rpartition(":")
                if target_file.stem == "prometheus":
                    assert host == "localhost" and port == "9090"  # Prometheus scrapes itself
                    continue
                assert host in names, f"{target_file.name}: {host} is not a compose service"
                if host in EXPORTERS:
                    assert int(port) == EXPORTERS[host]


# The VictoriaMetrics profile: service -> (rendered flags file, flags the deployment adds).
VM_SERVICES = {
    "victoriametrics": ("provisioning/victoriametrics/victoria-metrics.flags", ["-storageDataPath", "-httpListenAddr"]),
    "vmalert": ("provisioning/victoriametrics/vmalert.flags", ["-httpListenAddr"]),
    "vmagent-0-0": (
        "provisioning/prometheus/scale-out/vmagent-0-0.flags",
        ["-remoteWrite.tmpDataPath", "-httpListenAddr"],
    ),
    "vmagent-1-0": (
        "provisioning/prometheus/scale-out/vmagent-1-0.flags",
        ["-remoteWrite.tmpDataPath", "-httpListenAddr"],
    ),
}


def test_victoriametrics_services_run_the_rendered_flags_from_the_tree_root() -> None:
    from exporters.render.victoriametrics import read_flags

    for name, (flags_file, deployment) in VM_SERVICES.items():
        svc = services()[name]
        assert svc["profiles"] == ["victoriametrics"]
        assert svc["image"].endswith(":v1.79.5"), f"{name}: the version Debian packages (tests run that one)"
        command = [interpolate(arg) for arg in svc["command"]]
        rendered = read_flags((REPO / flags_file).read_text())
        assert command[: len(rendered)] == rendered, f"{name}: its command differs from {flags_file}"
        assert [arg.split("=", 1)[0] for arg in command[len(rendered) :]] == deployment, name
        # Relative paths in the flags resolve against the working directory, through the mounts.
        assert svc["working_dir"] == "/etc/alismon"
        for arg in rendered:
            value = arg.split("=", 1)[-1]
            if value.startswith(("provisioning/", "rules/")):
                assert host_path(name, f"/etc/alismon/{value}").is_file(), f"{name}: {arg}"
        port = command[-1].rsplit(":", 1)[1]
        assert f"http://127.0.0.1:{port}/health" in svc["healthcheck"]["test"]
        data = next(
            (a.split("=", 1)[1] for a in command if a.startswith(("-storageDataPath=", "-remoteWrite.tmp"))), None
        )
        if data is not None:
            assert any(t == data and not s.startswith(".") for s, t, _ in mounts(name)), f"{name}: {data} not a volume"
    # What the store and vmagent scrape are compose services; vmagent writes into the store's service.
    for target_file in (
        "provisioning/victoriametrics/targets/shards.yml",
        "provisioning/prometheus/targets/alertmanager.yml",
    ):
        for group in yaml.safe_load((REPO / target_file).read_text()):
            for target in group["targets"]:
                assert target.rpartition(":")[0] in services(), f"{target_file}: {target}"
    assert flag("vmagent-0-0", "-remoteWrite.url") == "http://victoriametrics:8428/api/v1/write"
    assert flag("vmalert", "-notifier.url") == "http://alertmanager:9093"


def test_grafana_datasource_points_at_the_prometheus_service() -> None:
    ds = yaml.safe_load((REPO / "provisioning/grafana/datasources/prometheus.yml").read_text())
    urls = {d["url"] for d in ds["datasources"]}
    assert urls == {"http://prometheus:9090"}


def test_demo_traffic_talks_to_compose_services() -> None:
    cmd = services()["demo-traffic"]["command"]
    assert cmd[:2] == ["demo", "traffic"]
    assert cmd[cmd.index("--rpc-url") + 1] == "http://anvil:8545"
    assert cmd[cmd.index("--business-url") + 1] == "http://business-exporter:9812"
    anvil = services()["anvil"]
    assert anvil["entrypoint"] == ["anvil"]
    assert anvil["command"][:2] == ["--host", "0.0.0.0"]


# ---------------------------------------------------------------- the demo config


def demo_with_local_abi() -> Path:
    abi = next((p for p in ABI_CANDIDATES if p.is_file()), None)
    assert abi is not None, f"no compiled AlisRegistry artefact at {ABI_CANDIDATES}"
    return abi


def test_demo_config_parses(tmp_path: Path) -> None:
    raw = load_yaml(DEMO_CONFIG)
    # The image ships the ABI at /opt/alismon/AlisRegistry.json; the config model reads it at
    # load time, so here the repository's artefact stands in for it.
    [contract] = raw["blockchain"]["networks"][0]["contracts"]
    assert contract["abi_file"] == "/opt/alismon/AlisRegistry.json"
    contract["abi_file"] = str(demo_with_local_abi())
    path = tmp_path / "demo.yml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    [network] = config.blockchain.networks
    assert (network.chain_id, network.endpoints[0].url) == (31337, "http://anvil:8545")
    assert [(a.alias, a.address) for a in network.accounts] == [("dev0", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")]
    assert network.contracts[0].address == "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_demo_config_is_config_yml_with_only_the_chain_changed() -> None:
    demo, main = load_yaml(DEMO_CONFIG), load_yaml(REPO / "config.yml")
    demo.pop("blockchain")
    main.pop("blockchain")
    assert demo == main, "compose/demo/config.yml drifted from config.yml outside the blockchain section"


def test_config_yml_loads_with_the_compose_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in services()["business-exporter"]["environment"].items():
        monkeypatch.setenv(key, interpolate(str(value)))
    monkeypatch.delenv("ALISMON_INGEST_TOKEN_FILE")  # the secret exists only in the container (tested above)
    config = parse_config(load_yaml(REPO / "config.yml"))
    assert str(config.business.store.path) == "/var/lib/alismon/business.sqlite"
    assert config.blockchain.networks[0].endpoints[0].url == "http://anvil:8545"
    for row in EXPORTER_TABLE:
        assert getattr(config.exporters, row.name).listen_address == row.listen_address

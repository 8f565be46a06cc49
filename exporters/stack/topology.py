"""What `alismon stack up` starts: the effective config for loopback, and one Component per process.

The native stack uses the same templates as the compose stack: it renders the whole tree (rules,
Prometheus and Alertmanager provisioning) from an effective config whose targets are the loopback
addresses of the processes started here, into <run-dir>/tree.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporters.config import Config, parse_config
from exporters.core.exporter_table import EXPORTERS, ExporterRow
from exporters.core.tools import find_tool
from exporters.core.types import format_duration, split_listen_address
from exporters.demo.contract import ARTEFACT, OPERATOR, REGISTRY_ADDRESS, TREASURY
from exporters.stack.procs import alismon_argv
from exporters.stack.versions import debian_build
from exporters.stack.victoriametrics import store_argv, vmalert_argv

AGENT_NAME = "node-agent-1"


@dataclass
class Component:
    name: str
    argv: list[str]
    url: str  # what a person opens
    ready_url: str  # 2xx when healthy; for the chain, a JSON-RPC endpoint
    rpc: bool = False
    env: dict[str, str] = field(default_factory=dict)


def loopback(address: str) -> tuple[str, int]:
    host, port = split_listen_address(address)
    return ("127.0.0.1" if host in ("0.0.0.0", "", "::") else host), port


def _addr(address: str) -> str:
    host, port = loopback(address)
    return f"{host}:{port}"


def exporters_to_start(config: Config) -> list[ExporterRow]:
    """The exporters whose config section gives them something to watch (no chains: no blockchain exporter)."""
    return [row for row in EXPORTERS if row.load().has_work(getattr(config, row.section))]


def exporter_listen_address(config: Config, row: ExporterRow) -> str:
    listen: str = getattr(config.exporters, row.name).listen_address
    return listen


def pid_file(run: Path, component: str) -> Path:
    """Where `stack up` (and `stack fix`) write a component's PID, for the system exporter to watch."""
    return run / "pids" / f"{component}.pid"


def ingest_token_file(run: Path, token: str | None) -> Path:
    """The ingest token in a 0600 file of the run dir, for the exporter and the demo clients alike.

    Without a configured token a random one is made once and kept across restarts.
    """
    path = run / "ingest-token"
    if token is None and path.exists():
        return path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write((token or secrets.token_urlsafe(24)) + "\n")
    return path


def demo_channels(config: Config, run: Path) -> dict[str, Any]:
    """Slack and email to the demo inbox on loopback: nothing leaves the machine, no secret is needed."""
    hook = run / "demo-slack-webhook-url"
    hook.write_text(f"http://{_addr(config.stack.demo_inbox_listen_address)}/slack\n")
    return {
        "slack": [{"name": "demo-inbox", "api_url_file": str(hook), "channel": "#alischain-alerts"}],
        "email": [
            {
                "name": "demo-inbox-email",
                "to": ["oncall@demo.invalid"],
                "from": "alertmanager@demo.invalid",
                "smarthost": _addr(config.stack.demo_smtp_listen_address),
                "require_tls": False,
            }
        ],
        "heartbeat": {"url_file": None, "interval": config.alerting.notification_channels.heartbeat.interval},
    }


def effective_config(config: Config, run: Path, demo: bool, builds: dict[str, str] | None = None) -> dict[str, Any]:
    """config.yml as the native stack runs it: loopback targets, run-dir paths, and the demo additions.

    `builds` (component -> `--version` line of the installed binary) decides which web UI pages links open."""
    raw: dict[str, Any] = config.model_dump(mode="json", by_alias=True)
    if demo:
        chain_url = f"http://{_addr(config.stack.demo_chain_listen_address)}"
        raw["blockchain"]["networks"] = [
            {
                "name": "demo",
                "chain_id": 31337,
                # The chain-client process runs it: a chain break is one page, the process' (inhibit_rules).
                "endpoints": [
                    {
                        "name": "anvil",
                        "url": chain_url,
                        "ws_url": chain_url.replace("http://", "ws://"),
                        "process": "chain-client",
                    }
                ],
                "poll_interval": 1.0,
                "request_timeout": 2.0,
                "accounts": [{"alias": "operator", "address": OPERATOR}, {"alias": "treasury", "address": TREASURY}],
                "contracts": [{"alias": "registry", "address": REGISTRY_ADDRESS, "abi_file": str(ARTEFACT)}],
            }
        ]
        # By the pid files `stack up` writes: another anvil on the host must not count as the demo's.
        raw["system"]["processes"] = [
            {"name": "chain-client", "match": {"pidfile": str(pid_file(run, "anvil"))}},
            {"name": AGENT_NAME, "match": {"pidfile": str(pid_file(run, AGENT_NAME))}},
        ]
        # Short windows so that `--break` shows its alert within a minute or two.
        raw["prometheus"].update({"scrape_interval": 5.0, "evaluation_interval": 5.0, "scrape_timeout": None})
        raw["alerting"]["rate_window"] = 60.0
        alerts = raw["alerting"]["alerts"]
        alerts["BlockchainEndpointDown"]["for"] = 15.0
        alerts["BlockchainChainDown"]["for"] = 15.0
        alerts["WatchedProcessDown"]["for"] = 10.0
        alerts["HighFailureRate"]["for"] = 30.0
        raw["alerting"]["notification_channels"] = demo_channels(config, run)
        # Notices within seconds of the alert, resolved ones within half a minute.
        raw["alerting"]["routing"].update({"group_wait": 10.0, "group_interval": 30.0})
    business = raw["business"]
    business["auth_token"] = None
    business["auth_token_file"] = str(ingest_token_file(run, config.business.token()))
    business["store"]["path"] = str(run / "data/business.sqlite")
    targets = raw["prometheus"]["targets"]
    started = {row.name for row in exporters_to_start(parse_config(raw))}  # with the demo's chain
    for row in EXPORTERS:
        targets[row.name] = [_addr(exporter_listen_address(config, row))] if row.name in started else []
    targets["prometheus"] = [_addr(config.prometheus.listen_address)]
    targets["alertmanager"] = [_addr(config.stack.alertmanager_listen_address)]
    am = _addr(config.stack.alertmanager_listen_address)
    raw["alerting"]["alertmanager_url"] = f"http://{am}"
    raw["alerting"]["prometheus_url"] = f"http://{_addr(config.prometheus.listen_address)}"
    builds = builds or {}
    if debian_build(builds.get("prometheus", "")):
        raw["alerting"]["prometheus_ui"] = "classic"
    if debian_build(builds.get("alertmanager", "")):
        raw["alerting"]["alertmanager_ui"] = False
    if config.prometheus.scale_out.store == "victoriametrics":
        # One Prometheus here, writing into the local VictoriaMetrics that vmalert evaluates.
        vm = f"http://{_addr(config.stack.victoriametrics_listen_address)}"
        raw["prometheus"]["scale_out"].update({"shards": 1, "replicas": 1, "remote_write": [], "shard_targets": []})
        raw["prometheus"]["scale_out"]["victoriametrics"].update({"url": vm, "external_url": vm, "vmagent_targets": []})
    raw["stack"]["run_dir"] = str(run)
    parse_config(raw)  # what we write must validate, or the exporters would refuse it
    return raw


def components(config: Config, run: Path, config_file: Path, demo: bool) -> list[Component]:
    """In start order: the chain first (exporters poll it), Prometheus after what it scrapes, traffic last."""
    tree = run / "tree"
    out: list[Component] = []
    if demo:
        inbox = _addr(config.stack.demo_inbox_listen_address)
        smtp = _addr(config.stack.demo_smtp_listen_address)
        argv = alismon_argv("demo inbox", "--web.listen-address", inbox, "--smtp.listen-address", smtp)
        out.append(Component("inbox", argv, f"http://{inbox}/", f"http://{inbox}/-/ready"))
        host, port = loopback(config.stack.demo_chain_listen_address)
        url = f"http://{host}:{port}"
        out.append(
            Component(
                "anvil",
                # --state: a restart (`stack fix chain`) continues the same chain, contract included.
                [
                    find_tool("anvil"),
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--block-time",
                    "1",
                    "--silent",
                    "--state",
                    str(run / "data/anvil-state.json"),
                ],
                url,
                url,
                rpc=True,
            )
        )
    for row in exporters_to_start(config):
        address = exporter_listen_address(config, row)
        base = f"http://{_addr(address)}"
        argv = alismon_argv(row.name, config_file=config_file, listen_address=address)
        out.append(Component(row.service, argv, base + "/", base + "/-/ready"))
    am = _addr(config.stack.alertmanager_listen_address)
    out.append(
        Component(
            "alertmanager",
            [
                find_tool("prometheus-alertmanager"),
                f"--config.file={tree / 'provisioning/alertmanager/alertmanager.yml'}",
                f"--storage.path={run / 'data/alertmanager'}",
                f"--web.listen-address={am}",
                f"--web.external-url=http://{am}",
                "--cluster.listen-address=",
            ],
            f"http://{am}/" if config.alerting.alertmanager_ui else f"http://{am}/api/v2/alerts",
            f"http://{am}/-/ready",
        )
    )
    if config.prometheus.scale_out.store == "victoriametrics":
        vm = _addr(config.stack.victoriametrics_listen_address)
        argv = store_argv(tree, run / "data/victoriametrics", vm)
        out.append(Component("victoriametrics", argv, f"http://{vm}/", f"http://{vm}/health"))
        vmalert = _addr(config.stack.vmalert_listen_address)
        argv = vmalert_argv(tree, vmalert)
        out.append(Component("vmalert", argv, f"http://{vmalert}/", f"http://{vmalert}/health"))
    prom = _addr(config.prometheus.listen_address)
    out.append(
        Component(
            "prometheus",
            [
                find_tool("prometheus"),
                f"--config.file={tree / 'provisioning/prometheus/prometheus.yml'}",
                f"--storage.tsdb.path={run / 'data/prometheus'}",
                f"--web.listen-address={prom}",
                f"--storage.tsdb.retention.time={format_duration(config.prometheus.retention)}",
                f"--web.external-url=http://{prom}",
            ],
            config.alerting.prometheus_page("alerts"),
            f"http://{prom}/-/ready",
        )
    )
    if demo:
        biz = f"http://{_addr(config.exporters.business.listen_address)}"
        token = str(config.business.auth_token_file)
        chain_url = next(c.url for c in out if c.name == "anvil")
        traffic = alismon_argv("demo traffic", "--rpc-url", chain_url, "--business-url", biz, "--token-file", token)
        traffic += ["--control-file", str(run / "demo-control.json"), "--spool", str(run / "data/demo-spool.json")]
        out.append(Component("traffic", traffic, "", ""))
        agent = alismon_argv("demo agent", "--business-url", biz, "--token-file", token, "--name", AGENT_NAME)
        out.append(Component(AGENT_NAME, agent, "", ""))
    return out

"""The one config file (config.yml) loaded into typed models.

Every problem is reported as `key.path[i].name: message` and raised as ConfigError; the
command line prints those lines and exits 2, never a traceback.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from exporters.core.alerting import AlertingConfig
from exporters.core.business_config import BusinessConfig
from exporters.core.config_base import Strict
from exporters.core.errors import ConfigError
from exporters.core.interpolate import interpolate, key_path
from exporters.core.secrets import exactly_one_secret as _exactly_one_secret
from exporters.core.secrets import read_secret
from exporters.core.types import Duration, ListenAddress, Regex

DEFAULT_CONFIG_FILE = "config.yml"


# ---------------------------------------------------------------- exporters


class ExporterListen(Strict):
    listen_address: ListenAddress


class ExportersConfig(Strict):
    system: ExporterListen = ExporterListen(listen_address="0.0.0.0:9810")
    blockchain: ExporterListen = ExporterListen(listen_address="0.0.0.0:9811")
    business: ExporterListen = ExporterListen(listen_address="0.0.0.0:9812")


# ---------------------------------------------------------------- system

# node_exporter's defaults: virtual and container-internal filesystems say nothing about the host.
DEFAULT_MOUNTPOINTS_EXCLUDE = (
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
DEFAULT_FSTYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660"
    r"|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
)
# Partitions and virtual block devices double-count the whole-disk counters.
DEFAULT_DISK_DEVICES_EXCLUDE = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"


class DeviceFilter(Strict):
    """include wins first (when set, only matching names), then exclude drops names."""

    include: Regex | None = None
    exclude: Regex | None = None

    def compile(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        return (
            re.compile(self.include) if self.include else None,
            re.compile(self.exclude) if self.exclude else None,
        )


class FilesystemConfig(Strict):
    mountpoints_exclude: Regex = DEFAULT_MOUNTPOINTS_EXCLUDE
    fstypes_exclude: Regex = DEFAULT_FSTYPES_EXCLUDE
    # statfs on a dead NFS mount blocks forever: give up after this and skip the mount until it answers.
    stat_timeout: Duration = 5.0


class ProcessMatch(Strict):
    """How to find a watched process: by executable name, by a regex over the command line, or a pid file."""

    comm: str | None = None
    cmdline: Regex | None = None
    pidfile: Path | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ProcessMatch:
        given = [k for k in ("comm", "cmdline", "pidfile") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of comm, cmdline or pidfile")
        return self


class WatchedProcess(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    match: ProcessMatch


class SystemConfig(Strict):
    filesystem: FilesystemConfig = FilesystemConfig()
    disk: DeviceFilter = DeviceFilter(exclude=DEFAULT_DISK_DEVICES_EXCLUDE)
    network: DeviceFilter = DeviceFilter()
    processes: list[WatchedProcess] = []
    # Matched pids are re-verified every scrape; a full process-table scan runs at most this often.
    process_rescan_interval: Duration = 30.0

    @field_validator("processes")
    @classmethod
    def _unique_names(cls, v: list[WatchedProcess]) -> list[WatchedProcess]:
        _unique([p.name for p in v], "process names")
        return v


# ---------------------------------------------------------------- blockchain

_NAME = r"^[a-z][a-z0-9_-]{0,39}$"
_ADDRESS = r"^0x[0-9a-fA-F]{40}$"


class BasicAuth(Strict):
    username: str
    password: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _secret(self) -> BasicAuth:
        _exactly_one_secret(self, "password")
        read_secret(self.password, self.password_file, "password")
        return self


class Endpoint(Strict):
    name: str = Field(pattern=_NAME)
    url: str = Field(pattern=r"^https?://")
    ws_url: str | None = Field(default=None, pattern=r"^wss?://")
    headers: dict[str, str] = {}
    basic_auth: BasicAuth | None = None
    bearer_token: str | None = None
    bearer_token_file: Path | None = None

    @model_validator(mode="after")
    def _secret(self) -> Endpoint:
        _exactly_one_secret(self, "bearer_token")
        read_secret(self.bearer_token, self.bearer_token_file, "bearer_token")
        if self.basic_auth is not None and (self.bearer_token or self.bearer_token_file):
            raise ValueError("set either basic_auth or a bearer token, not both")
        if any(k.lower() == "authorization" for k in self.headers) and (
            self.basic_auth or self.bearer_token or self.bearer_token_file
        ):
            raise ValueError("an Authorization header conflicts with basic_auth or bearer_token")
        return self

    def request_headers(self) -> dict[str, str]:
        """Headers for every request, with the secret read now (so a rotated file is picked up on restart)."""
        out = dict(self.headers)
        token = read_secret(self.bearer_token, self.bearer_token_file, "bearer_token")
        if token:
            out["Authorization"] = f"Bearer {token}"
        if self.basic_auth is not None:
            password = read_secret(self.basic_auth.password, self.basic_auth.password_file, "password") or ""
            raw = f"{self.basic_auth.username}:{password}".encode()
            out["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return out


class WatchedAccount(Strict):
    alias: str = Field(pattern=_NAME)
    address: str = Field(pattern=_ADDRESS)


class WatchedContract(Strict):
    alias: str = Field(pattern=_NAME)
    address: str = Field(pattern=_ADDRESS)
    # A plain ABI list or a compiler artefact with an `abi` key; relative paths are taken from the working directory.
    abi_file: Path

    @field_validator("abi_file")
    @classmethod
    def _readable_abi(cls, v: Path) -> Path:
        from exporters.blockchain.abi import read_abi

        read_abi(v)
        return v


def _unique(values: list[str], what: str) -> None:
    dupes = sorted({x for x in values if values.count(x) > 1})
    if dupes:
        raise ValueError(f"{what} must be unique, repeated: {', '.join(dupes)}")


class Network(Strict):
    name: str = Field(pattern=_NAME)
    chain_id: int = Field(gt=0)
    endpoints: list[Endpoint] = Field(min_length=1)
    poll_interval: Duration = Field(default=2.0, gt=0)
    request_timeout: Duration = Field(default=5.0, gt=0)
    # With a ws_url, polling slows to this interval while heads arrive over the subscription,
    # and resumes at poll_interval when none came for this long (default: 3 x poll_interval).
    ws_head_timeout: Duration | None = Field(default=None, gt=0)
    # After a gap (exporter or node down) at most this many blocks are fetched; older ones are skipped and counted.
    max_catchup_blocks: int = Field(default=256, ge=1, le=100_000)
    accounts: list[WatchedAccount] = []
    contracts: list[WatchedContract] = []

    @field_validator("endpoints")
    @classmethod
    def _unique_endpoints(cls, v: list[Endpoint]) -> list[Endpoint]:
        names = [e.name for e in v]
        if len(set(names)) != len(names):
            raise ValueError("endpoint names must be unique within a network")
        return v

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, v: list[WatchedAccount]) -> list[WatchedAccount]:
        _unique([a.alias for a in v], "account aliases")
        _unique([a.address.lower() for a in v], "account addresses")
        return v

    @field_validator("contracts")
    @classmethod
    def _unique_contracts(cls, v: list[WatchedContract]) -> list[WatchedContract]:
        _unique([c.alias for c in v], "contract aliases")
        _unique([c.address.lower() for c in v], "contract addresses")
        return v

    @property
    def head_timeout(self) -> float:
        return self.ws_head_timeout if self.ws_head_timeout is not None else 3 * self.poll_interval


class BlockchainConfig(Strict):
    networks: list[Network] = []

    @field_validator("networks")
    @classmethod
    def _unique_networks(cls, v: list[Network]) -> list[Network]:
        names = [n.name for n in v]
        if len(set(names)) != len(names):
            raise ValueError("network names must be unique")
        return v


# ---------------------------------------------------------------- prometheus


class ScrapeLimits(Strict):
    """Per-job guards: a target that blows up its cardinality fails its scrape instead of Prometheus."""

    sample_limit: int = Field(default=20_000, ge=0)
    label_limit: int = Field(default=30, ge=0)
    label_name_length_limit: int = Field(default=128, ge=0)
    label_value_length_limit: int = Field(default=512, ge=0)
    body_size_limit: str = Field(default="10MB", pattern=r"^\d+(B|KB|MB|GB)$")


class PrometheusTargets(Strict):
    """host:port of each component as Prometheus reaches it (compose service names by default)."""

    system: list[str] = ["system-exporter:9810"]
    blockchain: list[str] = ["blockchain-exporter:9811"]
    business: list[str] = ["business-exporter:9812"]
    prometheus: list[str] = ["localhost:9090"]
    alertmanager: list[str] = ["alertmanager:9093"]


_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    bad = sorted(k for k in labels if not re.match(_LABEL_NAME, k) or k.startswith("__"))
    if bad:
        raise ValueError(f"not usable as Prometheus label names: {', '.join(bad)}")
    reserved = sorted({"job", "instance", "shard", "replica"} & set(labels))
    if reserved:
        raise ValueError(f"labels set by Prometheus or the sharding: {', '.join(reserved)}")
    return labels


# Labels an inventory puts on targets: valid Prometheus names, none that Prometheus or the sharding set.
TargetLabels = Annotated[dict[str, str], AfterValidator(_check_labels)]


class RemoteWriteQueue(Strict):
    """Prometheus's queue_config, tuned for a shard sending ~100k samples/s over a LAN or WAN link."""

    capacity: int = Field(default=10_000, ge=1)
    max_shards: int = Field(default=50, ge=1)
    min_shards: int = Field(default=1, ge=1)
    max_samples_per_send: int = Field(default=2_000, ge=1)
    batch_send_deadline: Duration = 5.0
    min_backoff: Duration = 0.03
    max_backoff: Duration = 5.0


class RemoteWrite(Strict):
    name: str = Field(pattern=_NAME)
    url: str = Field(pattern=r"^https?://")
    bearer_token_file: Path | None = None
    # Extra headers, e.g. X-Scope-OrgID for Mimir tenants or THANOS-TENANT for Thanos Receive.
    headers: dict[str, str] = {}
    queue_config: RemoteWriteQueue = RemoteWriteQueue()


class ScaleOut(Strict):
    """Hashmod-sharded Prometheus servers remote-writing to a store; rendered when shards > 1."""

    shards: int = Field(default=1, ge=1, le=64)
    replicas: int = Field(default=1, ge=1, le=3)
    remote_write: list[RemoteWrite] = []
    # host:port of every shard as the central Prometheus scrapes them (shard i, replica r in order).
    shard_targets: list[str] = []
    # The central Prometheus that evaluates the rules over everything (remote-write receiver).
    central_retention: Duration = 15 * 86400.0

    @model_validator(mode="after")
    def _complete(self) -> ScaleOut:
        if self.shards > 1 or self.replicas > 1:
            if not self.remote_write:
                raise ValueError("remote_write needs at least one store when shards or replicas > 1")
            want = self.shards * self.replicas
            if self.shard_targets and len(self.shard_targets) != want:
                raise ValueError(f"shard_targets lists {len(self.shard_targets)} addresses for {want} shard replicas")
        return self


class PrometheusConfig(Strict):
    listen_address: ListenAddress = "127.0.0.1:9090"
    scrape_interval: Duration = 15.0
    # Unset: 10s, or the scrape interval when that is shorter (Prometheus refuses a longer timeout).
    scrape_timeout: Duration | None = None
    evaluation_interval: Duration = 15.0
    retention: Duration = 15 * 86400.0
    external_labels: dict[str, str] = {"monitor": "alischain"}
    targets: PrometheusTargets = PrometheusTargets()
    limits: ScrapeLimits = ScrapeLimits()
    scale_out: ScaleOut = ScaleOut()

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> PrometheusConfig:
        if self.scrape_timeout is not None and self.scrape_timeout > self.scrape_interval:
            raise ValueError("scrape_timeout must not exceed scrape_interval")
        return self

    @property
    def effective_scrape_timeout(self) -> float:
        return self.scrape_timeout if self.scrape_timeout is not None else min(10.0, self.scrape_interval)


# ---------------------------------------------------------------- top level


ExporterKind = Literal["system", "blockchain", "business"]


class InventoryHost(Strict):
    name: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
    address: str = Field(pattern=r"^[a-zA-Z0-9_.:\[\]-]+$")  # host name or IP; the port comes from `ports`
    exporters: list[ExporterKind] = ["system"]
    labels: TargetLabels = {}


class Inventory(Strict):
    """Hosts Prometheus scrapes, rendered into file-SD target files: adding a node is one line here."""

    labels: TargetLabels = {}  # on every host, e.g. {region: eu-west}
    ports: dict[ExporterKind, int] = {"system": 9810, "blockchain": 9811, "business": 9812}
    hosts: list[InventoryHost] = []

    @field_validator("hosts")
    @classmethod
    def _unique_hosts(cls, v: list[InventoryHost]) -> list[InventoryHost]:
        _unique([h.name for h in v], "host names")
        return v


class StackConfig(Strict):
    """The native stack (`alismon stack`): where it keeps its state and the addresses of what it adds."""

    run_dir: Path = Path(".run")
    alertmanager_listen_address: ListenAddress = "127.0.0.1:9093"
    # The local anvil chain of `alismon stack up --demo`.
    demo_chain_listen_address: ListenAddress = "127.0.0.1:8545"


class Config(Strict):
    exporters: ExportersConfig = ExportersConfig()
    system: SystemConfig = SystemConfig()
    blockchain: BlockchainConfig = BlockchainConfig()
    prometheus: PrometheusConfig = PrometheusConfig()
    alerting: AlertingConfig = AlertingConfig()
    business: BusinessConfig = BusinessConfig()
    stack: StackConfig = StackConfig()
    inventory: Inventory = Inventory()


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
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        lines.append(f"{key_path((*prefix, *loc))}: {_message(err)}")
    return lines


def parse_config(raw: Any, source: str = "config") -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: the top level must be a mapping of sections"])
    tree, problems = interpolate(raw)
    if problems:
        raise ConfigError(problems)
    try:
        return Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


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


def load_config(path: str | Path = DEFAULT_CONFIG_FILE) -> Config:
    return parse_config(load_yaml(path), str(path))

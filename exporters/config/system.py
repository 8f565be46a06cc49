"""The `system` section: which filesystems and devices the system exporter reports, and watched processes."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from exporters.config.fields import unique
from exporters.core.models import Strict
from exporters.core.types import Duration, Regex

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

    def name_filter(self) -> NameFilter:
        return NameFilter(
            re.compile(self.include) if self.include else None,
            re.compile(self.exclude) if self.exclude else None,
        )


class NameFilter:
    """A DeviceFilter compiled into a predicate over device names, remembering each name's answer."""

    def __init__(self, include: re.Pattern[str] | None, exclude: re.Pattern[str] | None) -> None:
        self._include = include
        self._exclude = exclude
        self._decided: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        accepted = self._decided.get(name)
        if accepted is None:
            accepted = self._decide(name)
            if len(self._decided) < 4096:  # device names are few; never grow without bound
                self._decided[name] = accepted
        return accepted

    def _decide(self, name: str) -> bool:
        if self._include is not None and not self._include.search(name):
            return False
        return not (self._exclude is not None and self._exclude.search(name))


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
    # Matched processes are read again every scrape, so one that exits is down at the next scrape. The whole
    # process table is scanned at most this often, so a process that starts or restarts is found within it.
    process_rescan_interval: Duration = 30.0

    @field_validator("processes")
    @classmethod
    def _unique_names(cls, v: list[WatchedProcess]) -> list[WatchedProcess]:
        unique([p.name for p in v], "process names")
        return v

"""filesystem: sizes and inodes via statvfs, with node_exporter's safeguards.

Pseudo and container filesystems are excluded by default. All statvfs calls of a scrape run
as one job in a small pool with a deadline: a mount still hanging at the deadline is marked
stuck and skipped (reported in `system_filesystem_device_error`) until its call returns,
instead of hanging every scrape behind it.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import select
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import psutil

from exporters.config.system import FilesystemConfig
from exporters.core.metrics import MetricFamily
from exporters.system.collectors.spec import CollectorSpec
from exporters.system.procfs import PROC

log = logging.getLogger(__name__)

Mount = tuple[str, str, str, bool]  # device, mountpoint, fstype, mounted read-only


class _StatJob:
    """statvfs of each mount in turn; `current` names the mount a hung call is stuck on."""

    def __init__(self, mounts: list[Mount], stat: Callable[[str], os.statvfs_result]) -> None:
        self.mounts = mounts
        self.stat = stat
        self.results: list[tuple[Mount, os.statvfs_result | None]] = []
        self.current: str | None = None

    def run(self) -> None:
        for mount in self.mounts:
            self.current = mount[1]
            try:
                st: os.statvfs_result | None = self.stat(mount[1])
            except OSError:
                st = None
            self.results.append((mount, st))
        self.current = None


class MountTableChanges:
    """Whether the mount table changed since the last call, without reading it: the kernel reports every
    mount, unmount and remount to poll(2) on an open /proc/self/mounts as a priority event, once."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._poll: select.poll | None = None

    def changed(self) -> bool:
        if self._poll is None:
            try:
                fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return True  # nothing to watch: the caller re-reads the table every time
            self._poll = select.poll()
            self._poll.register(fd, select.POLLPRI | select.POLLERR)
            return True
        return bool(self._poll.poll(0))


class FilesystemCollector:
    name = "filesystem"

    def __init__(
        self,
        config: FilesystemConfig,
        stat: Callable[[str], os.statvfs_result] = os.statvfs,
        procfs: str = PROC,
    ) -> None:
        self._stat = stat
        self._mount_changes = MountTableChanges(f"{procfs}/self/mounts")
        self._mount_exclude = re.compile(config.mountpoints_exclude)
        self._fstype_exclude = re.compile(config.fstypes_exclude)
        self._timeout = config.stat_timeout
        # Each stuck mount holds one worker until its call returns; a few workers keep scrapes going.
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="statvfs")
        self._stuck: set[str] = set()
        self._lock = threading.Lock()
        self._mount_list: list[Mount] | None = None

    def _mounts(self) -> list[Mount]:
        """The filtered mount list, parsed again only when the kernel's mount table changed."""
        if self._mount_changes.changed():
            self._mount_list = None
        if self._mount_list is None:  # a parse that failed is tried again at the next scrape
            self._mount_list = self._parse_mounts()
        return self._mount_list

    def _parse_mounts(self) -> list[Mount]:
        seen: set[tuple[str, str, str]] = set()
        out = []
        for part in psutil.disk_partitions(all=True):
            key = (part.device, part.mountpoint, part.fstype)
            if key in seen or self._mount_exclude.search(part.mountpoint) or self._fstype_exclude.search(part.fstype):
                continue
            seen.add(key)
            out.append((*key, "ro" in part.opts.split(",")))
        return out

    def _unstick_when_done(self, mountpoint: str, _done: Future[None]) -> None:
        self._unstick(mountpoint)

    def _unstick(self, mountpoint: str) -> None:
        with self._lock:
            self._stuck.discard(mountpoint)
        log.info("mount answers again", extra={"mountpoint": mountpoint})

    def collect(self) -> list[MetricFamily]:
        labels = ("device", "mountpoint", "fstype")
        size = MetricFamily.gauge("system_filesystem_size_bytes", "Filesystem size.", labels)
        free = MetricFamily.gauge("system_filesystem_free_bytes", "Free space, including root-reserved.", labels)
        avail = MetricFamily.gauge("system_filesystem_avail_bytes", "Space available to unprivileged users.", labels)
        files = MetricFamily.gauge("system_filesystem_files", "Inodes in total.", labels)
        files_free = MetricFamily.gauge("system_filesystem_files_free", "Free inodes.", labels)
        readonly = MetricFamily.gauge("system_filesystem_readonly", "1 if mounted read-only.", labels)
        error = MetricFamily.gauge(
            "system_filesystem_device_error", "1 if statvfs failed or timed out for this mount.", labels
        )
        with self._lock:
            stuck = set(self._stuck)
        mounts = self._mounts()
        job = _StatJob([m for m in mounts if m[1] not in stuck], self._stat)
        fut = self._pool.submit(job.run)
        try:
            fut.result(timeout=self._timeout)
        except FutureTimeout:
            hung = job.current
            if hung is not None:
                with self._lock:
                    self._stuck.add(hung)
                fut.add_done_callback(functools.partial(self._unstick_when_done, hung))
                log.warning(
                    "statvfs timed out, skipping mount until it answers",
                    extra={"mountpoint": hung, "timeout_seconds": self._timeout},
                )
        done = {mount[1] for mount, _ in job.results}
        for mount, st in list(job.results):
            lv = mount[:3]
            if st is None:
                error.add(lv, 1.0)
                continue
            block = st.f_frsize or st.f_bsize
            size.add(lv, st.f_blocks * block)
            free.add(lv, st.f_bfree * block)
            avail.add(lv, st.f_bavail * block)
            files.add(lv, st.f_files)
            files_free.add(lv, st.f_ffree)
            readonly.add(lv, 1.0 if mount[3] or st.f_flag & os.ST_RDONLY else 0.0)
            error.add(lv, 0.0)
        for mount in mounts:  # stuck, or not reached before the deadline
            if mount[1] not in done:
                error.add(mount[:3], 1.0)
        return [size, free, avail, files, files_free, readonly, error]


SPEC = CollectorSpec(
    "filesystem",
    True,
    "filesystem sizes and inodes (system.filesystem excludes mounts and types)",
    lambda config: FilesystemCollector(config.filesystem),
)

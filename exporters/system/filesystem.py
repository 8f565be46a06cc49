"""Filesystem sizes and inodes via statvfs, with node_exporter's safeguards.

Pseudo and container filesystems are excluded by default, and statvfs runs in a small pool
with a deadline: a hung network mount is skipped (and logged once) until it answers again,
instead of hanging every scrape behind it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import psutil
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporters.core.config import FilesystemConfig

log = logging.getLogger(__name__)


class FilesystemCollector:
    name = "filesystem"

    def __init__(self, config: FilesystemConfig) -> None:
        self._mount_exclude = re.compile(config.mountpoints_exclude)
        self._fstype_exclude = re.compile(config.fstypes_exclude)
        self._timeout = config.stat_timeout
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="statvfs")
        self._stuck: set[str] = set()
        self._lock = threading.Lock()

    def _release(self, mountpoint: str, fut: Future[os.statvfs_result]) -> None:
        with self._lock:
            if mountpoint in self._stuck:
                self._stuck.discard(mountpoint)
                log.info("mount answers again", extra={"mountpoint": mountpoint})

    def collect(self) -> Iterable[Metric]:
        labels = ["device", "mountpoint", "fstype"]
        size = GaugeMetricFamily("system_filesystem_size_bytes", "Filesystem size.", labels=labels)
        free = GaugeMetricFamily("system_filesystem_free_bytes", "Free space, including root-reserved.", labels=labels)
        avail = GaugeMetricFamily(
            "system_filesystem_avail_bytes", "Space available to unprivileged users.", labels=labels
        )
        files = GaugeMetricFamily("system_filesystem_files", "Inodes in total.", labels=labels)
        files_free = GaugeMetricFamily("system_filesystem_files_free", "Free inodes.", labels=labels)
        readonly = GaugeMetricFamily("system_filesystem_readonly", "1 if mounted read-only.", labels=labels)
        error = GaugeMetricFamily(
            "system_filesystem_device_error",
            "1 if statvfs failed or timed out for this mount.",
            labels=labels,
        )

        seen: set[tuple[str, str, str]] = set()
        pending: list[tuple[list[str], Future[os.statvfs_result], bool]] = []
        for part in psutil.disk_partitions(all=True):
            key = (part.device, part.mountpoint, part.fstype)
            if key in seen or self._mount_exclude.search(part.mountpoint) or self._fstype_exclude.search(part.fstype):
                continue
            seen.add(key)
            lv = list(key)
            with self._lock:
                stuck = part.mountpoint in self._stuck
            if stuck:
                error.add_metric(lv, 1.0)
                continue
            fut = self._pool.submit(os.statvfs, part.mountpoint)
            pending.append((lv, fut, "ro" in part.opts.split(",")))

        for lv, fut, ro in pending:
            try:
                st = fut.result(timeout=self._timeout)
            except FutureTimeout:
                mountpoint = lv[1]
                with self._lock:
                    self._stuck.add(mountpoint)
                fut.add_done_callback(lambda f, m=mountpoint: self._release(m, f))
                log.warning(
                    "statvfs timed out, skipping mount until it answers",
                    extra={"mountpoint": mountpoint, "timeout_seconds": self._timeout},
                )
                error.add_metric(lv, 1.0)
                continue
            except OSError as exc:
                log.debug("statvfs failed", extra={"mountpoint": lv[1], "err": exc.strerror})
                error.add_metric(lv, 1.0)
                continue
            block = st.f_frsize or st.f_bsize
            size.add_metric(lv, st.f_blocks * block)
            free.add_metric(lv, st.f_bfree * block)
            avail.add_metric(lv, st.f_bavail * block)
            files.add_metric(lv, st.f_files)
            files_free.add_metric(lv, st.f_ffree)
            readonly.add_metric(lv, 1.0 if ro or st.f_flag & os.ST_RDONLY else 0.0)
            error.add_metric(lv, 0.0)
        return [size, free, avail, files, files_free, readonly, error]

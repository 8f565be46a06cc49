"""A hung mount is skipped after the deadline and picked up again once its statvfs returns.

A real hung NFS mount needs root and a dead server; the stat function is the seam instead,
blocking on an event for one mountpoint while the others are real statvfs calls.
"""

from __future__ import annotations

import os
import threading
import time

import psutil

from exporters.config.system import FilesystemConfig
from exporters.system.collectors.filesystem import FilesystemCollector
from tests.helpers import wait_for


def by_mount(families: list, name: str) -> dict[str, float]:
    family = next(f for f in families if f.name == name)
    return {s.labels["mountpoint"]: s.value for s in family.samples}


def test_hung_mount_is_skipped_then_recovers() -> None:
    release = threading.Event()
    calls: dict[str, int] = {}

    def stat(path: str) -> os.statvfs_result:
        calls[path] = calls.get(path, 0) + 1
        if path == "/":
            release.wait(30)
        return os.statvfs(path)

    collector = FilesystemCollector(FilesystemConfig(stat_timeout=0.3), stat=stat)
    mounts = [m[1] for m in collector._mounts()]
    assert "/" in mounts and len(mounts) >= 2, mounts

    start = time.monotonic()
    first = list(collector.collect())
    assert time.monotonic() - start < 2.0
    assert by_mount(first, "system_filesystem_device_error")["/"] == 1.0
    assert "/" not in by_mount(first, "system_filesystem_size_bytes")

    # While stuck, "/" is not called again and the scrape does not wait for it.
    start = time.monotonic()
    second = list(collector.collect())
    assert time.monotonic() - start < 0.25
    assert calls["/"] == 1
    assert by_mount(second, "system_filesystem_device_error")["/"] == 1.0
    others = [m for m in mounts if m != "/" and by_mount(second, "system_filesystem_device_error").get(m) == 0.0]
    assert others, "mounts after the hung one are still reported"

    release.set()
    wait_for(lambda: "/" not in collector._stuck, 5, "the stuck mount to be released")
    third = list(collector.collect())
    assert by_mount(third, "system_filesystem_device_error")["/"] == 0.0
    assert by_mount(third, "system_filesystem_size_bytes")["/"] == psutil.disk_usage("/").total

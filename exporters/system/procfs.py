"""Reading the kernel's /proc files: whole files in few system calls, and the kernel's units.

Every reader takes the /proc root as an argument, so the collectors run on fixture files in tests.
"""

from __future__ import annotations

import os

PROC = "/proc"
# /proc/stat and /proc/<pid>/stat count CPU time in clock ticks; statm and stat's rss count pages.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def read_file(path: str) -> bytes:
    """The whole file. /proc files report size 0, so read until EOF rather than trusting stat."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 65536)
        if not data:
            return data
        chunks = [data]
        while more := os.read(fd, 65536):
            chunks.append(more)
        return b"".join(chunks) if len(chunks) > 1 else data
    finally:
        os.close(fd)


def read_boot_time(procfs: str = PROC) -> float:
    """Unix time the host booted: the `btime` line of /proc/stat."""
    for line in read_file(f"{procfs}/stat").splitlines():
        if line.startswith(b"btime "):
            return float(line.split()[1])
    raise RuntimeError(f"no btime line in {procfs}/stat")

"""Reading the kernel's /proc files: whole files in few system calls, and the kernel's units.

Every reader takes the /proc root as an argument, so the collectors run on fixture files in tests.
"""

from __future__ import annotations

import os
import weakref

PROC = "/proc"
# /proc/stat and /proc/<pid>/stat count CPU time in clock ticks; statm and stat's rss count pages.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_CHUNK = 65536


def _read_from_start(fd: int) -> bytes:
    # /proc files report size 0 and a read may return less than the whole file (a page of lines at a time):
    # read until EOF rather than trusting either.
    data = os.pread(fd, _CHUNK, 0)
    if not data:
        return data
    chunks = [data]
    offset = len(data)
    while more := os.pread(fd, _CHUNK, offset):
        chunks.append(more)
        offset += len(more)
    return b"".join(chunks) if len(chunks) > 1 else data


def read_file(path: str) -> bytes:
    """The whole file, opened for this one read (per-process files, which come and go)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _read_from_start(fd)
    finally:
        os.close(fd)


class ProcFile:
    """A host-wide /proc file kept open and read from offset 0 at every call. The kernel generates the
    content anew for each read from the start, so a scrape saves the path lookup and set-up of open(2)
    and close(2): about a quarter of the cost of reading the small files."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def read(self) -> bytes:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            weakref.finalize(self, os.close, self._fd)
        return _read_from_start(self._fd)


def read_boot_time(procfs: str = PROC) -> float:
    """Unix time the host booted: the `btime` line of /proc/stat."""
    for line in read_file(f"{procfs}/stat").splitlines():
        if line.startswith(b"btime "):
            return float(line.split()[1])
    raise RuntimeError(f"no btime line in {procfs}/stat")

"""The host's processes as /proc shows them: one process's stat line, its command line, its open fds."""

from __future__ import annotations

import os
from dataclasses import dataclass

from exporters.system.procfs import PROC, read_file

# A forked child that has not called exec yet still shows its parent's command line (PF_FORKNOEXEC);
# kernel threads carry the flag too, but never exec and have no command line.
_FORKED_WITHOUT_EXEC = 0x40
_KERNEL_THREAD = 0x00200000
# Exited but not yet reaped (zombie) or being torn down: such a process no longer runs.
_GONE_STATES = frozenset("ZXx")


@dataclass(frozen=True, slots=True)
class ProcessStat:
    """What /proc/<pid>/stat says about one process; start_ticks and pid together identify it."""

    pid: int
    comm: str  # the kernel's name: the executable's file name, cut to 15 characters
    state: str
    kernel_flags: int
    user_ticks: int
    system_ticks: int
    threads: int
    start_ticks: int  # clock ticks after boot
    virtual_bytes: int
    resident_pages: int

    @property
    def running(self) -> bool:
        return self.state not in _GONE_STATES

    @property
    def may_exec(self) -> bool:
        """A forked user process that has not exec'd yet: its command line is still its parent's."""
        return self.kernel_flags & (_FORKED_WITHOUT_EXEC | _KERNEL_THREAD) == _FORKED_WITHOUT_EXEC


def parse_stat(pid: int, data: bytes) -> ProcessStat:
    # The name sits in parentheses and may itself hold spaces and parentheses: cut at the last ")".
    close = data.rfind(b")")
    comm = data[data.find(b"(") + 1 : close].decode(errors="replace")
    f = data[close + 2 :].split(None, 22)  # the fields up to rss; the thirty after it are not needed
    return ProcessStat(
        pid=pid,
        comm=comm,
        state=f[0].decode(),
        kernel_flags=int(f[6]),
        user_ticks=int(f[11]),
        system_ticks=int(f[12]),
        threads=int(f[17]),
        start_ticks=int(f[19]),
        virtual_bytes=int(f[20]),
        resident_pages=int(f[21]),
    )


def _read_line(path: str) -> bytes:
    # A process's stat and comm are one short line each, which a single read returns whole.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


class ProcessTable:
    """Readers of /proc/<pid>/... under one /proc root; each answers None once the process is gone."""

    def __init__(self, procfs: str = PROC) -> None:
        self.procfs = procfs

    def pids(self) -> list[int]:
        return sorted(int(entry) for entry in os.listdir(self.procfs) if entry.isdigit())

    def stat(self, pid: int) -> ProcessStat | None:
        try:
            return parse_stat(pid, _read_line(f"{self.procfs}/{pid}/stat"))
        except (OSError, ValueError, IndexError):
            return None

    def comm(self, pid: int) -> str | None:
        """The kernel's name of the process: half the cost of reading its stat line."""
        try:
            return _read_line(f"{self.procfs}/{pid}/comm").rstrip(b"\n").decode(errors="replace")
        except OSError:
            return None

    def cmdline(self, pid: int) -> str | None:
        """The arguments joined by spaces, as `ps` shows them; "" for kernel threads."""
        try:
            raw = read_file(f"{self.procfs}/{pid}/cmdline")
        except OSError:
            return None
        if raw.endswith(b"\0"):
            raw = raw[:-1]
        return os.fsdecode(raw.replace(b"\0", b" "))

    def open_fds(self, pid: int) -> int | None:
        """None when the process is gone; PermissionError when /proc hides its fds from this user."""
        try:
            return len(os.listdir(f"{self.procfs}/{pid}/fd"))
        except (FileNotFoundError, ProcessLookupError):
            return None

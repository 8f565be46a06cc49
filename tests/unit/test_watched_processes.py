"""Watched-process matching and rescans on a fake /proc (directories written by the test) and a fake clock.

A ProcessTable that counts its reads shows what each scrape costs: between rescans only the watched
processes are read, a `comm` entry never reads a command line, and a rescan reads the command lines of
new processes only.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

from exporters.config.system import SystemConfig
from exporters.core.exposition import encode_text
from exporters.system.collectors.processes import ProcessesCollector
from exporters.system.process_table import ProcessStat, ProcessTable
from exporters.system.watched import WatchedProcesses
from tests.helpers import samples

INTERVAL = 30.0
FORKED_WITHOUT_EXEC = 0x40


def write_process(
    root: Path,
    pid: int,
    comm: str,
    start: int,
    cmdline: tuple[str, ...] = (),
    state: str = "S",
    flags: int = 0,
    fds: int = 3,
) -> None:
    """A /proc/<pid> directory with the files the readers use (stat, comm, cmdline, fd/)."""
    d = root / str(pid)
    (d / "fd").mkdir(parents=True, exist_ok=True)
    fields = [state, "1", str(pid), str(pid), "0", "-1", str(flags), *["0"] * 4, "250", "50", "0", "0", "20", "0"]
    fields += ["4", "0", str(start), str(4096 * 1000), "200", *["0"] * 30]
    (d / "stat").write_text(f"{pid} ({comm}) {' '.join(fields)}\n")
    (d / "comm").write_text(f"{comm}\n")
    (d / "cmdline").write_bytes(b"".join(arg.encode() + b"\0" for arg in cmdline))
    for fd in range(fds):
        (d / "fd" / str(fd)).touch()


def remove_process(root: Path, pid: int) -> None:
    shutil.rmtree(root / str(pid))


class CountingTable(ProcessTable):
    def __init__(self, procfs: str) -> None:
        super().__init__(procfs)
        self.reads: Counter[str] = Counter()

    def pids(self) -> list[int]:
        self.reads["pids"] += 1
        return super().pids()

    def stat(self, pid: int) -> ProcessStat | None:
        self.reads["stat"] += 1
        return super().stat(pid)

    def comm(self, pid: int) -> str | None:
        self.reads["comm"] += 1
        return super().comm(pid)

    def cmdline(self, pid: int) -> str | None:
        self.reads["cmdline"] += 1
        return super().cmdline(pid)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def watch(root: Path, *processes: dict) -> tuple[WatchedProcesses, CountingTable, Clock]:
    config = SystemConfig.model_validate({"processes": list(processes), "process_rescan_interval": INTERVAL})
    table, clock = CountingTable(str(root)), Clock()
    return WatchedProcesses(config.processes, config.process_rescan_interval, table, clock), table, clock


def pids(watched: WatchedProcesses) -> dict[str, list[int]]:
    return {name: [s.pid for s in stats] for name, stats in watched.current().items()}


def host(root: Path, n: int = 50) -> None:
    """Unrelated processes: a shell and n idle workers."""
    write_process(root, 1, "init", 1, ("/sbin/init",))
    for pid in range(100, 100 + n):
        write_process(root, pid, "worker", 10 + pid, ("/usr/bin/worker", "--id", str(pid)))


def test_comm_matching_reads_no_command_line(tmp_path: Path) -> None:
    host(tmp_path)
    write_process(tmp_path, 500, "geth", 900, ("/usr/bin/geth", "--mainnet"))
    watched, table, _ = watch(tmp_path, {"name": "chain", "match": {"comm": "geth"}})
    assert pids(watched) == {"chain": [500]}
    assert table.reads == {"pids": 1, "comm": 52, "stat": 1}  # each process's name, the match's stat line


def test_between_rescans_a_scrape_reads_only_the_watched_processes(tmp_path: Path) -> None:
    host(tmp_path)
    write_process(tmp_path, 500, "geth", 900)
    write_process(tmp_path, 501, "geth", 901)
    watched, table, clock = watch(tmp_path, {"name": "chain", "match": {"comm": "geth"}})
    pids(watched)
    table.reads.clear()
    for _ in range(10):
        clock.now += 1
        assert pids(watched) == {"chain": [500, 501]}
    assert table.reads == {"stat": 20}


def test_absent_process_rescans_at_most_once_per_interval_and_is_found_within_one(tmp_path: Path) -> None:
    host(tmp_path)
    watched, table, clock = watch(tmp_path, {"name": "chain", "match": {"comm": "geth"}})
    assert pids(watched) == {"chain": []}
    started = clock.now + 5
    for _ in range(29):  # a scrape every second while the process is missing: no further scan
        clock.now += 1
        if clock.now == started:
            write_process(tmp_path, 600, "geth", 5000)
        assert pids(watched) == {"chain": []}
    assert table.reads["pids"] == 1
    clock.now += 1  # one interval after the last scan: found
    assert pids(watched) == {"chain": [600]}
    assert table.reads["pids"] == 2
    assert clock.now - started <= INTERVAL


def test_killed_process_is_down_at_the_next_scrape_and_its_restart_found_within_one_interval(tmp_path: Path) -> None:
    host(tmp_path)
    write_process(tmp_path, 500, "geth", 900)
    watched, table, clock = watch(tmp_path, {"name": "chain", "match": {"comm": "geth"}})
    assert pids(watched) == {"chain": [500]}
    clock.now += 10
    remove_process(tmp_path, 500)
    assert pids(watched) == {"chain": []}  # no rescan needed to see it gone
    assert table.reads["pids"] == 1
    write_process(tmp_path, 700, "geth", 2000)  # the supervisor restarts it at once
    clock.now += 19
    assert pids(watched) == {"chain": []}
    clock.now += 1  # 30 s after the last scan, 20 s after the restart
    assert pids(watched) == {"chain": [700]}


def test_reused_pid_and_zombie_are_not_the_watched_process(tmp_path: Path) -> None:
    host(tmp_path)
    write_process(tmp_path, 500, "geth", 900)
    write_process(tmp_path, 501, "geth", 901)
    watched, _, clock = watch(tmp_path, {"name": "chain", "match": {"comm": "geth"}})
    assert pids(watched) == {"chain": [500, 501]}
    write_process(tmp_path, 500, "geth", 3000)  # exited, and its pid went to a new process
    write_process(tmp_path, 501, "geth", 901, state="Z")  # exited, not yet reaped
    clock.now += 1
    assert pids(watched) == {"chain": []}
    clock.now += INTERVAL
    assert pids(watched) == {"chain": [500]}  # the new process matches too, so the rescan finds it


def test_cmdline_is_read_once_per_process(tmp_path: Path) -> None:
    host(tmp_path)
    write_process(tmp_path, 500, "python3", 900, ("python3", "-m", "chain.client"))
    watched, table, clock = watch(tmp_path, {"name": "client", "match": {"cmdline": r"-m chain\.client"}})
    assert pids(watched) == {"client": [500]}
    assert table.reads["cmdline"] == 52
    table.reads.clear()
    write_process(tmp_path, 149, "worker", 7000, ("/usr/bin/worker", "--id", "new"))  # pid reused: new start
    write_process(tmp_path, 800, "python3", 7001, ("python3", "-m", "chain.client"))  # a second client
    clock.now += INTERVAL
    assert pids(watched) == {"client": [500, 800]}
    assert table.reads["cmdline"] == 2  # only the two processes the last scan had not seen


def test_comm_and_cmdline_entries_together_share_one_pass(tmp_path: Path) -> None:
    host(tmp_path)
    write_process(tmp_path, 500, "geth", 900, ("/usr/bin/geth",))
    write_process(tmp_path, 501, "python3", 901, ("python3", "-m", "chain.client"))
    watched, table, _ = watch(
        tmp_path,
        {"name": "chain", "match": {"comm": "geth"}},
        {"name": "client", "match": {"cmdline": r"chain\.client"}},
        {"name": "both", "match": {"cmdline": "geth|chain"}},
    )
    assert pids(watched) == {"chain": [500], "client": [501], "both": [500, 501]}
    assert table.reads == {"pids": 1, "stat": 53, "cmdline": 53}


def test_cmdline_verdict_is_not_kept_across_exec(tmp_path: Path) -> None:
    host(tmp_path, n=2)
    # A Python supervisor's freshly forked child still shows the supervisor's command line (and name)...
    write_process(tmp_path, 500, "python3", 900, ("python3", "supervise.py"), flags=FORKED_WITHOUT_EXEC)
    # ...and a wrapper script will exec the client later.
    write_process(tmp_path, 501, "bash", 901, ("bash", "start-client.sh"))
    watched, _, clock = watch(tmp_path, {"name": "client", "match": {"cmdline": "chain.client"}})
    assert pids(watched) == {"client": []}
    write_process(tmp_path, 500, "python3", 900, ("python3", "-m", "chain.client"))  # both exec'd the client
    write_process(tmp_path, 501, "python3", 901, ("python3", "-m", "chain.client"))
    clock.now += INTERVAL
    assert pids(watched) == {"client": [500, 501]}


def test_pidfile_is_followed_every_scrape(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    host(proc, n=3)
    write_process(proc, 500, "anvil", 900)
    write_process(proc, 501, "anvil", 950)
    pidfile = tmp_path / "anvil.pid"
    pidfile.write_text("500\n")
    watched, table, clock = watch(proc, {"name": "anvil", "match": {"pidfile": str(pidfile)}})
    assert pids(watched) == {"anvil": [500]}
    pidfile.write_text("501\n")
    clock.now += 1
    assert pids(watched) == {"anvil": [501]}
    remove_process(proc, 501)
    assert pids(watched) == {"anvil": []}
    pidfile.unlink()
    assert pids(watched) == {"anvil": []}
    assert table.reads["pids"] == 0  # a pid file needs no scan


def test_the_exporter_never_matches_itself(tmp_path: Path) -> None:
    write_process(tmp_path, os.getpid(), "python3", 900, ("python3", "-m", "exporters.cli", "system"))
    watched, _, _ = watch(tmp_path, {"name": "me", "match": {"cmdline": "exporters.cli"}})
    assert pids(watched) == {"me": []}


def test_long_comm_matches_the_kernels_15_characters(tmp_path: Path) -> None:
    write_process(tmp_path, 500, "chain-validator", 900)  # the kernel's cut of chain-validator-daemon
    watched, _, _ = watch(tmp_path, {"name": "validator", "match": {"comm": "chain-validator-daemon"}})
    assert pids(watched) == {"validator": [500]}


def test_unreadable_fds_leave_out_only_the_fd_series(tmp_path: Path) -> None:
    class HiddenFds(ProcessTable):
        def open_fds(self, pid: int) -> int | None:
            raise PermissionError(13, "Permission denied")  # another user's process, exporter not root

    (tmp_path / "stat").write_text("btime 1000\n")
    write_process(tmp_path, 500, "geth", 9000)
    config = SystemConfig.model_validate({"processes": [{"name": "chain", "match": {"comm": "geth"}}]})
    watched = WatchedProcesses(config.processes, INTERVAL, HiddenFds(str(tmp_path)))
    s = samples(encode_text(ProcessesCollector(watched, clock_ticks=100, page_size=4096).collect()).decode())
    chain = (("process", "chain"),)
    assert s[("system_process_up", chain)] == 1
    assert s[("system_process_threads", chain)] == 4
    assert s[("system_process_resident_memory_bytes", chain)] == 200 * 4096
    assert s[("system_process_cpu_seconds_total", (("mode", "user"), ("process", "chain")))] == 2.5
    assert s[("system_process_start_time_seconds", chain)] == 1090
    assert ("system_process_open_fds", chain) not in s

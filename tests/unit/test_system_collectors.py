"""The system collectors on fixture /proc files (tests/fixtures/proc), in-process.

tests/fixtures/system/collectors.{prom,om} were recorded from the collectors as they were before they
were split into modules and moved to MetricFamily (client_python families then): the bytes must not move.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import psutil
import pytest

from exporters.config.system import FilesystemConfig, SystemConfig
from exporters.core.exposition import encode_openmetrics, encode_text
from exporters.core.metrics import MetricFamily
from exporters.system.collectors import COLLECTORS
from exporters.system.collectors.cpu import CPUCollector, parse_cpu_stat
from exporters.system.collectors.diskstats import DiskstatsCollector
from exporters.system.collectors.filesystem import FilesystemCollector
from exporters.system.collectors.kernel import KernelCollector, read_file_nr
from exporters.system.collectors.loadavg import LoadavgCollector
from exporters.system.collectors.meminfo import MeminfoCollector, parse_meminfo, parse_swap_activity
from exporters.system.collectors.netdev import NetdevCollector
from exporters.system.collectors.processes import ProcessesCollector
from exporters.system.process_table import ProcessTable
from exporters.system.procfs import ProcFile
from exporters.system.watched import WatchedProcesses
from tests.conftest import REPO
from tests.helpers import samples

PROC = str(REPO / "tests/fixtures/proc")
RECORDED = REPO / "tests/fixtures/system"
PAGE = 4096  # the recording's page size; passed explicitly so the test does not depend on the host's

# statvfs answers per fixture mountpoint; any other mountpoint fails like an unreachable NFS server.
STATVFS = {
    "/": (4096, 4096, 2621440, 1310720, 1200000, 655360, 600000, 600000, 4096, 255),
    "/run": (4096, 4096, 407437, 407000, 407000, 2000000, 1999000, 1999000, 4096 | 2, 255),
    "/var/lib/chain": (4096, 4096, 52428800, 1000, 0, 3276800, 3000000, 3000000, 1 | 4096, 255),
    "/srv/scratch": (4096, 4096, 100, 100, 100, 50, 50, 50, 0, 255),
}


def fixture_statvfs(path: str) -> os.statvfs_result:
    if path not in STATVFS:
        raise OSError(5, "Input/output error")
    return os.statvfs_result(STATVFS[path])


def text(families: list[MetricFamily]) -> str:
    return encode_text(families).decode()


def fixture_config(pidfile: Path) -> SystemConfig:
    pidfile.write_text("4400\n")
    return SystemConfig.model_validate(
        {
            "processes": [
                {"name": "geth", "match": {"comm": "geth"}},
                {"name": "agent", "match": {"cmdline": "demo agent"}},
                {"name": "anvil", "match": {"pidfile": str(pidfile)}},
                # Longer than the kernel's 15-character comm: matches by its first 15 characters.
                {"name": "validator", "match": {"comm": "chain-validator-daemon"}},
                {"name": "absent", "match": {"comm": "nope"}},
            ]
        }
    )


def fixture_collectors(config: SystemConfig) -> list:
    watched = WatchedProcesses(config.processes, config.process_rescan_interval, ProcessTable(PROC))
    return [
        CPUCollector(PROC, clock_ticks=100),
        LoadavgCollector(PROC),
        MeminfoCollector(PROC, page_size=PAGE),
        FilesystemCollector(config.filesystem, stat=fixture_statvfs, procfs=PROC),
        DiskstatsCollector(config.disk.name_filter(), PROC),
        NetdevCollector(config.network.name_filter(), PROC),
        KernelCollector(PROC),
        ProcessesCollector(watched, clock_ticks=100, page_size=PAGE),
    ]


@pytest.fixture
def fixture_mounts(monkeypatch: pytest.MonkeyPatch) -> None:
    """psutil reads the mount table under PROCFS_PATH (the filesystem collector parses it with psutil)."""
    monkeypatch.setattr(psutil, "PROCFS_PATH", PROC)


def test_output_is_byte_identical_to_the_recording(tmp_path: Path, fixture_mounts: None) -> None:
    collectors = fixture_collectors(fixture_config(tmp_path / "anvil.pid"))
    assert [c.name for c in collectors] == [spec.name for spec in COLLECTORS]
    families = [f for c in collectors for f in c.collect() if f.lines]
    assert all(isinstance(f, MetricFamily) for f in families)
    assert encode_text(families) == (RECORDED / "collectors.prom").read_bytes()
    assert encode_openmetrics(families) == (RECORDED / "collectors.om").read_bytes()


def test_cpu_reads_every_cpu_line_and_the_totals() -> None:
    stat = parse_cpu_stat(Path(PROC, "stat").read_bytes())
    assert [cpu for cpu, _ in stat.ticks_by_cpu] == ["0", "1"]
    assert stat.ticks_by_cpu[1][1] == [51744, 50, 6752, 39418, 6001, 0, 221, 470, 15, 2]
    assert (stat.context_switches, stat.interrupts) == (3303053, 1660972)


def test_cpu_labels_are_the_kernels_cpu_numbers(tmp_path: Path) -> None:
    # cpu1 offline: node_exporter labels the cpus 0 and 2, and so do we.
    (tmp_path / "stat").write_text(
        "cpu  300 0 0 0 0 0 0 0\ncpu0 100 0 0 0 0 0 0 0\ncpu2 200 1 0 0 0 0 0 0\nintr 9 1 2\nctxt 7\nbtime 1\n"
    )
    s = samples(text(CPUCollector(str(tmp_path), clock_ticks=100).collect()))
    assert s[("system_cpu_seconds_total", (("cpu", "2"), ("mode", "user")))] == 2.0
    assert s[("system_cpu_seconds_total", (("cpu", "2"), ("mode", "nice")))] == 0.01
    assert s[("system_cpu_guest_seconds_total", (("cpu", "0"), ("mode", "user")))] == 0.0  # no guest columns
    assert s[("system_cpus", ())] == 2
    assert (s[("system_interrupts_total", ())], s[("system_context_switches_total", ())]) == (9, 7)


def test_meminfo_and_vmstat() -> None:
    info = parse_meminfo(Path(PROC, "meminfo").read_bytes())
    assert info["MemTotal"] == 24684084 * 1024
    assert info["SReclaimable"] == 135792 * 1024
    # Only what the gauges use (SwapCached is not Cached).
    wanted = {"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SReclaimable", "Shmem", "SwapTotal"}
    assert set(info) == wanted | {"SwapFree"}
    assert parse_swap_activity(Path(PROC, "vmstat").read_bytes(), page_size=PAGE) == (1234 * PAGE, 56789 * PAGE)


def test_meminfo_without_swap_lines(tmp_path: Path) -> None:
    (tmp_path / "meminfo").write_text("MemTotal:  1000 kB\nMemFree:  10 kB\nCached:  5 kB\nSReclaimable:  2 kB\n")
    (tmp_path / "vmstat").write_text("nr_free_pages 3\n")
    s = samples(text(MeminfoCollector(str(tmp_path), page_size=PAGE).collect()))
    assert s[("system_memory_total_bytes", ())] == 1024000
    assert s[("system_memory_cached_bytes", ())] == 7 * 1024
    assert s[("system_memory_available_bytes", ())] == 0  # an old kernel without MemAvailable
    assert s[("system_swap_in_bytes_total", ())] == 0


def test_diskstats_default_filter_and_kernel_formats() -> None:
    s = samples(text(DiskstatsCollector(SystemConfig().disk.name_filter(), PROC).collect()))
    devices = {dict(labels)["device"] for (name, labels) in s if name == "system_disk_reads_completed_total"}
    assert devices == {"vda", "nvme0n1", "dm-0"}  # partitions, loop and zram left out
    nvme = (("device", "nvme0n1"),)  # a 14-column line (kernels before 4.18)
    assert s[("system_disk_read_bytes_total", nvme)] == 987654321 * 512
    assert s[("system_disk_io_time_seconds_total", nvme)] == 3456.789
    assert s[("system_disk_write_time_seconds_total", (("device", "dm-0"),))] == 0.007


def test_diskstats_include_filter(tmp_path: Path) -> None:
    only_vda = SystemConfig.model_validate({"disk": {"include": "^vda"}}).disk.name_filter()
    s = samples(text(DiskstatsCollector(only_vda, PROC).collect()))
    devices = {dict(labels)["device"] for (name, labels) in s if name == "system_disk_reads_completed_total"}
    assert devices == {"vda", "vda1"}


def test_netdev_columns_and_exclude() -> None:
    no_virtual = SystemConfig.model_validate({"network": {"exclude": "^(lo|veth.*)$"}}).network.name_filter()
    s = samples(text(NetdevCollector(no_virtual, PROC).collect()))
    eth0 = (("device", "eth0"),)
    assert s[("system_network_receive_bytes_total", eth0)] == 463857645
    assert s[("system_network_transmit_packets_total", eth0)] == 6387
    assert s[("system_network_receive_drop_total", eth0)] == 7
    assert s[("system_network_transmit_errors_total", eth0)] == 1
    devices = {dict(labels)["device"] for (name, labels) in s if name == "system_network_receive_bytes_total"}
    assert devices == {"eth0", "docker0"}


def test_kernel_file_nr_boot_time_and_process_count(tmp_path: Path) -> None:
    assert read_file_nr(ProcFile(f"{PROC}/sys/fs/file-nr")) == (723, 2466170)
    s = samples(text(KernelCollector(PROC).collect()))
    assert s[("system_boot_time_seconds", ())] == 1796194623
    assert s[("system_processes", ())] == 6
    # Without file-nr (some containers hide it) the fd families are left out, the rest stays.
    (tmp_path / "stat").write_text("btime 5\n")
    (tmp_path / "17").mkdir()
    s = samples(text(KernelCollector(str(tmp_path)).collect()))
    assert s == {("system_boot_time_seconds", ()): 5, ("system_processes", ()): 1}


def test_loadavg() -> None:
    s = samples(text(LoadavgCollector(PROC).collect()))
    assert [s[(f"system_load{m}", ())] for m in (1, 5, 15)] == [3.72, 2.18, 1.02]


def test_filesystem_mount_table_from_fixture(fixture_mounts: None) -> None:
    collector = FilesystemCollector(FilesystemConfig(), stat=fixture_statvfs, procfs=PROC)
    s = samples(text(collector.collect()))
    errors = {dict(labels)["mountpoint"]: v for (n, labels), v in s.items() if n == "system_filesystem_device_error"}
    # proc, sysfs and overlay excluded by default; the duplicate / once; the escaped space decoded.
    assert errors == {"/": 0, "/run": 0, "/var/lib/chain": 0, "/srv/scratch": 0, "/mnt/backup copy": 1}


def test_a_kept_open_proc_file_is_read_afresh() -> None:
    limits = ProcFile("/proc/self/limits")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        for limit in (soft - 1, soft):
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
            line = next(x for x in limits.read().decode().splitlines() if x.startswith("Max open files"))
            assert line.split()[3] == str(limit)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

"""The system exporter's collectors, one module each, and the one registry the exporter and the CLI loop over.

All are on by default, as node_exporter's equivalents are: each costs a few small /proc reads per
scrape. `processes` reads only the processes that `system.processes` names (nothing when it is empty),
and `kernel`'s process count is the one per-scrape read that grows with the host's process count.
"""

from __future__ import annotations

from exporters.system.collectors import cpu, diskstats, filesystem, kernel, loadavg, meminfo, netdev, processes
from exporters.system.collectors.spec import CollectorSpec

COLLECTORS: tuple[CollectorSpec, ...] = (
    cpu.SPEC,
    loadavg.SPEC,
    meminfo.SPEC,
    filesystem.SPEC,
    diskstats.SPEC,
    netdev.SPEC,
    kernel.SPEC,
    processes.SPEC,
)

__all__ = ["COLLECTORS", "CollectorSpec"]

"""cpu: seconds by cpu and mode, guest seconds, context switches and interrupts, from one read of /proc/stat."""

from __future__ import annotations

from dataclasses import dataclass

from exporters.core.metrics import MetricFamily
from exporters.system.collectors.spec import CollectorSpec
from exporters.system.procfs import CLOCK_TICKS, PROC, ProcFile

# The first eight columns of a cpuN line; guest and guest_nice follow and are already inside user and nice.
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


@dataclass(frozen=True)
class CPUStat:
    ticks_by_cpu: list[tuple[str, list[int]]]  # ("0", [user, nice, ..., guest, guest_nice]) per cpuN line
    context_switches: int
    interrupts: int


def parse_cpu_stat(stat: bytes) -> CPUStat:
    """/proc/stat's cpuN, ctxt and intr lines."""
    per_cpu: list[tuple[str, list[int]]] = []
    context_switches = interrupts = 0
    for line in stat.splitlines():
        if line.startswith(b"cpu"):
            label, _, rest = line.partition(b" ")
            if len(label) > 3:  # "cpu" alone is the sum over all cpus
                per_cpu.append((label[3:].decode(), [int(v) for v in rest.split()]))
        elif line.startswith(b"ctxt "):
            context_switches = int(line[5:])
        elif line.startswith(b"intr "):
            interrupts = int(line[5:].split(None, 1)[0])  # the total; per-IRQ counts follow
    return CPUStat(per_cpu, context_switches, interrupts)


class CPUCollector:
    name = "cpu"

    def __init__(self, procfs: str = PROC, clock_ticks: int = CLOCK_TICKS) -> None:
        self._stat = ProcFile(f"{procfs}/stat")
        self._ticks = clock_ticks

    def collect(self) -> list[MetricFamily]:
        stat = parse_cpu_stat(self._stat.read())
        seconds = MetricFamily.counter("system_cpu_seconds", "Seconds the CPUs spent in each mode.", ("cpu", "mode"))
        guest = MetricFamily.counter(
            "system_cpu_guest_seconds",
            "Seconds the CPUs spent running guests (already included in user and nice).",
            ("cpu", "mode"),
        )
        ticks = self._ticks
        for cpu, values in stat.ticks_by_cpu:
            values = values + [0] * (10 - len(values))  # older kernels have fewer columns
            for mode, value in zip(CPU_MODES, values, strict=False):
                seconds.add((cpu, mode), value / ticks)
            guest.add((cpu, "user"), values[8] / ticks)
            guest.add((cpu, "nice"), values[9] / ticks)
        count = MetricFamily.gauge("system_cpus", "Number of logical CPUs.")
        count.add((), len(stat.ticks_by_cpu))
        switches = MetricFamily.counter("system_context_switches", "Context switches since boot.")
        switches.add((), stat.context_switches)
        interrupts = MetricFamily.counter("system_interrupts", "Interrupts serviced since boot.")
        interrupts.add((), stat.interrupts)
        return [seconds, guest, count, switches, interrupts]


SPEC = CollectorSpec("cpu", True, "CPU seconds by cpu and mode, context switches, interrupts", lambda _: CPUCollector())

"""netdev: per interface byte, packet, error and drop counters from /proc/net/dev."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from exporters.core.metrics import MetricFamily
from exporters.system.collectors.spec import CollectorSpec
from exporters.system.procfs import PROC, ProcFile

# (metric suffix, column of /proc/net/dev after the interface name, help)
NET_COUNTERS = (
    ("receive_bytes", 0, "Bytes received."),
    ("transmit_bytes", 8, "Bytes transmitted."),
    ("receive_packets", 1, "Packets received."),
    ("transmit_packets", 9, "Packets transmitted."),
    ("receive_errors", 2, "Receive errors."),
    ("transmit_errors", 10, "Transmit errors."),
    ("receive_drop", 3, "Received packets dropped."),
    ("transmit_drop", 11, "Transmitted packets dropped."),
)


def parse_netdev(netdev: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """(interface, its 16 columns) per interface of /proc/net/dev, in the kernel's order."""
    for line in netdev.splitlines()[2:]:  # two header lines
        name, _, columns = line.rpartition(b":")
        yield name.strip().decode(), columns.split()


class NetdevCollector:
    name = "netdev"

    def __init__(self, devices: Callable[[str], bool], procfs: str = PROC) -> None:
        self._devices = devices
        self._netdev = ProcFile(f"{procfs}/net/dev")

    def collect(self) -> list[MetricFamily]:
        families = [
            (MetricFamily.counter(f"system_network_{metric}", help_text, ("device",)), column)
            for metric, column, help_text in NET_COUNTERS
        ]
        for device, columns in parse_netdev(self._netdev.read()):
            if not self._devices(device):
                continue
            lv = (device,)
            for family, column in families:
                family.add(lv, int(columns[column]))
        return [family for family, _ in families]


SPEC = CollectorSpec(
    "netdev",
    True,
    "network interface counters (system.network filters the interfaces)",
    lambda config: NetdevCollector(config.network.name_filter()),
)

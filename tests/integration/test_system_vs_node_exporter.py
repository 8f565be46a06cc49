"""The system exporter agrees with a real node_exporter run side by side on the same host.

Counters are bracketed: node_exporter is read before and after ours, so a moving counter of
ours must fall between the two readings (plus a stated tolerance for /proc rounding).
"""

from __future__ import annotations

from collections.abc import Callable

import requests

from tests.helpers import samples


def scrape(base: str) -> dict:
    return samples(requests.get(f"{base}/metrics", timeout=5).text)


def pick(s: dict, name: str, **labels: str) -> float:
    return s[(name, tuple(sorted(labels.items())))]


def series(s: dict, name: str) -> dict[tuple, float]:
    return {labels: v for (n, labels), v in s.items() if n == name}


def test_values_agree_with_node_exporter(
    start_system_exporter: Callable[..., str], start_node_exporter: Callable[..., str]
) -> None:
    node = start_node_exporter("cpu", "meminfo", "filesystem", "netdev")
    ours_base = start_system_exporter()
    before, ours, after = scrape(node), scrape(ours_base), scrape(node)

    # Memory total: the same MemTotal, exactly.
    assert pick(ours, "system_memory_total_bytes") == pick(before, "node_memory_MemTotal_bytes")
    assert pick(ours, "system_memory_available_bytes") > 0

    # Filesystem sizes: the same statfs, exactly, for every mount both report.
    node_fs = {dict(k)["mountpoint"]: v for k, v in series(before, "node_filesystem_size_bytes").items()}
    our_fs = {dict(k)["mountpoint"]: v for k, v in series(ours, "system_filesystem_size_bytes").items()}
    shared = set(node_fs) & set(our_fs)
    assert "/" in shared, (sorted(node_fs), sorted(our_fs))
    for mountpoint in shared:
        assert our_fs[mountpoint] == node_fs[mountpoint], mountpoint

    # CPU counters: bracketed per cpu and mode, tolerance 0.05 s (USER_HZ rounding).
    cpu = series(ours, "system_cpu_seconds_total")
    assert len(cpu) >= 8
    checked = 0
    for labels, v in cpu.items():
        low = before.get(("node_cpu_seconds_total", labels))
        high = after.get(("node_cpu_seconds_total", labels))
        assert low is not None and high is not None, f"node_exporter has no cpu series {labels}"
        assert low - 0.05 <= v <= high + 0.05, (labels, low, v, high)
        checked += 1
    assert checked == len(cpu)

    # Network bytes: bracketed per device both report (node_exporter 1.5 leaves out lo).
    for direction in ("receive", "transmit"):
        ours_net = series(ours, f"system_network_{direction}_bytes_total")
        node_net = series(before, f"node_network_{direction}_bytes_total")
        shared_devices = set(ours_net) & set(node_net)
        assert shared_devices, (sorted(ours_net), sorted(node_net))
        for labels in shared_devices:
            v = ours_net[labels]
            low = node_net[labels]
            high = after[(f"node_network_{direction}_bytes_total", labels)]
            assert low <= v <= high, (direction, labels, low, v, high)

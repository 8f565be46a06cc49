"""Command lines for VictoriaMetrics, vmalert and vmagent from Debian's binaries and a rendered tree.

The rendered flags files (exporters/render/victoriametrics.py) hold what comes from config.yml;
these add where the process listens and keeps its data. Every process runs with the tree root
as its working directory: the paths in the flags files are relative to it.
"""

from __future__ import annotations

from pathlib import Path

from exporters.core.tools import find_tool
from exporters.render.victoriametrics import flags_of


def store_argv(tree: Path, data: Path, listen: str) -> list[str]:
    flags = flags_of(tree, "victoria-metrics")
    return [find_tool("victoria-metrics"), *flags, f"-storageDataPath={data}", f"-httpListenAddr={listen}"]


def vmalert_argv(tree: Path, listen: str) -> list[str]:
    return [find_tool("vmalert"), *flags_of(tree, "vmalert"), f"-httpListenAddr={listen}"]


def vmagent_argv(tree: Path, shard: int, replica: int, data: Path, listen: str) -> list[str]:
    flags = flags_of(tree, f"vmagent-{shard}-{replica}")
    return [find_tool("vmagent"), *flags, f"-remoteWrite.tmpDataPath={data}", f"-httpListenAddr={listen}"]

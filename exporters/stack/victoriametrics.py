"""Command lines for VictoriaMetrics, vmalert and vmagent from Debian's binaries and a rendered tree.

The rendered flags files (exporters/render/victoriametrics.py) hold what comes from config.yml;
these add where the process listens and keeps its data. The paths in the flags files are relative
to the tree root; here they become absolute, so a process runs (and `stack fix` restarts it) from
any working directory.
"""

from __future__ import annotations

from pathlib import Path

from exporters.core.tools import find_tool
from exporters.render.victoriametrics import flags_of as rendered_flags

TREE_PATHS = ("provisioning/", "rules/")


def flags_of(tree: Path, name: str) -> list[str]:
    """The rendered flags of `name`, their tree-relative paths made absolute."""
    out = []
    for flag in rendered_flags(tree, name):
        key, sep, value = flag.partition("=")
        out.append(f"{key}={tree.resolve() / value}" if sep and value.startswith(TREE_PATHS) else flag)
    return out


def store_argv(tree: Path, data: Path, listen: str) -> list[str]:
    flags = flags_of(tree, "victoria-metrics")
    return [find_tool("victoria-metrics"), *flags, f"-storageDataPath={data}", f"-httpListenAddr={listen}"]


def vmalert_argv(tree: Path, listen: str) -> list[str]:
    return [find_tool("vmalert"), *flags_of(tree, "vmalert"), f"-httpListenAddr={listen}"]


def vmagent_argv(tree: Path, shard: int, replica: int, data: Path, listen: str) -> list[str]:
    flags = flags_of(tree, f"vmagent-{shard}-{replica}")
    return [find_tool("vmagent"), *flags, f"-remoteWrite.tmpDataPath={data}", f"-httpListenAddr={listen}"]

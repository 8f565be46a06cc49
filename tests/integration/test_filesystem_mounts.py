"""The filesystem collector follows the mount table as it changes: a real tmpfs mounted, remounted read-only
and unmounted, in a private mount namespace (`unshare`, so the host's mounts are never touched)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, tool

# Runs inside the namespace: the collector is built before the mount, so only change detection can show it.
SCRIPT = """
import json, subprocess, sys
from exporters.config.system import FilesystemConfig
from exporters.system.collectors.filesystem import FilesystemCollector

target = sys.argv[1]
collector = FilesystemCollector(FilesystemConfig())

def seen():
    return {mount[1]: mount[3] for mount in collector._mounts()}

steps = {"before": seen()}
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "alismon-test", target], check=True)
steps["mounted"] = seen()
subprocess.run(["mount", "-o", "remount,ro", target], check=True)
steps["remounted"] = seen()
subprocess.run(["umount", target], check=True)
steps["unmounted"] = seen()
print(json.dumps(steps))
"""


def test_mount_remount_and_unmount_are_picked_up(tmp_path: Path) -> None:
    target = tmp_path / "mnt"
    target.mkdir()
    unshare = [tool("unshare"), "--user", "--map-root-user", "--mount", "--propagation", "private"]
    result = subprocess.run(
        [*unshare, sys.executable, "-c", SCRIPT, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)
    mountpoint = str(target)
    assert "/" in steps["before"] and mountpoint not in steps["before"]
    assert steps["mounted"][mountpoint] is False
    assert steps["remounted"][mountpoint] is True
    assert mountpoint not in steps["unmounted"]

"""<run-dir>/state.json: what `stack up` started, so that `status` and `down` act on exactly that.

A PID alone is not an identity (PIDs are reused), so each entry also keeps the process's start time;
`down` never signals a process whose start time differs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass
class Started:
    name: str
    pid: int
    create_time: float
    argv: list[str]
    url: str
    ready_url: str
    rpc: bool
    log: str

    def process(self) -> psutil.Process | None:
        """The live process, or None when it exited (or the PID now belongs to another process)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.05 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None


def state_path(run: Path) -> Path:
    return run / "state.json"


def save(run: Path, demo: bool, started: list[Started]) -> None:
    tmp = state_path(run).with_suffix(".tmp")
    tmp.write_text(json.dumps({"demo": demo, "components": [asdict(s) for s in started]}, indent=1))
    os.replace(tmp, state_path(run))


def load(run: Path) -> tuple[bool, list[Started]]:
    path = state_path(run)
    if not path.exists():
        return False, []
    raw = json.loads(path.read_text())
    return bool(raw.get("demo")), [Started(**c) for c in raw["components"]]

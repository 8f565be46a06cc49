"""The event store failing: at start (one line, exit 2) and at run time (a full disk: 503s, not
ready, nothing acknowledged that is not stored, and recovery without a restart)."""

from __future__ import annotations

import contextlib
import errno
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import yaml

from exporters.stack.procs import ManagedProcess, alismon_argv, free_port
from tests.business_util import TOKEN
from tests.conftest import tool, write_config
from tests.helpers import value, wait_for


def business_config(tmp_path: Path, store: Path) -> Path:
    cfg = write_config(tmp_path / "business.yml")
    config = yaml.safe_load(cfg.read_text())
    config["business"].update({"auth_token": TOKEN, "store": {"path": str(store)}})
    cfg.write_text(yaml.safe_dump(config))
    return cfg


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (lambda p: p.mkdir(), "it is a directory"),
        (lambda p: p.parent.write_text("a file"), "'{parent}' is not a directory"),
        (lambda p: p.write_bytes(b"not a database " * 100), "file is not a database"),
    ],
    ids=["directory", "parent-is-a-file", "not-a-database"],
)
def test_a_store_that_cannot_be_opened_is_one_line_and_exit_2(
    tmp_path: Path, make: Callable[[Path], object], cause: str
) -> None:
    store = tmp_path / "store.sqlite"
    if "parent" in cause:
        store = tmp_path / "parent" / "store.sqlite"
    make(store)
    result = subprocess.run(
        alismon_argv("business", config_file=business_config(tmp_path, store), listen_address="127.0.0.1:1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    expected = cause.format(parent=store.parent)
    assert result.stderr.splitlines() == [
        f"error: business.store.path: cannot open the event store '{store}': {expected}"
    ], result.stderr


def test_a_full_disk_turns_ingest_and_readiness_to_503_and_back(tmp_path: Path, procs: list[ManagedProcess]) -> None:
    # A 1 MiB tmpfs of our own, in a private mount namespace: the host's mounts are never touched.
    disk = tmp_path / "disk"
    disk.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = alismon_argv(
        "business", config_file=business_config(tmp_path, disk / "store.sqlite"), listen_address=f"127.0.0.1:{port}"
    )
    unshare = [tool("unshare"), "--user", "--map-root-user", "--mount", "--propagation", "private"]
    script = 'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$@"'
    proc = ManagedProcess("business-tmpfs", [*unshare, "sh", "-c", script, str(disk), *argv], tmp_path / "b.log")
    procs.append(proc.start())
    proc.wait_http(f"{url}/-/ready")
    # The exporter's view of its tmpfs, from outside its namespace.
    inside = Path(f"/proc/{proc.pid}/root") / str(disk).lstrip("/")
    assert (inside / "store.sqlite").exists()

    auth = {"Authorization": f"Bearer {TOKEN}"}
    acknowledged = 0

    def post(i: int) -> int:
        nonlocal acknowledged
        event = {"type": "node_events", "labels": {"sender": f"node-{i % 50}", "event": "synced"}, "id": f"e{i}" * 8}
        r = requests.post(f"{url}/api/v1/events", json=[event], headers=auth, timeout=10)
        assert r.status_code in (200, 503), r.text
        if r.status_code == 200:
            acknowledged += r.json()["accepted"]
        else:
            assert r.json()["error"] == "store_error"
        return r.status_code

    for i in range(20):
        assert post(i) == 200
    # Fill the disk.
    with open(inside / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    i = 20
    deadline = time.monotonic() + 30
    while post(i) == 200:  # the WAL may still have room for a few commits
        i += 1
        assert time.monotonic() < deadline, "the store kept accepting on a full disk"
    assert requests.get(f"{url}/-/ready", timeout=5).status_code == 503
    metrics = requests.get(f"{url}/metrics", timeout=5).text
    assert value(metrics, "business_store_writable") == 0
    assert value(metrics, "business_events_accepted_total") == acknowledged
    assert value(metrics, "business_events_rejected_total", reason="store_error") >= 1

    (inside / "filler").unlink()
    wait_for(lambda: requests.get(f"{url}/-/ready", timeout=5).status_code == 200, 15, "readiness after space is back")
    assert post(i + 1) == 200
    metrics = requests.get(f"{url}/metrics", timeout=5).text
    assert value(metrics, "business_store_writable") == 1
    assert value(metrics, "business_events_accepted_total") == acknowledged
    # Nothing acknowledged is lost and nothing refused was stored: the store on the tmpfs holds exactly them.
    # SQLite resolves /proc/<pid>/root to the host's /: read a copy (the exporter is idle now).
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("store.sqlite", "store.sqlite-wal"):
        shutil.copyfile(inside / name, copy / name)
    with contextlib.closing(sqlite3.connect(copy / "store.sqlite")) as db:
        rows = db.execute("SELECT value FROM series WHERE metric = 'business_node_events_total'").fetchall()
    assert sum(float(v) for (v,) in rows) == acknowledged

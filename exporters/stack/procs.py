"""Start, wait for and stop local processes; used by the stack runner and by the test fixtures."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import requests

# `alismon` as run by this interpreter: a child imports the same package as its parent (a worktree's or a
# venv's), not whichever `alismon` console script comes first on PATH.
ALISMON = (sys.executable, "-m", "exporters.cli")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def alismon_argv(
    command: str, *extra: str, config_file: str | os.PathLike[str] | None = None, listen_address: str | None = None
) -> list[str]:
    """`alismon <command> <extra...> [--config.file F] [--web.listen-address A]`.

    The flags go last, after any subcommand in `command` ("config check") or `extra` ("stack", "up"), since
    argparse takes them only after it."""
    argv = [*ALISMON, *command.split(), *extra]
    if config_file is not None:
        argv += ["--config.file", os.fspath(config_file)]
    if listen_address is not None:
        argv += ["--web.listen-address", listen_address]
    return argv


class ManagedProcess:
    """A child process with a log file, a readiness URL and a polite-then-firm stop."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(self.env or {})},
            cwd=self.cwd,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_http(self, url: str, timeout: float = 20.0, **kwargs: object) -> None:
        """Poll `url` until it answers 2xx; fail early with the log tail if the process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode if self.proc else '?'}:\n{self.log_tail()}"
                )
            try:
                if requests.get(url, timeout=1, **kwargs).ok:  # type: ignore[arg-type]
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def start_alismon(
    command: str,
    *extra: str,
    log_path: Path,
    config_file: str | os.PathLike[str] | None = None,
    listen_address: str | None = None,
    name: str | None = None,
    env: dict[str, str] | None = None,
) -> ManagedProcess:
    """Start `alismon <command> ...` (see alismon_argv) detached, logging to `log_path`; readiness is the caller's
    to wait for (`wait_http`), since the URL, scheme and TLS options differ."""
    argv = alismon_argv(command, *extra, config_file=config_file, listen_address=listen_address)
    return ManagedProcess(name or command.replace(" ", "-"), argv, log_path, env=env).start()

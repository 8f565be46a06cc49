"""The unit tier runs in-process: a unit test that starts a program, looks up a host name or connects beyond
loopback fails.
"""

from __future__ import annotations

import _posixsubprocess
import ipaddress
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_utils.crypto import keccak

# eth-hash picks its keccak backend on first use, and pycryptodome's ctypes loader then asks
# platform.architecture(), which runs `file` on the interpreter once per process. That is a library
# loading, not a test starting a program: let it happen here, before any test's guard is in place.
keccak(b"")


MOVE_IT = "move it to tests/tools/ (programs run to completion) or tests/integration/ (servers)"


class NotInUnitTier(RuntimeError):
    """Raised by what a unit test may not do; the test also fails at teardown, in case the code under test
    swallowed the exception."""


def _is_loopback(address: Any) -> bool:
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except (ValueError, TypeError, IndexError):
        return False  # a host name would need DNS


def _needs_dns(host: Any) -> bool:
    if host is None or host == "localhost":
        return False
    try:
        ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host)
    except ValueError:
        return True
    return False


@pytest.fixture(autouse=True)
def unit_tier_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What the test tried that the unit tier forbids, in order; refused as it happens."""
    refused: list[str] = []

    def refuse(what: str) -> None:
        refused.append(what)
        raise NotInUnitTier(f"tests/unit runs in-process, but this test {what}: {MOVE_IT}")

    def program(name: str) -> Callable[..., Any]:
        def started(*args: Any, **kwargs: Any) -> Any:
            refuse(f"started a program ({name})")

        return started

    # Popen's one spawning method covers subprocess.*, os.popen and asyncio's subprocesses; the rest
    # are the other ways CPython starts a process (os.system, forks, multiprocessing's spawn).
    monkeypatch.setattr(subprocess.Popen, "_execute_child", program("subprocess.Popen"))
    monkeypatch.setattr(_posixsubprocess, "fork_exec", program("fork_exec"))
    for name in ("system", "fork", "forkpty", "posix_spawn", "posix_spawnp"):
        monkeypatch.setattr(os, name, program(f"os.{name}"))

    def guarded(connect: Callable[..., Any]) -> Callable[..., Any]:
        def connect_loopback_only(sock: socket.socket, address: Any) -> Any:
            if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
                refuse(f"connected to {address!r}, which is not a loopback address")
            return connect(sock, address)

        return connect_loopback_only

    monkeypatch.setattr(socket.socket, "connect", guarded(socket.socket.connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(socket.socket.connect_ex))
    getaddrinfo = socket.getaddrinfo

    def getaddrinfo_without_dns(host: Any, *args: Any, **kwargs: Any) -> Any:
        if _needs_dns(host):
            refuse(f"looked up the host name {host!r}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo_without_dns)
    yield refused
    if refused:
        pytest.fail(f"tests/unit runs in-process, but this test {refused[0]}: {MOVE_IT}", pytrace=False)

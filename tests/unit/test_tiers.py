"""The tiers stay honest: every test is marked with its directory's tier, and a unit test cannot start a program."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import subprocess

import pytest

from tests.conftest import TESTS, TIERS
from tests.unit.conftest import NotInUnitTier


def test_every_collected_test_carries_the_tier_of_its_directory(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    assert request.node in items
    for item in items:
        tiers = [m.name for m in item.iter_markers() if m.name in TIERS]
        assert tiers == [item.path.relative_to(TESTS).parts[0]], item.nodeid


def test_a_unit_test_cannot_start_a_program(unit_tier_guard: list[str]) -> None:
    with pytest.raises(NotInUnitTier, match="started a program"):
        subprocess.run(["true"], check=True)
    with pytest.raises(NotInUnitTier):
        os.system("true")

    async def via_asyncio() -> None:
        await asyncio.create_subprocess_exec("true")

    with pytest.raises(NotInUnitTier):
        asyncio.run(via_asyncio())
    with pytest.raises(NotInUnitTier):
        multiprocessing.get_context("fork").Process(target=print).start()
    assert unit_tier_guard == [
        "started a program (subprocess.Popen)",
        "started a program (os.system)",
        "started a program (subprocess.Popen)",
        "started a program (os.fork)",
    ]
    unit_tier_guard.clear()  # refused as expected: the guard's teardown must not fail this test


def test_a_unit_test_may_use_loopback_only_and_no_dns(unit_tier_guard: list[str]) -> None:
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen()
        client.connect(server.getsockname())
    assert socket.getaddrinfo("127.0.0.1", 80)
    with socket.socket() as outside, pytest.raises(NotInUnitTier, match="not a loopback address"):
        outside.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, refused before any packet leaves
    with pytest.raises(NotInUnitTier, match="host name"):
        socket.getaddrinfo("example.org", 443)
    assert unit_tier_guard == [
        "connected to ('192.0.2.1', 9), which is not a loopback address",
        "looked up the host name 'example.org'",
    ]
    unit_tier_guard.clear()

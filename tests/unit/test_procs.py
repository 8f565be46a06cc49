"""The one place that spells out how `alismon` is run by tests, benchmarks and the native stack."""

from __future__ import annotations

import sys
from pathlib import Path

from exporters.stack.procs import alismon_argv


def test_argv_runs_this_interpreter_with_the_config_and_address_last() -> None:
    argv = alismon_argv("system", "--log.level", "debug", config_file=Path("c.yml"), listen_address="127.0.0.1:1")
    assert argv == [
        sys.executable,
        "-m",
        "exporters.cli",
        "system",
        "--log.level",
        "debug",
        "--config.file",
        "c.yml",
        "--web.listen-address",
        "127.0.0.1:1",
    ]


def test_the_flags_follow_a_subcommand_given_in_either_place() -> None:
    config_check = ["config", "check", "--config.file", "x.yml"]
    assert alismon_argv("config check", config_file="x.yml")[3:] == config_check
    assert alismon_argv("config", "check", config_file="x.yml")[3:] == config_check
    assert alismon_argv("stack up", "--foreground")[3:] == ["stack", "up", "--foreground"]

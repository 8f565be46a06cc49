"""The compose stack validated by the real docker-compose binary (Debian's 1.29, the strictest schema we keep to).

No Docker engine runs here, so nothing is built or started; the static checks are in tests/unit/test_compose.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.compose_util import COMPOSE, COMPOSE_DIR, ENV_EXAMPLE, compose, env_example, profiles
from tests.conftest import REPO, tool


def run_compose(*args: str, env_file: bool = True) -> subprocess.CompletedProcess[str]:
    binary = tool("docker-compose")
    # A clean environment: variables of the caller's shell must not hide a missing .env.example entry.
    env = {k: v for k, v in os.environ.items() if k not in env_example() and not k.startswith("COMPOSE_")}
    cmd = [binary]
    if env_file:
        cmd += ["--env-file", str(ENV_EXAMPLE)]
    cmd += ["-f", str(COMPOSE), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=COMPOSE_DIR, env=env)


def test_docker_compose_binary_is_installed() -> None:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed: apt-get install docker-compose", pytrace=False)


@pytest.mark.parametrize("profile", [None, "demo", "scale", "victoriametrics"])
def test_docker_compose_config_validates(profile: str | None) -> None:
    args = ["--profile", profile] if profile else []
    result = run_compose(*args, "config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # no warning about an unset variable either


def test_every_profile_is_validated() -> None:
    # A new profile must be added to the parametrized validation above.
    assert profiles() == {"demo", "scale", "victoriametrics"}


def test_docker_compose_config_validates_with_defaults_only() -> None:
    """Without a .env every variable falls back to its default (a fresh checkout works)."""
    result = run_compose("config", "-q", env_file=False)
    assert result.returncode == 0, result.stderr
    assert "is not set" not in result.stderr, result.stderr


def test_docker_compose_rejects_an_unknown_key(tmp_path: Path) -> None:
    """The validation above means something: 1.29 refuses keys outside its schema."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text().replace("  prometheus:\n", "  prometheus:\n    no_such_key: 1\n", 1))
    cmd = [tool("docker-compose"), "--project-directory", str(COMPOSE_DIR), "--env-file", str(ENV_EXAMPLE)]
    result = subprocess.run(
        [*cmd, "-f", str(broken), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "no_such_key" in result.stderr


def test_secret_files_are_git_ignored() -> None:
    for name, spec in compose()["secrets"].items():
        path = COMPOSE_DIR / spec["file"]
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO, timeout=30)
        assert ignored.returncode == 0, f"secret {name}: {path} is not git-ignored"

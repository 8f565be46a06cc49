"""`alismon config check` as a user runs it: exit codes and `key.path: problem` lines, never a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from exporters.stack.procs import alismon_argv
from tests.conftest import REPO


def _check(path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    # The shipped config takes the ingest token from the environment, as the exporter does.
    return subprocess.run(
        alismon_argv("config check", *flags, config_file=path),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ALISMON_INGEST_TOKEN": "t0ken"},
    )


def test_cli_check_ok() -> None:
    # config.yml names the compose secrets under /run/secrets, which live on the host that runs the stack.
    result = _check(REPO / "config.yml", "--skip-secret-files")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_cli_check_reports_missing_secret_files(tmp_path: Path) -> None:
    hook = tmp_path / "slack_webhook_url"
    hook.write_text("http://127.0.0.1:1/slack\n")
    cfg = tmp_path / "config.yml"
    cfg.write_text(
        "business:\n  allow_unauthenticated: true\n"  # the check applies the exporters' start rules too
        "alerting:\n  notification_channels:\n    slack:\n"
        f"      - {{name: a, api_url_file: {hook}}}\n      - {{name: b, api_url_file: {tmp_path / 'absent'}}}\n"
    )
    result = _check(cfg)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"error: {cfg}: alerting.notification_channels.slack[1].api_url_file: secret file {tmp_path / 'absent'} "
        "does not exist"
    )
    assert "--skip-secret-files" in result.stderr
    assert _check(cfg, "--skip-secret-files").returncode == 0
    hook.rename(tmp_path / "absent")
    assert "slack[0].api_url_file" in _check(cfg).stderr


def test_cli_check_bad_file_exits_2_without_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text("system:\n  disk:\n    include: '(['\n  colour: blue\nprometheus:\n  scrape_interval: soon\n")
    result = _check(cfg)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert "error: system.colour: unknown key" in lines
    assert "error: prometheus.scrape_interval: 'soon' is not a duration (use e.g. 15s, 1m, 500ms)" in lines
    assert any(line.startswith("error: system.disk.include: invalid regular expression") for line in lines)
    assert len(lines) == 3


def test_cli_check_invalid_yaml_names_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yml"
    cfg.write_text("system:\n  disk: [unclosed\n")
    result = _check(cfg)
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {cfg}:3:1: invalid YAML:")


def test_cli_check_missing_file(tmp_path: Path) -> None:
    result = _check(tmp_path / "absent.yml")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'absent.yml'}: cannot read: No such file or directory"


def test_cli_check_applies_the_exporters_start_rules(tmp_path: Path) -> None:
    """A config that passes `config check` starts: what an exporter refuses at start, the check refuses."""
    config = yaml.safe_load((REPO / "config.yml").read_text())
    config["business"].pop("auth_token")
    config["business"].pop("auth_token_file")
    config["blockchain"]["networks"] = [
        {
            "name": "main",
            "chain_id": 1,
            "endpoints": [
                {
                    "name": "a",
                    "url": "https://user:secret@127.0.0.1:8545",
                    "basic_auth": {"username": "user", "password": "secret"},
                }
            ],
        }
    ]
    cfg = tmp_path / "c.yml"
    cfg.write_text(yaml.safe_dump(config))
    result = _check(cfg, "--skip-secret-files")
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert any(
        line.startswith("error: blockchain.networks[0].endpoints[0]: the url carries credentials") for line in lines
    ), lines
    assert "secret" not in result.stderr
    # The token rule comes from the exporter: fixed the other problem, the check and the exporter agree.
    config["blockchain"]["networks"][0]["endpoints"][0].pop("basic_auth")
    cfg.write_text(yaml.safe_dump(config))
    result = _check(cfg, "--skip-secret-files")
    assert result.returncode == 2
    assert result.stderr.startswith("error: business.auth_token: no ingest token is set")
    config["business"]["auth_token"] = "t0ken"
    cfg.write_text(yaml.safe_dump(config))
    assert _check(cfg, "--skip-secret-files").returncode == 0


def test_check_refuses_what_the_installed_alertmanager_lacks(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yml"
    hb = tmp_path / "heartbeat_url"
    hb.write_text("http://127.0.0.1:1/\n")
    cfg.write_text(
        "business:\n  allow_unauthenticated: true\n"
        f"alerting:\n  notification_channels:\n    heartbeat: {{url_file: {hb}}}\n"
    )
    native = _check(cfg, "--target", "native")
    assert native.returncode == 2
    # Debian bookworm's Alertmanager (TOOLING.md); the compose image is newer and has url_file.
    assert native.stderr.startswith(
        f"error: {cfg}: alerting.notification_channels.heartbeat.url_file: needs Alertmanager 0.26.0 or newer; "
        "the installed Alertmanager is 0.25.0"
    ), native.stderr
    assert _check(cfg).returncode == 0

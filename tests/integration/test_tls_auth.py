"""TLS and basic auth from an exporter-toolkit web-config file, checked with a real Prometheus."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest
import requests

from exporters.stack.procs import alismon_argv
from tests.conftest import REPO
from tests.helpers import prom_query, wait_for


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    return make_tls_files(tmp_path)


def make_tls_files(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, in `directory`."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def web_config(tmp_path: Path, cert: Path, key: Path, password: str) -> Path:
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(6)).decode()
    path = tmp_path / "web.yml"
    path.write_text(
        f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
        "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
    )
    return path


def test_prometheus_scrapes_through_tls_and_basic_auth(
    tmp_path: Path,
    tls_files: tuple[Path, Path],
    start_system_exporter: Callable[..., str],
    start_prometheus: Callable[[dict], str],
) -> None:
    cert, key = tls_files
    web = web_config(tmp_path, cert, key, "correct horse")
    base = start_system_exporter(
        "--web.config.file", str(web), scheme="https", verify=str(cert), auth=("prometheus", "correct horse")
    )
    ok = requests.get(f"{base}/metrics", verify=str(cert), auth=("prometheus", "correct horse"), timeout=5)
    assert ok.status_code == 200 and "system_cpu_seconds_total" in ok.text
    assert ok.headers["X-Content-Type-Options"] == "nosniff"
    wrong = requests.get(f"{base}/metrics", verify=str(cert), auth=("prometheus", "wrong"), timeout=5)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(f"{base}/metrics", verify=str(cert), timeout=5).status_code == 401
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{base}/metrics", timeout=5)  # an untrusted cert is refused by the client

    target = base.removeprefix("https://")
    good_pw, bad_pw = tmp_path / "pw", tmp_path / "bad-pw"
    good_pw.write_text("correct horse")
    bad_pw.write_text("wrong")
    prom = start_prometheus(
        {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {
                    "job_name": job,
                    "scheme": "https",
                    "tls_config": {"ca_file": str(cert)},
                    "basic_auth": {"username": "prometheus", "password_file": str(pw)},
                    "static_configs": [{"targets": [target]}],
                }
                for job, pw in (("good", good_pw), ("bad", bad_pw))
            ],
        }
    )
    wait_for(lambda: prom_query(prom, 'up{job="good"} == 1'), 30, "a scrape through TLS and basic auth")
    wait_for(lambda: prom_query(prom, 'up{job="bad"} == 0'), 30, "the wrong password to fail the scrape")
    assert prom_query(prom, 'system_memory_total_bytes{job="good"}')


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        alismon_argv("system", *args, config_file=REPO / "config.yml", listen_address="127.0.0.1:1"),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unreadable_cert_fails_at_start(tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    _cert, key = tls_files
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {tmp_path}/gone.crt\n  key_file: {key}\n")
    result = _run("--web.config.file", str(web))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {web}: tls_server_config.cert_file: cannot read '{tmp_path}/gone.crt': No such file or directory"
    )


def test_bad_web_config_exits_2_with_key_paths(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  bob: hunter2\nhttp_server_config:\n  http3: true\n")
    result = _run("--web.config.file", str(web))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert sorted(result.stderr.strip().splitlines()) == sorted(
        [
            f"error: {web}: http_server_config.http3: unknown key",
            f"error: {web}: basic_auth_users: user 'bob': password must be a bcrypt hash ($2y$..., 60 characters)",
        ]
    )

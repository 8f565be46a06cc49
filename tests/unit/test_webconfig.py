"""The exporter-toolkit web-config file: validation with key paths, and bcrypt basic auth."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from exporters.core.errors import ConfigError
from exporters.core.httplimits import AuthFailureThrottle
from exporters.core.webconfig import BasicAuthChecker, load_web_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    return info.value.problems


def test_no_file_means_plain_http() -> None:
    web = load_web_config(None)
    assert web.tls_server_config is None and web.basic_auth_users == {}


def test_unknown_key_and_bad_hash(tmp_path: Path) -> None:
    path = write(tmp_path, "basic_auth_users:\n  alice: plaintext\ntls_server_config:\n  certfile: x\n")
    errs = problems(path)
    assert f"{path}: tls_server_config.certfile: unknown key" in errs
    assert f"{path}: basic_auth_users: user 'alice': password must be a bcrypt hash ($2y$..., 60 characters)" in errs


def test_bad_enum_names_key(tmp_path: Path) -> None:
    path = write(tmp_path, "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS99\n")
    errs = problems(path)
    assert len(errs) == 1 and errs[0].startswith(f"{path}: tls_server_config.min_version: Input should be")


def test_unreadable_cert_fails_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, f"tls_server_config:\n  cert_file: {tmp_path}/missing.crt\n  key_file: {tmp_path}/k\n")
    assert problems(path) == [
        f"{path}: tls_server_config.cert_file: cannot read '{tmp_path}/missing.crt': No such file or directory"
    ]


def test_cert_that_is_not_pem(tmp_path: Path) -> None:
    (tmp_path / "c").write_text("not a cert")
    (tmp_path / "k").write_text("not a key")
    path = write(tmp_path, f"tls_server_config:\n  cert_file: {tmp_path}/c\n  key_file: {tmp_path}/k\n")
    errs = problems(path)
    assert len(errs) == 1
    assert errs[0].startswith(f"{path}: tls_server_config: cert_file/key_file are not a matching PEM")


def test_basic_auth_checker_accepts_2y_hashes_and_caches() -> None:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$", 1)
    checker = BasicAuthChecker({"prom": hashed})
    assert checker.enabled
    assert checker.check("prom", "right")
    assert checker.check("prom", "right")  # second time from the cache
    assert not checker.check("prom", "wrong")
    assert not checker.check("nobody", "right")
    assert not checker.check("prom", "")


def test_only_a_login_that_passed_bcrypt_is_cached() -> None:
    hashed = bcrypt.hashpw(b"right", bcrypt.gensalt(4)).decode()
    checker = BasicAuthChecker({"prom": hashed})
    assert not checker.cached("prom", "right")
    assert not checker.check("prom", "wrong") and not checker.cached("prom", "wrong")
    assert checker.check("prom", "right") and checker.cached("prom", "right")
    assert not checker.cached("nobody", "right")


def test_auth_failure_throttle_bounds_attempts_per_address() -> None:
    throttle = AuthFailureThrottle(per_minute=3)
    assert [throttle.take("10.0.0.1") for _ in range(3)] == [0, 0, 0]
    wait = throttle.take("10.0.0.1")
    assert 1 <= wait <= 20  # one attempt comes back every 20 s
    assert throttle.take("10.0.0.2") == 0  # another address has its own bucket
    throttle.refund("10.0.0.1")  # a success gives its attempt back
    assert throttle.take("10.0.0.1") == 0

"""TLS and basic auth from a web-config file in the Prometheus exporter-toolkit format.

SREs reuse the file they already have for node_exporter: `tls_server_config`,
`http_server_config.headers` and `basic_auth_users` (bcrypt hashes). Problems are ConfigErrors
with key paths, raised at start so a bad cert never surfaces as a failed scrape later.
"""

from __future__ import annotations

import hashlib
import ssl
import threading
from pathlib import Path
from typing import Literal

import bcrypt
from pydantic import ConfigDict, ValidationError, field_validator

from exporters.core.errors import ConfigError
from exporters.core.models import Strict, format_validation_error, load_yaml

ClientAuth = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]
TLSVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


class TLSServerConfig(Strict):
    cert_file: Path | None = None
    key_file: Path | None = None
    cert: str | None = None
    key: str | None = None
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: TLSVersion = "TLS12"
    max_version: TLSVersion = "TLS13"
    # Accepted for compatibility with existing files; Python's OpenSSL defaults are used.
    cipher_suites: list[str] | None = None
    curve_preferences: list[str] | None = None
    prefer_server_cipher_suites: bool | None = None
    client_allowed_sans: list[str] | None = None


class HTTPServerConfig(Strict):
    http2: bool = True
    headers: dict[str, str] = {}

    @field_validator("headers")
    @classmethod
    def _no_reserved(cls, v: dict[str, str]) -> dict[str, str]:
        reserved = {"authorization", "content-type", "content-encoding", "content-length"}
        bad = sorted(k for k in v if k.lower() in reserved)
        if bad:
            raise ValueError(f"headers may not override {', '.join(bad)}")
        return v


class WebConfig(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = HTTPServerConfig()
    basic_auth_users: dict[str, str] = {}

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, v: dict[str, str]) -> dict[str, str]:
        for user, hashed in v.items():
            if not hashed.startswith(("$2a$", "$2b$", "$2y$")) or len(hashed) != 60:
                raise ValueError(f"user {user!r}: password must be a bcrypt hash ($2y$..., 60 characters)")
        return v


def load_web_config(path: str | Path | None) -> WebConfig:
    if path is None:
        return WebConfig()
    raw = load_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: the top level must be a mapping"])
    try:
        web = WebConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([f"{path}: {line}" for line in format_validation_error(exc)]) from None
    # Build the TLS context now: an unreadable cert or key fails at start, not at the first scrape.
    build_ssl_context(web, str(path))
    return web


def build_ssl_context(web: WebConfig, source: str = "web config") -> ssl.SSLContext | None:
    tls = web.tls_server_config
    if tls is None:
        return None
    where = f"{source}: tls_server_config"
    if tls.cert or tls.key:
        raise ConfigError([f"{where}: inline cert/key are not supported; use cert_file and key_file"])
    if tls.cert_file is None or tls.key_file is None:
        raise ConfigError([f"{where}: cert_file and key_file are both required"])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
    for key, file in (("cert_file", tls.cert_file), ("key_file", tls.key_file)):
        try:
            file.read_bytes()
        except OSError as exc:
            raise ConfigError([f"{where}.{key}: cannot read {str(file)!r}: {exc.strerror}"]) from None
    try:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    except ssl.SSLError as exc:
        raise ConfigError(
            [f"{where}: cert_file/key_file are not a matching PEM certificate and key: {exc.reason or exc}"]
        ) from None
    if tls.client_auth_type != "NoClientCert":
        if tls.client_ca_file is None and "Verify" in tls.client_auth_type:
            raise ConfigError([f"{where}.client_ca_file: required by client_auth_type {tls.client_auth_type}"])
        if tls.client_ca_file is not None:
            try:
                ctx.load_verify_locations(str(tls.client_ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError([f"{where}.client_ca_file: cannot load {str(tls.client_ca_file)!r}: {exc}"]) from None
        ctx.verify_mode = ssl.CERT_REQUIRED if tls.client_auth_type.startswith("Require") else ssl.CERT_OPTIONAL
    return ctx


class BasicAuthChecker:
    """Checks user/password against bcrypt hashes, caching successes (bcrypt costs ~50 ms a check).

    The cache is keyed by a SHA-256 of user, password and hash, so a changed hash or password
    never matches an old entry; unknown users still pay one bcrypt check so timing does not
    reveal which user names exist (as exporter-toolkit does).
    """

    _DUMMY = bcrypt.hashpw(b"dummy", bcrypt.gensalt(4))
    _CACHE_MAX = 1024

    def __init__(self, users: dict[str, str]) -> None:
        self._users = {u: h.encode() for u, h in users.items()}
        self._ok: set[bytes] = set()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def _key(self, user: str, password: str) -> bytes:
        hashed = self._users.get(user, b"")
        return hashlib.sha256(b"\0".join((user.encode(), password.encode(), hashed))).digest()

    def cached(self, user: str, password: str) -> bool:
        """True when this user and password passed a bcrypt check before: a hash lookup, no bcrypt."""
        if user not in self._users:
            return False
        key = self._key(user, password)
        with self._lock:
            return key in self._ok

    def check(self, user: str, password: str) -> bool:
        if self.cached(user, password):
            return True
        hashed = self._users.get(user)
        ok = bcrypt.checkpw(password.encode(), hashed or self._DUMMY) and hashed is not None
        if ok:
            key = self._key(user, password)
            with self._lock:
                if len(self._ok) >= self._CACHE_MAX:
                    self._ok.clear()
                self._ok.add(key)
        return ok

"""The `blockchain` section: networks, their JSON-RPC endpoints, watched accounts and contracts."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from exporters.config.fields import EthAddress, Name, unique
from exporters.core.models import Strict
from exporters.core.secrets import exactly_one_secret, read_secret
from exporters.core.types import Duration

# Bucket bounds of blockchain_reorg_depth_blocks; BlockchainReorgDeep reads "deeper than N" from bucket le=N.
REORG_DEPTH_BUCKETS = (1, 2, 3, 4, 5, 6, 8, 12, 16, 32, 64, 128)


def read_abi(path: Path) -> list[dict[str, Any]]:
    """The ABI list from a plain ABI file or a compiler/Hardhat/Foundry artefact with an `abi` key."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read ABI file {str(path)!r}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"ABI file {str(path)!r} is not JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(data, dict):
        data = data.get("abi")
    if not isinstance(data, list) or not all(isinstance(e, dict) and "type" in e for e in data):
        raise ValueError(f"ABI file {str(path)!r} holds no ABI (a list of entries, or an object with an 'abi' list)")
    return data


class BasicAuth(Strict):
    username: str
    password: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _secret(self) -> BasicAuth:
        exactly_one_secret(self, "password")
        read_secret(self.password, self.password_file, "password")
        return self


class Endpoint(Strict):
    name: Name
    url: str = Field(pattern=r"^https?://")
    ws_url: str | None = Field(default=None, pattern=r"^wss?://")
    headers: dict[str, str] = {}
    basic_auth: BasicAuth | None = None
    bearer_token: str | None = None
    bearer_token_file: Path | None = None
    # The watched process (a `system.processes` name) that runs this endpoint's node: while it is down, its
    # WatchedProcessDown is the one page and the endpoint's alerts are inhibited (the chain's too when it backs
    # every endpoint of the chain). Only rendering uses it.
    process: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    @model_validator(mode="after")
    def _secret(self) -> Endpoint:
        exactly_one_secret(self, "bearer_token")
        read_secret(self.bearer_token, self.bearer_token_file, "bearer_token")
        if self.basic_auth is not None and (self.bearer_token or self.bearer_token_file):
            raise ValueError("set either basic_auth or a bearer token, not both")
        if any(k.lower() == "authorization" for k in self.headers) and (
            self.basic_auth or self.bearer_token or self.bearer_token_file
        ):
            raise ValueError("an Authorization header conflicts with basic_auth or bearer_token")
        authorized = self.basic_auth or self.bearer_token or self.bearer_token_file
        if authorized and any("@" in urlsplit(u).netloc for u in (self.url, self.ws_url) if u):
            # The header would replace the URL's user:password (or the other way round): every poll fails.
            raise ValueError(
                "the url carries credentials (user:password@host) and basic_auth or a bearer token is set too; "
                "give them once (basic_auth with password_file keeps the password out of the config)"
            )
        return self

    def request_headers(self) -> dict[str, str]:
        """Headers for every request, with the secret read now (so a rotated file is picked up on restart)."""
        out = dict(self.headers)
        token = read_secret(self.bearer_token, self.bearer_token_file, "bearer_token")
        if token:
            out["Authorization"] = f"Bearer {token}"
        if self.basic_auth is not None:
            password = read_secret(self.basic_auth.password, self.basic_auth.password_file, "password") or ""
            raw = f"{self.basic_auth.username}:{password}".encode()
            out["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        return out


class WatchedAccountConfig(Strict):
    alias: Name
    address: EthAddress


class WatchedContractConfig(Strict):
    alias: Name
    address: EthAddress
    # A plain ABI list or a compiler artefact with an `abi` key; relative paths are taken from the working directory.
    abi_file: Path

    @field_validator("abi_file")
    @classmethod
    def _readable_abi(cls, v: Path) -> Path:
        read_abi(v)
        return v


# Local development chains: anvil and Hardhat (31337), ganache and geth --dev (1337).
DEV_CHAIN_IDS = frozenset({31337, 1337})


class Network(Strict):
    name: Name
    chain_id: int = Field(gt=0)
    endpoints: list[Endpoint] = Field(min_length=1)
    poll_interval: Duration = Field(default=2.0, gt=0)
    request_timeout: Duration = Field(default=5.0, gt=0)
    # With a ws_url, a subscription that delivered no head for twice this long is reconnected
    # (default: 3 x poll_interval). Polling goes on at poll_interval either way.
    ws_head_timeout: Duration | None = Field(default=None, gt=0)
    # After a gap (exporter or node down) at most this many blocks are fetched; older ones are skipped and counted.
    max_catchup_blocks: int = Field(default=256, ge=1, le=100_000)
    accounts: list[WatchedAccountConfig] = []
    contracts: list[WatchedContractConfig] = []
    # Peers each node should have (BlockchainPeersLow); 0 turns the alert off for the network. Unset: off for
    # the dev chain ids (a lone dev node has no peers), the alert's own min_peers otherwise.
    min_peers: int | None = Field(default=None, ge=0)

    @field_validator("endpoints")
    @classmethod
    def _unique_endpoints(cls, v: list[Endpoint]) -> list[Endpoint]:
        unique([e.name for e in v], "endpoint names", "within a network")
        return v

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, v: list[WatchedAccountConfig]) -> list[WatchedAccountConfig]:
        unique([a.alias for a in v], "account aliases")
        unique([a.address.lower() for a in v], "account addresses")
        return v

    @field_validator("contracts")
    @classmethod
    def _unique_contracts(cls, v: list[WatchedContractConfig]) -> list[WatchedContractConfig]:
        unique([c.alias for c in v], "contract aliases")
        unique([c.address.lower() for c in v], "contract addresses")
        return v

    @property
    def expected_min_peers(self) -> int | None:
        """The network's minimum of peers, or None to leave it to the alert's default."""
        if self.min_peers is None and self.chain_id in DEV_CHAIN_IDS:
            return 0
        return self.min_peers

    @property
    def head_timeout(self) -> float:
        return self.ws_head_timeout if self.ws_head_timeout is not None else 3 * self.poll_interval


class BlockchainConfig(Strict):
    networks: list[Network] = []

    @field_validator("networks")
    @classmethod
    def _unique_networks(cls, v: list[Network]) -> list[Network]:
        unique([n.name for n in v], "network names")
        return v

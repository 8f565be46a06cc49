"""blockchain.networks[]: endpoints, secrets, watched accounts and contracts, errors with key paths."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from exporters.config import parse_config
from exporters.config.blockchain import Network
from exporters.core.errors import ConfigError

ADDR = "0x" + "ab" * 20


def network(**extra: object) -> dict[str, object]:
    return {"name": "main", "chain_id": 1, "endpoints": [{"name": "a", "url": "http://127.0.0.1:8545"}], **extra}


def problems(*networks: dict[str, object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config({"blockchain": {"networks": list(networks)}})
    return info.value.problems


def load(*networks: dict[str, object]) -> list[Network]:
    return parse_config({"blockchain": {"networks": list(networks)}}).blockchain.networks


def test_defaults_and_durations() -> None:
    (net,) = load(network(poll_interval="500ms", request_timeout="2s"))
    assert net.poll_interval == 0.5
    assert net.request_timeout == 2.0
    assert net.max_catchup_blocks == 256
    assert net.head_timeout == 1.5
    (net,) = load(network(ws_head_timeout="10s"))
    assert net.head_timeout == 10.0


def test_intervals_must_be_positive() -> None:
    errs = problems(network(poll_interval=0, request_timeout="0s", max_catchup_blocks=0))
    assert errs == [
        "blockchain.networks[0].poll_interval: Input should be greater than 0",
        "blockchain.networks[0].request_timeout: Input should be greater than 0",
        "blockchain.networks[0].max_catchup_blocks: Input should be greater than or equal to 1",
    ]


def test_endpoint_urls_and_unknown_keys() -> None:
    errs = problems(
        network(endpoints=[{"name": "a", "url": "http://x", "ws_url": "http://x", "tls": True}]),
    )
    assert errs == [
        "blockchain.networks[0].endpoints[0].ws_url: String should match pattern '^wss?://'",
        "blockchain.networks[0].endpoints[0].tls: unknown key",
    ]


def test_bearer_token_from_file_becomes_a_header(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    (net,) = load(
        network(endpoints=[{"name": "a", "url": "http://x", "bearer_token_file": str(token), "headers": {"X-A": "1"}}])
    )
    assert net.endpoints[0].request_headers() == {"X-A": "1", "Authorization": "Bearer t0ken"}


def test_basic_auth_password_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("secret")
    (net,) = load(
        network(
            endpoints=[
                {"name": "a", "url": "http://x", "basic_auth": {"username": "u", "password_file": str(pw)}},
            ]
        )
    )
    expected = "Basic " + base64.b64encode(b"u:secret").decode()
    assert net.endpoints[0].request_headers() == {"Authorization": expected}


def test_auth_conflicts() -> None:
    errs = problems(
        network(
            endpoints=[
                {"name": "a", "url": "http://x", "basic_auth": {"username": "u", "password": "p"}, "bearer_token": "t"},
                {"name": "b", "url": "http://x", "bearer_token": "t", "headers": {"authorization": "x"}},
                {"name": "c", "url": "http://x", "basic_auth": {"username": "u"}},
            ]
        )
    )
    assert errs == [
        "blockchain.networks[0].endpoints[0]: set either basic_auth or a bearer token, not both",
        "blockchain.networks[0].endpoints[1]: an Authorization header conflicts with basic_auth or bearer_token",
    ]  # endpoints[2]: a user name without password is allowed (some gateways take an API key as the user)


def test_accounts_validated_and_unique() -> None:
    errs = problems(
        network(
            accounts=[
                {"alias": "hot", "address": ADDR},
                {"alias": "hot", "address": ADDR.upper().replace("0X", "0x")},
                {"alias": "Bad Alias", "address": "0x12"},
            ]
        )
    )
    assert "blockchain.networks[0].accounts[2].alias: String should match pattern '^[a-z][a-z0-9_-]{0,39}$'" in errs
    assert "blockchain.networks[0].accounts[2].address: String should match pattern '^0x[0-9a-fA-F]{40}$'" in errs
    assert len(errs) == 2
    errs = problems(
        network(accounts=[{"alias": "hot", "address": ADDR}, {"alias": "hot", "address": ADDR.replace("ab", "AB")}])
    )
    assert errs == ["blockchain.networks[0].accounts: account aliases must be unique, repeated: hot"]
    errs = problems(
        network(accounts=[{"alias": "hot", "address": ADDR}, {"alias": "cold", "address": ADDR.replace("ab", "AB")}])
    )
    assert errs == ["blockchain.networks[0].accounts: account addresses must be unique, repeated: " + ADDR]


def test_contract_abi_file_plain_or_artefact(tmp_path: Path) -> None:
    entries = [{"type": "function", "name": "f", "inputs": [], "outputs": [], "stateMutability": "nonpayable"}]
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(entries))
    artefact = tmp_path / "artefact.json"
    artefact.write_text(json.dumps({"abi": entries, "bytecode": "0x00"}))
    (net,) = load(
        network(
            contracts=[
                {"alias": "one", "address": ADDR, "abi_file": str(plain)},
                {"alias": "two", "address": "0x" + "cd" * 20, "abi_file": str(artefact)},
            ]
        )
    )
    assert [c.alias for c in net.contracts] == ["one", "two"]


def test_contract_abi_problems_name_the_key(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    empty = tmp_path / "empty.json"
    empty.write_text('{"bytecode": "0x"}')
    errs = problems(
        network(
            contracts=[
                {"alias": "a", "address": ADDR, "abi_file": str(tmp_path / "absent.json")},
                {"alias": "b", "address": "0x" + "01" * 20, "abi_file": str(broken)},
                {"alias": "c", "address": "0x" + "02" * 20, "abi_file": str(empty)},
            ]
        )
    )
    assert errs == [
        f"blockchain.networks[0].contracts[0].abi_file: cannot read ABI file '{tmp_path}/absent.json': "
        "No such file or directory",
        f"blockchain.networks[0].contracts[1].abi_file: ABI file '{broken}' is not JSON: "
        "Expecting property name enclosed in double quotes at line 1",
        f"blockchain.networks[0].contracts[2].abi_file: ABI file '{empty}' holds no ABI "
        "(a list of entries, or an object with an 'abi' list)",
    ]


def test_contract_aliases_and_addresses_unique(tmp_path: Path) -> None:
    abi = tmp_path / "abi.json"
    abi.write_text("[]")
    c = {"alias": "reg", "address": ADDR, "abi_file": str(abi)}
    assert problems(network(contracts=[c, c])) == [
        "blockchain.networks[0].contracts: contract aliases must be unique, repeated: reg"
    ]
    assert problems(network(contracts=[c, {**c, "alias": "other"}])) == [
        "blockchain.networks[0].contracts: contract addresses must be unique, repeated: " + ADDR
    ]


def test_min_peers_is_off_on_dev_chains_unless_set() -> None:
    nets = load(
        network(name="anvil", chain_id=31337),
        network(name="ganache", chain_id=1337),
        network(name="main", chain_id=1),
        network(name="poly", chain_id=137, min_peers=8),
        network(name="devpeers", chain_id=31337, min_peers=2),
    )
    assert [n.expected_min_peers for n in nets] == [0, 0, None, 8, 2]
    assert problems(network(min_peers=-1)) == [
        "blockchain.networks[0].min_peers: Input should be greater than or equal to 0"
    ]


def test_an_endpoint_names_the_watched_process_that_runs_it() -> None:
    endpoints = [{"name": "a", "url": "http://127.0.0.1:8545", "process": "chain-client"}]
    processes = [{"name": "chain-client", "match": {"comm": "geth"}}]
    config = parse_config(
        {"system": {"processes": processes}, "blockchain": {"networks": [network(endpoints=endpoints)]}}
    )
    assert config.blockchain.networks[0].endpoints[0].process == "chain-client"
    with pytest.raises(ConfigError) as info:
        parse_config({"blockchain": {"networks": [network(), network(name="b", endpoints=endpoints)]}})
    assert info.value.problems == [
        "blockchain.networks[1].endpoints[0].process: 'chain-client' is not a watched process "
        "(system.processes[].name: none)"
    ]

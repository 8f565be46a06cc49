"""Shared pieces of the blockchain exporter's tests: config builders, scraping, the test contract."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import requests
from eth_typing import HexStr
from eth_utils.abi import event_abi_to_log_topic
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, TxReceipt, Wei

from tests.contracts.build import ARTEFACT, load_artefact
from tests.helpers import samples, wait_for

if TYPE_CHECKING:
    from tests.conftest import EvmNode

DEV_ACCOUNT = Web3.to_checksum_address("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266")  # anvil's first, unlocked
# Transaction fields from the dev account; `gas` set so that a call that reverts is mined, not refused by estimation.
SENDER: TxParams = {"from": DEV_ACCOUNT}
FIXED_GAS: TxParams = {"from": DEV_ACCOUNT, "gas": 200_000}
OTHER = Web3.to_checksum_address("0x70997970C51812dc3A010C7d01b50e0d17dc79C8")  # the second dev account
# The registry's operations as the exporter labels them, and its events.
OPERATIONS = ("submitClaim", "verifyClaim", "transfer", "unknown")
EVENTS = ("ClaimSubmitted", "ClaimVerified", "Deposit")


def network(name: str, *urls: str | dict[str, Any], chain_id: int = 31337, **extra: Any) -> dict[str, Any]:
    """A network entry with fast polling; endpoints named a, b, c... unless a dict is given."""
    endpoints = [u if isinstance(u, dict) else {"name": "abcdefgh"[i], "url": u} for i, u in enumerate(urls)]
    return {
        "name": name,
        "chain_id": chain_id,
        "endpoints": endpoints,
        "poll_interval": "200ms",
        "request_timeout": "1s",
        **extra,
    }


def scrape(base: str) -> str:
    r = requests.get(f"{base}/metrics", timeout=5)
    r.raise_for_status()
    return r.text


def get(text: str, name: str, **labels: str) -> float | None:
    """A sample's value, or None when the series is absent."""
    return samples(text).get((name, tuple(sorted(labels.items()))))


def need(text: str, name: str, **labels: str) -> float:
    """A sample's value; the test fails here, naming the series, when it is absent."""
    found = get(text, name, **labels)
    assert found is not None, f"no sample {name}{labels}"
    return found


def web3(url: str) -> Web3:
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))


def deploy_registry(w3: Web3) -> Contract:
    art = load_artefact()
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = factory.constructor().transact(SENDER)
    receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=20, poll_latency=0.1)
    assert receipt["status"] == 1
    address = receipt["contractAddress"]
    assert address is not None
    return w3.eth.contract(address=address, abi=art["abi"])


def registry_config(contract: Contract, alias: str = "registry") -> dict[str, str]:
    return {"alias": alias, "address": contract.address, "abi_file": str(ARTEFACT)}


def wait_scrape(base: str, predicate: Callable[[str], bool], timeout: float, what: str) -> str:
    """Scrape until predicate(text) holds; returns that scrape's text."""

    def attempt() -> str | None:
        text = scrape(base)
        return text if predicate(text) else None

    return wait_for(attempt, timeout, what)


@contextmanager
def mining_held(node: EvmNode) -> Iterator[None]:
    """Send several transactions in a row without the node's interval miner cutting in (ganache only).

    ganache 7 fills in a missing nonce from its pool of pending transactions, or from the last saved block
    when the sender has none pending. A transaction that arrives after the interval miner has taken the
    sender's last pending one but before that block is saved gets the nonce of the one being mined, and is
    then dropped unmined without a word (ganache's own comment in transaction-pool.ts; its issues #2489,
    #4487): a receipt that never comes. With the miner stopped (miner_stop) every nonce comes from the pool.
    anvil and Hardhat count pending transactions in the nonce they fill in."""
    if node.client != "ganache":
        yield
        return
    node.rpc("miner_stop")
    try:
        yield
    finally:
        node.rpc("miner_start")


def send_round(node: EvmNode, w3: Web3, registry: Contract, claims: int) -> list[tuple[str, HexBytes]]:
    """Calls of every kind, some reverting, and a transfer elsewhere; gas fixed, so nothing is estimated away.

    Sent with the miner held (see mining_held); callers wait for a round's receipts before the next one."""
    gas: TxParams = FIXED_GAS
    with mining_held(node):
        return [
            ("submitClaim", HexBytes(registry.functions.submitClaim(bytes([claims % 256]) * 32).transact(gas))),
            ("submitClaim", HexBytes(registry.functions.submitClaim(bytes([claims % 256 + 1]) * 32).transact(gas))),
            ("verifyClaim", HexBytes(registry.functions.verifyClaim(claims, True).transact(gas))),
            ("verifyClaim", HexBytes(registry.functions.verifyClaim(10**6, False).transact(gas))),  # no such claim
            ("transfer", HexBytes(w3.eth.send_transaction({**gas, "to": registry.address, "value": Wei(5)}))),
            (
                "unknown",
                HexBytes(w3.eth.send_transaction({**gas, "to": registry.address, "data": HexStr("0xdeadbeef")})),
            ),
            ("elsewhere", HexBytes(w3.eth.send_transaction({**gas, "to": OTHER, "value": Wei(7)}))),
        ]


def receipts_of(w3: Web3, sent: list[tuple[str, HexBytes]]) -> list[tuple[str, TxReceipt]]:
    return [(op, w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.1)) for op, h in sent]


def expected_counts(registry: Contract, mined: list[tuple[str, TxReceipt]]) -> tuple[Counter[Any], Counter[str]]:
    """(operation, status) and event counts as web3 reads them from the receipts."""
    topics = {HexBytes(event_abi_to_log_topic(e)): e["name"] for e in registry.abi if e["type"] == "event"}
    calls: Counter[Any] = Counter()
    events: Counter[str] = Counter()
    for op, receipt in mined:
        if receipt["to"] != registry.address:
            continue
        calls[(op, "success" if receipt["status"] == 1 else "failed")] += 1
        for entry in receipt["logs"]:
            if entry["address"] == registry.address:
                events[topics[HexBytes(entry["topics"][0])]] += 1
    return calls, events


def counted_calls(text: str, chain: str = "dev", contract: str = "registry") -> dict[tuple[str, str], float | None]:
    """The exporter's count of calls to the contract per (operation, status), every label set."""
    return {
        (op, status): get(
            text, "blockchain_transactions_total", chain=chain, contract=contract, operation=op, status=status
        )
        for op in OPERATIONS
        for status in ("success", "failed")
    }


def counted_events(text: str, chain: str = "dev", contract: str = "registry") -> dict[str, float | None]:
    return {e: get(text, "blockchain_contract_events_total", chain=chain, contract=contract, event=e) for e in EVENTS}

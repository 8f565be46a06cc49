"""Chain traffic on a dev chain: transfers and registry calls, a share of which revert."""

from __future__ import annotations

import logging
import os
import random

from web3 import Web3
from web3.contract import Contract
from web3.types import TxParams, Wei

from exporters.demo.contract import OPERATOR, REGISTRY_ADDRESS, TREASURY, load_artefact

log = logging.getLogger(__name__)
# Explicit gas: without it web3 estimates first, and a call that would revert is refused instead of mined.
FIXED_GAS = 200_000


class ChainTraffic:
    def __init__(self, rpc_url: str, rng: random.Random) -> None:
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
        self.rng = rng
        self.registry: Contract | None = None
        self.next_to_verify = 0
        self.rounds = 0

    def ensure_registry(self) -> Contract:
        """The registry at its well-known address, deployed now if this chain does not have it yet."""
        art = load_artefact()
        if self.w3.eth.get_code(Web3.to_checksum_address(REGISTRY_ADDRESS)):
            registry = self.w3.eth.contract(address=Web3.to_checksum_address(REGISTRY_ADDRESS), abi=art["abi"])
            self.registry = registry
            return registry
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        tx = factory.constructor().transact({"from": Web3.to_checksum_address(OPERATOR)})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.2)
        address = receipt["contractAddress"]
        if address is None:
            raise RuntimeError(f"the registry deployment {tx.hex()} created no contract")
        if address.lower() != REGISTRY_ADDRESS.lower():
            log.warning(
                "registry deployed at another address than the demo config watches",
                extra={"address": address, "watched": REGISTRY_ADDRESS},
            )
        log.info("registry deployed", extra={"address": address})
        registry = self.w3.eth.contract(address=address, abi=art["abi"])
        self.registry = registry
        return registry

    def step(self, failure_ratio: float) -> int:
        """Send one round of transactions without waiting for them to be mined; returns how many were sent."""
        registry = self.registry or self.ensure_registry()
        operator: TxParams = {"from": Web3.to_checksum_address(OPERATOR)}
        checked: TxParams = {**operator, "gas": FIXED_GAS}
        sent = 0
        for _ in range(self.rng.randint(1, 3)):
            value = Wei(self.rng.randint(1, 10) * 10**15)
            self.w3.eth.send_transaction({**operator, "to": Web3.to_checksum_address(TREASURY), "value": value})
            sent += 1
        registry.functions.submitClaim(os.urandom(32)).transact(operator)
        sent += 1
        mined_claims = registry.functions.claims().call()
        while self.next_to_verify < mined_claims and sent < 8:
            registry.functions.verifyClaim(self.next_to_verify, self.rng.random() > 0.2).transact(checked)
            self.next_to_verify += 1
            sent += 1
        self.rounds += 1
        # Every 1/ratio-th round, starting with the first: reverts show up at once and at a steady share.
        if failure_ratio > 0 and (self.rounds - 1) % max(1, round(1 / failure_ratio)) == 0:
            # A claim id that does not exist: mined, reverted, counted as failed by the exporter.
            registry.functions.verifyClaim(10**9, True).transact(checked)
            sent += 1
        if self.rng.random() < 0.2:
            self.w3.eth.send_transaction({**operator, "to": registry.address, "value": Wei(10**15)})  # Deposit event
            sent += 1
        return sent

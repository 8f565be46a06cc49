"""Contract ABIs reduced to what the exporter needs: selector -> function name, topic0 -> event name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils.abi import event_abi_to_log_topic, function_abi_to_4byte_selector

from exporters.config.blockchain import read_abi

# Calldata that names no function of the ABI, and a plain value transfer (empty calldata).
UNKNOWN_OPERATION = "unknown"
TRANSFER_OPERATION = "transfer"


@dataclass(frozen=True)
class ContractABI:
    functions: dict[bytes, str]  # 4-byte selector -> function name
    events: dict[bytes, str]  # topic0 -> event name
    operations: frozenset[str]  # functions that change state, the ones a transaction is sent for

    @classmethod
    def from_entries(cls, entries: list[dict[str, Any]]) -> ContractABI:
        functions = {
            function_abi_to_4byte_selector(e): e["name"]  # type: ignore[arg-type]
            for e in entries
            if e.get("type") == "function" and "name" in e
        }
        events = {
            event_abi_to_log_topic(e): e["name"]  # type: ignore[arg-type]
            for e in entries
            if e.get("type") == "event" and "name" in e and not e.get("anonymous")
        }
        operations = frozenset(
            e["name"]
            for e in entries
            if e.get("type") == "function" and "name" in e and e.get("stateMutability") not in ("view", "pure")
        )
        return cls(functions, events, operations)

    @property
    def labelled_operations(self) -> frozenset[str]:
        """Every `operation` label a transaction to the contract can get: functions, transfers, unknown calldata."""
        return self.operations | {TRANSFER_OPERATION, UNKNOWN_OPERATION}

    @classmethod
    def from_file(cls, path: Path) -> ContractABI:
        return cls.from_entries(read_abi(path))

    def operation(self, calldata: str) -> str:
        """The function a transaction calls, from the first four bytes of its input."""
        data = calldata[2:] if calldata.startswith("0x") else calldata
        if not data:
            return TRANSFER_OPERATION
        try:
            selector = bytes.fromhex(data[:8])
        except ValueError:
            return UNKNOWN_OPERATION
        return self.functions.get(selector, UNKNOWN_OPERATION)

    def event(self, topic0: str) -> str | None:
        try:
            return self.events.get(bytes.fromhex(topic0.removeprefix("0x")))
        except ValueError:
            return None

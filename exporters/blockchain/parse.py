"""JSON-RPC answers to typed values. Nodes disagree on encodings, so quantities may be hex or plain integers.

Anything malformed raises ValueError: the poller counts it as a bad response and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak


def to_int(value: Any) -> int:
    """A quantity as hex ('0x1a'), decimal string ('26') or integer (26)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a quantity, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if text[:2].lower() == "0x":
                return int(text[2:] or "0", 16)
            return int(text, 10)
        except ValueError:
            pass
    raise ValueError(f"expected a quantity, got {str(value)[:40]!r}")


def opt_int(value: Any) -> int | None:
    return None if value is None else to_int(value)


def to_hash(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise ValueError(f"expected a 32-byte hash, got {str(value)[:80]!r}")
    return value.lower()


@dataclass(frozen=True, slots=True)
class Tx:
    hash: str
    to: str | None  # lower-case address; None for contract creation
    input: str


@dataclass(frozen=True, slots=True)
class Block:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    gas_used: int
    gas_limit: int
    base_fee: int | None
    tx_count: int
    txs: tuple[Tx, ...] | None  # None when fetched with hashes only
    logs_bloom: bytes | None


def parse_tx(raw: Any) -> Tx:
    if not isinstance(raw, dict):
        raise ValueError("expected a transaction object")
    to = raw.get("to")
    return Tx(
        hash=to_hash(raw.get("hash")),
        to=to.lower() if isinstance(to, str) else None,
        input=str(raw.get("input") or raw.get("data") or "0x"),
    )


def parse_block(raw: Any) -> Block:
    if not isinstance(raw, dict):
        raise ValueError(f"expected a block object, got {str(raw)[:40]!r}")
    txs_raw = raw.get("transactions", [])
    if not isinstance(txs_raw, list):
        raise ValueError("block transactions is not a list")
    txs = tuple(parse_tx(t) for t in txs_raw) if txs_raw and isinstance(txs_raw[0], dict) else None
    bloom = raw.get("logsBloom")
    try:
        bloom_bytes = bytes.fromhex(bloom[2:]) if isinstance(bloom, str) and len(bloom) == 514 else None
    except ValueError:
        bloom_bytes = None
    return Block(
        number=to_int(raw.get("number")),
        hash=to_hash(raw.get("hash")),
        parent_hash=to_hash(raw.get("parentHash")),
        timestamp=to_int(raw.get("timestamp")),
        gas_used=to_int(raw.get("gasUsed")),
        gas_limit=to_int(raw.get("gasLimit")),
        base_fee=opt_int(raw.get("baseFeePerGas")),
        tx_count=len(txs_raw),
        txs=txs if txs is not None else (() if not txs_raw else None),
        logs_bloom=bloom_bytes,
    )


@dataclass(frozen=True, slots=True)
class Syncing:
    syncing: bool
    current: int | None = None
    highest: int | None = None


def parse_syncing(raw: Any) -> Syncing:
    """eth_syncing: false, or an object with currentBlock/highestBlock."""
    if raw is False or raw is None:
        return Syncing(False)
    if isinstance(raw, dict):
        return Syncing(True, opt_int(raw.get("currentBlock")), opt_int(raw.get("highestBlock")))
    raise ValueError(f"unexpected eth_syncing answer {str(raw)[:40]!r}")


def bloom_may_contain(bloom: bytes, item: bytes) -> bool:
    """Whether an Ethereum 2048-bit logs bloom may contain `item` (an address or topic); False means surely not."""
    digest = keccak(item)
    for i in (0, 2, 4):
        bit = ((digest[i] << 8) | digest[i + 1]) & 2047
        if not bloom[255 - bit // 8] & (1 << (bit % 8)):
            return False
    return True

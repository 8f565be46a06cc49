"""RPC answers as nodes really send them: hex or integer quantities, and malformed ones named in the error."""

from __future__ import annotations

import pytest

from exporters.blockchain.parse import parse_block, parse_syncing, to_hash, to_int

HASH = "0x" + "ab" * 32
PARENT = "0x" + "cd" * 32


def block(**overrides: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "number": "0x10",
        "hash": HASH,
        "parentHash": PARENT,
        "timestamp": "0x6553f100",
        "gasUsed": "0x5208",
        "gasLimit": "0x1c9c380",
        "baseFeePerGas": "0x3b9aca00",
        "transactions": [],
    }
    raw.update(overrides)
    return raw


@pytest.mark.parametrize(("value", "expected"), [("0x1a", 26), ("0X1A", 26), ("26", 26), (26, 26), ("0x", 0)])
def test_quantities_in_hex_decimal_or_integer(value: object, expected: int) -> None:
    assert to_int(value) == expected


@pytest.mark.parametrize("value", [True, None, "0xzz", "", 1.5, [], {"a": 1}])
def test_bad_quantities_are_named(value: object) -> None:
    with pytest.raises(ValueError, match="expected a quantity"):
        to_int(value)


def test_block_with_hex_or_integer_fields() -> None:
    a = parse_block(block())
    b = parse_block(block(number=16, timestamp=0x6553F100, gasUsed=21000, gasLimit=30_000_000, baseFeePerGas=10**9))
    assert a == b
    assert (a.number, a.gas_used, a.base_fee, a.tx_count, a.txs) == (16, 21000, 10**9, 0, ())


def test_block_without_base_fee_and_with_full_transactions() -> None:
    tx = {"hash": "0x" + "01" * 32, "to": "0xAbC0000000000000000000000000000000000001", "input": "0x1234"}
    b = parse_block(block(baseFeePerGas=None, transactions=[tx, {**tx, "to": None}]))
    assert b.base_fee is None and b.tx_count == 2
    assert b.txs is not None and b.txs[0].to == "0xabc0000000000000000000000000000000000001" and b.txs[1].to is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "expected a block object"),
        ("0x10", "expected a block object"),
        (block(hash="0x12"), "expected a 32-byte hash"),
        (block(number="ten"), "expected a quantity"),
        (block(transactions="all"), "transactions is not a list"),
    ],
)
def test_malformed_blocks_say_what_is_wrong(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_block(raw)


def test_syncing_answers() -> None:
    assert parse_syncing(False).syncing is False
    s = parse_syncing({"startingBlock": "0x0", "currentBlock": "0x5", "highestBlock": 100})
    assert (s.syncing, s.current, s.highest) == (True, 5, 100)
    with pytest.raises(ValueError, match="eth_syncing"):
        parse_syncing("yes")
    assert to_hash(HASH.upper().replace("0X", "0x")) == HASH

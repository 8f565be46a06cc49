"""The demo's stand-in for the platform's claim registry contract, and anvil's well-known dev accounts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARTEFACT = Path(__file__).resolve().parent / "contracts/AlisRegistry.json"
# anvil's first two funded, unlocked dev accounts (the same on every anvil).
OPERATOR = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
TREASURY = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
# Where the first transaction of OPERATOR deploys a contract (CREATE address of nonce 0): the demo
# configs watch this address, so the generator deploys the registry before anything else.
REGISTRY_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def load_artefact() -> dict[str, Any]:
    artefact: dict[str, Any] = json.loads(ARTEFACT.read_text())
    return artefact

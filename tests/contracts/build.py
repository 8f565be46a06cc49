"""Compile AlisRegistry.sol with solc from npm (solcjs, installed into .tools by scripts/setup).

`python -m tests.contracts.build` rewrites exporters/demo/contracts/AlisRegistry.json; the tests and the demo
deploy that committed artefact, and a test checks it still matches the source.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# The contract ships in the package: the demo traffic generator deploys it too.
SOURCE = REPO / "exporters/demo/contracts/AlisRegistry.sol"
ARTEFACT = REPO / "exporters/demo/contracts/AlisRegistry.json"
SOLCJS = REPO / ".tools/node_modules/solc/solc.js"
# Pinned so the artefact is reproducible; anvil's default hardfork runs it.
EVM_VERSION = "cancun"


def compile_source() -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not SOLCJS.exists():
        raise FileNotFoundError("solc is not installed: run ./scripts/setup (npm install --prefix .tools solc)")
    request = {
        "language": "Solidity",
        "sources": {SOURCE.name: {"content": SOURCE.read_text()}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    result = subprocess.run(
        [node, str(SOLCJS), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output = json.loads(result.stdout[result.stdout.index("{") :])
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise RuntimeError("\n".join(errors))
    contract = output["contracts"][SOURCE.name]["AlisRegistry"]
    version = subprocess.run([node, str(SOLCJS), "--version"], capture_output=True, text=True, check=True)
    return {
        "contractName": "AlisRegistry",
        "compiler": {"solc": version.stdout.strip(), "evmVersion": EVM_VERSION, "optimizerRuns": 200},
        "abi": contract["abi"],
        "bytecode": "0x" + contract["evm"]["bytecode"]["object"],
    }


def load_artefact() -> dict[str, Any]:
    return json.loads(ARTEFACT.read_text())


if __name__ == "__main__":
    ARTEFACT.write_text(json.dumps(compile_source(), indent=1) + "\n")
    print(f"wrote {ARTEFACT.relative_to(REPO)}", file=sys.stderr)

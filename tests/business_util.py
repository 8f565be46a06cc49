"""Start the business exporter on a free port with a token and a private store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from exporters.stack.procs import ManagedProcess, free_port, start_alismon
from tests.conftest import write_config

TOKEN = "test-ingest-token"


@dataclass
class Business:
    url: str
    process: ManagedProcess
    config_file: Path
    store: Path

    def post(self, body: Any, token: str | None = TOKEN, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return requests.post(f"{self.url}/api/v1/events", json=body, headers=headers, timeout=10, **kwargs)

    def metrics(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=10).text

    def restart(self) -> None:
        self.process.start()
        self.process.wait_http(f"{self.url}/-/ready")


def start_business(
    tmp_path: Path,
    procs: list[ManagedProcess],
    business: dict[str, Any] | None = None,
    name: str = "business",
    extra: Sequence[str] = (),
    scheme: str = "http",
    config: dict[str, Any] | None = None,
    **wait_kwargs: Any,
) -> Business:
    port = free_port()
    store = tmp_path / f"{name}.sqlite"
    cfg = write_config(tmp_path / f"{name}.yml", config)
    config = yaml.safe_load(cfg.read_text())
    config["business"].update({"auth_token": TOKEN, "store": {"path": str(store)}, **(business or {})})
    cfg.write_text(yaml.safe_dump(config))
    proc = start_alismon(
        "business",
        *extra,
        config_file=cfg,
        listen_address=f"127.0.0.1:{port}",
        name=name,
        log_path=tmp_path / f"{name}.log",
    )
    procs.append(proc)
    url = f"{scheme}://127.0.0.1:{port}"
    proc.wait_http(f"{url}/-/ready", **wait_kwargs)
    return Business(url, proc, cfg, store)

"""The `stack` section: the native stack (`alismon stack`), where it keeps its state and what it adds."""

from __future__ import annotations

from pathlib import Path

from exporters.core.models import Strict
from exporters.core.types import ListenAddress


class StackConfig(Strict):
    run_dir: Path = Path(".run")
    alertmanager_listen_address: ListenAddress = "127.0.0.1:9093"
    # Started when prometheus.scale_out.store is victoriametrics: the store and its ruler.
    victoriametrics_listen_address: ListenAddress = "127.0.0.1:8428"
    vmalert_listen_address: ListenAddress = "127.0.0.1:8880"
    # The local anvil chain of `alismon stack up --demo`.
    demo_chain_listen_address: ListenAddress = "127.0.0.1:8545"
    # The demo inbox: Slack and email of `--demo` land here, on loopback, instead of the configured channels.
    demo_inbox_listen_address: ListenAddress = "127.0.0.1:9097"
    demo_smtp_listen_address: ListenAddress = "127.0.0.1:2525"

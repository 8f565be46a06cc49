"""Wires networks, pollers, followers and collectors into an Exporter."""

from __future__ import annotations

import asyncio
import logging

from exporters.blockchain.abi import ContractABI
from exporters.blockchain.collector import ChainCollector, ContractCollector, EndpointCollector, RpcCollector
from exporters.blockchain.follow import Follower, WatchedContract
from exporters.blockchain.poller import Account, Chain, EndpointPoller
from exporters.blockchain.readings import ChainState, EndpointState, Readings
from exporters.blockchain.ws import follow_heads
from exporters.config.blockchain import BlockchainConfig
from exporters.core.collect import SubCollector, TimedCollectors
from exporters.core.http import Exporter

log = logging.getLogger(__name__)


def build_chains(config: BlockchainConfig, store: Readings) -> list[Chain]:
    chains = []
    for net in config.networks:
        store.chains[net.name] = ChainState(net.name, min_peers=net.expected_min_peers)
        contracts = [
            WatchedContract(c.alias, c.address.lower(), ContractABI.from_file(c.abi_file)) for c in net.contracts
        ]
        follower = Follower(store, store.chains[net.name], contracts, net.max_catchup_blocks)
        chain = Chain(store, net, follower, [Account(a.alias, a.address) for a in net.accounts])
        for ep in net.endpoints:
            state = EndpointState(net.name, ep.name, has_ws=ep.ws_url is not None)
            store.endpoints.append(state)
            chain.pollers.append(EndpointPoller(chain, ep, state))
        chains.append(chain)
    return chains


class BlockchainExporter(Exporter[BlockchainConfig]):
    name = "blockchain"
    collect_inline = True  # the collectors read what the pollers stored; a scrape never waits on a node

    def __init__(self, config: BlockchainConfig) -> None:
        super().__init__(config)
        self.store = Readings()
        self.chains = build_chains(config, self.store)
        self._tasks: list[asyncio.Task[None]] = []
        collectors: list[SubCollector] = [
            EndpointCollector(self.store),
            RpcCollector(self.store),
            ChainCollector(self.store),
            ContractCollector(self.store),
        ]
        self.registry.register(TimedCollectors("blockchain", collectors))

    @classmethod
    def has_work(cls, config: BlockchainConfig) -> bool:
        return bool(config.networks)

    def ready(self) -> bool:
        """Ready once every endpoint has been polled once, successfully or not."""
        with self.store.lock:
            return all(e.polled for e in self.store.endpoints)

    async def start(self) -> None:
        if not self.chains:
            log.warning("no networks configured under blockchain.networks")
        for chain in self.chains:
            for poller in chain.pollers:
                name = f"{chain.net.name}/{poller.endpoint.name}"
                self._tasks.append(asyncio.create_task(poller.run(), name=f"poll {name}"))
                if poller.endpoint.ws_url:
                    self._tasks.append(
                        asyncio.create_task(follow_heads(poller, poller.endpoint.ws_url), name=f"ws {name}")
                    )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for chain in self.chains:
            for poller in chain.pollers:
                await poller.close()

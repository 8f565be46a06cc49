"""Optional newHeads subscription: a head pushed over websocket wakes the endpoint's poller at once.

The subscription only triggers ticks (the batch still reads everything), so a missed or duplicated
push costs nothing. Polling goes on at poll_interval regardless (liveness never depends on the socket);
a lost subscription wakes the poller at once, and it reconnects with jittered exponential backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random

import aiohttp

from exporters.blockchain.poller import EndpointPoller

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0


async def follow_heads(poller: EndpointPoller, url: str) -> None:
    labels = {"chain": poller.net.name, "endpoint": poller.endpoint.name}
    stats = poller.client.stats
    backoff = BACKOFF_START
    silent_after = 2 * poller.net.head_timeout
    while True:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(
                    url,
                    headers=poller.endpoint.request_headers(),
                    timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                    heartbeat=max(5.0, silent_after),
                ) as ws,
            ):
                await ws.send_str(
                    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]})
                )
                reply = await ws.receive_json(timeout=poller.net.request_timeout)
                if not isinstance(reply, dict) or "result" not in reply:
                    code = reply.get("error", {}).get("code") if isinstance(reply, dict) else None
                    stats.count_error("eth_subscribe", str(code) if isinstance(code, int) else "bad_response")
                    raise ConnectionError(f"subscription refused: {str(reply)[:120]}")
                with poller.store.lock:
                    poller.state.ws_connected = True
                log.info("newHeads subscribed", extra=labels)
                backoff = BACKOFF_START
                while True:
                    # A subscription that stays silent is often dead behind a proxy: reconnect.
                    msg = await ws.receive(timeout=silent_after)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        stats.count_error("eth_subscribe", "closed")
                        raise ConnectionError(f"websocket closed ({msg.type.name})")
                    if '"eth_subscription"' in msg.data:
                        poller.on_ws_head()
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            stats.count_error("eth_subscribe", "timeout")
            log.debug("newHeads silent, reconnecting", extra=labels)
        except (aiohttp.ClientError, ConnectionError, OSError, ValueError) as exc:
            if not isinstance(exc, ConnectionError):
                stats.count_error("eth_subscribe", "connect")
            log.debug("newHeads subscription lost", extra={**labels, "err": str(exc)[:200]})
        finally:
            with poller.store.lock:
                was_connected, poller.state.ws_connected = poller.state.ws_connected, False
            if was_connected:
                poller.wake.set()  # a node killed closes its websocket first: poll it now, not at the next tick
        await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
        backoff = min(BACKOFF_MAX, backoff * 2)

"""JSON-RPC over HTTP: a list of calls goes out as one batched round trip, and every entry is answered on its own.

Raw aiohttp rather than AsyncWeb3's provider: we need per-entry errors inside a batch (-32601 for one method
must not fail the others), the duration of each round trip and the error code of each call for the metrics,
a cap on response size, and a fallback to single calls for endpoints that refuse batches.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

# Bigger answers are refused: a garbage endpoint must not make us buffer without bound.
MAX_BODY_BYTES = 64 * 1024 * 1024
# Distinct error codes kept as label values per endpoint; more become "other" (a bad node could send any number).
MAX_ERROR_CODES = 16
METHOD_NOT_FOUND = -32601
# How clients say "I have no such method": -32601 (the JSON-RPC spec: geth, anvil, reth), -32004 (Hardhat's
# EDR: "Method X is not supported"), -32700 (ganache: "The method X does not exist/is not available"; it
# cannot be a real parse error, the batch around it was parsed), or any code with such a message.
UNSUPPORTED_CODES = frozenset({METHOD_NOT_FOUND, -32004, -32700})
_UNSUPPORTED_MESSAGE = re.compile(
    r"method\b.*\b(not found|not supported|not available|does not exist|not implemented)|"
    r"\b(unsupported|unknown) method|method not found",
    re.IGNORECASE,
)
# The `code` label of an "unsupported method" answer: kept apart from errors (see blockchain:rpc_errors:ratio).
UNSUPPORTED = "unsupported"
# HTTP answers with which proxies and gateways say "no batches here".
_BATCH_REFUSED_STATUS = {400, 404, 405, 413, 415, 422, 501}


class TransportError(Exception):
    """The round trip itself failed; `kind` is a bounded label value (timeout, connect, http_503, bad_response)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class RpcError(Exception):
    """A JSON-RPC error object in an answer."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def unsupported(self) -> bool:
        """The node has no such method (said in any client's dialect)."""
        return is_unsupported(self.code, self.message)


def is_unsupported(code: int | None, message: str) -> bool:
    return code in UNSUPPORTED_CODES or bool(_UNSUPPORTED_MESSAGE.search(message))


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    params: tuple[Any, ...] = ()
    label: str = ""  # the `method` label in metrics; defaults to method

    @property
    def name(self) -> str:
        return self.label or self.method


@dataclass(frozen=True, slots=True)
class Reply:
    result: Any = None
    error: RpcError | None = None

    def value(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class RpcStats(Protocol):
    def observe_request(self, method: str, seconds: float) -> None: ...

    def count_error(self, method: str, code: str) -> None: ...

    def set_supported(self, method: str, supported: bool | None) -> None:
        """What the endpoint said about a method (None: forget, its client changed)."""


class RpcClient:
    def __init__(self, url: str, headers: dict[str, str], timeout: float, stats: RpcStats) -> None:
        self.url = url
        self.headers = {"Content-Type": "application/json", **headers}
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.stats = stats
        self.batching = True  # until the endpoint refuses a batch
        # Method -> whether the endpoint has it, learnt from every answer; kept until its client changes.
        self.support: dict[str, bool] = {}
        self.round_trips = 0
        self._codes: set[str] = set()
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # One connection per endpoint is enough (one call in flight at a time), kept alive between ticks.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=4, ttl_dns_cache=300), timeout=self.timeout
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def supports(self, method: str) -> bool:
        """False once the endpoint said it has no such method: it is not asked again."""
        return self.support.get(method, True)

    def learn(self, method: str, supported: bool) -> None:
        if self.support.get(method) is not supported:
            self.support[method] = supported
            self.stats.set_supported(method, supported)

    def forget_support(self) -> None:
        """The endpoint's client changed: every method may be there again."""
        for method in self.support:
            self.stats.set_supported(method, None)
        self.support.clear()

    def _code_label(self, code: Any) -> str:
        label = str(code) if isinstance(code, int) and not isinstance(code, bool) else "invalid"
        if label not in self._codes:
            if len(self._codes) >= MAX_ERROR_CODES:
                return "other"
            self._codes.add(label)
        return label

    async def _post(self, payload: Any, label: str) -> Any:
        """One HTTP round trip; returns the decoded JSON or raises TransportError (counted under `label`)."""
        start = time.perf_counter()
        self.round_trips += 1
        try:
            async with self.session().post(self.url, data=json.dumps(payload), headers=self.headers) as resp:
                if resp.content_length is not None and resp.content_length > MAX_BODY_BYTES:
                    raise TransportError("bad_response", f"answer of {resp.content_length} bytes is too big")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(1 << 16):
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        raise TransportError("bad_response", "answer too big")
                status = resp.status
        except TransportError as exc:
            self.stats.count_error(label, exc.kind)
            raise
        except TimeoutError:
            self.stats.count_error(label, "timeout")
            raise TransportError("timeout", f"no answer within {self.timeout.total}s") from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            self.stats.count_error(label, "connect")
            raise TransportError("connect", str(exc) or type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            self.stats.count_error(label, "bad_response")
            raise TransportError("bad_response", str(exc) or type(exc).__name__) from None
        finally:
            self.stats.observe_request(label, time.perf_counter() - start)
        try:
            decoded = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            decoded = _NOT_JSON
        if status != 200 and not (isinstance(decoded, dict | list) and status < 500):
            kind = f"http_{status}" if 100 <= status < 600 else "bad_response"
            self.stats.count_error(label, kind)
            raise TransportError(kind, f"HTTP {status}")
        if decoded is _NOT_JSON:
            self.stats.count_error(label, "bad_response")
            raise TransportError("bad_response", f"not JSON: {bytes(body[:60])!r}")
        return decoded

    def _reply(self, call: Call, entry: Any) -> Reply:
        if not isinstance(entry, dict) or not ("result" in entry or "error" in entry):
            self.stats.count_error(call.name, "bad_response")
            return Reply(error=RpcError(None, "malformed JSON-RPC answer"))
        err = entry.get("error")
        if err is not None:
            code = err.get("code") if isinstance(err, dict) else None
            message = str(err.get("message", "")) if isinstance(err, dict) else str(err)
            error = RpcError(code if isinstance(code, int) and not isinstance(code, bool) else None, message[:200])
            if error.unsupported:
                self.stats.count_error(call.name, UNSUPPORTED)
                self.learn(call.name, False)
            else:
                self.stats.count_error(call.name, self._code_label(code))
            return Reply(error=error)
        if call.name not in self.support:
            self.learn(call.name, True)
        return Reply(result=entry.get("result"))

    async def call(self, method: str, *params: Any, label: str = "") -> Any:
        c = Call(method, params, label)
        answer = await self._post({"jsonrpc": "2.0", "id": 0, "method": method, "params": list(params)}, c.name)
        return self._reply(c, answer).value()

    async def _singles(self, calls: Sequence[Call]) -> list[Reply]:
        async def one(i: int, c: Call) -> Reply:
            answer = await self._post({"jsonrpc": "2.0", "id": i, "method": c.method, "params": list(c.params)}, c.name)
            return self._reply(c, answer)

        return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(calls))))

    async def batch(self, calls: Sequence[Call]) -> list[Reply]:
        """Answers in the order of `calls`; one round trip unless the endpoint refuses batches."""
        if not calls:
            return []
        if not self.batching or len(calls) == 1:
            return await self._singles(calls)
        payload = [
            {"jsonrpc": "2.0", "id": i, "method": c.method, "params": list(c.params)} for i, c in enumerate(calls)
        ]
        try:
            answer = await self._post(payload, "batch")
        except TransportError as exc:
            if not exc.kind.startswith("http_") or int(exc.kind[5:]) not in _BATCH_REFUSED_STATUS:
                raise
            answer = None
        if not isinstance(answer, list):
            # An error object (or a 4xx) instead of a list: this endpoint does not take batches.
            self.batching = False
            self.stats.count_error("batch", "refused")
            return await self._singles(calls)
        by_id = {e.get("id"): e for e in answer if isinstance(e, dict)}
        return [self._reply(c, by_id.get(i)) for i, c in enumerate(calls)]


_NOT_JSON = object()

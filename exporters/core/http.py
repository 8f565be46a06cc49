"""The HTTP side every exporter shares: /metrics, landing page, health and readiness, auth, TLS.

aiohttp gives HTTP/1.1 keep-alive, TLS and middleware; what is ours is the scrape path:
collection runs in one worker thread (psutil and friends block), concurrent scrapes share
the collection already in flight, and the body is gzipped at a cheap level.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import gc
import gzip
import html
import logging
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, Self, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import ContentLengthError, TransferEncodingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR, CollectorRegistry
from prometheus_client.metrics_core import Metric

from exporters import __version__
from exporters.core.collect import BuildInfo
from exporters.core.exporter_table import exporter_row
from exporters.core.exposition import encode_openmetrics, encode_text, negotiate
from exporters.core.httplimits import AuthFailureThrottle, ConnectionGuard, HTTPLimits, pin_mmap_threshold
from exporters.core.logsample import SampledLog
from exporters.core.types import split_listen_address
from exporters.core.webconfig import BasicAuthChecker, WebConfig, build_ssl_context

log = logging.getLogger(__name__)
# One line per refused request for the first few of each minute, then a summary (a flood of them
# would flood the log).
_BAD_REQUEST_LOG = SampledLog(log, "bad HTTP request")

# Level 1 costs a fraction of client_python's level 9 and still shrinks exposition text ~8x.
GZIP_LEVEL = 1
MIN_GZIP_BYTES = 512


ConfigT = TypeVar("ConfigT")


class Exporter(Generic[ConfigT]):
    """What the runtime needs from an exporter; subclasses fill in the parts they use.

    `name` is the exporter's row in exporters/core/exporter_table.py; ConfigT is the model of the
    config.yml section it reads (the row's `section`).
    """

    name = "exporter"
    # True when collection only reads memory (no file, socket or subprocess I/O): it then runs on the
    # event loop. A hop to the collection thread costs up to a GIL switch interval (5 ms) whenever the
    # loop is busy with background work, which is what a scrape's p99 showed.
    collect_inline = False

    def __init__(self, config: ConfigT) -> None:
        self.config = config
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(BuildInfo(self.name))

    @property
    def title(self) -> str:
        return exporter_row(self.name).title

    # Routes under this prefix authenticate themselves (the business ingest token) instead of
    # web-config basic auth; every other route takes basic auth when basic_auth_users is set.
    own_auth_prefix: str | None = None

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Flags of this exporter alone, beside the ones every exporter has; none by default."""

    @classmethod
    def from_args(cls, config: ConfigT, args: argparse.Namespace) -> Self:
        """The exporter for its config section and the parsed command line (the flags of add_arguments)."""
        return cls(config)

    @classmethod
    def start_problems(cls, config: ConfigT) -> list[str]:
        """`key.path: problem` lines that stop this exporter at start beyond the config's own
        validation; `alismon config check` reports them too, so a config that passes starts."""
        return []

    @classmethod
    def has_work(cls, config: ConfigT) -> bool:
        """False when its config section gives it nothing to watch: the native stack then leaves it out."""
        return True

    def enable_runtime_metrics(self) -> None:
        """Also expose this Python process's own process, platform and gc metrics."""
        # The registry is private and does not auto-describe, so registering never collects.
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)

    def ready(self) -> bool:
        return True

    def client_error(self, reason: str) -> None:
        """A request the HTTP server refused before any handler saw it (broken framing, huge headers)."""

    def add_routes(self, app: web.Application) -> None:
        """Extra endpoints (the business ingest API); none by default."""

    async def start(self) -> None:
        """Background work (pollers, stores); nothing by default."""

    async def stop(self) -> None:
        """Undo start(); nothing by default."""


class MetricsEndpoint:
    def __init__(self, registry: CollectorRegistry, inline: bool = False) -> None:
        self.registry = registry
        self.inline = inline
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="collect")
        self._inflight: asyncio.Future[list[Metric]] | None = None

    def _collect(self) -> list[Metric]:
        return list(self.registry.collect())

    async def collect_shared(self) -> list[Metric]:
        if self.inline:
            return self._collect()
        if self._inflight is None:
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(self._executor, self._collect)
            self._inflight = fut
            fut.add_done_callback(lambda _: setattr(self, "_inflight", None))
        return await asyncio.shield(self._inflight)

    async def handle(self, request: web.Request) -> web.Response:
        timeout = _scrape_timeout(request.headers.get("X-Prometheus-Scrape-Timeout-Seconds"))
        try:
            families = await asyncio.wait_for(self.collect_shared(), timeout)
        except TimeoutError:
            return web.Response(status=503, text=f"collection did not finish within {timeout:.1f}s\n")
        content_type, openmetrics = negotiate(request.headers.get("Accept", ""))
        body = encode_openmetrics(families) if openmetrics else encode_text(families)
        headers = {"Content-Type": content_type}
        if len(body) >= MIN_GZIP_BYTES and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, GZIP_LEVEL, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _scrape_timeout(header: str | None) -> float:
    """Prometheus tells us its timeout; answer a little before it gives up."""
    try:
        value = float(header) if header else 30.0
    except ValueError:
        value = 30.0
    return max(0.5, value - 0.25)


def _auth_middleware(
    checker: BasicAuthChecker, throttle: AuthFailureThrottle, own_auth_prefix: str | None
) -> Callable[..., Awaitable[web.StreamResponse]]:
    challenge = {"WWW-Authenticate": 'Basic realm="alismon", charset="UTF-8"'}
    # bcrypt runs here, not in the default pool: wrong passwords queue behind each other only.
    bcrypt_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="bcrypt")

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # Matched routes, not the raw path: "/api/v1/../metrics" resolves to /metrics and is guarded.
        # A path matching no route (404, 405) under the prefix is the API's too: it runs no handler,
        # and the API answers it in its own shape after its own auth check.
        route = request.match_info.route.resource
        path = request.path if route is None else route.canonical
        if own_auth_prefix and path.startswith(own_auth_prefix):
            return await handler(request)  # the exporter authenticates its API itself (the ingest token)
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if sep:
                if checker.cached(user, password):
                    return await handler(request)
                address = request.remote or "unknown"
                wait = throttle.take(address)
                if wait:
                    return web.Response(
                        status=429,
                        text=f"Too many failed logins from {address}; retry in {wait}s\n",
                        headers={"Retry-After": str(wait)},
                    )
                loop = asyncio.get_running_loop()
                if await loop.run_in_executor(bcrypt_pool, checker.check, user, password):
                    throttle.refund(address)
                    return await handler(request)
        return web.Response(status=401, text="Unauthorized\n", headers=challenge)

    return middleware


def _headers_middleware(headers: dict[str, str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        response.headers.update(headers)
        return response

    return middleware


def _landing_page(exporter: Exporter[Any], extra_links: list[tuple[str, str]]) -> str:
    links = [("/metrics", "Metrics"), ("/-/healthy", "Health"), ("/-/ready", "Readiness"), *extra_links]
    items = "".join(f'<li><a href="{html.escape(h)}">{html.escape(t)}</a></li>' for h, t in links)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(exporter.title)}</title></head>"
        f"<body><h1>{html.escape(exporter.title)}</h1><p>Version {__version__}</p><ul>{items}</ul></body></html>"
    )


def build_app(exporter: Exporter[Any], web_config: WebConfig, limits: HTTPLimits | None = None) -> web.Application:
    limits = limits or HTTPLimits()
    middlewares = []
    checker = BasicAuthChecker(web_config.basic_auth_users)
    if web_config.http_server_config.headers:
        middlewares.append(_headers_middleware(web_config.http_server_config.headers))
    if checker.enabled:
        throttle = AuthFailureThrottle(limits.max_auth_failures_per_minute)
        middlewares.append(_auth_middleware(checker, throttle, exporter.own_auth_prefix))
    app = web.Application(middlewares=middlewares, client_max_size=16 * 1024 * 1024)
    metrics = MetricsEndpoint(exporter.registry, inline=exporter.collect_inline)
    app["metrics"] = metrics
    app["exporter"] = exporter

    async def healthy(_: web.Request) -> web.Response:
        return web.Response(text="Healthy\n")

    async def ready(_: web.Request) -> web.Response:
        if exporter.ready():
            return web.Response(text="Ready\n")
        return web.Response(status=503, text="Not ready\n")

    extra_links: list[tuple[str, str]] = []
    app["landing_links"] = extra_links
    exporter.add_routes(app)
    page = _landing_page(exporter, extra_links)

    async def landing(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/metrics", metrics.handle)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_get("/", landing)

    async def lifecycle(_: web.Application):  # type: ignore[no-untyped-def]
        await exporter.start()
        # What is loaded by now (modules, config, restored state) lives as long as the process. Out
        # of the collector's sight, collections stop walking it: their pauses were the tail of
        # scrape latency (up to 27 ms, blockchain) and of ingest ACKs (up to 60 ms, business).
        gc.freeze()
        yield
        await exporter.stop()
        metrics.close()

    app.cleanup_ctx.append(lifecycle)
    return app


_HTTP_ERROR_REASONS = {413: "body_too_large", 431: "headers_too_large"}


def http_error_reason(status: int) -> str:
    return _HTTP_ERROR_REASONS.get(status, "bad_request")


def _describe(exc: BaseException | None, fallback: str | None) -> str:
    """The first meaningful line of an HTTP parse error (aiohttp's text ends in a caret line)."""
    text = (getattr(exc, "message", None) or fallback or str(exc or "")).strip()
    lines = [line.strip() for line in str(text).splitlines() if line.strip() and line.strip() != "^"]
    return lines[0][:200] if lines else "the request is not valid HTTP"


class _Handler(RequestHandler):
    """aiohttp's connection handler with our connection limits, and parse errors in the JSON error shape."""

    def __init__(
        self, manager: web.Server, guard: ConnectionGuard, on_client_error: Callable[[str], None], **kwargs: Any
    ) -> None:
        super().__init__(manager, **kwargs)
        self.guard = guard
        self.on_client_error = on_client_error
        self._client: str | None = None  # set once admitted
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) else "unix"
        if not self.guard.admit(client):
            self.force_close()
            return
        self._client = client
        self._header_timer = asyncio.get_running_loop().call_later(
            self.guard.limits.header_timeout, self._headers_overdue
        )

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if self._request_count == 0:  # not one complete request head yet: a slow or idle client
            self.guard.refused["header_timeout"] += 1
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        if self._client is not None:
            self.guard.release(self._client)
            self._client = None
        super().connection_lost(exc)

    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)  # ours to fix: logged with the traceback
        detail = _describe(exc, message)
        # llhttp reports a broken chunk as a plain BadHttpMessage: its text says which it is.
        framing = isinstance(exc, TransferEncodingError | ContentLengthError) or "chunk" in detail.lower()
        reason = "bad_framing" if framing else http_error_reason(status)
        _BAD_REQUEST_LOG(reason, status=status, err=detail)
        self.on_client_error(reason)
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already sent; the connection closes")
        response = web.json_response({"error": reason, "message": detail}, status=status)
        response.force_close()
        return response


async def serve(
    exporter: Exporter[Any], listen_address: str, web_config: WebConfig, limits: HTTPLimits | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting, finish in-flight requests and clean up."""
    limits = limits or HTTPLimits()
    app = build_app(exporter, web_config, limits)
    host, port = split_listen_address(listen_address)
    handler_settings: dict[str, Any] = {
        "access_log": None,
        # Bodies reach the handlers as sent: nothing is decompressed before a handler has checked
        # auth and size (the ingest API decompresses itself, bounded); the others never read one.
        "auto_decompress": False,
        # An unread body (a refused request) is drained this long, raw, then the connection closes.
        "lingering_time": limits.lingering_timeout,
        "keepalive_timeout": limits.idle_timeout,
    }
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=5.0, **handler_settings)
    await runner.setup()
    server = runner.server
    assert server is not None
    loop = asyncio.get_running_loop()

    guard = ConnectionGuard(limits)
    exporter.registry.register(guard)  # alismon_http_connections_refused_total
    pin_mmap_threshold()

    def protocol() -> asyncio.BaseProtocol:
        return _Handler(server, guard, exporter.client_error, loop=loop, **handler_settings)

    ssl_context = build_ssl_context(web_config)
    try:
        listener = await loop.create_server(
            protocol,
            host,
            port,
            ssl=ssl_context,
            ssl_handshake_timeout=limits.header_timeout if ssl_context else None,
            reuse_address=True,
            backlog=128,
        )
    except OSError as exc:
        await runner.cleanup()
        raise OSError(f"cannot listen on {listen_address}: {exc.strerror}") from None
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scheme = "https" if web_config.tls_server_config else "http"
    log.info("listening", extra={"exporter": exporter.name, "address": f"{scheme}://{listen_address}"})
    await stop.wait()
    log.info("shutting down", extra={"exporter": exporter.name})
    listener.close()
    await runner.cleanup()
    _BAD_REQUEST_LOG.flush()

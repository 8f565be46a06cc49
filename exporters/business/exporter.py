"""The business exporter: the ingest API on the shared HTTP runtime, and its metrics."""

from __future__ import annotations

import asyncio
import collections
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client.metrics_core import Metric

from exporters.business.aggregates import Aggregates
from exporters.business.body import json_error_message, read_body
from exporters.business.decoder import FastDecoder
from exporters.business.events import EventParser, Rejection
from exporters.business.openapi import openapi_document
from exporters.business.ratelimit import EventRateLimit
from exporters.business.sql import SQLSources, driver_problems
from exporters.business.store import EventStore
from exporters.config.business import BusinessConfig
from exporters.core.collect import TimedCollectors
from exporters.core.errors import ConfigError
from exporters.core.http import Exporter, http_error_reason
from exporters.core.logsample import SampledLog
from exporters.core.metrics import MetricFamily

log = logging.getLogger(__name__)
EVENTS_PATH = "/api/v1/events"


class _SelfMetrics:
    name = "ingest"

    def __init__(self, exporter: BusinessExporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterable[Metric]:
        stats = self.exporter.store.stats
        rejected = MetricFamily.counter("business_events_rejected", "Requests refused, by reason.", ["reason"])
        for reason, count in sorted(self.exporter.rejections.items()):
            rejected.add((reason,), count)
        accepted = MetricFamily.counter("business_events_accepted", "Events durably stored and counted.")
        accepted.add((), stats.committed_events)
        duplicates = MetricFamily.counter(
            "business_events_duplicate", "Events acknowledged again without counting (a retried id)."
        )
        duplicates.add((), stats.duplicates)
        commits = MetricFamily.counter("business_store_commits", "Group commits to the event store.")
        commits.add((), stats.commits)
        errors = MetricFamily.counter("business_store_errors", "Failed commits to the event store.")
        errors.add((), stats.errors)
        writable = MetricFamily.gauge(
            "business_store_writable",
            "1 while the event store takes commits; 0 from a failed commit until a write succeeds again.",
        )
        writable.add((), 1.0 if self.exporter.store.writable else 0.0)
        duration = MetricFamily.histogram(
            "business_store_commit_duration_seconds", "Time a group commit took, fsync included."
        )
        duration.add_histogram((), stats.commit_seconds)
        values = MetricFamily.gauge(
            "business_label_values", "Distinct values a capped label has taken.", ["event", "label"]
        )
        limit = MetricFamily.gauge(
            "business_label_values_limit", "The cap on a label's distinct values.", ["event", "label"]
        )
        counts = self.exporter.store.label_counts()
        for event, spec in self.exporter.config.events.items():
            for label, rule in spec.labels.items():
                if rule.max_values is not None:
                    values.add((event, label), counts.get((event, label), 0))
                    limit.add((event, label), rule.max_values)
        return [rejected, accepted, duplicates, commits, errors, writable, duration, values, limit]


class BusinessExporter(Exporter[BusinessConfig]):
    name = "business"
    # The ingest API takes the bearer token; /metrics and the rest take web-config basic auth when set.
    own_auth_prefix = "/api/v1/"

    def __init__(self, config: BusinessConfig) -> None:
        super().__init__(config)
        problems = self.start_problems(config)
        if problems:
            raise ConfigError(problems)
        self._token = config.token()
        self.sql = SQLSources(config)
        self.parser = EventParser(config)
        self.decoder = FastDecoder(config)
        limits = config.limits
        self.rate_limit = EventRateLimit(limits.events_per_second, limits.burst) if limits.events_per_second else None
        self.aggregates = Aggregates(config)
        self.store = EventStore(config, self.aggregates)
        self.rejections: collections.Counter[str] = collections.Counter()
        self._refusal_log = SampledLog(log, "event request refused")
        self._ready = False
        self.registry.register(self.aggregates)
        self.registry.register(TimedCollectors("business", [_SelfMetrics(self), self.sql]))

    @classmethod
    def start_problems(cls, config: BusinessConfig) -> list[str]:
        problems = []
        if config.token() is None and not config.allow_unauthenticated:
            problems.append(
                "business.auth_token: no ingest token is set (auth_token, auth_token_file or "
                "${ALISMON_INGEST_TOKEN}); set allow_unauthenticated: true only for local tests"
            )
        return problems + driver_problems(config)

    def ready(self) -> bool:
        """Not ready before the store is open, nor while it refuses commits (every event would get 503)."""
        return self._ready and self.store.writable

    async def start(self) -> None:
        await asyncio.to_thread(self.store.open)
        await self.sql.start()
        self._ready = True

    async def stop(self) -> None:
        self._ready = False
        self._refusal_log.flush()
        await self.sql.stop()
        await asyncio.to_thread(self.store.close)

    def client_error(self, reason: str) -> None:
        self.rejections[reason] += 1

    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._api_errors)
        app.router.add_post(EVENTS_PATH, self.post_events)
        document = openapi_document(self.config)

        async def openapi(_: web.Request) -> web.Response:
            return _json(200, document)

        app.router.add_get("/api/v1/openapi.json", openapi)
        app["landing_links"].append(("/api/v1/openapi.json", "Ingest API (OpenAPI)"))

    @web.middleware
    async def _api_errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """aiohttp's own refusals on the API's paths (unknown path, wrong method) in the API's JSON shape.

        Authentication comes first, as in front of every route of a server behind basic auth: a
        client without the token gets 401 for any path or method under the API, and only an
        authenticated one learns that a path does not exist (404) or takes another method (405)."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if not request.path.startswith(self.own_auth_prefix) or exc.status < 400:
                raise
            try:
                self._authorize(request)
            except Rejection as rejection:
                return self._reject(rejection)
            reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, http_error_reason(exc.status))
            return self._reject(Rejection(exc.status, reason, f"{request.method} {request.path[:100]}: {exc.reason}"))

    def _reject(self, rejection: Rejection) -> web.Response:
        self.rejections[rejection.reason] += 1
        self._refusal_log(rejection.reason, status=rejection.status)
        response = _json(rejection.status, rejection.body())
        if rejection.retry_after is not None:
            response.headers["Retry-After"] = rejection.retry_after
        return response

    async def post_events(self, request: web.Request) -> web.Response:
        try:
            self._authorize(request)  # before a byte of the body is read
            if "Content-Type" not in request.headers:
                raise Rejection(
                    415, "unsupported_media_type", "the Content-Type header is missing; send application/json"
                )
            if request.content_type != "application/json":
                raise Rejection(
                    415,
                    "unsupported_media_type",
                    f"Content-Type must be application/json, not {request.content_type[:64]!r}",
                )
            limits = self.config.limits
            raw = await read_body(request, limits.max_body_size, limits.body_timeout)
            now = time.time()
            events = self.decoder.decode(raw, now)
            if events is None:  # something is wrong with the body: the reference parser names it
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise Rejection(400, "bad_json", json_error_message(raw, exc)) from None
                events = self.parser.parse_body(body, now)
            if self.rate_limit is not None and (wait := self.rate_limit.admit(len(events))):
                raise Rejection(
                    429,
                    "rate_limited",
                    f"more than {self.config.limits.events_per_second:g} events per second; retry later",
                    retry_after=EventRateLimit.retry_after(wait),
                )
            outcome = await self.store.submit_async(events)
        except Rejection as rejection:
            return self._reject(rejection)
        return _json(200, {"accepted": outcome.accepted, "duplicates": outcome.duplicates})

    def _authorize(self, request: web.Request) -> None:
        if self._token is None:
            return
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), self._token.encode()):
            raise Rejection(401, "unauthorized", "a valid bearer token is required")


def _json(status: int, body: Any) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

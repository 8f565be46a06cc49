"""Prometheus' HTTP API as the snapshot uses it: range and instant queries, alerts, health.

Every failure raises QueryError naming the URL and, for a query, the expression, so a snapshot never
writes pages of connection errors silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

# (path, params) -> the decoded JSON body; tests replay recorded answers through it.
Fetch = Callable[[str, Mapping[str, str | float]], Any]


class QueryError(Exception):
    """A Prometheus request that failed: unreachable, an HTTP error or a rejected query."""


class Unreachable(QueryError):
    """Prometheus did not answer at all."""


@dataclass
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]
    name: str = ""
    ref: str = "A"  # the refId of the panel target it came from

    @property
    def last(self) -> float:
        return self.points[-1][1] if self.points else float("nan")


@dataclass
class Alert:
    name: str
    state: str  # "firing" or "pending"
    labels: dict[str, str] = field(default_factory=dict)
    summary: str = ""


class Prometheus:
    def __init__(self, url: str, timeout: float = 30, fetch: Fetch | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._fetch = fetch or self._http

    def _http(self, path: str, params: Mapping[str, str | float]) -> Any:
        try:
            response = requests.get(f"{self.url}{path}", params=dict(params), timeout=self.timeout)
        except requests.RequestException as exc:
            raise Unreachable(f"Prometheus at {self.url} is unreachable: {exc}") from None
        try:
            return response.json()
        except ValueError:
            raise QueryError(
                f"{self.url}{path} answered HTTP {response.status_code}, not JSON: {response.text[:200]!r}"
            ) from None

    def _api(self, path: str, params: Mapping[str, str | float]) -> Any:
        body = self._fetch(path, params)
        if not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error", body) if isinstance(body, dict) else body
            kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
            raise QueryError(f"{kind}: {detail}")
        return body["data"]

    def check(self) -> str:
        """Prometheus' version, or Unreachable: called once before any page is written."""
        data = self._api("/api/v1/status/buildinfo", {})
        return str(data.get("version", "?"))

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self._api("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})
        return [Series(r["metric"], [(float(t), float(v)) for t, v in r["values"]]) for r in data["result"]]

    def query(self, expr: str, at: float) -> list[Series]:
        data = self._api("/api/v1/query", {"query": expr, "time": at})
        if data["resultType"] == "scalar":
            return [Series({}, [(float(data["result"][0]), float(data["result"][1]))])]
        return [Series(r["metric"], [(float(r["value"][0]), float(r["value"][1]))]) for r in data["result"]]

    def alerts(self) -> list[Alert]:
        data = self._api("/api/v1/alerts", {})
        out = []
        for a in data["alerts"]:
            labels = dict(a.get("labels", {}))
            summary = str(a.get("annotations", {}).get("summary", ""))
            out.append(Alert(labels.pop("alertname", "?"), str(a.get("state", "")), labels, summary))
        return out

    def alertmanagers(self) -> list[str]:
        """URLs of the Alertmanagers Prometheus currently sends to."""
        data = self._api("/api/v1/alertmanagers", {})
        return [str(a["url"]) for a in data.get("activeAlertmanagers", [])]

"""A small client for the ingest API: retries with jittered backoff, and an on-disk spool.

Every event gets an id when it is raised, so a retry after a lost answer is idempotent.
Events that cannot be delivered (the exporter is down, or keeps failing) are appended to a
spool file and sent first, in order, on the next successful call or `flush()`. One client owns
a spool (a lock file beside it); while the exporter is unreachable, `send()` only appends to
the spool and tries the exporter again after a growing pause (1 s up to 30 s), so a caller is
never held up by an outage.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class IngestError(Exception):
    """The exporter refused the events (a 4xx): retrying would not help, so they are not spooled."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status}: {body.get('error')}: {body.get('message')}")
        self.status, self.body = status, body


class SpoolInUse(RuntimeError):
    """Another client owns the spool file: two writers would lose each other's events."""


class BusinessClient:
    OUTAGE_PAUSE = (1.0, 30.0)  # first and longest pause before the exporter is tried again after an outage

    def __init__(
        self,
        url: str,
        token: str,
        spool: Path | None = None,
        retries: int = 3,
        backoff: float = 0.2,
        timeout: float = 5.0,
        batch_size: int = 500,
    ) -> None:
        self.url = url.rstrip("/") + "/api/v1/events"
        self.spool = spool
        self.timeout = timeout
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._not_before = 0.0  # monotonic time before which the exporter asked not to be called (Retry-After)
        self._down_until = 0.0  # monotonic time before which send() spools without trying (an outage)
        self._pause = self.OUTAGE_PAUSE[0]
        self._lock_file = self._own(spool) if spool is not None else None
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        # POST is retried too: ids make it idempotent. backoff_jitter spreads out a crowd of retrying clients.
        # A 429 is not retried here: rate_limited goes to the spool until its Retry-After has passed
        # (waiting inside send() would block the caller), and a cardinality cap stays refused.
        # A refused connection is not retried inside the call: the exporter is down, the events
        # go to the spool at once and the outage pause decides when to try again.
        retry = Retry(
            total=retries,
            connect=0 if spool is not None else retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            backoff_jitter=backoff,
            status_forcelist=(502, 503, 504),
            allowed_methods=None,
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))

    @staticmethod
    def event(
        type: str,
        labels: dict[str, str],
        value: float | None = None,
        timestamp: float | None = None,
        id: str | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"type": type, "labels": labels, "id": id or uuid.uuid4().hex}
        if value is not None:
            out["value"] = value
        if timestamp is not None:
            out["timestamp"] = timestamp
        return out

    def send(self, events: list[dict[str, Any]]) -> bool:
        """Deliver spooled events, then these. False (and spooled) when the exporter is unreachable.

        A batch the exporter refuses for good (a 4xx) must not block the spool behind it: with a
        spool it moves to `<spool>.rejected` (JSON lines with the error) and the rest goes on; the
        first such refusal is raised as IngestError once the others are delivered.
        """
        with self._lock:
            now = time.monotonic()
            if self.spool is not None and events and now < max(self._not_before, self._down_until):
                self._append_spool(events)  # no request while it is down or asked us to wait
                return False
            return self._deliver(events)

    def flush(self) -> bool:
        """Try now (outage pause or not, but never before a Retry-After has passed)."""
        with self._lock:
            if time.monotonic() < self._not_before:
                return False
            return self._deliver([])

    def _deliver(self, events: list[dict[str, Any]]) -> bool:
        spooled = self._read_spool()
        pending = spooled + list(events)
        if time.monotonic() < self._not_before:
            self._append_spool(events)
            return False
        refused: IngestError | None = None
        for start in range(0, len(pending), self.batch_size):
            chunk = pending[start : start + self.batch_size]
            try:
                self._post(chunk)
            except (requests.ConnectionError, requests.Timeout, _Retryable) as exc:
                if isinstance(exc, requests.ConnectionError | requests.Timeout):
                    self._down_until = time.monotonic() + self._pause
                    self._pause = min(self._pause * 2, self.OUTAGE_PAUSE[1])
                if start == 0:
                    self._append_spool(events)  # nothing went out: the spool only grows by these
                else:
                    self._write_spool(pending[start:])
                return False
            except IngestError as exc:
                if self.spool is None:
                    raise
                self._dead_letter(chunk, exc)
                refused = refused or exc
        self._pause = self.OUTAGE_PAUSE[0]
        self._down_until = 0.0
        if spooled:
            self._write_spool([])
        if refused is not None:
            raise refused
        return True

    def close(self) -> None:
        """Release the spool for another client; the session's connections too."""
        self.session.close()
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file drops its lock
            self._lock_file = None

    def __enter__(self) -> BusinessClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @staticmethod
    def _own(spool: Path) -> Any:
        """Lock `<spool>.lock` for this client, or raise SpoolInUse naming the owner."""
        spool.parent.mkdir(parents=True, exist_ok=True)
        path = spool.with_name(spool.name + ".lock")
        lock_file = path.open("a+")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            owner = lock_file.read().strip() or "unknown"
            lock_file.close()
            raise SpoolInUse(
                f"the spool {str(spool)!r} is used by another client (pid {owner}); give each client its own spool"
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        return lock_file

    @property
    def rejected_path(self) -> Path | None:
        return None if self.spool is None else self.spool.with_name(self.spool.name + ".rejected")

    def spooled(self) -> int:
        return len(self._read_spool())

    def _post(self, events: list[dict[str, Any]]) -> None:
        response = self.session.post(self.url, data=json.dumps(events), timeout=self.timeout)
        status = response.status_code
        # Kept in the spool: outages, rate limits, and a wrong token (fixed by the operator, not the events).
        if status == 429 and "Retry-After" in response.headers:
            try:
                self._not_before = time.monotonic() + float(response.headers["Retry-After"])
            except ValueError:  # an HTTP date: not ours; back off by the usual step
                self._not_before = time.monotonic() + 1.0
            raise _Retryable(status)
        if status >= 500 or status == 401:
            raise _Retryable(status)
        if status >= 400:
            try:
                body = response.json()
            except ValueError:  # not our exporter answering (a proxy's error page): say what came back
                body = {"error": "http_error", "message": response.text[:200]}
            raise IngestError(status, body)

    def _dead_letter(self, chunk: list[dict[str, Any]], error: IngestError) -> None:
        assert self.rejected_path is not None
        with self.rejected_path.open("a") as f:
            for event in chunk:
                f.write(json.dumps({"event": event, "status": error.status, "error": error.body}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _read_spool(self) -> list[dict[str, Any]]:
        if self.spool is None or not self.spool.exists():
            return []
        with self.spool.open() as f:
            lines = [line for line in f if line.strip()]
        events = []
        for number, line in enumerate(lines, 1):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                if number < len(lines):
                    raise
                # A crash in the middle of an append leaves a torn last line; send() never returned for it.
        return events

    def _append_spool(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        if self.spool is None:
            raise ConnectionError(f"{len(events)} events could not be delivered and no spool is configured")
        with self.spool.open("a") as f:
            f.write("".join(json.dumps(event) + "\n" for event in events))
            f.flush()
            os.fsync(f.fileno())

    def _write_spool(self, events: list[dict[str, Any]]) -> None:
        if self.spool is None:
            if events:
                raise ConnectionError(f"{len(events)} events could not be delivered and no spool is configured")
            return
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.spool.with_suffix(".tmp")
        with tmp.open("w") as f:
            for event in events:
                f.write(json.dumps(event) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.spool)  # atomic: a crash leaves the old spool or the new one, never half


class _Retryable(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"the exporter answered {status}")

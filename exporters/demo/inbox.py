"""`alismon demo inbox`: where the demo's notifications land, on loopback only.

A Slack-compatible incoming webhook (POST a Slack message as JSON to /slack, answered `ok` like
Slack does) and an SMTP sink, both keeping what arrives in memory; a small web page (/) and a JSON
API (/api/messages) show it. Alertmanager needs nothing else to deliver: no secret, no TLS, no DNS.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from exporters.core.signals import StopOnSignal
from exporters.core.types import split_listen_address

log = logging.getLogger(__name__)

# Past this many messages the oldest are dropped: a demo left running for days stays small.
MAX_MESSAGES = 1000
MAX_BODY_BYTES = 1 << 20


@dataclass
class Message:
    id: int
    channel: str  # "slack" or "email"
    received_at: float
    title: str  # Slack attachment titles (or text); the email's Subject
    text: str  # Slack attachment texts; the email's plain text part
    to: str  # the Slack channel or the email recipients


class Inbox:
    """What has arrived, in order; safe to use from the HTTP and SMTP threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[Message] = []
        self._next_id = 1

    def add(self, channel: str, title: str, text: str, to: str) -> Message:
        with self._lock:
            message = Message(self._next_id, channel, time.time(), title, text, to)
            self._next_id += 1
            self._messages.append(message)
            del self._messages[:-MAX_MESSAGES]
            return message

    def messages(self) -> list[Message]:
        with self._lock:
            return list(self._messages)

    def add_slack(self, body: dict[str, Any]) -> Message:
        attachments = [a for a in body.get("attachments", []) if isinstance(a, dict)]
        title = "\n".join(str(a.get("title", "")) for a in attachments) or str(body.get("text", ""))
        text = "\n\n".join(str(a.get("text", "")) for a in attachments) or str(body.get("text", ""))
        return self.add("slack", title, text, str(body.get("channel", "")))

    def add_email(self, raw: bytes) -> Message:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        part = parsed.get_body(("plain", "html"))
        text = part.get_content() if part is not None else ""
        return self.add("email", str(parsed.get("Subject", "")), text, str(parsed.get("To", "")))


def _page(messages: list[Message]) -> str:
    rows = "".join(
        f"<tr><td>{m.id}</td><td>{time.strftime('%H:%M:%S', time.localtime(m.received_at))}</td>"
        f"<td>{m.channel}</td><td>{html.escape(m.to)}</td><td><b>{html.escape(m.title)}</b>"
        f"<pre>{html.escape(m.text)}</pre></td></tr>"
        for m in reversed(messages)
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
        "<title>AlisChain demo inbox</title><style>body{font-family:sans-serif}td{vertical-align:top;"
        "border-top:1px solid #ccc;padding:4px}pre{white-space:pre-wrap;margin:0}</style></head><body>"
        f"<h1>AlisChain demo inbox</h1><p>{len(messages)} messages (Slack and email), newest first; "
        "JSON at <a href='api/messages'>api/messages</a>. This page reloads every 5 s.</p>"
        f"<table><tr><th>#</th><th>at</th><th>via</th><th>to</th><th>message</th></tr>{rows}</table>"
        "</body></html>"
    )


def _handler(inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/api/messages":
                data = {"messages": [asdict(m) for m in inbox.messages()]}
                self._send(200, json.dumps(data).encode(), "application/json")
            elif path == "/":
                self._send(200, _page(inbox.messages()).encode(), "text/html; charset=utf-8")
            elif path in ("/-/healthy", "/-/ready"):
                self._send(200, b"ok\n", "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def do_POST(self) -> None:
            if not self.path.startswith("/slack"):
                self._send(404, b"not found\n", "text/plain")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(413, b"message too large\n", "text/plain")
                return
            try:
                body = json.loads(self.rfile.read(length))
                if not isinstance(body, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                self._send(400, f"invalid JSON payload: {exc}\n".encode(), "text/plain")
                return
            message = inbox.add_slack(body)
            log.info("slack message", extra={"id": message.id, "title": message.title[:200]})
            self._send(200, b"ok", "text/plain")  # Slack's answer

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _SMTPHandler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        message = self.inbox.add_email(envelope.content)
        log.info("email", extra={"id": message.id, "subject": message.title[:200]})
        return "250 Message accepted for delivery"


class InboxServer:
    """The web page, the Slack webhook and the SMTP sink around one Inbox."""

    def __init__(self, web_address: str, smtp_address: str) -> None:
        self.inbox = Inbox()
        host, port = split_listen_address(web_address)
        self.http = ThreadingHTTPServer((host, port), _handler(self.inbox))
        smtp_host, smtp_port = split_listen_address(smtp_address)
        self.smtp = Controller(_SMTPHandler(self.inbox), hostname=smtp_host, port=smtp_port)

    def start(self) -> None:
        self.smtp.start()
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.smtp.stop()


def run_inbox(web_address: str, smtp_address: str) -> int:
    server = InboxServer(web_address, smtp_address)
    stop = StopOnSignal()
    server.start()
    log.info("inbox listening", extra={"web": web_address, "smtp": smtp_address})
    while not stop.requested:
        time.sleep(0.2)
    server.stop()
    return 0

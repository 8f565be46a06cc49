"""Local stand-ins for Slack's incoming webhook and an SMTP server, recording what arrives."""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from exporters.stack.procs import free_port


@dataclass
class Received:
    at: float
    body: Any


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that answers 200 like Slack and keeps every JSON body."""

    posts: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                posts.append(Received(time.time(), json.loads(self.rfile.read(length))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Received] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(Received(time.time(), message))
        return "250 Message accepted for delivery"


class SMTPReceiver:
    """aiosmtpd on a free 127.0.0.1 port; `messages` holds parsed email.message objects."""

    def __init__(self) -> None:
        self._mailbox = _Mailbox()
        self.port = free_port()
        self.controller = Controller(self._mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def messages(self) -> list[Received]:
        return self._mailbox.messages

    def close(self) -> None:
        self.controller.stop()


def slack_alerts(slack: WebhookReceiver, alertname: str, status: str) -> list[tuple[float, dict]]:
    """(arrival time, attachment) of Slack messages about `alertname` with `status`."""
    out = []
    for post in slack.posts:
        for attachment in post.body.get("attachments", []):
            if f"] {alertname} " in attachment["title"] and attachment["title"].startswith(f"[{status.upper()}"):
                out.append((post.at, attachment))
    return out

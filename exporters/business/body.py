"""Reading an ingest request's body: streamed, decompressed by us, bounded before and after.

The HTTP server hands bodies over as sent (it decompresses nothing), so a compressed body is
inflated here, chunk by chunk, and refused as soon as either its size on the wire or its
decompressed size passes the limit: a gzip bomb costs at most `max_body_size` of output.
"""

from __future__ import annotations

import asyncio
import zlib

import orjson
from aiohttp import web

from exporters.business.events import Rejection

# Content-Encoding -> zlib's wbits for it (gzip framing, zlib framing); identity is read as is.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_CHUNK = 65536


def _too_large(limit: int, what: str) -> Rejection:
    return Rejection(413, "body_too_large", f"the body {what} is larger than {limit} bytes")


async def read_body(request: web.Request, limit: int, timeout: float) -> bytes:
    """The decompressed body, at most `limit` bytes both as sent and decompressed, read within `timeout` s."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "", *_WBITS):
        raise Rejection(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding[:32]!r} is not supported; send identity, gzip or deflate",
        )
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit, "as sent")
    inflate = zlib.decompressobj(_WBITS[encoding]) if encoding in _WBITS else None
    content = request.content
    if inflate is None and content.is_eof() and content.exception() is None:
        # The whole body came with the head (the usual batch): no wait, so no timer to set.
        raw = content.read_nowait()
        if len(raw) > limit:
            raise _too_large(limit, "as sent")
        return raw
    chunks: list[bytes] = []
    sent = size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_chunked(_CHUNK):
                sent += len(chunk)
                if sent > limit:  # a chunked body has no Content-Length to check up front
                    raise _too_large(limit, "as sent")
                if inflate is not None:
                    chunk = _inflate(inflate, chunk, limit - size, encoding)
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit, "decompressed")
                chunks.append(chunk)
    except TimeoutError:
        raise Rejection(408, "request_timeout", f"the body did not arrive within {timeout:g}s") from None
    except web.RequestPayloadError as exc:
        raise Rejection(400, "bad_framing", f"the body's framing is broken: {_first_line(exc)}") from None
    if inflate is not None and not inflate.eof:
        raise Rejection(400, "bad_encoding", f"the {encoding} body is truncated")
    return b"".join(chunks)


def _inflate(inflate: zlib._Decompress, chunk: bytes, room: int, encoding: str) -> bytes:
    try:
        # One byte more than fits tells "too large" from "exactly full" without inflating the rest.
        out = inflate.decompress(chunk, room + 1)
    except zlib.error as exc:
        raise Rejection(400, "bad_encoding", f"the body is not valid {encoding}: {exc}") from None
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc.__cause__ or exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def json_error_message(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    """What is wrong with a body that is not JSON, said plainly (orjson's wording is about its internals)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"the body is not valid UTF-8 (byte {bad.start})"
    if not raw.strip():
        return "the body is empty; send a JSON event or a JSON array of events"
    return f"the body is not valid JSON: {str(exc)[:200]}"

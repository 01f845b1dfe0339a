"""A short HTTP answer on an h11 connection, then close: what gated's two HTTP proxies (the
credential proxy and the egress proxy) send when they refuse or fail a request."""

from __future__ import annotations

import asyncio

import h11


async def short_reply(
    writer: asyncio.StreamWriter, conn: h11.Connection, status: int, text: bytes
) -> None:
    """`status` with `text` (JSON when it looks like JSON, else plain text) and
    `Connection: close`; nothing when a response was already begun."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    headers = [
        (b"content-type", b"application/json" if text.startswith(b"{") else b"text/plain"),
        (b"content-length", str(len(text)).encode()),
        (b"connection", b"close"),
    ]
    writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
    writer.write(conn.send(h11.Data(data=text)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()

"""The bytes of one egress connection once it is allowed: a plain HTTP request sent on in
origin form and its response copied back, a tunnel's two directions, idle timeouts; and the
short replies the proxy refuses with."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

import h11

from gated.egress.rules import Target
from gated.http_reply import short_reply

READ_CHUNK: Final = 65536
IDLE_TIMEOUT_S: Final = 300.0  # a connection with no byte either way for this long is closed
# Never sent upstream: hop-by-hop headers and what was meant for this proxy.
DROP_REQUEST: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"upgrade",
        b"host",
    }
)


async def read_head(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(READ_CHUNK)
            if not data:
                raise ConnectionError("closed before a request")
            conn.receive_data(data)
        elif isinstance(event, h11.Request):
            return event
        else:
            raise ConnectionError("no request")


async def forward(
    conn: h11.Connection,
    head: h11.Request,
    target: Target,
    path: bytes,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """One plain HTTP request sent on (origin-form, `Connection: close`), its body streamed,
    the response copied back as it comes; then the connection is closed, so a second request
    on it never reaches this host unchecked."""
    hop = {
        token.strip().lower()
        for name, value in head.headers
        if name == b"connection"
        for token in value.split(b",")
    }
    headers = [(k, v) for k, v in head.headers if k not in DROP_REQUEST and k not in hop]
    host = target.host if target.ip is None or target.ip.version == 4 else f"[{target.host}]"
    authority = host if target.port == 80 else f"{host}:{target.port}"
    headers = [(b"host", authority.encode()), *headers, (b"connection", b"close")]
    client = h11.Connection(h11.CLIENT)
    up_writer.write(client.send(h11.Request(method=head.method, target=path, headers=headers)))
    activity = [time.monotonic()]
    back = asyncio.ensure_future(pipe(up_reader, writer, activity))
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await read_idle(reader, activity)
                if data is None:
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.Data):
                up_writer.write(client.send(event) or b"")
                await up_writer.drain()
            elif isinstance(event, h11.EndOfMessage):
                up_writer.write(client.send(event) or b"")
                await up_writer.drain()
                break
            else:
                return
        await back
    except (ConnectionError, h11.ProtocolError):
        return
    finally:
        back.cancel()


async def read_idle(reader: asyncio.StreamReader, activity: list[float]) -> bytes | None:
    """The next bytes; None once neither direction moved for IDLE_TIMEOUT_S."""
    while True:
        try:
            data = await asyncio.wait_for(reader.read(READ_CHUNK), IDLE_TIMEOUT_S)
        except TimeoutError:
            if time.monotonic() - activity[0] >= IDLE_TIMEOUT_S:
                return None
            continue
        activity[0] = time.monotonic()
        return data


async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, activity: list[float]) -> None:
    try:
        while data := await read_idle(src, activity):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (ConnectionError, OSError):
        return


async def pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    activity = [time.monotonic()]
    await asyncio.gather(pipe(reader, up_writer, activity), pipe(up_reader, writer, activity))


async def reply(
    writer: asyncio.StreamWriter, conn: h11.Connection, status: int, text: bytes
) -> None:
    """A short answer to the agent; a connection it already dropped is no error."""
    with contextlib.suppress(h11.ProtocolError, ConnectionError):
        await short_reply(writer, conn, status, text)


async def tunnel(
    conn: h11.Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Answer a CONNECT with 200, then copy bytes both ways (what the client sent after the
    head first)."""
    while (event := conn.next_event()) is h11.NEED_DATA:
        data = await asyncio.wait_for(reader.read(READ_CHUNK), IDLE_TIMEOUT_S)
        if not data:
            return
        conn.receive_data(data)
    if not isinstance(event, h11.EndOfMessage):  # a CONNECT with a body
        await reply(writer, conn, 400, b"egress: CONNECT takes no body\n")
        return
    writer.write(conn.send(h11.Response(status_code=200, headers=[])) or b"")
    await writer.drain()
    early, _ = conn.trailing_data  # what the client sent after the head
    if early:
        up_writer.write(early)
    await pipe_both(reader, writer, up_reader, up_writer)

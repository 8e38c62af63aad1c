"""A yamux peer that writes raw frames: allowed to break every rule (hostile-peer tests)."""

from __future__ import annotations

import asyncio
import socket

from plugwire.yamux import Session, SessionConfig
from plugwire.yamux.frame import Header, decode_header, encode_header


class RawPeer:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, type_: int, flags: int, sid: int, length: int, payload: bytes = b"") -> None:
        self.writer.write(encode_header(type_, flags, sid, length) + payload)

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def frame(self) -> tuple[Header, bytes]:
        """The next frame the Python session sent (with its payload for Data)."""
        h = decode_header(await asyncio.wait_for(self.reader.readexactly(12), 10))
        payload = await self.reader.readexactly(h.length) if h.type == 0 and h.length else b""
        return h, payload

    async def until(self, pred) -> tuple[Header, bytes]:
        while True:
            h, p = await self.frame()
            if pred(h):
                return h, p

    async def eof(self) -> bytes:
        return await asyncio.wait_for(self.reader.read(), 10)


async def pair(role: str = "server", config: SessionConfig | None = None) -> tuple[Session, RawPeer]:
    """A Python session in ``role`` and a raw peer, over a socket pair."""
    a, b = socket.socketpair()
    ra, wa = await asyncio.open_connection(sock=a)
    rb, wb = await asyncio.open_connection(sock=b)
    return Session(ra, wa, role, config), RawPeer(rb, wb)

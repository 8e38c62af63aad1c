"""Two ends of one yamux stream over a socket pair: RPC peers or raw frames."""

from __future__ import annotations

import asyncio
import socket
import struct

from plugwire.rpc import Codec, RpcPeer, msgpack_codec
from plugwire.yamux import Session, Stream


async def stream_pair() -> tuple[Stream, Stream, Session, Session]:
    a, b = socket.socketpair()
    ra, wa = await asyncio.open_connection(sock=a)
    rb, wb = await asyncio.open_connection(sock=b)
    client, server = Session(ra, wa, "client"), Session(rb, wb, "server")
    s1 = client.open_stream()
    s2 = await server.accept_stream()
    return s1, s2, client, server


async def peer_pair(codec: Codec = msgpack_codec, **kw) -> tuple[RpcPeer, RpcPeer]:
    s1, s2, _, _ = await stream_pair()
    return RpcPeer(s1, codec, name="a", **kw), RpcPeer(s2, codec, name="b", **kw)


class RawEnd:
    """Writes and reads frames by hand, to break the rules."""

    def __init__(self, stream: Stream, codec: Codec) -> None:
        self.stream = stream
        self.codec = codec

    async def send(self, msg) -> None:
        body = self.codec.encode(msg)
        await self.stream.write(struct.pack(">I", len(body)) + body)

    async def send_raw(self, data: bytes) -> None:
        await self.stream.write(data)

    async def recv(self):
        (n,) = struct.unpack(">I", await asyncio.wait_for(self.stream.readexactly(4), 10))
        return self.codec.decode(await self.stream.readexactly(n))


async def raw_pair(codec: Codec = msgpack_codec, **kw) -> tuple[RawEnd, RpcPeer]:
    s1, s2, _, _ = await stream_pair()
    return RawEnd(s1, codec), RpcPeer(s2, codec, name="peer", **kw)

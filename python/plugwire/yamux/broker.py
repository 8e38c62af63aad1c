"""go-plugin's MuxBroker: extra streams of a session addressed by a numeric id.

The dialer opens a stream and writes the id as a little-endian uint32; the acceptor, once
``accept(id)`` was called, writes the same 4 bytes back. From then on the stream is a plain
byte stream. The client (host) mints odd ids, the server (plugin) even ones.
"""

from __future__ import annotations

import asyncio
import logging
import struct

from .errors import BrokerError, BrokerTimeoutError, MuxError, SessionClosedError
from .session import Session
from .stream import Stream

log = logging.getLogger("plugwire.yamux.broker")

_ID = struct.Struct("<I")

#: go-plugin hard-codes 5 s.
DEFAULT_BROKER_TIMEOUT = 5.0
#: Dialled streams that may wait at once for their id to arrive or for accept(): each can
#: hold a window of data, so a peer that opens streams without end is refused past it.
DEFAULT_MAX_WAITING = 256


class MuxBroker:
    def __init__(
        self,
        session: Session,
        timeout: float = DEFAULT_BROKER_TIMEOUT,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> None:
        self._session = session
        self._timeout = timeout
        self._max_waiting = max_waiting
        self._next_id = 1 if session.role == "client" else 2
        self._pending: dict[int, asyncio.Future[Stream]] = {}
        self._held: dict[int, tuple[Stream, asyncio.TimerHandle]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def next_id(self) -> int:
        """A fresh id for ``accept()``: odd on the client (host) side, even on the server side."""
        bid = self._next_id
        self._next_id = (self._next_id + 2) & 0xFFFF_FFFF
        return bid

    async def accept(self, broker_id: int, timeout: float | None = None) -> Stream:
        """Waits for the peer to dial ``broker_id``, acknowledges it, returns the stream."""
        if self._closed or not self._session.is_open:
            raise SessionClosedError("broker closed")
        if broker_id in self._pending:
            raise BrokerError(broker_id, "accept() is already waiting for this id")
        held = self._held.pop(broker_id, None)
        if held is not None:
            held[1].cancel()
            return await self._ack(broker_id, held[0])
        fut: asyncio.Future[Stream] = asyncio.get_running_loop().create_future()
        self._pending[broker_id] = fut
        t = self._timeout if timeout is None else timeout
        try:
            stream = await asyncio.wait_for(fut, t)
        except asyncio.TimeoutError:
            raise BrokerTimeoutError(broker_id, "no dial arrived", t) from None
        finally:
            if self._pending.get(broker_id) is fut:
                del self._pending[broker_id]
        return await self._ack(broker_id, stream)

    async def dial(self, broker_id: int, timeout: float | None = None) -> Stream:
        """Opens a stream to the peer's ``broker_id``; returns once the peer acknowledged it."""
        if self._closed:
            raise SessionClosedError("broker closed")
        stream = self._session.open_stream()
        t = self._timeout if timeout is None else timeout
        try:
            await stream.write(_ID.pack(broker_id))
            ack = await asyncio.wait_for(stream.readexactly(4), t)
        except asyncio.TimeoutError:
            stream.reset()
            raise BrokerTimeoutError(broker_id, "dial not acknowledged", t) from None
        except (asyncio.IncompleteReadError, MuxError) as e:
            stream.reset()
            raise BrokerError(
                broker_id,
                "the peer closed the stream without accepting it (nobody called accept() "
                f"for this id in time): {e}",
            ) from e
        except BaseException:
            stream.reset()
            raise
        (got,) = _ID.unpack(ack)
        if got != broker_id:
            stream.reset()
            raise BrokerError(broker_id, f"bad ack {got}")
        return stream

    def handle_stream(self, stream: Stream) -> None:
        """Reads the id a peer's dial starts with (on its own, with a timeout: one silent
        dialer never holds up the others) and hands the stream to the matching accept()."""
        if len(self._tasks) + len(self._held) >= self._max_waiting:
            log.debug("%d dialled streams already waiting: resetting stream %d", self._max_waiting, stream.id)
            stream.reset()
            return
        task = asyncio.create_task(self._route(stream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Takes every stream the peer opens (go-plugin's Run) until the session ends."""
        while True:
            try:
                stream = await self._session.accept_stream()
            except MuxError:
                self.close()
                return
            self.handle_stream(stream)

    def close(self) -> None:
        """Fails pending accepts and resets held streams."""
        if self._closed:
            return
        self._closed = True
        err = self._session.close_error or SessionClosedError("broker closed")
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()
        for stream, timer in self._held.values():
            timer.cancel()
            stream.reset()
        self._held.clear()
        for task in list(self._tasks):
            task.cancel()

    async def _route(self, stream: Stream) -> None:
        try:
            raw = await asyncio.wait_for(stream.readexactly(4), self._timeout)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, MuxError):
            stream.reset()
            return
        (bid,) = _ID.unpack(raw)
        if self._closed:
            stream.reset()
            return
        fut = self._pending.get(bid)
        if fut is not None and not fut.done():
            del self._pending[bid]
            fut.set_result(stream)
            return
        if bid in self._held:
            log.debug("second dial of id %d refused", bid)
            stream.reset()
            return
        loop = asyncio.get_running_loop()

        def expire() -> None:
            held = self._held.get(bid)
            if held is not None and held[0] is stream:
                del self._held[bid]
                log.debug("id %d was dialled but not accepted in time: resetting", bid)
                stream.reset()

        self._held[bid] = (stream, loop.call_later(self._timeout, expire))

    async def _ack(self, broker_id: int, stream: Stream) -> Stream:
        await stream.write(_ID.pack(broker_id))
        return stream

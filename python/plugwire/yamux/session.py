"""A yamux session over one asyncio connection (StreamReader/StreamWriter pair).

Byte-compatible with github.com/hashicorp/yamux: the client role opens odd stream ids,
the server role even ones; both can open and accept streams.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from enum import Enum

from .config import SessionConfig
from .constants import HEADER_SIZE, INITIAL_STREAM_WINDOW, MAX_UINT32, Flag, FrameType, GoAwayCode
from .errors import (
    KeepAliveTimeoutError,
    MuxError,
    PingTimeoutError,
    ProtocolError,
    RemoteGoAwayError,
    SessionClosedError,
    StreamsExhaustedError,
    WriteBacklogError,
    WriteTimeoutError,
)
from .frame import decode_header, encode_header
from .stream import Stream, StreamState

log = logging.getLogger("plugwire.yamux")


class SessionState(Enum):
    OPEN = "open"
    CLOSING = "closing"  # close() was called: no new streams, waiting for open ones
    CLOSED = "closed"


class Session:
    """A yamux session. Create it inside a running event loop: it starts reading at once."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        role: str,
        config: SessionConfig | None = None,
        name: str = "",
    ) -> None:
        if role not in ("client", "server"):
            raise ValueError("role must be 'client' or 'server'")
        self.role = role
        self.config = config or SessionConfig()
        self.name = name or role
        self._reader = reader
        self._writer = writer
        self._state = SessionState.OPEN
        self._streams: dict[int, Stream] = {}
        self._next_id = 1 if role == "client" else 2
        self._local_go_away = False
        self._remote_go_away = False
        self._close_error: MuxError | None = None
        self._backlog: deque[Stream] = deque()
        self._accept_waiters: deque[asyncio.Future[Stream]] = deque()
        self._pings: dict[int, asyncio.Future[None]] = {}
        self._ping_ids = itertools.count()
        self._closed = asyncio.get_running_loop().create_future()
        self._data_lock = asyncio.Lock()
        self._recv_task = asyncio.create_task(self._recv_loop(), name=f"yamux-recv-{self.name}")
        self._keepalive_task = (
            asyncio.create_task(self._keepalive(), name=f"yamux-keepalive-{self.name}")
            if self.config.enable_keep_alive
            else None
        )

    # ---- public -------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def is_open(self) -> bool:
        return self._state != SessionState.CLOSED

    @property
    def close_error(self) -> MuxError | None:
        """Why the session ended, when it did not end cleanly."""
        return self._close_error

    @property
    def num_streams(self) -> int:
        return len(self._streams)

    def open_stream(self) -> Stream:
        """Opens a stream (its SYN goes out at once) that can be written to at once."""
        if self._state != SessionState.OPEN:
            raise self._close_error or SessionClosedError("cannot open a stream: session is closing")
        if self._remote_go_away:
            raise RemoteGoAwayError(GoAwayCode.NORMAL)
        sid = self._next_id
        if sid > MAX_UINT32:
            raise StreamsExhaustedError()
        self._next_id += 2
        stream = Stream(self, sid, StreamState.INIT)
        self._streams[sid] = stream
        stream._send_syn()
        return stream

    async def accept_stream(self) -> Stream:
        """The next stream the peer opens (acknowledged now). Raises when the session ends."""
        if self._backlog:
            stream = self._backlog.popleft()
            stream._accept()
            return stream
        if self._state != SessionState.OPEN:
            raise self._close_error or SessionClosedError()
        fut: asyncio.Future[Stream] = asyncio.get_running_loop().create_future()
        self._accept_waiters.append(fut)
        try:
            return await fut
        finally:
            if fut in self._accept_waiters:
                self._accept_waiters.remove(fut)

    async def ping(self) -> float:
        """Round trip to the peer, in seconds."""
        if self._state == SessionState.CLOSED:
            raise self._close_error or SessionClosedError()
        pid = next(self._ping_ids) & MAX_UINT32
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pings[pid] = fut
        started = time.monotonic()
        self._send_control(FrameType.PING, Flag.SYN, 0, pid)
        try:
            await asyncio.wait_for(fut, self.config.connection_write_timeout)
        except asyncio.TimeoutError:
            raise PingTimeoutError(self.config.connection_write_timeout) from None
        finally:
            self._pings.pop(pid, None)
        return time.monotonic() - started

    def go_away(self, reason: GoAwayCode = GoAwayCode.NORMAL) -> None:
        """Tells the peer we accept no new streams (its opens are reset from now on)."""
        if self._state == SessionState.CLOSED:
            return
        self._local_go_away = True
        self._send_control(FrameType.GO_AWAY, 0, 0, reason)

    async def close(self, timeout: float | None = None) -> None:
        """Closes gracefully: GoAway, refuse new streams, reset streams nobody accepted, wait
        for the open streams to finish (at most ``timeout`` seconds, by default the
        connection write timeout; then they are aborted), then close the connection."""
        if self._state == SessionState.OPEN:
            if not self._local_go_away:
                self.go_away(GoAwayCode.NORMAL)
            self._state = SessionState.CLOSING
            for s in list(self._backlog):
                s.reset()
            self._backlog.clear()
            self._fail_accept_waiters(SessionClosedError())
            if not self._streams:
                self._teardown(None)
        wait = self.config.connection_write_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(self.wait_closed(), wait)
        except asyncio.TimeoutError:
            self._teardown(SessionClosedError(f"streams still open {wait:g} s after close()"))

    def abort(self, error: MuxError | None = None) -> None:
        """Ends the session now; open streams fail with ``error`` or SessionClosedError."""
        self._teardown(error, hard=True)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    # ---- receiving ----------------------------------------------------------------------

    async def _recv_loop(self) -> None:
        try:
            while True:
                try:
                    raw = await self._reader.readexactly(HEADER_SIZE)
                except asyncio.IncompleteReadError as e:
                    if e.partial:
                        raise ProtocolError("connection ended inside a frame header") from None
                    # yamux has no half-closed connection: the peer is gone.
                    self._teardown(
                        SessionClosedError("connection closed by the peer") if self._streams else None
                    )
                    return
                await self._on_frame(raw)
        except ProtocolError as e:
            log.debug("%s: %s", self.name, e)
            self._teardown(e, go_away=GoAwayCode.PROTOCOL_ERROR)
        except asyncio.IncompleteReadError:
            self._teardown(SessionClosedError("connection closed by the peer inside a frame"))
        except (ConnectionError, OSError) as e:
            self._teardown(SessionClosedError(f"connection error: {e}"))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug of ours: end the session rather than hang
            log.exception("%s: internal error", self.name)
            self._teardown(MuxError(f"yamux internal error: {e}", "PLUGWIRE_MUX_INTERNAL"), go_away=GoAwayCode.INTERNAL_ERROR)

    async def _on_frame(self, raw: bytes) -> None:
        h = decode_header(raw)
        t, flags, sid, length = h.type, h.flags, h.stream_id, h.length
        if t in (FrameType.DATA, FrameType.WINDOW_UPDATE):
            if sid == 0:
                raise ProtocolError(f"{t.name} frame on stream id 0")
            stream = self._streams.get(sid)
            if flags & Flag.SYN:
                stream = self._incoming(sid, stream)
            if t == FrameType.WINDOW_UPDATE:
                if stream is not None:
                    stream._on_flags(flags & ~Flag.FIN)
                    stream._on_window_update(length)
                    if flags & Flag.FIN:
                        stream._on_flags(Flag.FIN)
                return
            # A data frame longer than any window we give is a broken or hostile peer, even
            # for a stream that is gone: never read megabytes just to drop them.
            if length > self.config.max_stream_window_size:
                raise ProtocolError(
                    f"data frame of {length} bytes for stream {sid} exceeds the "
                    f"{self.config.max_stream_window_size}-byte window"
                )
            target: Stream | None = None
            if stream is not None and not flags & Flag.RST:
                if flags & Flag.ACK:
                    stream._on_flags(Flag.ACK)
                stream._check_reserve(length)
                target = stream
            elif stream is not None:
                stream._on_flags(flags)  # RST: the payload is dropped
            payload = await self._reader.readexactly(length) if length else b""
            if target is not None:
                # The window is taken only now, with the bytes in hand: an ACK or a window
                # update computed while the payload was still arriving must not count
                # bytes that are neither in the window nor in the buffer.
                target._reserve(length)
                if payload:
                    target._on_data(payload)
                # FIN after the payload it came with, so the data arrives before the end.
                if flags & Flag.FIN:
                    target._on_flags(Flag.FIN)
            return
        if t == FrameType.PING:
            if flags & Flag.SYN:
                self._send_control(FrameType.PING, Flag.ACK, 0, length)
            elif flags & Flag.ACK:
                fut = self._pings.get(length)
                if fut is not None and not fut.done():
                    fut.set_result(None)
            return
        # GoAway
        if length == GoAwayCode.NORMAL:
            log.debug("%s: peer sent GoAway(normal)", self.name)
            self._remote_go_away = True
        else:
            self._teardown(RemoteGoAwayError(length))

    def _incoming(self, sid: int, existing: Stream | None) -> Stream | None:
        if existing is not None:
            raise ProtocolError(f"duplicate SYN for stream {sid}")
        if (sid & 1) == (1 if self.role == "client" else 0):
            raise ProtocolError(
                f"peer opened stream {sid}, an id of the {self.role} side "
                "(client ids are odd, server ids even)"
            )
        if self._local_go_away or self._state != SessionState.OPEN:
            self._send_control(FrameType.WINDOW_UPDATE, Flag.RST, sid, 0)
            return None
        stream = Stream(self, sid, StreamState.SYN_RECEIVED)
        while self._accept_waiters:
            fut = self._accept_waiters.popleft()
            if not fut.done():
                self._streams[sid] = stream
                stream._accept()
                fut.set_result(stream)
                return stream
        if len(self._backlog) >= self.config.accept_backlog:
            log.debug("%s: accept backlog full, resetting stream %d", self.name, sid)
            self._send_control(FrameType.WINDOW_UPDATE, Flag.RST, sid, 0)
            return None
        self._streams[sid] = stream
        self._backlog.append(stream)
        return stream

    # ---- sending ------------------------------------------------------------------------

    def _send_control(self, t: FrameType, flags: int, sid: int, length: int) -> None:
        if self._state == SessionState.CLOSED or self._writer.is_closing():
            return
        self._writer.write(encode_header(t, flags, sid, length))
        backlog = self._writer.transport.get_write_buffer_size()
        if backlog > self.config.max_write_backlog:
            self._teardown(WriteBacklogError(backlog, self.config.max_write_backlog), hard=True)

    def _send_data(self, sid: int, flags: int, payload: memoryview) -> None:
        if self._state == SessionState.CLOSED or self._writer.is_closing():
            raise self._close_error or SessionClosedError()
        n = len(payload)
        if n <= 4096:
            self._writer.write(encode_header(FrameType.DATA, flags, sid, n) + payload)
        else:
            self._writer.writelines((encode_header(FrameType.DATA, flags, sid, n), payload))

    async def _drain(self) -> None:
        """Waits until the connection took our writes; a connection stuck for the write
        timeout ends the session."""
        try:
            await asyncio.wait_for(self._writer.drain(), self.config.connection_write_timeout)
        except asyncio.TimeoutError:
            err = WriteTimeoutError(self.config.connection_write_timeout)
            self._teardown(err, hard=True)
            raise err from None
        except (ConnectionError, OSError) as e:
            err = SessionClosedError(f"connection error: {e}")
            self._teardown(err, hard=True)
            raise err from None

    async def _keepalive(self) -> None:
        while self._state != SessionState.CLOSED:
            await asyncio.sleep(self.config.keep_alive_interval)
            try:
                await self.ping()
            except PingTimeoutError:
                self._teardown(KeepAliveTimeoutError(self.config.connection_write_timeout), hard=True)
                return
            except MuxError:
                return

    # ---- ending -------------------------------------------------------------------------

    def _stream_done(self, stream: Stream) -> None:
        if self._streams.get(stream.id) is not stream:
            return
        del self._streams[stream.id]
        try:
            self._backlog.remove(stream)
        except ValueError:
            pass
        if self._state == SessionState.CLOSING and not self._streams:
            self._teardown(None)

    def _fail_accept_waiters(self, err: MuxError) -> None:
        while self._accept_waiters:
            fut = self._accept_waiters.popleft()
            if not fut.done():
                fut.set_exception(err)

    def _teardown(self, error: MuxError | None, go_away: GoAwayCode | None = None, hard: bool = False) -> None:
        """The one way a session ends. ``go_away`` is sent first; ``hard`` drops frames
        still queued instead of letting them reach the peer."""
        if self._state == SessionState.CLOSED:
            return
        if go_away is not None:
            self._send_control(FrameType.GO_AWAY, 0, 0, go_away)
        self._state = SessionState.CLOSED
        self._close_error = error
        log.debug("%s: session closed%s", self.name, f": {error}" if error else "")
        stream_error = error or SessionClosedError()
        streams = list(self._streams.values())
        self._streams.clear()
        self._backlog.clear()
        for s in streams:
            s._abort(stream_error)
        self._fail_accept_waiters(stream_error)
        for fut in self._pings.values():
            if not fut.done():
                fut.set_exception(stream_error)
        self._pings.clear()
        current = asyncio.current_task()
        if self._recv_task is not current:
            self._recv_task.cancel()
        if self._keepalive_task is not None and self._keepalive_task is not current:
            self._keepalive_task.cancel()
        transport = self._writer.transport
        if hard:
            transport.abort()
        else:
            self._writer.close()  # queued frames (GoAway, FINs) still go out
        if not self._closed.done():
            self._closed.set_result(None)

    def __repr__(self) -> str:
        return f"<yamux.Session {self.name} {self.role} {self._state.value} streams={len(self._streams)}>"


async def connect_unix(path: str, role: str = "client", config: SessionConfig | None = None) -> Session:
    """Dials a unix socket and runs a session over it."""
    reader, writer = await asyncio.open_unix_connection(path)
    return Session(reader, writer, role, config)


__all__ = ["Session", "SessionState", "connect_unix", "INITIAL_STREAM_WINDOW"]

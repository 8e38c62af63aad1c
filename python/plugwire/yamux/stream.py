"""One yamux stream: its state machine, its two windows and its receive buffer."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import TYPE_CHECKING

from .constants import INITIAL_STREAM_WINDOW, MAX_UINT32, Flag, FrameType

#: The largest Data frame we send, whatever window the peer gives (a frame is written whole).
MAX_DATA_FRAME = INITIAL_STREAM_WINDOW
from .errors import MuxError, ProtocolError, SessionClosedError, StreamResetError

if TYPE_CHECKING:
    from .session import Session


class StreamState(Enum):
    """As in Go's stream.go: one field, moved in one place per event."""

    INIT = "init"  # opened here, SYN not sent yet
    SYN_SENT = "synSent"  # SYN sent, no ACK yet; writing is allowed (the window is known)
    SYN_RECEIVED = "synReceived"  # opened by the peer, not accepted here yet (no ACK sent)
    ESTABLISHED = "established"
    LOCAL_CLOSE = "localClose"  # we sent FIN; the peer may still send
    REMOTE_CLOSE = "remoteClose"  # the peer sent FIN; we may still send
    CLOSED = "closed"  # FIN both ways
    RESET = "reset"  # RST sent or received, or the session ended


_OPEN_FOR_WRITE = (
    StreamState.INIT,
    StreamState.SYN_SENT,
    StreamState.SYN_RECEIVED,
    StreamState.ESTABLISHED,
    StreamState.REMOTE_CLOSE,
)


class Stream:
    """A yamux stream. ``write`` never exceeds the peer's window (it waits for credit);
    received bytes are credited back only once ``read`` took them, once at least half the
    window was read (Go's rule), so a reader that stops reading holds at most one window.
    ``close`` half-closes (FIN); ``reset`` ends both directions (RST)."""

    def __init__(self, session: Session, stream_id: int, state: StreamState) -> None:
        self.id = stream_id
        self._session = session
        self._state = state
        self._send_window = INITIAL_STREAM_WINDOW
        self._recv_window = INITIAL_STREAM_WINDOW
        self._buf = bytearray()
        self._fin_received = False
        self._error: MuxError | None = None
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._closed = asyncio.Event()

    @property
    def state(self) -> StreamState:
        return self._state

    @property
    def session(self) -> Session:
        return self._session

    # ---- reading ------------------------------------------------------------------------

    async def read(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes; ``b""`` once the peer half-closed and everything was read.
        Raises StreamResetError (or the session's error) when the stream was reset."""
        while not self._buf:
            if self._error is not None and not self._fin_received:
                raise self._error
            if self._fin_received:
                return b""
            self._readable.clear()
            await self._readable.wait()
        if self._error is not None and not self._fin_received:
            raise self._error
        take = bytes(self._buf[:n])
        del self._buf[:n]
        self._credit()
        return take

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or asyncio.IncompleteReadError at the end of the stream."""
        parts = bytearray()
        while len(parts) < n:
            chunk = await self.read(n - len(parts))
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(parts), n)
            parts += chunk
        return bytes(parts)

    async def read_all(self, limit: int | None = None) -> bytes:
        """Everything until the peer's FIN; MuxError past ``limit`` bytes (when given)."""
        out = bytearray()
        while True:
            chunk = await self.read()
            if not chunk:
                return bytes(out)
            out += chunk
            if limit is not None and len(out) > limit:
                self.reset()
                raise MuxError(f"stream {self.id} sent more than {limit} bytes", "PLUGWIRE_MUX_TOO_LARGE")

    # ---- writing ------------------------------------------------------------------------

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Sends ``data``, in as many frames as the peer's window needs; returns once the
        connection took it. Concurrent writes never interleave."""
        view = memoryview(data).cast("B")
        async with self._write_lock:
            off = 0
            while off < len(view):
                self._check_writable()
                if self._send_window == 0:
                    self._writable.clear()
                    await self._writable.wait()
                    continue
                # One frame at a time on the whole session, each handed to the connection
                # before the next: unsent data stays within one frame plus the transport's
                # high-water mark, however many streams write at once.
                async with self._session._data_lock:
                    self._check_writable()
                    n = min(self._send_window, len(view) - off, MAX_DATA_FRAME)
                    if n == 0:
                        continue
                    self._send_window -= n
                    self._session._send_data(self.id, self._take_flags(), view[off : off + n])
                    off += n
                    await self._session._drain()

    async def close(self) -> None:
        """Half-closes: sends FIN after any write in progress. Reading goes on."""
        async with self._write_lock:
            self._close_now()

    def _close_now(self) -> None:
        s = self._state
        if s in (StreamState.LOCAL_CLOSE, StreamState.CLOSED, StreamState.RESET):
            return
        self._session._send_control(FrameType.WINDOW_UPDATE, self._take_flags() | Flag.FIN, self.id, 0)
        if self._state == StreamState.REMOTE_CLOSE:
            self._state = StreamState.CLOSED
            self._done()
        else:
            self._state = StreamState.LOCAL_CLOSE

    def reset(self) -> None:
        """Ends both directions at once (RST). Pending reads and writes fail."""
        s = self._state
        if s in (StreamState.CLOSED, StreamState.RESET):
            return
        if s != StreamState.INIT:
            self._session._send_control(FrameType.WINDOW_UPDATE, Flag.RST, self.id, 0)
        self._state = StreamState.RESET
        self._error = StreamResetError(self.id, f"stream {self.id} was reset locally")
        self._buf.clear()
        self._done()
        self._wake()

    async def wait_closed(self) -> None:
        """Returns when the stream is closed both ways or reset."""
        await self._closed.wait()

    # ---- called by the session ----------------------------------------------------------

    def _accept(self) -> None:
        """The application accepted the stream: ACK it, announcing a larger window if any."""
        if self._state == StreamState.SYN_RECEIVED:
            self._session._send_control(
                FrameType.WINDOW_UPDATE, self._take_flags(), self.id, self._window_delta()
            )

    def _send_syn(self) -> None:
        if self._state == StreamState.INIT:
            self._session._send_control(
                FrameType.WINDOW_UPDATE, self._take_flags(), self.id, self._window_delta()
            )

    def _on_flags(self, flags: int) -> None:
        if flags & Flag.RST:
            self._on_remote_reset()
            return
        if flags & Flag.ACK and self._state == StreamState.SYN_SENT:
            self._state = StreamState.ESTABLISHED
        if flags & Flag.FIN:
            self._on_remote_fin()

    def _on_window_update(self, delta: int) -> None:
        if self._send_window + delta > MAX_UINT32:
            raise ProtocolError(f"window update overflows the send window of stream {self.id}")
        self._send_window += delta
        if delta > 0:
            self._writable.set()

    def _check_reserve(self, length: int) -> None:
        """A Data frame of ``length`` bytes is announced: it must fit the receive window."""
        if length > self._recv_window:
            raise ProtocolError(
                f"stream {self.id} received {length} bytes with only {self._recv_window} of window left"
            )

    def _reserve(self, length: int) -> None:
        """A Data frame of ``length`` bytes arrived: take it from the receive window."""
        if length > self._recv_window:
            raise ProtocolError(
                f"stream {self.id} received {length} bytes with only {self._recv_window} of window left"
            )
        self._recv_window -= length

    def _on_data(self, payload: bytes) -> None:
        if self._fin_received or self._state == StreamState.RESET:
            return  # nobody will read it
        self._buf += payload
        self._readable.set()

    def _abort(self, err: MuxError) -> None:
        """The session ended under this stream. What the peer sent before its FIN stays readable."""
        if self._state in (StreamState.CLOSED, StreamState.RESET) and self._error is not None:
            return
        self._state = StreamState.RESET
        self._error = err
        self._wake()
        self._closed.set()

    # ---- internals ----------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._state not in _OPEN_FOR_WRITE:
            if self._error is not None:
                raise self._error
            raise MuxError(f"stream {self.id} is closed for writing", "PLUGWIRE_MUX_STREAM_CLOSED")
        if not self._session.is_open:
            raise self._session.close_error or SessionClosedError()

    def _take_flags(self) -> int:
        """SYN on our first frame, ACK on our first frame of an accepted stream."""
        if self._state == StreamState.INIT:
            self._state = StreamState.SYN_SENT
            return Flag.SYN
        if self._state == StreamState.SYN_RECEIVED:
            self._state = StreamState.ESTABLISHED
            return Flag.ACK
        return 0

    def _window_delta(self) -> int:
        """Go's formula: the credit that brings the peer back to a full window."""
        delta = self._session.config.max_stream_window_size - len(self._buf) - self._recv_window
        self._recv_window += delta
        return delta

    def _credit(self) -> None:
        """Returns read bytes to the peer once at least half the window was read (Go's rule)."""
        if self._fin_received or self._state in (
            StreamState.SYN_RECEIVED,
            StreamState.RESET,
            StreamState.CLOSED,
        ):
            return
        maximum = self._session.config.max_stream_window_size
        delta = maximum - len(self._buf) - self._recv_window
        if delta < maximum // 2 or not self._session.is_open:
            return
        self._recv_window += delta
        self._session._send_control(FrameType.WINDOW_UPDATE, self._take_flags(), self.id, delta)

    def _on_remote_fin(self) -> None:
        s = self._state
        if s in (StreamState.SYN_SENT, StreamState.SYN_RECEIVED, StreamState.ESTABLISHED):
            self._state = StreamState.REMOTE_CLOSE
        elif s == StreamState.LOCAL_CLOSE:
            self._state = StreamState.CLOSED
            self._done()
        else:
            return  # a second FIN, or FIN after reset
        self._fin_received = True
        self._readable.set()

    def _on_remote_reset(self) -> None:
        if self._state in (StreamState.CLOSED, StreamState.RESET):
            return
        self._state = StreamState.RESET
        self._error = StreamResetError(self.id)
        self._buf.clear()
        self._done()
        self._wake()

    def _wake(self) -> None:
        self._readable.set()
        self._writable.set()

    def _done(self) -> None:
        self._closed.set()
        self._session._stream_done(self)

    def __repr__(self) -> str:
        return f"<yamux.Stream id={self.id} state={self._state.value}>"

"""Options of a yamux session, with their defaults in one place (hashicorp/yamux's DefaultConfig)."""

from __future__ import annotations

from dataclasses import dataclass

from .constants import INITIAL_STREAM_WINDOW, MAX_UINT32


@dataclass(frozen=True)
class SessionConfig:
    #: Incoming streams that may wait for ``accept_stream()``; further ones are refused with
    #: RST. Streams are acknowledged (ACK) when accepted, as in Go.
    accept_backlog: int = 256
    #: Ping the peer every ``keep_alive_interval`` seconds and close the session when a ping is
    #: not answered within ``connection_write_timeout``.
    enable_keep_alive: bool = True
    keep_alive_interval: float = 30.0
    #: How long the connection may refuse our writes, and a ping may go unanswered, before
    #: the session is considered dead (Go's "safety valve").
    connection_write_timeout: float = 10.0
    #: The receive window of each stream: unread bytes the peer may send before it waits.
    #: Values above 256 KiB are announced in the SYN or ACK frame. Memory held for a stream
    #: whose reader does not read is bounded by this value.
    max_stream_window_size: int = INITIAL_STREAM_WINDOW
    #: Bytes of our frames the connection may hold unsent. Data writes wait for the
    #: connection, but control frames (window updates, ping answers) are the peer's doing:
    #: a peer that floods pings and never reads would grow this without bound, so past it
    #: the session ends with WriteBacklogError.
    max_write_backlog: int = 4 * 1024 * 1024

    def __post_init__(self) -> None:
        if not isinstance(self.accept_backlog, int) or self.accept_backlog < 0:
            raise ValueError("accept_backlog must be a non-negative integer")
        if not self.keep_alive_interval > 0:
            raise ValueError("keep_alive_interval must be > 0")
        if not self.connection_write_timeout > 0:
            raise ValueError("connection_write_timeout must be > 0")
        if not isinstance(self.max_write_backlog, int) or self.max_write_backlog < 64 * 1024:
            raise ValueError("max_write_backlog must be an integer >= 65536")
        w = self.max_stream_window_size
        if not isinstance(w, int) or w < INITIAL_STREAM_WINDOW or w > MAX_UINT32:
            raise ValueError(
                f"max_stream_window_size must be an integer in [{INITIAL_STREAM_WINDOW}, 2^32)"
            )

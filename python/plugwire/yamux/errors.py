"""Every error the mux raises is a MuxError with a stable string ``code`` (the same codes
as @plugwire/mux), so callers branch on the code rather than on message text."""

from __future__ import annotations


class MuxError(Exception):
    code: str = "PLUGWIRE_MUX_ERROR"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class SessionClosedError(MuxError):
    """The session is closed (locally, by the peer, or because the connection was lost)."""

    code = "PLUGWIRE_MUX_SESSION_CLOSED"

    def __init__(self, message: str = "yamux session closed") -> None:
        super().__init__(message)


class StreamResetError(MuxError):
    """The peer reset the stream (RST), or the stream was refused (backlog full, GoAway)."""

    code = "PLUGWIRE_MUX_STREAM_RESET"

    def __init__(self, stream_id: int, message: str | None = None) -> None:
        super().__init__(message or f"stream {stream_id} was reset by the peer")
        self.stream_id = stream_id


class ProtocolError(MuxError):
    """The peer broke the yamux protocol; the session answers with GoAway(protocol error)."""

    code = "PLUGWIRE_MUX_PROTOCOL_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(f"yamux protocol error: {message}")


class RemoteGoAwayError(MuxError):
    """The peer sent GoAway: reason 0 refuses new streams, 1 and 2 end the session."""

    code = "PLUGWIRE_MUX_GOAWAY"

    def __init__(self, reason: int) -> None:
        what = {
            0: "the peer is not accepting new streams (GoAway)",
            1: "the peer closed the session for a protocol error (GoAway 1)",
            2: "the peer closed the session for an internal error (GoAway 2)",
        }.get(reason, f"the peer sent GoAway with unknown reason {reason}")
        super().__init__(what)
        self.reason = reason


class StreamsExhaustedError(MuxError):
    code = "PLUGWIRE_MUX_STREAMS_EXHAUSTED"

    def __init__(self) -> None:
        super().__init__("no stream ids left on this session")


class KeepAliveTimeoutError(MuxError):
    code = "PLUGWIRE_MUX_KEEPALIVE_TIMEOUT"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"keepalive ping not answered within {seconds:g} s")


class PingTimeoutError(MuxError):
    code = "PLUGWIRE_MUX_PING_TIMEOUT"

    def __init__(self, seconds: float) -> None:
        super().__init__(f"ping not answered within {seconds:g} s")


class WriteTimeoutError(MuxError):
    code = "PLUGWIRE_MUX_WRITE_TIMEOUT"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the connection accepted no writes for {seconds:g} s; the peer is stuck or gone"
        )


class WriteBacklogError(MuxError):
    """The peer does not read what we send: our unsent frames passed max_write_backlog."""

    code = "PLUGWIRE_MUX_WRITE_BACKLOG"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"{size} bytes of frames are waiting for the peer to read them (limit {limit}); "
            "the peer sends but does not read"
        )


class BrokerTimeoutError(MuxError):
    """A broker stream was not dialled, accepted or acknowledged in time."""

    code = "PLUGWIRE_BROKER_TIMEOUT"

    def __init__(self, broker_id: int, what: str, seconds: float) -> None:
        super().__init__(f"broker id {broker_id}: {what} within {seconds:g} s")
        self.broker_id = broker_id


class BrokerError(MuxError):
    """A broker dial failed: the peer closed the stream before acknowledging, or acked wrongly."""

    code = "PLUGWIRE_BROKER_ERROR"

    def __init__(self, broker_id: int, message: str) -> None:
        super().__init__(f"broker id {broker_id}: {message}")
        self.broker_id = broker_id

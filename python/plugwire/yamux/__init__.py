"""A yamux stream multiplexer for asyncio, byte-compatible with github.com/hashicorp/yamux."""

from .broker import DEFAULT_BROKER_TIMEOUT, MuxBroker
from .config import SessionConfig
from .constants import INITIAL_STREAM_WINDOW, Flag, FrameType, GoAwayCode
from .errors import (
    BrokerError,
    BrokerTimeoutError,
    KeepAliveTimeoutError,
    MuxError,
    PingTimeoutError,
    ProtocolError,
    RemoteGoAwayError,
    SessionClosedError,
    StreamResetError,
    StreamsExhaustedError,
    WriteBacklogError,
    WriteTimeoutError,
)
from .session import Session, SessionState, connect_unix
from .stream import Stream, StreamState

__all__ = [
    "DEFAULT_BROKER_TIMEOUT",
    "INITIAL_STREAM_WINDOW",
    "BrokerError",
    "BrokerTimeoutError",
    "Flag",
    "FrameType",
    "GoAwayCode",
    "KeepAliveTimeoutError",
    "MuxBroker",
    "MuxError",
    "PingTimeoutError",
    "ProtocolError",
    "RemoteGoAwayError",
    "Session",
    "SessionClosedError",
    "SessionConfig",
    "SessionState",
    "Stream",
    "StreamResetError",
    "StreamState",
    "StreamsExhaustedError",
    "WriteBacklogError",
    "WriteTimeoutError",
    "connect_unix",
]

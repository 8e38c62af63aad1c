"""JSON-RPC error codes and the peer's errors.

Two families, as in @plugwire/rpc: ``RpcError`` is the JSON-RPC error object (numeric wire
code, message, data) that a handler raises to choose its answer, and ``RemoteError`` is an
error answer received from the other side. Everything else is a ``PlugwireError`` with a
stable string ``code``."""

from __future__ import annotations

from typing import Any


class ErrorCodes:
    """Wire codes: JSON-RPC 2.0's, and plugwire's in the implementation-defined range.
    These numbers are protocol: never renumber them."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    APPLICATION_ERROR = -32000
    REQUEST_CANCELLED = -32001
    REQUEST_TIMEOUT = -32002
    MESSAGE_TOO_LARGE = -32003
    CONNECTION_CLOSED = -32004
    PLUGIN_EXITED = -32005
    UNKNOWN_PLUGIN = -32010


class PlugwireError(Exception):
    """Base of the SDK's own errors: each has a stable string ``code``."""

    code: str = "PLUGWIRE_ERROR"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class RpcError(Exception):
    """A JSON-RPC error object. Raise it in a handler to answer with exactly this error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_error_object(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            obj["data"] = self.data
        return obj


class RemoteError(PlugwireError):
    """An error answer from the other side, rebuilt here: ``code`` is the remote error's own
    code (``data.code``, a string such as ``'ENOENT'`` or a number) when it had one, else
    the JSON-RPC code; ``rpc_code`` is always the JSON-RPC code."""

    def __init__(self, rpc_code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        app = rpc_code == ErrorCodes.APPLICATION_ERROR and isinstance(data, dict)
        own = data.get("code") if app else None
        self.rpc_code = rpc_code
        self.code = own if isinstance(own, (str, int)) and not isinstance(own, bool) else rpc_code  # type: ignore[assignment]
        self.data = data.get("data") if app else data
        self.remote_name = data.get("name") if app and isinstance(data.get("name"), str) else None
        self.remote_stack = data.get("stack") if app and isinstance(data.get("stack"), str) else None
        self.message = message


class TimeoutError(PlugwireError):  # noqa: A001 - the name of the TypeScript class
    """A request got no answer within its timeout; the remote was sent ``$/cancelRequest``."""

    code = "PLUGWIRE_RPC_TIMEOUT"

    def __init__(self, method: str, timeout: float) -> None:
        super().__init__(f'request "{method}" timed out after {timeout:g} s')
        self.method = method
        self.timeout = timeout


class ConnectionClosedError(PlugwireError):
    """The connection is closed; every pending request fails with it."""

    code = "PLUGWIRE_RPC_CONNECTION_CLOSED"

    def __init__(self, message: str = "the JSON-RPC connection is closed") -> None:
        super().__init__(message)


class MessageTooLargeError(PlugwireError):
    """A message is larger than max_message_size (outgoing: nothing is sent; incoming: seen
    from the 4-byte header, before the body is read, and the connection is closed)."""

    code = "PLUGWIRE_RPC_MESSAGE_TOO_LARGE"

    def __init__(self, size: int, limit: int, direction: str) -> None:
        super().__init__(
            f"{direction} message of {size} bytes exceeds max_message_size ({limit} bytes); "
            "raise it on both ends or send the data over a byte stream"
        )
        self.size = size
        self.limit = limit


class ProtocolError(PlugwireError):
    """The remote broke the framing or JSON-RPC in a way that has no error answer."""

    code = "PLUGWIRE_RPC_PROTOCOL"


class CodecError(PlugwireError):
    """A value could not be encoded or decoded, or a codec name is unknown."""

    code = "PLUGWIRE_RPC_CODEC"

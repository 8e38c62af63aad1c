"""plugwire for Python: serve a Python object as a plugwire plugin (asyncio).

    import plugwire

    class Greeter:
        async def greet(self, name: str) -> str:
            return f"hello {name}"

    plugwire.serve({"greeter": Greeter()})

Public methods (sync or async) are served; their positional arguments are the call's
params. Callbacks from the host arrive as RemoteFunction / RemoteObject (``await cb(x)``),
byte streams as ByteReader, object streams as ItemReader. Return ByteSource(...) for a byte
stream, an async generator or ItemSource(...) for an object stream, a function for a
callback. Raise PluginError(message, code=..., data=...) for an error with a code.
"""

from .client import ClientOptions, LogRecord, PluginClient, PluginExitedError, StartTimeoutError, TcpAuthError, UnknownPluginError
from .errors import HandshakeError, MarkerError, PluginError
from .logs import HclogFormatter, HclogHandler
from .marshal import (
    ByteReader,
    ByteSource,
    Exposed,
    ItemReader,
    ItemSource,
    RemoteFunction,
    RemoteObject,
)
from .rpc import (
    ConnectionClosedError,
    ErrorCodes,
    MessageTooLargeError,
    PlugwireError,
    RemoteError,
    RpcError,
    TimeoutError,
)
from .server import ServeOptions, serve, serve_async

__all__ = [
    "ByteReader",
    "ClientOptions",
    "LogRecord",
    "PluginClient",
    "PluginExitedError",
    "StartTimeoutError",
    "TcpAuthError",
    "UnknownPluginError",
    "ByteSource",
    "ConnectionClosedError",
    "ErrorCodes",
    "Exposed",
    "HandshakeError",
    "HclogFormatter",
    "HclogHandler",
    "ItemReader",
    "ItemSource",
    "MarkerError",
    "MessageTooLargeError",
    "PluginError",
    "PlugwireError",
    "RemoteError",
    "RemoteFunction",
    "RemoteObject",
    "RpcError",
    "ServeOptions",
    "TimeoutError",
    "serve",
    "serve_async",
]

"""Errors a plugin raises and the SDK's own errors, each with a stable ``code``."""

from __future__ import annotations

from typing import Any

from .rpc.errors import PlugwireError


class PluginError(Exception):
    """Raise it from a served method to give the host an error with a ``code`` (a string
    such as ``'NOT_FOUND'`` or a number) and ``data``. The host's RemoteError carries both.
    Any exception with ``code`` / ``data`` attributes travels the same way."""

    def __init__(self, message: str, code: str | int | None = None, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class HandshakeError(PlugwireError):
    """The plugin cannot serve this host: no common protocol version or codec, or an
    unsupported transport option."""

    code = "PLUGWIRE_HANDSHAKE"


class MarkerError(PlugwireError):
    """A value marker from the other side is malformed or of an unknown kind."""

    code = "PLUGWIRE_BAD_MARKER"

"""JSON-RPC 2.0 over a byte stream: 4-byte big-endian length framing, json and msgpack codecs."""

from .codecs import CODECS, Codec, JsonCodec, MsgpackCodec, codec_by_name, json_codec, msgpack_codec
from .errors import (
    CodecError,
    ConnectionClosedError,
    ErrorCodes,
    MessageTooLargeError,
    PlugwireError,
    ProtocolError,
    RemoteError,
    RpcError,
    TimeoutError,
)
from .messages import CANCEL_METHOD, classify
from .peer import DEFAULT_MAX_MESSAGE_SIZE, METHOD_NOT_FOUND, RequestContext, RpcPeer

__all__ = [
    "CANCEL_METHOD",
    "CODECS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "METHOD_NOT_FOUND",
    "Codec",
    "CodecError",
    "ConnectionClosedError",
    "ErrorCodes",
    "JsonCodec",
    "MessageTooLargeError",
    "MsgpackCodec",
    "PlugwireError",
    "ProtocolError",
    "RemoteError",
    "RequestContext",
    "RpcError",
    "RpcPeer",
    "TimeoutError",
    "classify",
    "codec_by_name",
    "json_codec",
    "msgpack_codec",
]

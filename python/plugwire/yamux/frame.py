"""Pure encoding and decoding of yamux frame headers: no I/O, testable byte by byte."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .constants import HEADER_SIZE, PROTOCOL_VERSION, FrameType
from .errors import ProtocolError

# version u8 | type u8 | flags u16 BE | stream id u32 BE | length u32 BE
_HEADER = struct.Struct(">BBHII")


@dataclass(frozen=True, slots=True)
class Header:
    type: FrameType
    flags: int
    stream_id: int
    length: int


def encode_header(type: FrameType, flags: int, stream_id: int, length: int) -> bytes:
    """The 12 header bytes of one frame."""
    return _HEADER.pack(PROTOCOL_VERSION, type, flags, stream_id, length)


def decode_header(b: bytes) -> Header:
    """Decodes and validates 12 header bytes; raises ProtocolError on a bad version or type."""
    if len(b) != HEADER_SIZE:
        raise ValueError(f"a yamux header is {HEADER_SIZE} bytes, not {len(b)}")
    version, type_, flags, stream_id, length = _HEADER.unpack(b)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"invalid protocol version {version} (expected {PROTOCOL_VERSION})")
    if type_ > FrameType.GO_AWAY:
        raise ProtocolError(f"invalid frame type {type_}")
    return Header(FrameType(type_), flags, stream_id, length)


def describe(h: Header) -> str:
    """Names a frame for logs and errors, e.g. ``Data(id=3, flags=SYN|FIN, len=5)``."""
    names = ("Data", "WindowUpdate", "Ping", "GoAway")
    flags = "|".join(n for i, n in enumerate(("SYN", "ACK", "FIN", "RST")) if h.flags & (1 << i))
    return f"{names[h.type]}(id={h.stream_id}, flags={flags or '0'}, len={h.length})"

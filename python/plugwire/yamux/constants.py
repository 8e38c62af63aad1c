"""Wire constants of HashiCorp's yamux (spec.md in github.com/hashicorp/yamux).

They are the protocol: changing any of them breaks interoperability with Go's yamux,
go-plugin and @plugwire/mux.
"""

from enum import IntEnum, IntFlag

#: The only protocol version yamux defines.
PROTOCOL_VERSION = 0

#: Every frame starts with this many header bytes: version, type, flags, stream id, length.
HEADER_SIZE = 12

#: Every stream starts with this much credit in both directions (256 KiB).
INITIAL_STREAM_WINDOW = 256 * 1024

#: Largest value of the 32-bit length, id and window fields.
MAX_UINT32 = 0xFFFF_FFFF


class FrameType(IntEnum):
    """Header byte 1."""

    DATA = 0
    WINDOW_UPDATE = 1
    PING = 2
    GO_AWAY = 3


class Flag(IntFlag):
    """Header bytes 2-3 (big-endian); a frame may carry several."""

    SYN = 0x1
    ACK = 0x2
    FIN = 0x4
    RST = 0x8


class GoAwayCode(IntEnum):
    """The `length` field of a GoAway frame."""

    NORMAL = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2

"""yamux headers byte by byte (spec.md: version, type, flags BE, stream id BE, length BE)."""

import pytest

from plugwire.yamux import Flag, FrameType, ProtocolError
from plugwire.yamux.frame import decode_header, describe, encode_header


def test_a_header_is_version_type_flags_id_length_big_endian():
    b = encode_header(FrameType.WINDOW_UPDATE, Flag.SYN | Flag.FIN, 0x01020304, 0x0A0B0C0D)
    assert b == bytes([0, 1, 0, 5, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D])


def test_decode_is_the_inverse_of_encode():
    h = decode_header(encode_header(FrameType.DATA, Flag.ACK, 7, 65536))
    assert (h.type, h.flags, h.stream_id, h.length) == (FrameType.DATA, Flag.ACK, 7, 65536)
    assert describe(h) == "Data(id=7, flags=ACK, len=65536)"


def test_decode_refuses_another_version_and_unknown_types():
    with pytest.raises(ProtocolError):
        decode_header(bytes([1, 0, 0, 0]) + bytes(8))
    with pytest.raises(ProtocolError):
        decode_header(bytes([0, 4, 0, 0]) + bytes(8))

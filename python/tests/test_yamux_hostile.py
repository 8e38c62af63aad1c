"""The Python yamux against a peer that breaks the rules: every check ends the session with
GoAway(protocol error) or refuses the stream, and memory stays bounded by the window."""

from __future__ import annotations

import asyncio

import pytest

from conftest import run
from rawpeer import pair
from plugwire.yamux import (
    INITIAL_STREAM_WINDOW,
    Flag,
    FrameType,
    GoAwayCode,
    KeepAliveTimeoutError,
    ProtocolError,
    SessionConfig,
    StreamResetError,
)
from plugwire.yamux.frame import encode_header

D, W, P, G = FrameType.DATA, FrameType.WINDOW_UPDATE, FrameType.PING, FrameType.GO_AWAY


def expect_protocol_error(breaking) -> None:
    async def main() -> None:
        session, peer = await pair("server")
        await breaking(session, peer)
        h, _ = await peer.until(lambda h: h.type == G)
        assert h.length == GoAwayCode.PROTOCOL_ERROR
        await session.wait_closed()
        assert isinstance(session.close_error, ProtocolError)
        await peer.eof()  # and the connection is closed

    run(main, 20)


def test_data_beyond_the_receive_window_ends_the_session_with_goaway_protocol_error():
    async def breaking(session, peer):
        peer.send(W, Flag.SYN, 1, 0)
        peer.send(D, 0, 1, INITIAL_STREAM_WINDOW, b"\0" * INITIAL_STREAM_WINDOW)
        peer.send(D, 0, 1, 1, b"\0")  # one byte more than the window

    expect_protocol_error(breaking)


def test_a_data_frame_longer_than_any_window_is_refused_from_its_header_alone():
    async def breaking(session, peer):
        # 4 GiB announced, nothing sent: the session must not wait to read (or buffer) it.
        peer.send(D, Flag.SYN, 1, 0xFFFF_FFFF)

    expect_protocol_error(breaking)


def test_an_invalid_version_ends_the_session():
    async def breaking(session, peer):
        peer.send_raw(bytes([1]) + encode_header(P, Flag.SYN, 0, 1)[1:])

    expect_protocol_error(breaking)


def test_an_invalid_frame_type_ends_the_session():
    async def breaking(session, peer):
        peer.send_raw(bytes([0, 9]) + encode_header(P, 0, 0, 0)[2:])

    expect_protocol_error(breaking)


def test_a_syn_for_an_id_of_the_receivers_own_parity_ends_the_session():
    async def breaking(session, peer):
        peer.send(W, Flag.SYN, 2, 0)  # even ids belong to the server (the Python side)

    expect_protocol_error(breaking)


def test_a_duplicate_syn_ends_the_session():
    async def breaking(session, peer):
        peer.send(W, Flag.SYN, 1, 0)
        peer.send(W, Flag.SYN, 1, 0)

    expect_protocol_error(breaking)


def test_a_window_update_that_overflows_32_bits_ends_the_session():
    async def breaking(session, peer):
        peer.send(W, Flag.SYN, 1, 0)
        peer.send(W, 0, 1, 0xFFFF_FFFF)

    expect_protocol_error(breaking)


def test_data_on_stream_id_0_ends_the_session():
    async def breaking(session, peer):
        peer.send(D, 0, 0, 1, b"x")

    expect_protocol_error(breaking)


def test_streams_beyond_the_accept_backlog_are_reset():
    async def main() -> None:
        session, peer = await pair("server", SessionConfig(accept_backlog=2))
        for sid in (1, 3, 5):
            peer.send(W, Flag.SYN, sid, 0)
        h, _ = await peer.until(lambda h: h.flags & Flag.RST)
        assert h.stream_id == 5
        assert session.num_streams == 2
        s = await session.accept_stream()
        assert s.id == 1
        h, _ = await peer.until(lambda h: h.stream_id == 1)
        assert h.flags & Flag.ACK
        session.abort()

    run(main, 20)


def test_a_writer_stops_at_the_peers_window_and_goes_on_with_its_update():
    async def main() -> None:
        session, peer = await pair("client")
        s = session.open_stream()
        writing = asyncio.create_task(s.write(b"\1" * (INITIAL_STREAM_WINDOW + 1000)))
        got = 0
        while got < INITIAL_STREAM_WINDOW:
            h, p = await peer.frame()
            if h.type == D:
                got += len(p)
        assert got == INITIAL_STREAM_WINDOW
        await asyncio.sleep(0.05)  # no frame may follow without credit
        assert not writing.done()
        peer.send(W, Flag.ACK, s.id, 1000)
        h, p = await peer.until(lambda h: h.type == D)
        assert len(p) == 1000
        await writing
        session.abort()

    run(main, 20)


def test_a_reader_credits_the_window_back_once_half_of_it_was_read():
    async def main() -> None:
        session, peer = await pair("server")
        half = INITIAL_STREAM_WINDOW // 2
        peer.send(W, Flag.SYN, 1, 0)
        s = await session.accept_stream()
        peer.send(D, 0, 1, half - 1, b"a" * (half - 1))
        assert len(await s.readexactly(half - 1)) == half - 1
        peer.send(D, 0, 1, 1, b"b")
        await s.readexactly(1)
        h, _ = await peer.until(lambda h: h.type == W and h.length > 0)
        assert h.stream_id == 1 and h.length == half
        session.abort()

    run(main, 20)


def test_an_unread_stream_holds_at_most_one_window_and_gets_no_credit():
    async def main() -> None:
        session, peer = await pair("server")
        peer.send(W, Flag.SYN, 1, 0)
        s = await session.accept_stream()
        peer.send(D, 0, 1, INITIAL_STREAM_WINDOW, b"z" * INITIAL_STREAM_WINDOW)
        ping_sent = asyncio.create_task(session.ping())
        # The ping answer proves every earlier frame was handled; no window update came.
        h, _ = await peer.until(lambda h: h.type in (P, W) and not (h.type == W and h.length == 0))
        assert h.type == P
        peer.send(P, Flag.ACK, 0, h.length)
        await ping_sent
        assert len(s._buf) == INITIAL_STREAM_WINDOW
        session.abort()

    run(main, 20)


def test_a_ping_is_answered_with_ack_and_the_same_value():
    async def main() -> None:
        session, peer = await pair("server")
        peer.send(P, Flag.SYN, 0, 0xDEADBEEF)
        h, _ = await peer.frame()
        assert (h.type, h.flags, h.length) == (P, Flag.ACK, 0xDEADBEEF)
        session.abort()

    run(main, 20)


def test_a_peer_that_never_answers_pings_is_closed_by_keepalive():
    async def main() -> None:
        session, peer = await pair(
            "server", SessionConfig(keep_alive_interval=0.05, connection_write_timeout=0.2)
        )
        await session.wait_closed()
        assert isinstance(session.close_error, KeepAliveTimeoutError)

    run(main, 20)


def test_an_rst_from_the_peer_fails_pending_reads():
    async def main() -> None:
        session, peer = await pair("server")
        peer.send(W, Flag.SYN, 1, 0)
        s = await session.accept_stream()
        reading = asyncio.create_task(s.read())
        await asyncio.sleep(0)
        peer.send(W, Flag.RST, 1, 0)
        with pytest.raises(StreamResetError):
            await reading
        session.abort()

    run(main, 20)


def test_goaway_normal_then_syn_from_the_peer_is_reset():
    async def main() -> None:
        session, peer = await pair("server")
        session.go_away()
        h, _ = await peer.frame()
        assert (h.type, h.length) == (G, GoAwayCode.NORMAL)
        peer.send(W, Flag.SYN, 1, 0)
        h, _ = await peer.frame()
        assert h.stream_id == 1 and h.flags & Flag.RST
        session.abort()

    run(main, 20)


def test_a_peer_that_floods_pings_and_never_reads_ends_the_session_at_the_write_backlog():
    from plugwire.yamux import WriteBacklogError

    async def main() -> None:
        session, peer = await pair("server", SessionConfig(max_write_backlog=64 * 1024))
        # 4 MiB of answers owed, more than the socket buffers and the backlog hold.
        peer.send_raw(encode_header(P, Flag.SYN, 0, 7) * (350 * 1024))
        await session.wait_closed()
        assert isinstance(session.close_error, WriteBacklogError)
        assert session.close_error.code == "PLUGWIRE_MUX_WRITE_BACKLOG"

    run(main, 30)


def test_streams_dialled_to_a_broker_beyond_its_waiting_limit_are_reset():
    from plugwire.yamux import MuxBroker

    async def main() -> None:
        session, peer = await pair("server")
        broker = MuxBroker(session, timeout=30, max_waiting=2)
        runner = asyncio.create_task(broker.run())
        for sid in (1, 3, 5):  # three dials that never send their id
            peer.send(W, Flag.SYN, sid, 0)
        h, _ = await peer.until(lambda h: h.flags & Flag.RST)
        assert h.stream_id == 5
        runner.cancel()
        broker.close()
        session.abort()

    run(main, 20)


def test_an_ack_sent_while_a_data_frame_is_still_arriving_grants_no_extra_window():
    async def main() -> None:
        session, peer = await pair("server")
        half = INITIAL_STREAM_WINDOW // 2
        peer.send(W, Flag.SYN, 1, 0)
        # A full window announced, half of it sent: the session waits inside the frame.
        peer.send(D, 0, 1, INITIAL_STREAM_WINDOW, b"a" * half)
        await asyncio.sleep(0.05)
        s = await session.accept_stream()
        h, _ = await peer.frame()
        assert h.flags & Flag.ACK and h.length == 0
        peer.send_raw(b"a" * half)
        assert len(await s.readexactly(INITIAL_STREAM_WINDOW)) == INITIAL_STREAM_WINDOW
        session.abort()

    run(main, 20)

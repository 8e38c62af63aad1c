"""The Python yamux against HashiCorp's yamux (Go), in both roles, over a real unix socket.

Each test plays one scenario of the Go peer (packages/mux/test/go/yamuxpeer); the Go side
checks its part and reports through its exit status, the Python side checks its own."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from conftest import run
from gopeer import GoPeer
from plugwire.yamux import (
    INITIAL_STREAM_WINDOW,
    MuxBroker,
    RemoteGoAwayError,
    SessionConfig,
    StreamResetError,
)

MiB = 1024 * 1024


def scenario(binary: str, name: str, go_role: str, body, config: SessionConfig | None = None, **flags):
    async def main() -> None:
        peer = await GoPeer.start(binary, name, go_role, config, **flags)
        try:
            await body(peer)
            await peer.finish()
        finally:
            await peer.cleanup()

    run(main)


def test_python_client_echoes_1mib_on_20_streams_through_a_go_server(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        async def one() -> None:
            s = peer.session.open_stream()
            data = os.urandom(MiB)
            writer = asyncio.create_task(s.write(data))
            got = await s.readexactly(len(data))
            await writer
            assert got == data
            await s.close()
            assert await s.read() == b""

        await asyncio.gather(*(one() for _ in range(20)))

    scenario(yamuxpeer, "echo-server", "server", body, n=20, size=MiB)


def test_python_server_echoes_streams_a_go_client_opens_at_once(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        async def echo(s) -> None:
            while chunk := await s.read():
                await s.write(chunk)
            await s.close()

        tasks = [asyncio.create_task(echo(await peer.session.accept_stream())) for _ in range(20)]
        await asyncio.gather(*tasks)
        assert await peer.line() == "done"

    scenario(yamuxpeer, "echo-client", "client", body, n=20, size=MiB)


def test_bytes_a_go_stream_pushes_arrive_whole_and_in_order(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        want = await peer.expect("sha256")
        s = await peer.session.accept_stream()
        got = await s.read_all()
        assert len(got) == 4 * MiB
        assert hashlib.sha256(got).hexdigest() == want
        await s.close()

    scenario(yamuxpeer, "push", "server", body, size=4 * MiB)


def test_a_go_sink_receives_what_python_writes_and_answers_after_the_fin(yamuxpeer):
    data = os.urandom(3 * MiB + 17)
    sha = hashlib.sha256(data).hexdigest()

    async def body(peer: GoPeer) -> None:
        s = peer.session.open_stream()
        await s.write(data)
        await s.close()
        assert (await s.read_all()).decode() == sha

    scenario(yamuxpeer, "sink", "server", body, size=len(data), sha=sha)


def test_a_python_reader_that_does_not_read_stops_the_go_writer_at_256_kib(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        want = await peer.expect("sha256")
        s = await peer.session.accept_stream()
        # Read nothing until Go's write deadline expired: it must have stopped at the window.
        assert int(await peer.expect("blocked")) == INITIAL_STREAM_WINDOW
        got = await s.read_all()
        assert hashlib.sha256(got).hexdigest() == want
        await s.close()

    scenario(yamuxpeer, "flow", "server", body, size=2 * MiB, stall="300ms")


def test_a_larger_window_is_announced_in_the_ack_and_used_by_go(yamuxpeer):
    window = 1024 * 1024

    async def body(peer: GoPeer) -> None:
        await peer.expect("sha256")
        s = await peer.session.accept_stream()
        assert int(await peer.expect("blocked")) == window
        await s.read_all()
        await s.close()

    scenario(
        yamuxpeer, "flow", "server", body,
        config=SessionConfig(max_stream_window_size=window), size=2 * MiB, stall="300ms",
    )


def test_a_python_reset_fails_go_reads_and_writes_with_connection_reset(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        s = peer.session.open_stream()
        await s.write(b"hello")
        # Go now writes 1 MiB into our window; wait until the first window is here.
        while len(s._buf) < INITIAL_STREAM_WINDOW:
            await asyncio.sleep(0.01)
        s.reset()
        await peer.expect("write")

    scenario(yamuxpeer, "reset-by-node", "server", body)


def test_streams_beyond_the_go_backlog_are_reset_and_fail_in_python(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        first = peer.session.open_stream()
        await first.write(b"x")
        second = peer.session.open_stream()
        await second.write(b"y")
        with pytest.raises(StreamResetError):
            await second.read()
        peer.tell("accept")
        await first.close()
        assert await first.read_all() == b"x"

    scenario(yamuxpeer, "reset-by-go", "server", body, backlog=1)


def test_python_answers_go_pings(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        for _ in range(3):
            await peer.expect("rtt")

    scenario(yamuxpeer, "ping", "client", body)


def test_go_answers_python_pings(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        rtt = await peer.session.ping()
        assert 0 <= rtt < 10

    scenario(yamuxpeer, "idle", "server", body)


def test_after_a_go_goaway_python_cannot_open_but_open_streams_go_on(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        s = peer.session.open_stream()
        await s.write(b"hello")
        assert await s.readexactly(len(b"goaway sent")) == b"goaway sent"
        with pytest.raises(RemoteGoAwayError):
            peer.session.open_stream()
        await s.write(b"still works")
        await s.close()
        assert await s.read() == b""

    scenario(yamuxpeer, "goaway-send", "server", body)


def test_after_a_python_goaway_go_cannot_open_but_open_streams_go_on(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        s = await peer.session.accept_stream()
        assert await s.readexactly(5) == b"hello"
        peer.session.go_away()
        await s.write(b"goaway sent")
        assert await s.read_all() == b"still works"
        await s.close()

    scenario(yamuxpeer, "goaway-recv", "client", body)


def test_a_go_muxbroker_dials_an_id_python_accepts(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        broker = MuxBroker(peer.session)
        runner = asyncio.create_task(broker.run())
        bid = broker.next_id()
        assert bid % 2 == 0  # the server side mints even ids
        accepting = asyncio.create_task(broker.accept(bid))
        peer.tell(f"dial {bid}")
        s = await accepting
        assert await s.readexactly(13) == b"hello from go"
        await s.write(b"hello from node")
        await s.close()
        assert await s.read_all() == b""
        runner.cancel()

    scenario(yamuxpeer, "broker-dial", "client", body)


def test_python_dials_an_id_a_go_muxbroker_accepts(yamuxpeer):
    async def body(peer: GoPeer) -> None:
        broker = MuxBroker(peer.session)
        bid = int(await peer.expect("id"))
        s = await broker.dial(bid)
        await s.write(b"hello from node")
        await s.close()
        assert await s.read_all() == b"hello from go"

    scenario(yamuxpeer, "broker-accept", "server", body)

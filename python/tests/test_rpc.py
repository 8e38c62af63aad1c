"""The JSON-RPC peer: framing, both codecs as @plugwire/rpc writes them, errors, cancellation
and the message size limit, against a well-behaved peer and against raw frames."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from conftest import run
from rpcpair import peer_pair, raw_pair
from plugwire.rpc import (
    ConnectionClosedError,
    ErrorCodes,
    MessageTooLargeError,
    RemoteError,
    RpcError,
    TimeoutError,
    json_codec,
    msgpack_codec,
)

CODECS = [json_codec, msgpack_codec]


def test_json_sends_binary_as_a_bytes_object_with_padded_base64():
    assert json_codec.encode({"b": b"\x00\x01"}) == b'{"b":{"$bytes":"AAE="}}'
    assert json_codec.decode(b'{"b":{"$bytes":"AAE="}}') == {"b": b"\x00\x01"}


def test_json_decodes_a_bytes_object_with_other_members_as_an_object():
    assert json_codec.decode(b'{"$bytes":"AAE=","x":1}') == {"$bytes": "AAE=", "x": 1}


def test_json_sends_datetimes_as_javascript_iso_strings():
    d = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)
    assert json_codec.encode(d) == b'"2026-01-02T03:04:05.678Z"'


def test_json_writes_nan_and_infinities_as_null_as_json_stringify_does():
    assert json_codec.encode([1.5, float("nan"), {"x": float("inf")}]) == b'[1.5,null,{"x":null}]'


def test_msgpack_uses_bin_for_bytes_and_str_for_text():
    assert msgpack_codec.encode(b"\x01") == b"\xc4\x01\x01"
    assert msgpack_codec.encode("a") == b"\xa1a"


def test_msgpack_round_trips_datetimes_as_timestamp_extension():
    d = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    enc = msgpack_codec.encode(d)
    assert enc[0] == 0xD6 and enc[1] == 0xFF  # fixext4, type -1
    assert msgpack_codec.decode(enc) == d


def test_msgpack_refuses_other_extension_types():
    with pytest.raises(Exception) as e:
        msgpack_codec.decode(b"\xd4\x05\x00")
    assert getattr(e.value, "code", None) == "PLUGWIRE_RPC_CODEC"


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_a_request_gets_the_handlers_result_with_binary_intact(codec):
    async def main():
        a, b = await peer_pair(codec)
        b.handle("echo", lambda params, ctx: params)
        got = await a.request("echo", [1, "x", b"\x00\xff", {"k": [None, True]}])
        assert got == [1, "x", b"\x00\xff", {"k": [None, True]}]
        await a.close()

    run(main)


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
def test_a_raised_error_travels_with_name_code_and_data(codec):
    class NotFound(Exception):
        code = "ENOENT"
        data = {"path": "/x"}

    async def main():
        a, b = await peer_pair(codec)

        async def fail(params, ctx):
            raise NotFound("no such key")

        b.handle("get", fail)
        with pytest.raises(RemoteError) as e:
            await a.request("get", [])
        assert e.value.rpc_code == ErrorCodes.APPLICATION_ERROR
        assert e.value.code == "ENOENT"
        assert e.value.data == {"path": "/x"}
        assert e.value.remote_name == "NotFound"
        assert str(e.value) == "no such key"
        assert e.value.remote_stack is None  # stacks only when exposed
        await a.close()

    run(main)


def test_an_rpcerror_is_answered_as_it_is():
    async def main():
        raw, peer = await raw_pair()

        def bad(params, ctx):
            raise RpcError(ErrorCodes.INVALID_PARAMS, "want two numbers", {"got": 1})

        peer.handle("add", bad)
        await raw.send({"jsonrpc": "2.0", "id": 7, "method": "add", "params": [1]})
        assert await raw.recv() == {
            "jsonrpc": "2.0",
            "id": 7,
            "error": {"code": -32602, "message": "want two numbers", "data": {"got": 1}},
        }

    run(main)


def test_an_unknown_method_answers_32601_with_the_method_name():
    async def main():
        raw, peer = await raw_pair(json_codec)
        await raw.send({"jsonrpc": "2.0", "id": 1, "method": "nope"})
        msg = await raw.recv()
        assert msg["error"]["code"] == -32601
        assert msg["error"]["data"] == {"method": "nope"}

    run(main)


def test_an_undecodable_frame_answers_32700_with_a_null_id_and_the_stream_stays_open():
    async def main():
        raw, peer = await raw_pair(json_codec)
        peer.handle("ping", lambda p, c: "pong")
        await raw.send_raw(b"\x00\x00\x00\x03{{{")
        msg = await raw.recv()
        assert msg["id"] is None and msg["error"]["code"] == -32700
        await raw.send({"jsonrpc": "2.0", "id": 2, "method": "ping"})
        assert (await raw.recv())["result"] == "pong"

    run(main)


def test_an_invalid_request_answers_32600():
    async def main():
        raw, peer = await raw_pair(json_codec)
        await raw.send({"jsonrpc": "1.0", "id": 3, "method": "x"})
        msg = await raw.recv()
        assert msg == {"jsonrpc": "2.0", "id": 3, "error": {"code": -32600, "message": "Invalid Request"}}

    run(main)


def test_a_frame_over_the_limit_is_refused_from_its_header_and_closes_the_stream():
    async def main():
        raw, peer = await raw_pair(json_codec, max_message_size=1024)
        # Announce 1 GiB and send nothing more: the peer must answer from the header alone.
        await raw.send_raw(b"\x40\x00\x00\x00")
        msg = await raw.recv()
        assert msg["id"] is None
        assert msg["error"]["code"] == ErrorCodes.MESSAGE_TOO_LARGE
        assert msg["error"]["data"] == {"size": 1 << 30, "limit": 1024}
        assert await raw.stream.read() == b""  # and it closed the stream
        await peer.wait_closed()

    run(main)


def test_an_outgoing_message_over_the_limit_raises_and_sends_nothing():
    async def main():
        a, b = await peer_pair(max_message_size=1024)
        b.handle("echo", lambda p, c: p)
        with pytest.raises(MessageTooLargeError) as e:
            await a.request("echo", [b"x" * 2000])
        assert e.value.code == "PLUGWIRE_RPC_MESSAGE_TOO_LARGE"
        assert await a.request("echo", [1]) == [1]  # the connection is fine

    run(main)


def test_a_result_over_the_limit_becomes_a_32003_answer():
    async def main():
        a, b = await peer_pair(max_message_size=1024)
        b.handle("big", lambda p, c: b"x" * 4096)
        with pytest.raises(RemoteError) as e:
            await a.request("big")
        assert e.value.rpc_code == ErrorCodes.MESSAGE_TOO_LARGE

    run(main)


def test_cancel_request_cancels_the_handler_which_answers_32001():
    async def main():
        raw, peer = await raw_pair(json_codec)
        started = asyncio.Event()

        async def slow(params, ctx):
            started.set()
            await asyncio.sleep(60)

        peer.handle("slow", slow)
        await raw.send({"jsonrpc": "2.0", "id": 5, "method": "slow"})
        await started.wait()
        await raw.send({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 5}})
        msg = await raw.recv()
        assert msg == {"jsonrpc": "2.0", "id": 5, "error": {"code": -32001, "message": "Request cancelled"}}

    run(main)


def test_a_cancelled_caller_sends_cancel_request_for_its_call():
    async def main():
        a, b = await peer_pair()
        started, cancelled = asyncio.Event(), asyncio.Event()

        async def slow(params, ctx):
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        b.handle("slow", slow)
        call = asyncio.create_task(a.request("slow"))
        await started.wait()
        call.cancel()
        await asyncio.wait_for(cancelled.wait(), 5)

    run(main)


def test_a_timeout_raises_timeouterror_and_cancels_remotely():
    async def main():
        a, b = await peer_pair()
        cancelled = asyncio.Event()

        async def slow(params, ctx):
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        b.handle("slow", slow)
        with pytest.raises(TimeoutError) as e:
            await a.request("slow", timeout=0.05)
        assert e.value.code == "PLUGWIRE_RPC_TIMEOUT"
        await asyncio.wait_for(cancelled.wait(), 5)

    run(main)


def test_a_slow_handler_does_not_hold_up_other_requests():
    async def main():
        a, b = await peer_pair()
        gate = asyncio.Event()

        async def wait(params, ctx):
            await gate.wait()
            return "late"

        b.handle("wait", wait)
        b.handle("now", lambda p, c: "now")
        waiting = asyncio.create_task(a.request("wait"))
        assert await a.request("now") == "now"
        gate.set()
        assert await waiting == "late"

    run(main)


def test_pending_calls_fail_with_connectionclosed_when_the_peer_goes():
    async def main():
        a, b = await peer_pair()
        b.handle("never", lambda p, c: asyncio.sleep(60))
        call = asyncio.create_task(a.request("never"))
        await asyncio.sleep(0.01)
        b.abort()
        with pytest.raises(ConnectionClosedError):
            await call

    run(main)


def test_a_batch_is_answered_with_an_array_of_the_requests_answers():
    async def main():
        raw, peer = await raw_pair(json_codec)
        peer.handle("add", lambda p, c: p[0] + p[1])
        await raw.send([
            {"jsonrpc": "2.0", "id": 1, "method": "add", "params": [1, 2]},
            {"jsonrpc": "2.0", "method": "add", "params": [0, 0]},
            {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        ])
        msg = await raw.recv()
        assert isinstance(msg, list) and len(msg) == 2
        assert msg[0] == {"jsonrpc": "2.0", "id": 1, "result": 3}
        assert msg[1]["error"]["code"] == -32601

    run(main)


def test_past_max_concurrent_requests_the_peer_stops_reading_until_one_finishes():
    async def main():
        raw, peer = await raw_pair(json_codec, max_concurrent=4)
        gate = asyncio.Event()
        started = 0

        async def wait(params, ctx):
            nonlocal started
            started += 1
            await gate.wait()
            return params[0]

        peer.handle("wait", wait)
        for i in range(10):
            await raw.send({"jsonrpc": "2.0", "id": i + 1, "method": "wait", "params": [i]})
        for _ in range(50):  # let the peer read whatever it is going to read
            await asyncio.sleep(0.002)
        assert started == 4
        gate.set()
        answers = sorted([(await raw.recv())["result"] for _ in range(10)])
        assert answers == list(range(10))

    run(main)

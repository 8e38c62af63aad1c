"""Values that cannot travel as data travel on broker streams of their own, with a marker
in their place (the same markers as @plugwire/sdk, docs/protocol.md):

    {"$plugwire": "fn",    "id": 3}                     a function; call it with method "call"
    {"$plugwire": "obj",   "id": 5, "methods": [...]}   an object whose methods can be called
    {"$plugwire": "bytes", "id": 7}                     a byte stream
    {"$plugwire": "iter",  "id": 9}                     an object stream

The side that sends a marker mints a broker id and accepts it; the side that receives it
dials the id as soon as it decodes the argument. Functions and objects are served by a
JSON-RPC peer on their stream; a byte stream is the raw bytes, then FIN; an object stream is
a JSON-RPC peer that receives notifications "item" [value], then "end" [] or "error"
[{message, name, code, data}].
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import MarkerError
from .rpc import Codec, ConnectionClosedError, PlugwireError, RemoteError, RpcPeer
from .yamux import MuxBroker, MuxError, Stream

log = logging.getLogger("plugwire.sdk")

MARK = "$plugwire"
KINDS = ("fn", "obj", "bytes", "iter")
#: Method names an "obj" marker may list; more is a hostile peer.
MAX_MARKER_METHODS = 1024
#: Markers among the arguments of one call: each one opens a stream, so a message of
#: thousands of markers must not become thousands of streams.
MAX_MARKERS_PER_CALL = 64


@dataclass
class Wire:
    """What marshalling needs from the connection."""

    broker: MuxBroker
    codec: Codec
    plugin: str
    max_message_size: int
    expose_stack: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def peer(self, stream: Stream, label: str) -> RpcPeer:
        return RpcPeer(
            stream,
            self.codec,
            max_message_size=self.max_message_size,
            name=f"{self.plugin}:{label}",
            expose_stack=self.expose_stack,
        )


# ---- what a plugin passes or returns ---------------------------------------------------


class ByteSource:
    """A byte stream to send: wrap an (async) iterable of bytes, or one bytes value.
    The receiver sees a stream (a Node Readable on a TypeScript host)."""

    def __init__(self, source: AsyncIterable[bytes] | Iterable[bytes] | bytes | bytearray | memoryview) -> None:
        self.source = source

    async def chunks(self) -> AsyncIterator[bytes]:
        src = self.source
        if isinstance(src, (bytes, bytearray, memoryview)):
            yield bytes(src)
        elif isinstance(src, AsyncIterable):
            try:
                async for chunk in src:
                    yield bytes(chunk)
            finally:
                aclose = getattr(src, "aclose", None)
                if aclose is not None:
                    await aclose()
        else:
            for chunk in src:
                yield bytes(chunk)


class ItemSource:
    """An object stream to send: wrap an (async) iterable of values. Async generators
    returned from a method are sent as object streams without it."""

    def __init__(self, items: AsyncIterable[Any] | Iterable[Any]) -> None:
        self.items = items

    async def each(self) -> AsyncIterator[Any]:
        if isinstance(self.items, AsyncIterable):
            try:
                async for x in self.items:
                    yield x
            finally:
                aclose = getattr(self.items, "aclose", None)
                if aclose is not None:
                    await aclose()
        else:
            for x in self.items:
                yield x


class Exposed:
    """An object whose methods the other side may call (an "obj" marker)."""

    def __init__(self, target: Any, methods: Iterable[str] | None = None) -> None:
        self.target = target
        self.methods = list(methods) if methods is not None else public_methods(target)


def public_methods(obj: Any) -> list[str]:
    """The callable attributes of ``obj`` whose names do not start with ``_``."""
    return [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None))]


def _kind(v: Any) -> str | None:
    if isinstance(v, ByteSource):
        return "bytes"
    if isinstance(v, ItemSource) or inspect.isasyncgen(v):
        return "iter"
    if isinstance(v, Exposed):
        return "obj"
    if callable(v) and not isinstance(v, type) and not isinstance(v, (RemoteObject,)):
        return "fn"
    return None


def is_marker(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and isinstance(v.get(MARK), str)
        and isinstance(v.get("id"), int)
        and not isinstance(v.get("id"), bool)
    )


class CallScope:
    """The broker resources of one outgoing call: they end with the call."""

    def __init__(self) -> None:
        self._cleanups: list[Callable[[], None]] = []

    def on_end(self, fn: Callable[[], None]) -> None:
        self._cleanups.append(fn)

    def end(self) -> None:
        for fn in self._cleanups:
            try:
                fn()
            except Exception:
                log.debug("scope cleanup failed", exc_info=True)


def marshal(value: Any, wire: Wire, scope: CallScope | None) -> Any:
    """``value`` itself when it is data, else a marker, with the value served on the broker."""
    kind = _kind(value)
    if kind is None:
        return value
    bid = wire.broker.next_id()
    task = wire.spawn(_serve_marked(kind, value, bid, wire, scope))
    if scope is not None:
        scope.on_end(task.cancel)  # a callback nobody dialled stops waiting with the call
    if kind == "obj":
        return {MARK: "obj", "id": bid, "methods": value.methods}
    return {MARK: kind, "id": bid}


async def _serve_marked(kind: str, value: Any, bid: int, wire: Wire, scope: CallScope | None) -> None:
    try:
        stream = await wire.broker.accept(bid)
    except (MuxError, asyncio.CancelledError) as e:
        log.debug("%s: nobody took broker id %d: %s", wire.plugin, bid, e)
        return
    if kind == "bytes":
        await _send_bytes(stream, value)
        return
    if kind == "iter":
        await _send_items(stream, value if isinstance(value, ItemSource) else ItemSource(value), wire)
        return
    peer = wire.peer(stream, "callback")
    if kind == "fn":
        serve_methods(peer, {"call": value}, ["call"], wire)
    else:
        serve_methods(peer, value.target, value.methods, wire)
    if scope is not None:
        scope.on_end(peer.abort)
    await peer.wait_closed()


async def _send_bytes(stream: Stream, source: ByteSource) -> None:
    # aclosing: a reader that stops early (RST) ends the producer at once, running its
    # finally blocks, rather than whenever the generator is collected.
    try:
        async with contextlib.aclosing(source.chunks()) as chunks:
            async for chunk in chunks:
                if chunk:
                    await stream.write(chunk)
        await stream.close()
    except MuxError as e:
        log.debug("byte stream %d ended early: %s", stream.id, e)
    except Exception:
        log.warning("the byte source failed; resetting the stream", exc_info=True)
        stream.reset()


async def _send_items(stream: Stream, items: ItemSource, wire: Wire) -> None:
    peer = wire.peer(stream, "items")
    try:
        async with contextlib.aclosing(items.each()) as each:
            async for item in each:
                if peer.closed:
                    break  # the receiver stopped reading
                await peer.notify("item", [item])
        if not peer.closed:
            await peer.notify("end", [])
    except ConnectionClosedError:
        pass
    except Exception as e:
        if not peer.closed:
            await peer.notify("error", [_error_fields(e)])
    await peer.close()


def _error_fields(e: BaseException) -> dict[str, Any]:
    out: dict[str, Any] = {"message": str(e), "name": type(e).__name__}
    code = getattr(e, "code", None)
    if isinstance(code, (str, int)) and not isinstance(code, bool):
        out["code"] = code
    data = getattr(e, "data", None)
    if data is not None:
        out["data"] = data
    return out


# ---- what a plugin receives ------------------------------------------------------------


async def unmarshal(m: dict[str, Any], wire: Wire) -> Any:
    """Dials a marker's stream and returns the proxy or reader for it."""
    kind = m[MARK]
    if kind not in KINDS:
        raise MarkerError(f'unknown marker kind "{kind}"')
    methods = m.get("methods", [])
    if kind == "obj" and (
        not isinstance(methods, list)
        or len(methods) > MAX_MARKER_METHODS
        or not all(isinstance(x, str) for x in methods)
    ):
        raise MarkerError("an obj marker's methods must be a list of names")
    stream = await wire.broker.dial(m["id"])
    if kind == "bytes":
        await stream.close()  # a byte stream goes one way: half-close the direction we never use
        return ByteReader(stream)
    if kind == "iter":
        return ItemReader(stream, wire)
    peer = wire.peer(stream, "callback")
    if kind == "fn":
        return RemoteFunction(peer, wire)
    return RemoteObject(peer, methods, wire)


async def unmarshal_values(values: list[Any], wire: Wire) -> list[Any]:
    n = sum(1 for v in values if is_marker(v))
    if n == 0:
        return values
    if n > MAX_MARKERS_PER_CALL:
        raise MarkerError(f"{n} stream markers in one call (at most {MAX_MARKERS_PER_CALL})")
    return list(await asyncio.gather(*(unmarshal(v, wire) if is_marker(v) else _same(v) for v in values)))


async def _same(v: Any) -> Any:
    return v


async def call_remote(peer: RpcPeer, method: str, args: tuple[Any, ...], wire: Wire, timeout: float | None) -> Any:
    """Calls ``method`` with positional ``args``; callbacks and streams among them live as
    long as the call. A marker in the result is dialled and returned as its proxy."""
    scope = CallScope()
    try:
        params = [marshal(a, wire, scope) for a in args]
        result = await peer.request(method, params, timeout=timeout)
    finally:
        scope.end()
    if is_marker(result):
        return await unmarshal(result, wire)
    return result


class RemoteFunction:
    """A function of the other side: ``await f(*args)``. Valid while the call it came with
    runs, unless the other side retained it; ``release()`` lets it go early."""

    def __init__(self, peer: RpcPeer, wire: Wire) -> None:
        self._peer = peer
        self._wire = wire

    async def __call__(self, *args: Any, timeout: float | None = None) -> Any:
        return await call_remote(self._peer, "call", args, self._wire, timeout)

    def release(self) -> None:
        self._peer.abort()


class RemoteObject:
    """An object of the other side: each listed method is an async callable attribute
    (any public name when ``methods`` is None, e.g. a dispensed plugin of unknown shape)."""

    def __init__(self, peer: RpcPeer, methods: list[str] | None, wire: Wire) -> None:
        self._peer = peer
        self._wire = wire
        self.methods = list(methods) if methods is not None else None

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_") or (self.methods is not None and name not in self.methods):
            raise AttributeError(name)

        async def method(*args: Any, timeout: float | None = None) -> Any:
            return await call_remote(self._peer, name, args, self._wire, timeout)

        return method

    def release(self) -> None:
        self._peer.abort()


class ByteReader:
    """A byte stream from the other side: ``read()``, ``read_all()``, or ``async for``."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    async def read(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes; ``b""`` at the end."""
        return await self._stream.read(n)

    async def read_all(self, limit: int | None = None) -> bytes:
        """Everything to the end; PlugwireError past ``limit`` bytes (the stream is reset)."""
        try:
            return await self._stream.read_all(limit)
        except MuxError as e:
            raise PlugwireError(str(e), e.code) from e

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[bytes]:
        while chunk := await self._stream.read():
            yield chunk

    def close(self) -> None:
        """Stops reading: the sender's writes fail."""
        self._stream.reset()


class ItemReader:
    """An object stream from the other side: ``async for item in reader``."""

    HIGH = 256

    def __init__(self, stream: Stream, wire: Wire) -> None:
        self._peer = wire.peer(stream, "items")
        self._items: deque[Any] = deque()
        self._done = False
        self._error: Exception | None = None
        self._wake = asyncio.Event()
        self._peer.handle("item", self._on_item)
        self._peer.handle("end", lambda p, c: self._finish(None))
        self._peer.handle("error", self._on_error)
        self._peer.on_close(lambda err: self._finish(ConnectionClosedError("the object stream ended without \"end\"")))

    def _on_item(self, params: Any, ctx: Any) -> None:
        self._items.append(params[0] if isinstance(params, list) and params else None)
        if len(self._items) >= self.HIGH:
            self._peer.pause_reading()  # backpressure: the window then stops the sender
        self._wake.set()

    def _on_error(self, params: Any, ctx: Any) -> None:
        e = params[0] if isinstance(params, list) and params and isinstance(params[0], dict) else {}
        err = RemoteError(-32000, str(e.get("message", "remote stream failed")), {
            "name": e.get("name"), "code": e.get("code"), "data": e.get("data"),
        })
        self._finish(err)

    def _finish(self, err: Exception | None) -> None:
        if self._done:
            return
        self._done = True
        self._error = err
        self._wake.set()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Any]:
        try:
            while True:
                if self._items:
                    item = self._items.popleft()
                    if len(self._items) < self.HIGH // 2:
                        self._peer.resume_reading()
                    yield item
                    continue
                if self._done:
                    if self._error is not None:
                        raise self._error
                    return
                self._wake.clear()
                await self._wake.wait()
        finally:
            if not self._done:
                self._peer.abort()  # stopped early: tell the sender to stop
            else:
                await self._peer.close()


# ---- serving ---------------------------------------------------------------------------


def serve_methods(peer: RpcPeer, target: Any, methods: Iterable[str], wire: Wire) -> None:
    """Serves ``methods`` of ``target`` (an object, or a dict of callables) on ``peer``:
    positional params become arguments, markers among them are dialled first, the result
    is marshalled (callables, ByteSource, ItemSource, async generators)."""
    for name in methods:
        fn = target[name] if isinstance(target, dict) else getattr(target, name)
        peer.handle(name, _handler(fn, wire))


def _handler(fn: Callable[..., Any], wire: Wire) -> Callable[[Any, Any], Any]:
    async def handle(params: Any, ctx: Any) -> Any:
        args = params if isinstance(params, list) else [] if params is None else [params]
        args = await unmarshal_values(args, wire)
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
        return marshal(result, wire, None)

    return handle

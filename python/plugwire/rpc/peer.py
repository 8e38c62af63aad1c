"""The JSON-RPC 2.0 peer: both ends call and serve on one byte stream (a yamux stream).

Framing: every message is a 4-byte big-endian length and that many bytes of the encoded
message. Requests are served concurrently, each in its own task, so a slow handler never
holds up the next request, cancellation, or the answers to our own calls."""

from __future__ import annotations

import asyncio
import inspect
import logging
import struct
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .codecs import Codec, msgpack_codec
from .errors import (
    CodecError,
    ConnectionClosedError,
    ErrorCodes,
    MessageTooLargeError,
    ProtocolError,
    RemoteError,
    RpcError,
    TimeoutError,
)
from .messages import CANCEL_METHOD, JSONRPC_VERSION, Kind, classify, error_response, is_id

log = logging.getLogger("plugwire.rpc")

_LEN = struct.Struct(">I")

#: The largest encoded message either way, unless configured (the same on both ends).
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
#: Incoming requests (and error answers) in flight at once; past it the peer stops reading,
#: so the stream's window holds the sender back instead of tasks piling up here.
DEFAULT_MAX_CONCURRENT = 1024
#: Request ids run from 1 to 2^31-1, then wrap.
MAX_ID = 2**31 - 1


class ByteStream(Protocol):
    """What the peer needs from its stream (a yamux Stream has it)."""

    async def readexactly(self, n: int) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...

    def reset(self) -> None: ...


@dataclass
class RequestContext:
    """What a handler gets besides the params."""

    id: Any
    method: str
    peer: RpcPeer
    #: Called once the answer was handed to the stream (e.g. quit: stop after answering).
    after_reply: Callable[[], None] | None = None


Handler = Callable[[Any, RequestContext], Any]
Fallback = Callable[[str, Any, RequestContext], Any]


class _NotFound:
    pass


METHOD_NOT_FOUND: Any = _NotFound()


class RpcPeer:
    def __init__(
        self,
        stream: ByteStream,
        codec: Codec = msgpack_codec,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        name: str = "rpc",
        expose_stack: bool = False,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> None:
        if not isinstance(max_message_size, int) or not 1 <= max_message_size <= 0xFFFF_FFFF:
            raise ValueError("max_message_size must be an integer in [1, 2^32 - 1]")
        self.stream = stream
        self.codec = codec
        self.max_message_size = max_message_size
        self.name = name
        self.expose_stack = expose_stack
        self._handlers: dict[str, Handler] = {}
        self._fallback: Fallback | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 1
        self._incoming: dict[Any, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cancelled: set[asyncio.Task[None]] = set()
        self._closed = asyncio.get_running_loop().create_future()
        self._close_error: Exception | None = None
        self._on_close: list[Callable[[Exception | None], None]] = []
        self.max_concurrent = max_concurrent
        self._inflight = 0
        self._resume = asyncio.Event()
        self._resume.set()
        self._paused_by_user = False
        self._reader = asyncio.create_task(self._read_loop(), name=f"rpc-read-{name}")

    # ---- serving ------------------------------------------------------------------------

    def handle(self, method: str, handler: Handler) -> None:
        """Serves ``method``: ``handler(params, ctx)`` returns the result or an awaitable."""
        if method == CANCEL_METHOD:
            raise ValueError(f'"{CANCEL_METHOD}" is handled by the peer')
        self._handlers[method] = handler

    def fallback(self, handler: Fallback) -> None:
        """Serves methods without a handler; return METHOD_NOT_FOUND for unknown ones."""
        self._fallback = handler

    def pause_reading(self) -> None:
        """Stops reading frames (after the current one): the stream's window then stops the
        sender. Used for backpressure by receivers that queue what they get."""
        self._paused_by_user = True
        self._resume.clear()

    def resume_reading(self) -> None:
        self._paused_by_user = False
        if self._inflight < self.max_concurrent:
            self._resume.set()

    def _answer_started(self) -> None:
        self._inflight += 1
        if self._inflight >= self.max_concurrent:
            self._resume.clear()

    def _answer_done(self, _: object = None) -> None:
        self._inflight -= 1
        if self._inflight < self.max_concurrent and not self._paused_by_user:
            self._resume.set()

    # ---- calling ------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed.done()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    def on_close(self, fn: Callable[[Exception | None], None]) -> None:
        if self._closed.done():
            fn(self._close_error)
        else:
            self._on_close.append(fn)

    async def request(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        """Calls ``method``; raises RemoteError for an error answer, TimeoutError after
        ``timeout`` seconds, ConnectionClosedError when the connection ends first. A task
        cancelled while waiting sends ``$/cancelRequest``."""
        if self.closed:
            raise self._close_error_for_callers()
        rid = self._next_id
        self._next_id = 1 if rid >= MAX_ID else rid + 1
        msg: dict[str, Any] = {"jsonrpc": JSONRPC_VERSION, "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        frame = self._frame(msg)  # raises MessageTooLargeError / CodecError: nothing sent
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._write(frame)
            if timeout is None:
                return await asyncio.shield(fut)
            try:
                return await asyncio.wait_for(asyncio.shield(fut), timeout)
            except asyncio.TimeoutError:
                self._send_cancel(rid)
                raise TimeoutError(method, timeout) from None
        except asyncio.CancelledError:
            if not fut.done():
                self._send_cancel(rid)
            raise
        finally:
            self._pending.pop(rid, None)

    async def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": JSONRPC_VERSION, "method": method}
        if params is not None:
            msg["params"] = params
        if self.closed:
            raise self._close_error_for_callers()
        await self._write(self._frame(msg))

    async def close(self) -> None:
        """Ends the connection: pending calls fail, handlers are cancelled, FIN is sent."""
        self._shutdown(None)
        try:
            await self.stream.close()
        except Exception:
            pass

    def abort(self) -> None:
        """Ends the connection now (the stream is reset)."""
        self._shutdown(None)
        self.stream.reset()

    # ---- wire ---------------------------------------------------------------------------

    def _frame(self, msg: Any) -> bytes:
        body = self.codec.encode(msg)
        if len(body) > self.max_message_size:
            raise MessageTooLargeError(len(body), self.max_message_size, "outgoing")
        return _LEN.pack(len(body)) + body

    async def _write(self, frame: bytes) -> None:
        try:
            await self.stream.write(frame)
        except Exception as e:
            err = ConnectionClosedError(f"the connection is closed: {e}")
            self._shutdown(err)
            raise err from e

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _send_cancel(self, rid: int) -> None:
        if not self.closed:
            self._spawn(self._quiet(self.notify(CANCEL_METHOD, {"id": rid})))

    async def _quiet(self, aw: Awaitable[Any]) -> None:
        try:
            await aw
        except Exception:
            pass

    async def _reply(self, response: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            frame = self._frame(response)
        except MessageTooLargeError as e:
            frame = self._frame(
                error_response(response.get("id"), ErrorCodes.MESSAGE_TOO_LARGE, str(e), {"size": e.size, "limit": e.limit})
            )
        except CodecError as e:
            frame = self._frame(
                error_response(response.get("id"), ErrorCodes.INTERNAL_ERROR, f"the response could not be encoded: {e}")
            )
        try:
            await self._write(frame)
        except ConnectionClosedError:
            pass

    # ---- receiving ----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                if not self._resume.is_set():
                    await self._resume.wait()
                try:
                    head = await self.stream.readexactly(4)
                except asyncio.IncompleteReadError as e:
                    if e.partial:
                        self._shutdown(ProtocolError("the stream ended inside a frame header"))
                    else:
                        self._shutdown(None)
                    await self._quiet(self.stream.close())
                    return
                (n,) = _LEN.unpack(head)
                if n > self.max_message_size:
                    err = MessageTooLargeError(n, self.max_message_size, "incoming")
                    log.debug("%s: %s", self.name, err)
                    # Tell the remote why before closing; there is no id to answer.
                    await self._reply(
                        error_response(None, ErrorCodes.MESSAGE_TOO_LARGE, str(err), {"size": n, "limit": self.max_message_size})
                    )
                    self._shutdown(err)
                    await self._quiet(self.stream.close())
                    return
                body = await self.stream.readexactly(n)
                self._on_frame(body)
        except asyncio.CancelledError:
            raise
        except asyncio.IncompleteReadError:
            self._shutdown(ProtocolError("the stream ended inside a message"))
        except Exception as e:  # the stream failed (reset, session gone)
            self._shutdown(ConnectionClosedError(f"the connection is closed: {e}"))

    def _on_frame(self, body: bytes) -> None:
        try:
            message = self.codec.decode(body)
        except CodecError as e:
            log.debug("%s: parse error: %s", self.name, e)
            self._answer_started()
            self._spawn(self._reply(error_response(None, ErrorCodes.PARSE_ERROR, "Parse error"))).add_done_callback(self._answer_done)
            return
        if isinstance(message, list):
            self._answer_started()
            if not message:
                answer_task = self._spawn(self._reply(error_response(None, ErrorCodes.INVALID_REQUEST, "Invalid Request")))
            else:
                answer_task = self._spawn(self._batch(message))
            answer_task.add_done_callback(self._answer_done)
            return
        answer = self._on_message(message)
        if answer is not None:
            self._answer_started()
            self._spawn(self._answer_one(answer)).add_done_callback(self._answer_done)

    async def _answer_one(self, answer: Awaitable[dict[str, Any] | None]) -> None:
        response = await answer
        if response is not None:
            await self._reply(response)

    async def _batch(self, messages: list[Any]) -> None:
        answers = [a for a in (self._on_message(m) for m in messages) if a is not None]
        responses = [r for r in await asyncio.gather(*answers) if r is not None]
        if responses and not self.closed:
            try:
                frame = self._frame(responses)
            except (MessageTooLargeError, CodecError) as e:
                frame = self._frame([
                    error_response(r.get("id"), ErrorCodes.INTERNAL_ERROR, f"the batch answer could not be sent: {e}")
                    for r in responses
                ])
            try:
                await self._write(frame)
            except ConnectionClosedError:
                pass

    def _on_message(self, m: Any) -> Awaitable[dict[str, Any] | None] | None:
        """Handles one message; returns an awaitable of its answer when it has one."""
        kind = classify(m)
        if kind == Kind.RESPONSE:
            self._on_response(m)
            return None
        if kind == Kind.INVALID_RESPONSE:
            rid = m.get("id")
            fut = self._pending.get(rid) if isinstance(rid, int) else None
            if fut is not None and not fut.done():
                fut.set_exception(ProtocolError("the answer is not a valid JSON-RPC response"))
            return None
        if kind == Kind.INVALID_REQUEST:
            rid = m.get("id") if isinstance(m, dict) and is_id(m.get("id")) else None
            return _ready(error_response(rid, ErrorCodes.INVALID_REQUEST, "Invalid Request"))
        method: str = m["method"]
        params = m.get("params")
        if method == CANCEL_METHOD:
            self._on_cancel(params)
            return _ready({"jsonrpc": JSONRPC_VERSION, "id": m["id"], "result": None}) if kind == Kind.REQUEST else None
        if kind == Kind.NOTIFICATION:
            self._notification(method, params)
            return None
        rid = m["id"]
        task = asyncio.ensure_future(self._request_task(rid, method, params))
        # By id, to be cancelled; a null id or a duplicate of one in flight cannot be.
        if rid is not None and rid not in self._incoming:
            self._incoming[rid] = task  # type: ignore[assignment]
            task.add_done_callback(lambda t, rid=rid: self._incoming.pop(rid, None) if self._incoming.get(rid) is t else None)
        return task

    def _on_response(self, m: dict[str, Any]) -> None:
        rid = m.get("id")
        fut = self._pending.get(rid) if isinstance(rid, int) and not isinstance(rid, bool) else None
        error = m.get("error")
        if fut is None:
            if rid is None and error is not None:
                log.debug("%s: the remote reported: %s %s", self.name, error.get("code"), error.get("message"))
                self._remote_error = RemoteError(error["code"], error["message"], error.get("data"))
            return
        if fut.done():
            return
        if error is None:
            fut.set_result(m.get("result"))
        else:
            fut.set_exception(RemoteError(error["code"], error["message"], error.get("data")))

    def _on_cancel(self, params: Any) -> None:
        rid = params.get("id") if isinstance(params, dict) else None
        task = self._incoming.pop(rid, None) if is_id(rid) else None
        if task is not None and not task.done():
            self._cancelled.add(task)  # type: ignore[arg-type]
            task.cancel()

    def _invoke(self, method: str, params: Any, ctx: RequestContext) -> Any:
        handler = self._handlers.get(method)
        if handler is not None:
            return handler(params, ctx)
        if self._fallback is not None:
            return self._fallback(method, params, ctx)
        return METHOD_NOT_FOUND

    async def _request_task(self, rid: Any, method: str, params: Any) -> dict[str, Any] | None:
        ctx = RequestContext(rid, method, self)
        response = await self._run_request(ctx, params)
        if ctx.after_reply is not None and response is not None:
            await self._reply(response)
            ctx.after_reply()
            return None
        return response

    async def _run_request(self, ctx: RequestContext, params: Any) -> dict[str, Any] | None:
        rid, method = ctx.id, ctx.method
        try:
            result = self._invoke(method, params, ctx)
            if inspect.isawaitable(result):
                result = await result
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if me in self._cancelled:
                self._cancelled.discard(me)  # type: ignore[arg-type]
                # The caller stopped waiting; answer as LSP servers do, without a result.
                return error_response(rid, ErrorCodes.REQUEST_CANCELLED, "Request cancelled")
            raise
        except Exception as e:
            return {"jsonrpc": JSONRPC_VERSION, "id": rid, "error": self._to_error_object(e)}
        if result is METHOD_NOT_FOUND:
            return error_response(rid, ErrorCodes.METHOD_NOT_FOUND, "Method not found", {"method": method})
        return {"jsonrpc": JSONRPC_VERSION, "id": rid, "result": result}

    def _notification(self, method: str, params: Any) -> None:
        # A plain handler runs inline, so notifications are handled in order (object
        # streams rely on it) and pause_reading() takes effect before the next frame.
        try:
            result = self._invoke(method, params, RequestContext(None, method, self))
        except Exception:
            log.debug("%s: notification handler %r failed", self.name, method, exc_info=True)
            return
        if inspect.isawaitable(result):
            self._spawn(self._await_notification(method, result))

    async def _await_notification(self, method: str, result: Awaitable[Any]) -> None:
        try:
            await result
        except asyncio.CancelledError:
            raise
        except Exception:
            log.debug("%s: notification handler %r failed", self.name, method, exc_info=True)

    def _to_error_object(self, err: BaseException) -> dict[str, Any]:
        """The wire error for what a handler raised (ErrorCodes.APPLICATION_ERROR)."""
        if isinstance(err, RpcError):
            return err.to_error_object()
        data: dict[str, Any] = {"name": type(err).__name__}
        code = getattr(err, "code", None)
        if isinstance(code, (str, int)) and not isinstance(code, bool):
            data["code"] = code
        extra = getattr(err, "data", None)
        if extra is not None:
            data["data"] = extra
        if self.expose_stack:
            data["stack"] = "".join(traceback.format_exception(err))
        return {"code": ErrorCodes.APPLICATION_ERROR, "message": str(err) or type(err).__name__, "data": data}

    # ---- ending -------------------------------------------------------------------------

    def _close_error_for_callers(self) -> Exception:
        e = self._close_error
        return e if isinstance(e, ConnectionClosedError) else ConnectionClosedError(
            f"the JSON-RPC connection is closed{f': {e}' if e else ''}"
        )

    def _shutdown(self, error: Exception | None) -> None:
        if self._closed.done():
            return
        self._close_error = error
        self._closed.set_result(None)
        err = self._close_error_for_callers()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()
        for task in list(self._incoming.values()):
            task.cancel()
        self._incoming.clear()
        current = asyncio.current_task()
        if self._reader is not current:
            self._reader.cancel()
        for fn in self._on_close:
            try:
                fn(error)
            except Exception:
                log.exception("%s: close listener failed", self.name)
        self._on_close.clear()


async def _ready_coro(value: Any) -> Any:
    return value


def _ready(value: Any) -> Awaitable[Any]:
    return _ready_coro(value)

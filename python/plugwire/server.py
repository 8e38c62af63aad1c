"""serve(): a Python process as a plugwire plugin, as go-plugin's Serve and
@plugwire/core's serve(). Checks the cookie, negotiates the protocol version and codec,
listens on a private unix socket (or loopback tcp), prints the handshake line, then serves
the host over yamux until it says quit or goes away (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import grp
import hmac
import inspect
import logging
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from . import handshake as hs
from . import logs
from .errors import HandshakeError
from .marshal import Exposed, Wire, public_methods, serve_methods
from .rpc import DEFAULT_MAX_MESSAGE_SIZE, ErrorCodes, RpcError, RpcPeer, codec_by_name
from .yamux import DEFAULT_BROKER_TIMEOUT, MuxBroker, MuxError, Session, SessionConfig, Stream

log = logging.getLogger("plugwire")

#: sockaddr_un holds 104 bytes on macOS/BSD, 108 on Linux: longer paths move to /tmp.
MAX_SOCKET_PATH = 103
#: After stdin's EOF, how long a live connection may still bring plugwire/quit (the host
#: sends quit and closes stdin at once; a dead host's connection closes at once).
STDIN_EOF_GRACE = 1.0
#: How much longer than that the stdin thread waits for a loop that does not respond (a
#: method blocking it) before it ends the process itself.
STUCK_LOOP_GRACE = 1.0


@dataclass
class ServeOptions:
    """Options of serve(); every field has its default here."""

    #: The plugins by the name they are dispensed as: any object (its public methods are
    #: served) or an Exposed(obj, methods) to choose the methods.
    plugins: Mapping[str, Any] = field(default_factory=dict)
    #: One plugin set per application protocol version; the highest the host offers wins.
    versioned_plugins: Mapping[int, Mapping[str, Any]] | None = None
    #: The application protocol version of ``plugins``.
    protocol_version: int = 1
    magic_cookie_key: str = hs.DEFAULT_COOKIE_KEY
    magic_cookie_value: str = hs.DEFAULT_COOKIE_VALUE
    #: Codecs this plugin speaks.
    codecs: tuple[str, ...] = ("msgpack", "json")
    #: Runs with the host's config (None when none) before anything is dispensed; an
    #: exception fails the host's start.
    init: Callable[[Any], Any] | None = None
    #: Runs right after init, still before the host's start() returns.
    start: Callable[[], Any] | None = None
    #: Runs before the process exits (quit, SIGTERM, host gone).
    on_shutdown: Callable[[], Any] | None = None
    #: Include tracebacks in error answers (they reveal paths and code to the host).
    expose_stack: bool = False
    #: Largest RPC message either way; set the same on the host.
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    #: How long broker accepts and dials wait for the other side (seconds).
    broker_timeout: float = DEFAULT_BROKER_TIMEOUT
    mux: SessionConfig = field(default_factory=SessionConfig)
    #: Exit the process when serving ends (off for tests that run serve_async in-process).
    exit: bool = True


def serve(plugins: Mapping[str, Any] | None = None, **options: Any) -> NoReturn:
    """Serves ``plugins`` from this process and exits when the host is done with it."""
    opts = ServeOptions(plugins=plugins or {}, **options)
    logs.install()
    # Not asyncio.run(): its clean-up cancels every task and waits for them, and a method
    # that swallows CancelledError would then keep the process alive after the host is done.
    loop = asyncio.new_event_loop()
    try:
        code = loop.run_until_complete(serve_async(opts))
    except BaseException as e:  # a crash reaches the host as an error record with its stack
        log.error("plugin crashed: %s", e, exc_info=True)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


async def serve_async(opts: ServeOptions) -> int:
    """serve() inside a running loop; returns the exit status (0 for a clean stop)."""
    if os.environ.get(opts.magic_cookie_key) != opts.magic_cookie_value:
        sys.stderr.write(hs.COOKIE_MESSAGE)
        sys.stderr.flush()
        return 1
    sets = (
        {int(k): v for k, v in opts.versioned_plugins.items()}
        if opts.versioned_plugins is not None
        else {opts.protocol_version: opts.plugins}
    )
    host_versions = hs.parse_version_list(os.environ.get(hs.ENV_PROTOCOL_VERSIONS))
    version = hs.negotiate_version(host_versions, sets.keys())
    if version is None:
        log.error(
            "no common protocol version: the host offers %s, this plugin serves %s",
            host_versions, sorted(sets),
        )
        return 1
    host_codecs = hs.parse_codec_list(os.environ.get(hs.ENV_CODECS))
    codec_name = hs.negotiate_codec(host_codecs, opts.codecs)
    if codec_name is None:
        log.error("no common codec: the host accepts %s, this plugin speaks %s", host_codecs, list(opts.codecs))
        return 1
    if os.environ.get(hs.ENV_CLIENT_CERT):
        log.error("AutoMTLS (PLUGIN_CLIENT_CERT) is not supported by the Python SDK yet")
        return 1
    server = _PluginServer(opts, version, codec_name, sets[version])
    return await server.run()


class _PluginServer:
    def __init__(self, opts: ServeOptions, version: int, codec_name: str, plugins: Mapping[str, Any]) -> None:
        self.opts = opts
        self.version = version
        self.codec_name = codec_name
        self.codec = codec_by_name(codec_name)
        self.plugins = {name: p if isinstance(p, Exposed) else Exposed(p) for name, p in plugins.items()}
        self.reattachable = os.environ.get(hs.ENV_REATTACHABLE) == "1"
        # Read once and removed, so that processes the plugin starts do not inherit it.
        token = os.environ.pop(hs.ENV_AUTH_TOKEN, None)
        self.token: bytes | None = token.encode() if token else None
        self.network = "unix"
        self.session: Session | None = None
        self.socket_dir: str | None = None
        self.stopping: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.initialized = False
        #: Set once serving has ended, for the stdin thread.
        self.finished = threading.Event()

    def stop(self, why: str) -> None:
        if not self.stopping.done():
            log.debug("plugin shutting down", extra={"reason": why})
            self.stopping.set_result(why)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        network = "tcp" if os.environ.get(hs.ENV_NETWORK) == "tcp" else "unix"
        self.network = network
        listener, address = await self.listen(network)
        loop.add_signal_handler(signal.SIGTERM, self.stop, "SIGTERM")
        # A terminal's Ctrl-C is the host's to handle (go-plugin does the same).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if not self.reattachable:
            await self.watch_stdin()
        line = hs.format_handshake(self.version, network, address, self.codec_name)
        # One write of one whole line, after any output the plugin printed before, so
        # that output cannot split it.
        sys.stdout.flush()
        os.write(1, (line + "\n").encode())
        log.debug("plugin serving", extra={"address": address, "protocol": self.version, "codec": self.codec_name})
        try:
            await self.stopping
            if self.opts.on_shutdown is not None:
                try:
                    r = self.opts.on_shutdown()
                    if inspect.isawaitable(r):
                        await r
                except Exception as e:
                    log.error("on_shutdown failed: %s", e, exc_info=True)
        finally:
            listener.close()
            if self.session is not None:
                self.session.abort()
            for t in list(self.tasks):
                t.cancel()
            if self.socket_dir:
                shutil.rmtree(self.socket_dir, ignore_errors=True)
            loop.remove_signal_handler(signal.SIGTERM)
            self.finished.set()
        return 0

    # ---- transport ----------------------------------------------------------------------

    async def listen(self, network: str) -> tuple[asyncio.base_events.Server, str]:
        if network == "tcp":
            lo = _int_env(hs.ENV_MIN_PORT) or 0
            hi = _int_env(hs.ENV_MAX_PORT) or lo
            for port in range(lo, hi + 1) if lo else [0]:
                try:
                    srv = await asyncio.start_server(self.on_connection, "127.0.0.1", port)
                except OSError:
                    continue
                return srv, f"127.0.0.1:{srv.sockets[0].getsockname()[1]}"
            raise HandshakeError(f"no free port in {lo}..{hi}")
        base = os.environ.get(hs.ENV_UNIX_SOCKET_DIR) or None
        d = tempfile.mkdtemp(prefix="plugwire-", dir=base)  # mode 0700
        if len(os.path.join(d, "plugin.sock")) > MAX_SOCKET_PATH:
            os.rmdir(d)
            d = tempfile.mkdtemp(prefix="plugwire-", dir="/tmp")
        self.socket_dir = d
        path = os.path.join(d, "plugin.sock")
        srv = await asyncio.start_unix_server(self.on_connection, path)
        os.chmod(path, 0o600)
        group = os.environ.get(hs.ENV_UNIX_SOCKET_GROUP)
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
            os.chown(d, -1, gid)
            os.chown(path, -1, gid)
            os.chmod(d, 0o750)
            os.chmod(path, 0o660)
        return srv, path

    async def watch_stdin(self) -> None:
        """A plugwire host keeps our stdin open as a pipe: its EOF means the host is gone.

        Read on a thread of its own, not on the event loop: a method that blocks the loop
        (a busy loop, a blocking call) must not keep the process alive after its host died.
        The thread asks the loop to stop; if the loop has not finished within the grace
        period and one more second, the thread removes the socket directory and ends the
        process itself (docs/protocol.md §9)."""
        try:
            mode = os.fstat(0).st_mode
        except OSError:
            return
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return  # a terminal or /dev/null says nothing
        loop = asyncio.get_running_loop()

        def watch() -> None:
            try:
                while os.read(0, 4096):
                    pass  # the host never writes; anything it does is ignored
            except OSError:
                pass
            try:
                loop.call_soon_threadsafe(self.spawn, self.on_stdin_eof())
            except RuntimeError:
                return  # the loop is already closed: the process is on its way out
            if not self.finished.wait(STDIN_EOF_GRACE + STUCK_LOOP_GRACE):
                if self.socket_dir:
                    shutil.rmtree(self.socket_dir, ignore_errors=True)
                os.write(2, b'{"@level":"error","@message":"the host is gone and the plugin is stuck: exiting"}\n')
                os._exit(0)

        threading.Thread(target=watch, name="plugwire-stdin", daemon=True).start()

    async def on_stdin_eof(self) -> None:
        session = self.session
        if session is not None and session.is_open:
            # The host sends plugwire/quit and closes stdin at the same moment: let a live
            # connection bring the quit (answered, then a clean stop); a dead host's
            # connection ends at once, and a hung one gets the grace period.
            try:
                await asyncio.wait_for(session.wait_closed(), STDIN_EOF_GRACE)
            except asyncio.TimeoutError:
                pass
        self.stop("the host closed our stdin: it is gone")

    def on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.session is not None or self.stopping.done():
            writer.transport.abort()  # one host per plugin process
            return
        if self.network == "tcp" and self.token is not None:
            # Any local user can connect to a loopback port: only the one who presents the
            # token gets the plugin. Each connection is checked in a task of its own, so a
            # stranger that connects first (silent, or wrong) does not hold up the host.
            self.spawn(self.check_token(self.token, reader, writer))
            return
        self.start_session(reader, writer)

    async def check_token(self, token: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Reads the first AUTH_TOKEN_LENGTH bytes and compares them with the token in
        constant time: a match is answered with TCP_AUTH_ACK and served, anything else
        (other bytes, too few, too late) closes that connection only."""
        try:
            presented = await asyncio.wait_for(reader.readexactly(len(token)), hs.TOKEN_TIMEOUT)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, OSError) as e:
            why = f"no tcp token within {hs.TOKEN_TIMEOUT:g} s" if isinstance(e, asyncio.TimeoutError) else "connection closed before the tcp token"
            log.warning("refused a tcp connection: %s", why)
            writer.transport.abort()
            return
        if not hmac.compare_digest(presented, token):
            log.warning("refused a tcp connection: wrong tcp token")
            writer.transport.abort()
            return
        if self.session is not None or self.stopping.done():
            writer.transport.abort()  # another connection with the token came first
            return
        writer.write(hs.TCP_AUTH_ACK)
        self.start_session(reader, writer)

    def start_session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(reader, writer, "server", self.opts.mux, name="plugin")
        self.session = session
        self.spawn(self.serve_session(session))

    async def serve_session(self, session: Session) -> None:
        broker = MuxBroker(session, self.opts.broker_timeout)
        wire = Wire(broker, self.codec, "plugin", self.opts.max_message_size, self.opts.expose_stack)
        try:
            control_stream = await session.accept_stream()
            control = wire.peer(control_stream, "control")
            self.serve_control(control, broker, wire)
            # Every later stream the host opens is a broker stream.
            while True:
                broker.handle_stream(await session.accept_stream())
        except MuxError:
            pass
        finally:
            await session.wait_closed()
            broker.close()
            for t in list(wire.tasks):
                t.cancel()
            why = f"connection to the host lost: {session.close_error}" if session.close_error else "the host disconnected"
            if self.reattachable:
                log.debug("host gone; waiting for a host to reattach", extra={"reason": why})
                if self.session is session:
                    self.session = None
            else:
                self.stop(why)

    # ---- control channel ----------------------------------------------------------------

    def serve_control(self, control: RpcPeer, broker: MuxBroker, wire: Wire) -> None:
        control.handle("plugwire/ping", lambda p, c: {})

        async def init(params: Any, ctx: Any) -> Any:
            config = params.get("config") if isinstance(params, dict) else None
            if self.opts.init is not None:
                r = self.opts.init(config)
                if inspect.isawaitable(r):
                    await r
            if self.opts.start is not None:
                r = self.opts.start()
                if inspect.isawaitable(r):
                    await r
            self.initialized = True
            return {}

        control.handle("plugwire/init", init)
        control.handle(
            "plugwire/info",
            lambda p, c: {
                "pid": os.getpid(),
                "protocolVersion": self.version,
                "codec": self.codec_name,
                "plugins": list(self.plugins),
                "methods": {name: list(e.methods) for name, e in self.plugins.items()},
            },
        )

        def quit_(params: Any, ctx: Any) -> Any:
            # Answer first; stop once the answer is on its way.
            ctx.after_reply = lambda: self.stop("the host asked to quit")
            return {}

        control.handle("plugwire/quit", quit_)

        def dispense(params: Any, ctx: Any) -> Any:
            name = params.get("name") if isinstance(params, dict) else None
            plugin = self.plugins.get(name) if isinstance(name, str) else None
            if plugin is None:
                raise RpcError(ErrorCodes.UNKNOWN_PLUGIN, f'unknown plugin "{name}"', {"known": list(self.plugins)})
            bid = broker.next_id()
            wire.spawn(self.serve_plugin(name, plugin, bid, broker, wire))
            return {"id": bid}

        control.handle("plugwire/dispense", dispense)

    async def serve_plugin(self, name: str, plugin: Exposed, bid: int, broker: MuxBroker, wire: Wire) -> None:
        try:
            stream: Stream = await broker.accept(bid)
        except MuxError as e:
            log.error('serving plugin "%s" failed: %s', name, e)
            return
        peer = wire.peer(stream, name)
        serve_methods(peer, plugin.target, plugin.methods, wire)
        await peer.wait_closed()


def _int_env(name: str) -> int | None:
    v = os.environ.get(name, "")
    return int(v) if v.isdigit() else None

"""The host side: start a plugin process, shake hands, connect, and call it — as
@plugwire/core's PluginClient and go-plugin's Client (docs/protocol.md, the host's half)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import handshake as hs
from .errors import HandshakeError
from .marshal import RemoteObject, Wire
from .rpc import (
    DEFAULT_MAX_MESSAGE_SIZE,
    ErrorCodes,
    PlugwireError,
    RemoteError,
    RpcPeer,
    codec_by_name,
)
from .yamux import DEFAULT_BROKER_TIMEOUT, MuxBroker, MuxError, Session, SessionConfig

log = logging.getLogger("plugwire.client")

# CORE|APP|network| — the start of anything that tries to be a handshake line.
_ATTEMPT = re.compile(r"(\d+)\|(\d+)\|([a-z0-9]+)\|")
#: Stderr lines kept for error messages.
STDERR_TAIL = 20
#: Longest stdout/stderr line read from the plugin; longer ones are split.
MAX_LINE = 64 * 1024


class PluginExitedError(PlugwireError):
    """The plugin process exited (before the handshake, or while calls were pending)."""

    code = "PLUGWIRE_PLUGIN_EXITED"

    def __init__(self, returncode: int | None, stderr_tail: str) -> None:
        tail = f"; its stderr said: {stderr_tail!r}" if stderr_tail else ""
        super().__init__(f"the plugin exited with status {returncode}{tail}")
        self.returncode = returncode


class StartTimeoutError(HandshakeError):
    code = "PLUGWIRE_START_TIMEOUT"


class TcpAuthError(HandshakeError):
    """The plugin at the tcp address did not take our token: it is not the plugin this host
    started, or it does not implement tcp authentication (see ``insecure_tcp``)."""

    code = "PLUGWIRE_TCP_AUTH"


class UnknownPluginError(PlugwireError):
    code = "PLUGWIRE_UNKNOWN_PLUGIN"

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f'unknown plugin "{name}" (the plugin has: {", ".join(known) or "none"})')
        self.known = list(known)


@dataclass
class LogRecord:
    level: str
    message: str
    fields: dict[str, Any]
    structured: bool
    timestamp: str | None = None
    module: str | None = None


@dataclass
class ClientOptions:
    """Options of PluginClient; every field has its default here."""

    #: Extra environment for the plugin (on top of ours unless ``skip_host_env``).
    env: Mapping[str, str] = field(default_factory=dict)
    skip_host_env: bool = False
    cwd: str | None = None
    #: Application protocol versions we speak, preferred (highest) first.
    versions: Sequence[int] = (1,)
    #: Codecs we accept, in our order of preference.
    codecs: Sequence[str] = ("msgpack", "json")
    magic_cookie_key: str = hs.DEFAULT_COOKIE_KEY
    magic_cookie_value: str = hs.DEFAULT_COOKIE_VALUE
    unix_socket_dir: str | None = None
    #: ``"unix"`` or ``"tcp"`` (loopback): the transport the plugin is asked to listen on.
    network: str = "unix"
    #: Send no tcp token (PLUGWIRE_AUTH_TOKEN): any local user can then connect to a plugin
    #: listening on tcp. For plugins that do not implement tcp authentication.
    insecure_tcp: bool = False
    #: Seconds from start to the handshake line, the connection and the plugin's answer to
    #: the tcp token.
    start_timeout: float = 60.0
    #: Seconds between quit and SIGKILL.
    kill_grace: float = 2.0
    broker_timeout: float = DEFAULT_BROKER_TIMEOUT
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    mux: SessionConfig = field(default_factory=SessionConfig)
    #: Sent with plugwire/init before anything is dispensed.
    config: Any = None
    #: Gets the plugin's stderr lines as records (hclog JSON is parsed; other text is info).
    logger: Callable[[LogRecord], None] | None = None
    #: Gets the plugin's stdout lines other than the handshake.
    stdout: Callable[[str], None] | None = None


def parse_log_line(line: str) -> LogRecord:
    if line.startswith("{") and line.endswith("}"):
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("@message"), str):
            level = obj.pop("@level", "info")
            message = obj.pop("@message")
            ts = obj.pop("@timestamp", None)
            module = obj.pop("@module", None)
            if level not in ("trace", "debug", "info", "warn", "error"):
                level = "info"
            return LogRecord(level, message, obj, True, ts if isinstance(ts, str) else None,
                             module if isinstance(module, str) else None)
    return LogRecord("info", line, {}, False)


class PluginClient:
    """Starts ``command`` as a plugin and talks to it::

        async with PluginClient(["python3", "plugin.py"]) as client:
            calc = await client.dispense("calc")
            print(await calc.add(1, 2))
    """

    def __init__(self, command: Sequence[str], **options: Any) -> None:
        if not command:
            raise ValueError("PluginClient needs a command")
        self.command = list(command)
        self.options = ClientOptions(**options)
        for c in self.options.codecs:
            codec_by_name(c)
        if self.options.network not in ("unix", "tcp"):
            raise ValueError(f'network must be "unix" or "tcp", not {self.options.network!r}')
        #: The tcp token of this start (None with insecure_tcp).
        self._token: str | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.session: Session | None = None
        self.broker: MuxBroker | None = None
        self.control: RpcPeer | None = None
        self.protocol_version: int | None = None
        self.codec: str | None = None
        self.address: str | None = None
        self.network: str | None = None
        self._wire: Wire | None = None
        self._stderr_tail: list[str] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started: asyncio.Task[None] | None = None
        self._dispensed: dict[str, RemoteObject] = {}
        self._killed: asyncio.Task[int | None] | None = None

    async def __aenter__(self) -> PluginClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kill()

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        """Starts the plugin, reads its handshake, connects and sends plugwire/init."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._start())
        await asyncio.shield(self._started)

    async def dispense(self, name: str, methods: Sequence[str] | None = None) -> RemoteObject:
        """A proxy of plugin ``name``: ``await plugin.method(*args)``."""
        await self.start()
        if name in self._dispensed:
            return self._dispensed[name]
        assert self.control and self.broker and self._wire
        try:
            answer = await self.control.request("plugwire/dispense", {"name": name})
        except RemoteError as e:
            if e.rpc_code == ErrorCodes.UNKNOWN_PLUGIN:
                known = e.data.get("known", []) if isinstance(e.data, dict) else []
                raise UnknownPluginError(name, known) from None
            raise
        bid = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(bid, int) or isinstance(bid, bool):
            raise HandshakeError(f"plugwire/dispense answered {answer!r}, not {{'id': <number>}}")
        stream = await self.broker.dial(bid)
        proxy = RemoteObject(self._wire.peer(stream, name), list(methods) if methods else None, self._wire)
        self._dispensed[name] = proxy
        return proxy

    async def ping(self) -> None:
        await self.start()
        assert self.control
        await self.control.request("plugwire/ping", {})

    async def kill(self) -> int | None:
        """Asks the plugin to quit (closing its stdin at the same moment), waits the grace
        period, then kills its process group. Returns the exit status."""
        if self._killed is None:
            self._killed = asyncio.ensure_future(self._kill())
        return await asyncio.shield(self._killed)

    # ---- start --------------------------------------------------------------------------

    async def _start(self) -> None:
        o = self.options
        env = {} if o.skip_host_env else dict(os.environ)
        env.update(o.env)
        env[o.magic_cookie_key] = o.magic_cookie_value
        env[hs.ENV_PROTOCOL_VERSIONS] = ",".join(str(v) for v in o.versions)
        env[hs.ENV_CODECS] = ",".join(o.codecs)
        if o.unix_socket_dir:
            env[hs.ENV_UNIX_SOCKET_DIR] = o.unix_socket_dir
        env.pop(hs.ENV_AUTH_TOKEN, None)  # never a token of our own host's
        if o.network == "tcp":
            env[hs.ENV_NETWORK] = "tcp"
        if not o.insecure_tcp:
            # Also without network="tcp": a plugin may choose tcp itself.
            self._token = secrets.token_hex(hs.AUTH_TOKEN_LENGTH // 2)
            env[hs.ENV_AUTH_TOKEN] = self._token
        loop = asyncio.get_running_loop()
        deadline = loop.time() + o.start_timeout
        self.proc = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=o.cwd,
            start_new_session=True,  # its own process group, killed as one
            limit=MAX_LINE,
        )
        self._spawn(self._read_stderr())
        try:
            line = await asyncio.wait_for(self._read_handshake(), o.start_timeout)
        except asyncio.TimeoutError:
            await self.kill()
            raise StartTimeoutError(f"no handshake line within {o.start_timeout:g} s") from None
        except BaseException:
            await self.kill()
            raise
        self._spawn(self._forward_stdout())
        try:
            try:
                await asyncio.wait_for(self._connect(line), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise StartTimeoutError(
                    f"the plugin at {self.network}:{self.address} did not accept the connection"
                    f"{' and the tcp token' if self.network == 'tcp' and self._token else ''}"
                    f" within the start timeout ({o.start_timeout:g} s)"
                ) from None
            await self._init()
        except BaseException:
            await self.kill()
            raise

    async def _read_handshake(self) -> str:
        assert self.proc and self.proc.stdout
        while True:
            try:
                raw = await self.proc.stdout.readline()
            except ValueError:  # a line over MAX_LINE
                raw = await self.proc.stdout.read(MAX_LINE)
            if not raw:
                code = await self.proc.wait()
                await asyncio.sleep(0)  # let the stderr reader take the last lines
                raise PluginExitedError(code, "\n".join(self._stderr_tail[-5:]))
            line = raw.decode(errors="replace").rstrip("\r\n")
            m = _ATTEMPT.search(line)
            if m is None:
                if self.options.stdout:
                    self.options.stdout(line)
                continue
            if m.start() > 0 and self.options.stdout:
                self.options.stdout(line[: m.start()])
            return line[m.start() :]

    def _parse(self, line: str) -> tuple[int, str, str, str]:
        o = self.options
        expected = (
            f"expected CORE|APP|NETWORK|ADDRESS|PROTOCOL with CORE {hs.CORE_PROTOCOL_VERSION}, "
            f"APP one of {list(o.versions)}, NETWORK unix or tcp, PROTOCOL jsonrpc+ one of {list(o.codecs)}"
        )
        parts = line.split("|")
        if len(parts) != 5:
            raise HandshakeError(f"the plugin printed {line!r}: {len(parts)} fields; {expected}")
        core, app, network, address, protocol = parts
        codec = protocol.removeprefix("jsonrpc+")
        ok = (
            core == str(hs.CORE_PROTOCOL_VERSION)
            and app.isdigit()
            and int(app) in o.versions
            and network in ("unix", "tcp")
            and address
            and protocol.startswith("jsonrpc+")
            and codec in o.codecs
        )
        if network == "tcp" and not re.fullmatch(r"127\.0\.0\.1:\d{1,5}", address):
            ok = False
        if not ok:
            raise HandshakeError(f"the plugin printed {line!r}; {expected}")
        return int(app), network, address, codec

    async def _connect(self, line: str) -> None:
        o = self.options
        version, network, address, codec = self._parse(line)
        self.protocol_version, self.network, self.address, self.codec = version, network, address, codec
        if network == "unix":
            reader, writer = await asyncio.open_unix_connection(address)
        else:
            host, port = address.rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            if self._token is not None:
                try:
                    await self._present_token(reader, writer, address)
                except BaseException:
                    writer.transport.abort()
                    raise
        self.session = Session(reader, writer, "client", o.mux, name="host")
        self.broker = MuxBroker(self.session, o.broker_timeout)
        self._wire = Wire(self.broker, codec_by_name(codec), "host", o.max_message_size)
        # The first stream the host opens is the control channel; every stream the plugin
        # opens is a broker stream (callbacks it dials).
        self.control = self._wire.peer(self.session.open_stream(), "control")
        self._spawn(self.broker.run())

    async def _present_token(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: str) -> None:
        """Sends the token and waits for the plugin's one-byte answer (docs/protocol.md §4);
        the caller bounds the wait with the start deadline."""
        assert self._token is not None
        writer.write(self._token.encode())
        try:
            await writer.drain()
            answer = await reader.read(1)
        except OSError as e:
            raise TcpAuthError(f"the plugin at tcp:{address} failed while checking the token ({e}): "
                               "it is not the plugin this host started, or it does not implement "
                               "tcp authentication (see insecure_tcp)") from e
        if answer != hs.TCP_AUTH_ACK:
            why = f"answered the token with byte {answer[0]}" if answer else "closed the connection instead of accepting the token"
            raise TcpAuthError(f"the plugin at tcp:{address} {why}: it is not the plugin this host "
                               "started, or it does not implement tcp authentication (see insecure_tcp)")

    async def _init(self) -> None:
        assert self.control
        try:
            await self.control.request("plugwire/init", {"config": self.options.config})
        except RemoteError as e:
            if e.rpc_code != ErrorCodes.METHOD_NOT_FOUND:
                raise

    # ---- output -------------------------------------------------------------------------

    async def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        while True:
            try:
                raw = await self.proc.stderr.readline()
            except ValueError:
                raw = await self.proc.stderr.read(MAX_LINE)
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip("\r\n")
            self._stderr_tail = (self._stderr_tail + [line])[-STDERR_TAIL:]
            record = parse_log_line(line)
            if self.options.logger:
                self.options.logger(record)

    async def _forward_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        while True:
            try:
                raw = await self.proc.stdout.readline()
            except ValueError:
                raw = await self.proc.stdout.read(MAX_LINE)
            if not raw:
                return
            if self.options.stdout:
                self.options.stdout(raw.decode(errors="replace").rstrip("\r\n"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- stop ---------------------------------------------------------------------------

    async def _kill(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            if self.control is not None and not self.control.closed:
                quit_ = asyncio.ensure_future(self.control.request("plugwire/quit", {}))
            else:
                quit_ = None
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), self.options.kill_grace)
            except asyncio.TimeoutError:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await proc.wait()
            if quit_ is not None:
                quit_.cancel()
                try:
                    await quit_
                except BaseException:
                    pass
        if self.session is not None:
            self.session.abort()
        for t in list(self._tasks):
            t.cancel()
        # A plugin that could not clean up (killed) leaves its socket directory.
        if self.network == "unix" and self.address:
            d = os.path.dirname(self.address)
            if os.path.basename(d).startswith("plugwire-"):
                shutil.rmtree(d, ignore_errors=True)
        return proc.returncode

"""tcp authentication (docs/protocol.md §4, "tcp authentication"): a Python plugin on
loopback tcp serves only the connection that presents its start's token, checking each
connection on its own with a deadline; a Python host sends the token and waits for 0x06."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time

import pytest

from conftest import REPO, run
from plugwire import PluginClient, StartTimeoutError, TcpAuthError
from plugwire import handshake as hs
from plugwire.rpc import codec_by_name
from plugwire.marshal import Wire
from plugwire.yamux import MuxBroker, Session, SessionConfig

FIXTURE = str(REPO / "python" / "tests" / "fixtures" / "calc_plugin.py")
ENV = {"PYTHONPATH": str(REPO / "python"), "PYTHONDONTWRITEBYTECODE": "1"}


class TcpPlugin:
    """The fixture plugin started by hand on tcp with a token, so that a test can connect
    before (or instead of) any host; killed on exit even when an assertion failed."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def __aenter__(self) -> TcpPlugin:
        env = {
            **os.environ,
            **ENV,
            hs.DEFAULT_COOKIE_KEY: hs.DEFAULT_COOKIE_VALUE,
            hs.ENV_NETWORK: "tcp",
            hs.ENV_AUTH_TOKEN: self.token,
            hs.ENV_CODECS: "msgpack",
        }
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, FIXTURE, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout
        line = (await self.proc.stdout.readline()).decode().strip()
        self.port = int(line.split("|")[3].rsplit(":", 1)[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


async def closed_without_answer(reader: asyncio.StreamReader, within: float) -> bool:
    """True when the connection ends with no byte at all within ``within`` seconds."""
    try:
        return await asyncio.wait_for(reader.read(1), within) == b""
    except ConnectionResetError:
        return True


async def info_over(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict:
    """plugwire/info over an authenticated connection: the plugin is really served."""
    session = Session(reader, writer, "client", SessionConfig(), name="test-host")
    wire = Wire(MuxBroker(session, 5.0), codec_by_name("msgpack"), "host", 1 << 20)
    try:
        return await wire.peer(session.open_stream(), "control").request("plugwire/info", {})
    finally:
        session.abort()


def test_a_python_plugin_closes_a_tcp_connection_with_a_wrong_token():
    async def main():
        async with TcpPlugin(secrets.token_hex(32)) as plugin:
            reader, writer = await plugin.connect()
            writer.write(secrets.token_hex(32).encode())
            # Before the token check: the plugin served any connection.
            assert await closed_without_answer(reader, 5.0)
            writer.close()
            assert plugin.proc.returncode is None, "the plugin waits on for its host"

    run(main)


def test_a_silent_tcp_connection_does_not_hold_up_the_host_and_is_closed_after_the_token_timeout():
    async def main():
        token = secrets.token_hex(32)
        async with TcpPlugin(token) as plugin:
            silent_reader, silent_writer = await plugin.connect()
            began = time.monotonic()
            reader, writer = await plugin.connect()
            writer.write(token.encode())
            # The host is answered while the silent connection still waits for its deadline.
            assert await asyncio.wait_for(reader.readexactly(1), 3.0) == hs.TCP_AUTH_ACK
            assert time.monotonic() - began < hs.TOKEN_TIMEOUT
            assert await closed_without_answer(silent_reader, hs.TOKEN_TIMEOUT + 5.0)
            assert time.monotonic() - began >= hs.TOKEN_TIMEOUT - 0.5
            silent_writer.close()
            info = await info_over(reader, writer)
            assert info["plugins"] == ["calc"]

    run(main)


def test_the_host_with_the_token_gets_a_python_plugin_after_a_connection_with_a_wrong_token():
    async def main():
        token = secrets.token_hex(32)
        async with TcpPlugin(token) as plugin:
            bad_reader, bad_writer = await plugin.connect()
            bad_writer.write(b"0" * 64)
            assert await closed_without_answer(bad_reader, 5.0)
            bad_writer.close()
            reader, writer = await plugin.connect()
            writer.write(token.encode())
            assert await asyncio.wait_for(reader.readexactly(1), 5.0) == hs.TCP_AUTH_ACK
            info = await info_over(reader, writer)
            assert info["pid"] == plugin.proc.pid

    run(main)


def test_a_python_host_on_tcp_sends_the_token_and_the_plugin_drops_it_from_its_environment():
    async def main():
        async with PluginClient([sys.executable, FIXTURE], env=ENV, network="tcp") as client:
            calc = await client.dispense("calc")
            assert client.network == "tcp"
            assert await calc.add(2, 3) == 5
            assert await calc.env(hs.ENV_AUTH_TOKEN) is None
            assert await calc.env(hs.ENV_NETWORK) == "tcp"
        assert client.proc.returncode == 0

    run(main)


# A "plugin" that listens on tcp without implementing the token: MODE=close closes every
# connection at once, MODE=silent accepts and never answers.
NO_AUTH_PLUGIN = """
import asyncio, os, sys

async def main():
    held = []
    async def on(reader, writer):
        if os.environ["MODE"] == "close":
            writer.transport.abort()
        else:
            held.append(writer)
    srv = await asyncio.start_server(on, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    os.write(1, f"1|1|tcp|127.0.0.1:{port}|jsonrpc+msgpack\\n".encode())
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)

asyncio.run(main())
"""


def test_a_python_host_fails_with_tcp_auth_when_the_plugin_closes_instead_of_taking_the_token(tmp_path):
    script = tmp_path / "no_auth.py"
    script.write_text(NO_AUTH_PLUGIN)

    async def main():
        client = PluginClient([sys.executable, str(script)], env={"MODE": "close"}, network="tcp", kill_grace=0.5)
        with pytest.raises(TcpAuthError) as e:
            await client.start()
        assert e.value.code == "PLUGWIRE_TCP_AUTH"
        await client.kill()

    run(main)


def test_a_python_host_waits_for_the_token_answer_only_until_the_start_deadline(tmp_path):
    script = tmp_path / "no_auth.py"
    script.write_text(NO_AUTH_PLUGIN)

    async def main():
        client = PluginClient(
            [sys.executable, str(script)], env={"MODE": "silent"}, network="tcp", start_timeout=2.0, kill_grace=0.5,
        )
        began = time.monotonic()
        with pytest.raises(StartTimeoutError) as e:
            await client.start()
        assert e.value.code == "PLUGWIRE_START_TIMEOUT"
        assert "tcp token" in str(e.value)
        assert time.monotonic() - began < 10.0
        await client.kill()

    run(main)

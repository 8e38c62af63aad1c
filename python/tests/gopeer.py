"""Runs the Go yamux peer against a Python Session over a real unix socket."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile

from plugwire.yamux import Session, SessionConfig


class GoPeer:
    """The Go peer in ``go_role``; ``session`` is the Python side in the other role."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.session: Session | None = None
        self._dir = ""
        self._server: asyncio.base_events.Server | None = None

    @classmethod
    async def start(
        cls,
        binary: str,
        scenario: str,
        go_role: str = "server",
        config: SessionConfig | None = None,
        **flags: object,
    ) -> GoPeer:
        self = cls()
        self._dir = tempfile.mkdtemp(prefix="plugwire-pyinterop-")
        sock = os.path.join(self._dir, "s")
        conn: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )

        def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            if not conn.done():
                conn.set_result((r, w))

        self._server = await asyncio.start_unix_server(on_conn, sock)
        args = [f"-sock={sock}", f"-role={go_role}"]
        args += [f"-{k}={v}" for k, v in flags.items()]
        self.proc = await asyncio.create_subprocess_exec(
            binary,
            *args,
            scenario,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        reader, writer = await asyncio.wait_for(conn, 20)
        role = "client" if go_role == "server" else "server"
        self.session = Session(reader, writer, role, config)
        return self

    async def line(self) -> str:
        """The next line the Go peer prints (EOFError when it exits first)."""
        assert self.proc and self.proc.stdout
        raw = await self.proc.stdout.readline()
        if not raw:
            raise EOFError(f"the Go peer ended: {await self.stderr()}")
        return raw.decode().strip()

    async def expect(self, prefix: str) -> str:
        got = await self.line()
        assert got.startswith(prefix), f"Go peer said {got!r}, expected {prefix!r}"
        return got[len(prefix) :].strip()

    def tell(self, line: str) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(line.encode() + b"\n")

    async def stderr(self) -> str:
        assert self.proc and self.proc.stderr
        return (await self.proc.stderr.read()).decode()

    async def finish(self) -> None:
        """Closes the Python session (the Go peer waits for it) and asserts Go's exit 0."""
        assert self.proc and self.session
        if self.session.is_open:
            await self.session.close()
        code = await asyncio.wait_for(self.proc.wait(), 20)
        err = await self.stderr()
        assert code == 0, f"the Go peer failed (exit {code}): {err}"

    async def cleanup(self) -> None:
        if self.session is not None:
            self.session.abort()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._server is not None:
            self._server.close()
        shutil.rmtree(self._dir, ignore_errors=True)

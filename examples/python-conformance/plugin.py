"""The conformance plugin of docs/protocol.md §14, in Python, with the Python SDK.

    plugwire conformance -- python3 examples/python-conformance/plugin.py

(with PYTHONPATH pointing at the repository's python/ directory, or plugwire installed).
"""

from __future__ import annotations

import asyncio

import plugwire

cancelled = 0


class Conformance:
    async def echo(self, value):
        return value

    def fail(self, code: str, message: str) -> None:
        raise plugwire.PluginError(message, code=code)

    async def callback(self, n: int, fn: plugwire.RemoteFunction):
        total = 0
        for i in range(1, n + 1):
            total += await fn(i)
        return total

    def bytesOut(self, n: int) -> plugwire.ByteSource:  # noqa: N802 - the protocol's name
        async def chunks():
            pattern = bytes(i % 251 for i in range(251 * 256))
            sent = 0
            while sent < n:
                # byte i = i % 251: every chunk starts where the pattern is at sent % 251
                start = sent % 251
                take = min(n - sent, 65536)
                yield (pattern[start:] + pattern)[:take]
                sent += take

        return plugwire.ByteSource(chunks())

    async def bytesIn(self, stream: plugwire.ByteReader):  # noqa: N802
        size = 0
        total = 0
        async for chunk in stream:
            size += len(chunk)
            total = (total + sum(chunk)) % 65521
        return {"size": size, "sum": total}

    async def itemsOut(self, n: int):  # noqa: N802
        for i in range(1, n + 1):
            yield i

    async def itemsIn(self, items: plugwire.ItemReader):  # noqa: N802
        return sum([x async for x in items])

    async def hang(self) -> None:
        global cancelled
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise

    def cancelled(self) -> int:
        return cancelled

    def size(self, data: bytes) -> int:
        return len(data)

    async def sleep(self, ms: int) -> int:
        await asyncio.sleep(ms / 1000)
        return ms


if __name__ == "__main__":
    plugwire.serve({"conformance": Conformance()})

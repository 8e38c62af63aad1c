"""A plugwire plugin in Python: text tools for a TypeScript host (host.ts).

Run by the host with PYTHONPATH pointing at the repository's python/ directory (or with
the plugwire package installed: pip install ./python). Run by hand, it only explains that
it is a plugin and exits 1.
"""

from __future__ import annotations

import collections
import logging
import re

import plugwire

log = logging.getLogger("text")
WORD = re.compile(r"[a-z']+")


class Text:
    def shout(self, text: str) -> str:
        """A plain call: data in, data out."""
        return text.upper() + "!"

    async def word_count(self, data: plugwire.ByteReader, on_progress: plugwire.RemoteFunction) -> dict:
        """Reads a byte stream from the host to its end, calling the host back with the bytes
        read so far after every chunk; returns the three most common words."""
        counts: collections.Counter[str] = collections.Counter()
        read = 0
        rest = b""
        async for chunk in data:
            read += len(chunk)
            text, _, rest = (rest + chunk).rpartition(b" ")
            counts.update(WORD.findall(text.decode().lower()))
            await on_progress(read)
        counts.update(WORD.findall(rest.decode().lower()))
        log.info("counted words", extra={"bytes": read, "distinct": len(counts)})
        return {"bytes": read, "top": counts.most_common(3)}

    def banner(self, text: str, times: int) -> plugwire.ByteSource:
        """A byte stream back to the host, produced as the host reads it."""

        async def lines():
            for i in range(times):
                yield f"{i + 1}: {text}\n".encode()

        return plugwire.ByteSource(lines())

    def fail(self) -> None:
        raise plugwire.PluginError("no such dictionary", code="ENODICT", data={"lang": "xx"})


if __name__ == "__main__":
    plugwire.serve({"text": Text()})

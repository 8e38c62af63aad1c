"""The Python host side (plugwire.PluginClient) driving real plugin processes: the Python
fixture plugin, and TypeScript plugins of examples/ (an SDK plugin calling back into a
Python object; byte and object streams both ways)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import REPO, run
import plugwire
from plugwire import ByteReader, ByteSource, Exposed, ItemReader, PluginClient, RemoteError

PY_DIR = str(REPO / "python")
FIXTURE = str(REPO / "python" / "tests" / "fixtures" / "calc_plugin.py")
EXAMPLES = REPO / "examples" / "dist"
ENV = {"PYTHONPATH": PY_DIR, "PYTHONDONTWRITEBYTECODE": "1"}


def python_plugin(**kw) -> PluginClient:
    return PluginClient([sys.executable, FIXTURE], env=ENV, **kw)


def node_example(name: str, **kw) -> PluginClient:
    node = shutil.which("node")
    script = EXAMPLES / name / "plugin.js"
    if node is None or not script.exists():
        pytest.skip(f"needs node and the built examples ({script}): run pnpm build")
    return PluginClient([node, str(script)], **kw)


@pytest.mark.parametrize("codec", ["json", "msgpack"])
def test_a_python_host_calls_a_python_plugin_with_data_binary_and_coded_errors(codec, tmp_path):
    async def main():
        async with python_plugin(codecs=[codec], unix_socket_dir=str(tmp_path)) as client:
            calc = await client.dispense("calc")
            assert client.codec == codec
            assert await calc.add(1, 2) == 3
            assert await calc.echo(b"\x00\xff") == b"\x00\xff"
            assert await calc.echo({"a": [1, None, "é"]}) == {"a": [1, None, "é"]}
            with pytest.raises(RemoteError) as e:
                await calc.fail("E_X")
            assert (e.value.code, e.value.rpc_code, e.value.data) == ("E_X", -32000, {"detail": 42})
            with pytest.raises(plugwire.TimeoutError):
                await calc.hang(timeout=0.05)
            for _ in range(100):
                if await calc.cancelled() == 1:
                    break
                await asyncio.sleep(0.01)
            assert await calc.cancelled() == 1
        assert client.proc.returncode == 0
        assert os.listdir(tmp_path) == []  # the plugin removed its socket directory

    run(main)


def test_a_python_plugin_calls_back_a_python_host_function():
    async def main():
        async with python_plugin() as client:
            calc = await client.dispense("calc")
            seen = []

            async def progress(i):
                seen.append(i)
                return i * 10

            assert await calc.count(4, progress) == 60
            assert seen == [0, 1, 2, 3]

    run(main)


def test_byte_and_object_streams_go_both_ways_between_python_host_and_plugin():
    async def main():
        async with python_plugin() as client:
            calc = await client.dispense("calc")
            data = os.urandom(1024 * 1024 + 3)
            got = await calc.upload(ByteSource([data[:1000], data[1000:]]))
            assert got == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            reader = await calc.download(700_000)
            assert isinstance(reader, ByteReader)
            assert len(await reader.read_all()) == 700_000
            items = await calc.items(300)
            assert isinstance(items, ItemReader)
            assert [x["i"] async for x in items] == list(range(300))

            async def numbers():
                for i in range(1, 101):
                    yield i

            assert await calc.total(numbers()) == 5050

    run(main)


def test_a_typescript_sdk_plugin_calls_methods_of_a_python_host_object():
    class Adder:
        calls = 0

        async def sum(self, a, b):
            Adder.calls += 1
            return a + b

    async def main():
        async with node_example("bidirectional") as client:
            counter = await client.dispense("counter")
            adder = Adder()
            for n in (1, 2, 3, 4):
                await counter.put("total", n, Exposed(adder))
            assert await counter.get("total") == 10
            assert Adder.calls == 4

    run(main)


def test_a_typescript_plugin_streams_bytes_and_records_to_a_python_host_and_reads_its_bytes():
    async def main():
        async with node_example("streaming") as client:
            gen = await client.dispense("generator")
            reader = await gen.bytes(3 * 1024 * 1024, 42)
            assert len(await reader.read_all()) == 3 * 1024 * 1024
            records = [r async for r in await gen.records(1000)]
            assert records[-1] == {"id": 1000, "name": "record-1000"}
            data = b"plugwire" * 200_000
            got = await gen.digest(ByteSource(data))
            assert got == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    run(main)


def test_a_plugin_that_exits_before_its_handshake_fails_the_start_with_its_stderr():
    async def main():
        client = PluginClient([sys.executable, "-c", "import sys; sys.stderr.write('no luck\\n'); sys.exit(3)"])
        with pytest.raises(plugwire.PluginExitedError) as e:
            await client.start()
        assert e.value.returncode == 3
        assert "no luck" in str(e.value)

    run(main)


def test_a_malformed_handshake_line_is_refused_with_the_line_and_what_was_expected():
    async def main():
        client = PluginClient([sys.executable, "-c", "print('1|9|unix|/x|jsonrpc+json'); import time; time.sleep(30)"])
        with pytest.raises(plugwire.HandshakeError) as e:
            await client.start()
        assert "'1|9|unix|/x|jsonrpc+json'" in str(e.value)
        assert "APP one of [1]" in str(e.value)
        assert client.proc.returncode is not None  # and the process was stopped

    run(main)


def test_dispensing_a_name_the_plugin_does_not_serve_raises_unknownpluginerror():
    async def main():
        async with python_plugin() as client:
            with pytest.raises(plugwire.UnknownPluginError) as e:
                await client.dispense("kv")
            assert e.value.known == ["calc"]

    run(main)


def test_a_python_plugin_whose_method_swallows_cancellation_still_exits_0_on_quit():
    async def main():
        client = python_plugin(kill_grace=5.0)
        await client.start()
        calc = await client.dispense("calc")
        stuck = asyncio.ensure_future(calc.stubborn())
        assert await calc.add(1, 1) == 2
        assert await client.kill() == 0
        stuck.cancel()

    run(main)

"""Shared fixtures: the Go yamux peer (HashiCorp's yamux, Debian's package) and a runner for
asyncio tests with a deadline (pytest-asyncio is not assumed)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
# The Go end of @plugwire/mux's interop tests; the Python yamux plays the same scenarios.
YAMUXPEER_SRC = REPO / "packages" / "mux" / "test" / "go" / "yamuxpeer" / "main.go"
DEBIAN_GOPATH = "/usr/share/gocode"


def run(coro_fn: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    """Runs one async test body with a deadline, so a hang fails instead of stalling."""

    async def main() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    return asyncio.run(main())


def _go_missing() -> str | None:
    if shutil.which("go") is None:
        return "the go command is not installed"
    if not (Path(DEBIAN_GOPATH) / "src/github.com/hashicorp/yamux").is_dir():
        return "Debian's golang-github-hashicorp-yamux-dev is not installed"
    return None


@pytest.fixture(scope="session")
def yamuxpeer() -> str:
    """Path of the built Go peer. Fails without Go unless PLUGWIRE_SKIP_GO=1 (then skips)."""
    missing = _go_missing()
    if missing:
        if os.environ.get("PLUGWIRE_SKIP_GO") == "1":
            pytest.skip(f"PLUGWIRE_SKIP_GO=1 ({missing})")
        pytest.fail(f"{missing}: run node scripts/ensure-go.mjs, or set PLUGWIRE_SKIP_GO=1")
    work = tempfile.mkdtemp(prefix="plugwire-pytest-go-")
    out = os.path.join(work, "yamuxpeer")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{DEBIAN_GOPATH}:{os.path.join(work, 'gopath')}",
        "GOCACHE": os.environ.get("GOCACHE") or os.path.join(work, "gocache"),
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    }
    r = subprocess.run(
        ["go", "build", "-o", out, str(YAMUXPEER_SRC)], env=env, capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.fail(f"go build yamuxpeer failed: {r.stderr}")
    yield out
    shutil.rmtree(work, ignore_errors=True)

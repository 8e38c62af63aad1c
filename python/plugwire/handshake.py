"""The process-level protocol: environment, cookie, negotiation, the handshake line
(docs/protocol.md §1-§3). Names follow go-plugin's where go-plugin has one."""

from __future__ import annotations

from collections.abc import Iterable

#: plugwire's own core protocol version: the first field of the handshake line.
CORE_PROTOCOL_VERSION = 1

ENV_PROTOCOL_VERSIONS = "PLUGIN_PROTOCOL_VERSIONS"
ENV_UNIX_SOCKET_DIR = "PLUGIN_UNIX_SOCKET_DIR"
ENV_UNIX_SOCKET_GROUP = "PLUGIN_UNIX_SOCKET_GROUP"
ENV_MIN_PORT = "PLUGIN_MIN_PORT"
ENV_MAX_PORT = "PLUGIN_MAX_PORT"
ENV_CODECS = "PLUGWIRE_CODECS"
ENV_NETWORK = "PLUGWIRE_NETWORK"
ENV_CLIENT_CERT = "PLUGIN_CLIENT_CERT"
ENV_REATTACHABLE = "PLUGWIRE_REATTACHABLE"
ENV_AUTH_TOKEN = "PLUGWIRE_AUTH_TOKEN"

#: tcp authentication (docs/protocol.md §4): the token is this many hex characters, and the
#: plugin answers a matching one with TCP_AUTH_ACK.
AUTH_TOKEN_LENGTH = 64
TCP_AUTH_ACK = b"\x06"
#: How long a tcp connection may take to present the token. The host sends it at once; this
#: only bounds connections of others that say nothing.
TOKEN_TIMEOUT = 5.0

#: The cookie a plugwire host sets when its handshake config names none.
DEFAULT_COOKIE_KEY = "PLUGWIRE_MAGIC_COOKIE"
DEFAULT_COOKIE_VALUE = "b2a1f6c0-plugwire-d1e3-4c59-9b3e-7f0c5d2a8e41"

COOKIE_MESSAGE = (
    "This program is a plugin. It is not meant to be run directly: run the program that uses\n"
    "this plugin, and it will start the plugin itself.\n"
)


def parse_version_list(value: str | None) -> list[int]:
    """``"2, 1,x"`` → ``[2, 1]``: entries trimmed, entries that are not numbers ignored."""
    out: list[int] = []
    for part in (value or "").split(","):
        p = part.strip()
        if p.isdigit() and p.isascii():
            out.append(int(p))
    return out


def negotiate_version(host: Iterable[int], ours: Iterable[int]) -> int | None:
    """The highest version both sides have; with no host list, our own highest."""
    host_set = set(host)
    mine = set(ours)
    common = mine & host_set if host_set else mine
    return max(common) if common else None


def negotiate_codec(host: Iterable[str], ours: Iterable[str]) -> str | None:
    """The first codec of the host's list (its preference order) that we speak."""
    mine = set(ours)
    for c in host:
        if c in mine:
            return c
    return None


def parse_codec_list(value: str | None) -> list[str]:
    if value is None:
        return ["msgpack", "json"]
    return [c.strip() for c in value.split(",") if c.strip()]


def format_handshake(app_version: int, network: str, address: str, codec: str) -> str:
    return f"{CORE_PROTOCOL_VERSION}|{app_version}|{network}|{address}|jsonrpc+{codec}"

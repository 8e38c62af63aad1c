"""The two codecs, exactly as @plugwire/rpc encodes them.

``json``: UTF-8 JSON; binary values (bytes, bytearray, memoryview) travel as
``{"$bytes": "<standard base64 with padding>"}``, and an object with exactly that one string
member is decoded as ``bytes``. Datetimes are sent as ISO 8601 strings (JavaScript's
``Date.toJSON``) and arrive as strings.

``msgpack``: plain MessagePack: maps with string keys, ``bin`` for bytes, ``nil`` for None,
the timestamp extension (-1) for timezone-aware datetimes (decoded as UTC datetimes); any
other extension type is refused.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
from typing import Any, Protocol

import msgpack

from .errors import CodecError

BYTES_KEY = "$bytes"


class Codec(Protocol):
    name: str

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


def _iso(d: _dt.datetime) -> str:
    if d.tzinfo is not None:
        d = d.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return d.isoformat(timespec="milliseconds") + "Z"


def _json_default(o: Any) -> Any:
    if isinstance(o, (bytes, bytearray, memoryview)):
        return {BYTES_KEY: base64.b64encode(bytes(o)).decode("ascii")}
    if isinstance(o, _dt.datetime):
        return _iso(o)
    if isinstance(o, (set, frozenset)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def _revive(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        b = obj.get(BYTES_KEY)
        if isinstance(b, str):
            return base64.b64decode(b)
    return obj


class JsonCodec:
    name = "json"

    def encode(self, value: Any) -> bytes:
        try:
            try:
                text = self._dumps(value)
            except ValueError as e:
                if "Out of range float" not in str(e):
                    raise
                # NaN and infinities become null, as JSON.stringify writes them.
                text = self._dumps(_finite(value))
            return text.encode("utf-8")
        except (TypeError, ValueError, RecursionError) as e:
            raise CodecError(f"cannot encode as JSON: {e}") from e

    @staticmethod
    def _dumps(value: Any) -> str:
        return json.dumps(
            value,
            default=_json_default,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    def decode(self, data: bytes) -> Any:
        try:
            return json.loads(data, object_hook=_revive)
        except (ValueError, RecursionError) as e:
            raise CodecError(f"invalid JSON: {e}") from e


def _msgpack_default(o: Any) -> Any:
    if isinstance(o, memoryview):
        return o.tobytes()
    if isinstance(o, _dt.datetime) and o.tzinfo is None:
        return o.replace(tzinfo=_dt.timezone.utc)
    if isinstance(o, (set, frozenset)):
        return list(o)
    raise TypeError(f"{type(o).__name__} cannot be encoded as msgpack")


def _refuse_ext(code: int, data: bytes) -> Any:
    raise CodecError(f"unsupported msgpack extension type {code}")


class MsgpackCodec:
    name = "msgpack"

    def encode(self, value: Any) -> bytes:
        try:
            return msgpack.packb(value, use_bin_type=True, datetime=True, default=_msgpack_default)
        except (TypeError, ValueError, OverflowError, RecursionError) as e:
            raise CodecError(f"cannot encode as msgpack: {e}") from e

    def decode(self, data: bytes) -> Any:
        try:
            return msgpack.unpackb(
                data,
                raw=False,
                timestamp=3,
                strict_map_key=False,
                ext_hook=_refuse_ext,
            )
        except CodecError:
            raise
        except Exception as e:  # msgpack raises several types for malformed input
            raise CodecError(f"invalid msgpack: {e}") from e


json_codec = JsonCodec()
msgpack_codec = MsgpackCodec()

CODECS: dict[str, Codec] = {"json": json_codec, "msgpack": msgpack_codec}


def codec_by_name(name: str) -> Codec:
    try:
        return CODECS[name]
    except KeyError:
        raise CodecError(f'unknown codec "{name}" (known: {", ".join(CODECS)})') from None

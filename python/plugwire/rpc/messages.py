"""JSON-RPC 2.0 message classification: the only validation a message gets (the same rules
as @plugwire/rpc's messages.ts)."""

from __future__ import annotations

from enum import Enum
from typing import Any

JSONRPC_VERSION = "2.0"
CANCEL_METHOD = "$/cancelRequest"

_MISSING = object()


class Kind(Enum):
    REQUEST = 0
    NOTIFICATION = 1
    RESPONSE = 2
    INVALID_REQUEST = 3  # answered with Invalid Request
    INVALID_RESPONSE = 4  # never answered


def is_id(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool))


def is_error_object(e: Any) -> bool:
    return (
        isinstance(e, dict)
        and isinstance(e.get("code"), int)
        and not isinstance(e.get("code"), bool)
        and isinstance(e.get("message"), str)
    )


def classify(m: Any) -> Kind:
    if not isinstance(m, dict):
        return Kind.INVALID_REQUEST
    method = m.get("method", _MISSING)
    if method is not _MISSING:
        if m.get("jsonrpc") != JSONRPC_VERSION or not isinstance(method, str):
            return Kind.INVALID_REQUEST
        params = m.get("params")
        if params is not None and not isinstance(params, (list, dict)):
            return Kind.INVALID_REQUEST
        if m.get("result") is not None or m.get("error") is not None:
            return Kind.INVALID_REQUEST
        if "id" not in m:
            return Kind.NOTIFICATION
        i = m["id"]
        return Kind.REQUEST if i is None or is_id(i) else Kind.INVALID_REQUEST
    has_result = "result" in m
    if not has_result and "error" not in m:
        return Kind.INVALID_REQUEST
    if m.get("jsonrpc") != JSONRPC_VERSION:
        return Kind.INVALID_RESPONSE
    i = m.get("id")
    if i is not None and not is_id(i):
        return Kind.INVALID_RESPONSE
    error = m.get("error")
    if error is None:
        return Kind.RESPONSE if has_result else Kind.INVALID_RESPONSE
    if m.get("result") is not None:
        return Kind.INVALID_RESPONSE
    return Kind.RESPONSE if is_error_object(error) else Kind.INVALID_RESPONSE


def error_response(id_: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": JSONRPC_VERSION, "id": id_, "error": error}

"""JSON objects for JOSE headers and claims: strict, bounded, without duplicate names."""

from __future__ import annotations

import json
from typing import Any

import orjson

from .errors import MalformedTokenError

MAX_DEPTH = 16


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


def _depth(value: Any, level: int = 1) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def _strict_loads(raw: bytes) -> Any:
    """Slow path: the standard parser, told to refuse duplicates and NaN."""
    text = raw.decode("utf-8")
    return json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_reject_constant)


def load_object(raw: bytes, what: str) -> dict[str, Any]:
    """Parse ``raw`` as one JSON object, refusing duplicate member names.

    RFC 7515 section 5.2 lets a parser either reject duplicates or take the
    last; taking one silently lets two parsers disagree, so we reject.
    Fast path: orjson parses, and when re-serialising gives back the exact
    input bytes the object cannot have had a duplicate name.  Any other
    spelling goes through the strict standard parser.  orjson reads deeper
    nesting than it writes, so re-serialising can fail (``JSONEncodeError``,
    a ``TypeError``): that input is far too deep anyway and is refused here.
    """
    try:
        value = orjson.loads(raw)
        if value.__class__ is not dict or orjson.dumps(value) != raw:
            value = _strict_loads(raw)
    except (ValueError, orjson.JSONEncodeError, RecursionError, UnicodeDecodeError) as exc:
        raise MalformedTokenError(f"{what} is not valid JSON") from exc
    if not isinstance(value, dict):
        raise MalformedTokenError(f"{what} is not a JSON object")
    # Counting brackets is cheap and bounds the depth; walk only when it might be exceeded.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise MalformedTokenError(f"{what} is nested too deeply")
    result: dict[str, Any] = value
    return result


def dump_object(value: dict[str, Any]) -> bytes:
    """Compact JSON, the spelling :func:`load_object` reads on its fast path."""
    return orjson.dumps(value)

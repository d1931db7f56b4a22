"""Lenient readers for JSON that AWS (or anyone) sends: a wrong type reads as absent.

Alarm messages carry nulls, empty strings, ``"None"`` and the odd number-as-string; the parser
reads every field through these so that no value can make it raise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


def text(value: Any) -> str:
    """A string as is; a number as its text; anything else (null, lists, objects) as ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def number(value: Any) -> float | None:
    """A finite number (or numeric string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        try:
            result = float(value)
        except (ValueError, OverflowError):
            return None
        return result if math.isfinite(result) else None
    return None


def integer(value: Any) -> int | None:
    """A whole number (``300``, ``300.0``, ``"300"``), else None."""
    result = number(value)
    if result is None or not result.is_integer():
        return None
    return int(result)


def mapping(value: Any) -> Mapping[str, Any]:
    """An object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def mappings(value: Any) -> list[Mapping[str, Any]]:
    """The objects in a list (other items skipped); not a list → []."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def texts(value: Any) -> list[str]:
    """The strings in a list; not a list → []."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def dimensions(value: Any) -> dict[str, str]:
    """Dimensions from SNS's ``[{"name": …, "value": …}]`` list or EventBridge's ``{k: v}`` map."""
    if isinstance(value, Mapping):
        return {k: text(v) for k, v in value.items() if isinstance(k, str) and k}
    result = {}
    for item in mappings(value):
        name = text(item.get("name", item.get("Name")))
        if name:
            result[name] = text(item.get("value", item.get("Value")))
    return result


def json_object(value: Any) -> dict[str, Any] | None:
    """A JSON string (or bytes) holding an object, decoded; anything else → None."""
    if isinstance(value, str):
        looks_like_object = value.lstrip().startswith("{")
    elif isinstance(value, bytes):
        looks_like_object = value.lstrip().startswith(b"{")
    else:
        return None
    if not looks_like_object:
        return None
    try:
        decoded = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


def dump(value: Any, *, indent: int | None = None) -> str:
    """Any decoded JSON value back as text (never raises)."""
    try:
        return json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 (``2019-02-15T23:53:45.093+0000``, ``…Z``) or
    RFC 1123 (``Sat, 04 Jun 2016 05:01:10 GMT``, Health events); anything else → None."""
    if not isinstance(value, str) or not value.strip():
        return None
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if parsed is None:
        return None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None

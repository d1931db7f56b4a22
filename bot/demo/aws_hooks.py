"""Fake the few AWS operations moto lacks, with a botocore event hook — nothing else.

Used by the tests and by ``triagebot demo`` (moto has no Health, no CloudTrail LookupEvents).

``fake_operation(session, "health", "DescribeEvents", answer)`` makes every client built from
``session`` answer that one operation with ``answer`` (a dict, or a function of the request
params returning a dict, or an ``AwsFault`` to raise). The answer is first checked against the
operation's botocore output shape and converted the way botocore would parse it (timestamps
become datetimes), so a fake can never return something real AWS could not.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator


@dataclass(frozen=True)
class AwsFault:
    """An AWS error answer: ``AwsFault("AccessDeniedException", "User: arn:... is not ...")``."""

    code: str
    message: str = ""
    status: int = 400


Answer = Mapping[str, Any] | AwsFault | Callable[[dict[str, Any]], "Mapping[str, Any] | AwsFault"]


def fake_operation(session: boto3.Session, service: str, operation: str, answer: Answer) -> None:
    """Answer ``service``'s ``operation`` (PascalCase, e.g. ``DescribeEvents``) with ``answer``."""
    model = session._session.get_service_model(service)
    op_model = model.operation_model(operation)
    event = f"before-call.{model.service_id.hyphenize()}.{operation}"

    def handler(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        request = _request_params(params)
        value = answer(request) if callable(answer) else answer
        if isinstance(value, AwsFault):
            parsed: dict[str, Any] = {
                "Error": {"Code": value.code, "Message": value.message},
                "ResponseMetadata": {"HTTPStatusCode": value.status, "RetryAttempts": 0},
            }
            return AWSResponse("https://fake.invalid/", value.status, HTTPHeaders(), None), parsed
        parsed = conform(op_model, dict(value))
        parsed["ResponseMetadata"] = {"HTTPStatusCode": 200, "RetryAttempts": 0}
        return AWSResponse("https://fake.invalid/", 200, HTTPHeaders(), None), parsed

    session.events.register(event, handler, unique_id=f"fake-{event}")  # type: ignore[arg-type]


def conform(op_model: OperationModel, value: dict[str, Any]) -> dict[str, Any]:
    """Validate ``value`` against the operation's output shape and parse it like botocore."""
    shape = op_model.output_shape
    if shape is None:
        return {}
    converted = _convert(shape, value)
    report = ParamValidator().validate(converted, shape)
    if report.has_errors():
        raise AssertionError(
            f"fake {op_model.name} answer does not fit AWS:\n{report.generate_report()}"
        )
    result: dict[str, Any] = converted
    return result


def _convert(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        members = shape.members  # type: ignore[attr-defined]
        return {
            key: _convert(members[key], item) if key in members else item
            for key, item in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [_convert(shape.member, item) for item in value]  # type: ignore[attr-defined]
    if kind == "map" and isinstance(value, Mapping):
        return {k: _convert(shape.value, v) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind == "timestamp":
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            parsed = _parse_time(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def _request_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """botocore passes the serialized request; hand the fake the original API params."""
    body = params.get("body")
    if isinstance(body, bytes | str) and body:
        try:
            decoded = json.loads(body)
            if isinstance(decoded, dict):
                return decoded
        except ValueError:
            pass
    query = params.get("query_string")
    return dict(query) if isinstance(query, Mapping) else {}


def _parse_time(text: str) -> datetime:
    """ISO 8601 (``2021-11-18T09:41:02-08:00``) or RFC 1123 (``Sat, 04 Jun 2016 05:01:10 GMT``)."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return parsedate_to_datetime(text)

"""``triagebot run PLAYBOOK``: one run against the configured AWS account, printed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.alarms.envelope import MalformedMessage
from bot.alarms.model import Alarm
from bot.alarms.parse import parse_notification, unwrap_envelope
from bot.aws import AwsClients
from bot.config import Settings
from bot.correlate import likely_lines
from bot.errors import CREDENTIALS_HINT, NO_CREDENTIALS, ParamError, UnknownPlaybook, UsageError
from bot.executor import Executor
from bot.loading import load
from bot.playbooks.loader import load_playbook
from bot.playbooks.params import resolve_params
from bot.playbooks.schema import Playbook
from bot.render.blocks import run_blocks
from bot.render.text import render_json, render_text
from bot.results import RunResult, Status
from bot.steps import default_registry
from bot.steps.registry import Registry


async def run(args: argparse.Namespace, settings: Settings) -> int:
    registry = default_registry()
    alarm = read_alarm(Path(args.alarm)) if args.alarm else None
    raw = dict(_key_value(item) for item in args.param)
    try:
        playbook = _playbook(args.playbook, settings, registry)
        context: dict[str, Any] = {"alarm": alarm.template_context() if alarm else None}
        params = resolve_params(playbook, raw, context, surface="cli")
    except (UnknownPlaybook, ParamError) as exc:
        raise UsageError(exc.user_message) from exc
    aws = AwsClients(settings.aws, endpoint_url=settings.aws_endpoint_url)
    try:
        result = await Executor(registry, aws).run(
            playbook, params, alarm=alarm, requested_by="cli"
        )
    finally:
        aws.close()
    if without_credentials(result):
        print(f"triagebot run: no step could reach AWS: {NO_CREDENTIALS}", file=sys.stderr)
        print(CREDENTIALS_HINT, file=sys.stderr)
        return 1
    likely = likely_lines(result.steps, alarm, now=result.started_at)  # what it points at, first
    if args.format == "json":
        print(render_json(result, likely=likely))
    elif args.format == "blocks":
        blocks = run_blocks(result, buttons=False, likely=likely)
        print(json.dumps(blocks, indent=2, ensure_ascii=False))
    else:
        print(render_text(result, likely=likely))
    if result.error:
        print(f"triagebot run: {result.error}", file=sys.stderr)
        return 1
    return 0


ALARM_SHAPES = (
    "an SNS notification (`Type`: Notification, with a `Message`), "
    "a CloudWatch alarm's JSON (`AlarmName`, `NewStateValue`), "
    "an EventBridge event (`detail-type`, `source`: a CloudWatch Alarm State Change, an AWS "
    "Health Event), or a Lambda or SQS event holding one of these"
)
"""What ``--alarm`` accepts, for the message that refuses anything else."""


def read_alarm(path: Path) -> Alarm:
    """An alarm from a file: an SNS envelope, a Lambda/SQS record, an EventBridge event, or the
    bare CloudWatch alarm message. Anything else is a UsageError naming what would do."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read --alarm {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"--alarm {path} is not JSON: {exc}") from exc
    refused = UsageError(f"--alarm {path} is not an alarm. Expected {ALARM_SHAPES}.")
    if not isinstance(data, dict):
        raise refused
    if "AlarmName" in data and "NewStateValue" in data:
        data = {"Type": "Notification", "MessageId": "", "Message": json.dumps(data)}
    try:
        envelope = data if _is_event(data) else unwrap_envelope(data)
    except MalformedMessage as exc:
        raise refused from exc
    if not _is_event(envelope) and not (
        envelope.get("Type") == "Notification" and "Message" in envelope
    ):
        raise refused
    alarm = parse_notification(envelope)
    if alarm is None:
        raise UsageError(f"--alarm {path} holds no alarm (an alarm configuration change?)")
    return alarm


def without_credentials(result: RunResult) -> bool:
    """Whether every step that ran failed for want of AWS credentials."""
    ran = [step for step in result.steps if step.status is not Status.SKIPPED]
    return bool(ran) and all(
        step.status is Status.ERROR and step.summary == NO_CREDENTIALS for step in ran
    )


def _is_event(data: dict[str, Any]) -> bool:
    return isinstance(data.get("detail-type"), str) and "source" in data


def _playbook(name: str, settings: Settings, registry: Registry) -> Playbook:
    """The playbook to run, once the config and the configured playbooks pass what ``serve``
    would check (``bot.loading``: LoadFailed otherwise, with the lines ``check`` prints)."""
    catalog = load(settings, registry).catalog
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return load_playbook(Path(name), registry)
    return catalog.get(name)


def _key_value(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--param {item!r} should look like key=value")
    return key.strip(), value

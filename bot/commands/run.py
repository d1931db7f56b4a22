"""``triagebot run PLAYBOOK``: one run against the configured AWS account, printed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.alarms.model import Alarm
from bot.alarms.parse import parse_notification, unwrap_envelope
from bot.aws import AwsClients
from bot.config import Settings
from bot.errors import ParamError, UnknownPlaybook, UsageError
from bot.executor import Executor
from bot.loading import load
from bot.playbooks.loader import load_playbook
from bot.playbooks.params import resolve_params
from bot.playbooks.schema import Playbook
from bot.render.blocks import run_blocks
from bot.render.text import render_json, render_text
from bot.steps import default_registry
from bot.steps.registry import Registry


async def run(args: argparse.Namespace, settings: Settings) -> int:
    registry = default_registry()
    alarm = read_alarm(Path(args.alarm)) if args.alarm else None
    raw = dict(_key_value(item) for item in args.param)
    try:
        playbook = _playbook(args.playbook, settings, registry)
        context: dict[str, Any] = {"alarm": alarm.template_context() if alarm else None}
        params = resolve_params(playbook, raw, context)
    except (UnknownPlaybook, ParamError) as exc:
        raise UsageError(exc.user_message) from exc
    aws = AwsClients(settings.aws, endpoint_url=settings.aws_endpoint_url)
    try:
        result = await Executor(registry, aws).run(
            playbook, params, alarm=alarm, requested_by="cli"
        )
    finally:
        aws.close()
    if args.format == "json":
        print(render_json(result))
    elif args.format == "blocks":
        print(json.dumps(run_blocks(result, buttons=False), indent=2, ensure_ascii=False))
    else:
        print(render_text(result))
    if result.error:
        print(f"triagebot run: {result.error}", file=sys.stderr)
        return 1
    return 0


def read_alarm(path: Path) -> Alarm:
    """An alarm from a file: an SNS envelope, a Lambda/SQS record, an EventBridge event, or the
    bare CloudWatch alarm message."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read --alarm {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"--alarm {path} is not JSON: {exc}") from exc
    if isinstance(data, dict) and "AlarmName" in data:
        data = {"Type": "Notification", "MessageId": "", "Message": json.dumps(data)}
    envelope = data if isinstance(data, dict) and "detail-type" in data else unwrap_envelope(data)
    alarm = parse_notification(envelope)
    if alarm is None:
        raise UsageError(f"--alarm {path} holds no alarm (an alarm configuration change?)")
    return alarm


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

"""``triagebot digest [--date YYYY-MM-DD] [--post]``: the cost digest, printed or posted.

``--date`` is the morning the digest goes out, so it reports the day before (default: today in
``digest.timezone``). A manual digest never counts as the scheduled one of that day.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, date, datetime

from bot.aws import AwsClients
from bot.config import DigestSettings, Settings
from bot.digest.queries import build_digest
from bot.digest.render import digest_text
from bot.digest.schedule import local_today
from bot.digest.service import post_message, upload_chart
from bot.errors import ConfigError, UsageError
from bot.metrics import Metrics
from bot.outbound.client import make_web_client
from bot.outbound.sender import SlackRefused, SlackSender

NO_DIGEST_SECTION = (
    "no [digest] section in the config: add [digest] with a channel (and cron, timezone) to post it"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _report_for(text: str | None, settings: DigestSettings | None) -> date:
    if text is None:
        return local_today(settings.timezone if settings else "UTC", datetime.now(UTC))
    try:
        if not _ISO_DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--date {text!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-20"
        ) from None


async def digest(args: argparse.Namespace, settings: Settings) -> int:
    report_for = _report_for(args.date, settings.digest)
    if args.post:
        return await _post(settings, report_for)
    if settings.digest is None:
        print(
            f"triagebot digest: {NO_DIGEST_SECTION}; printing with the defaults (UTC).",
            file=sys.stderr,
        )
    aws = AwsClients(settings.aws, endpoint_url=settings.aws_endpoint_url)
    try:
        print(digest_text(await build_digest(aws, settings.digest, report_for)), end="")
    finally:
        aws.close()
    return 0


async def _post(settings: Settings, report_for: date) -> int:
    config = settings.digest
    if config is None or not config.channel:
        raise ConfigError(NO_DIGEST_SECTION if config is None else "digest.channel is empty")
    if settings.secrets.slack_bot_token is None:
        raise ConfigError("--post needs SLACK_BOT_TOKEN in the environment")
    aws = AwsClients(settings.aws, endpoint_url=settings.aws_endpoint_url)
    sender = SlackSender(make_web_client(settings), Metrics())
    try:
        posted = await post_message(aws, config, sender, config.channel, report_for)
        print(
            f"Posted the digest for {posted.digest.report_date} to {posted.channel} "
            f"(message {posted.ts})."
        )
        try:
            if await upload_chart(sender, posted):
                print("Uploaded the chart into its thread.")
            else:
                print("No chart: there was no spend in the last 14 days.")
        except SlackRefused as exc:
            print(
                f"triagebot digest: the chart could not be uploaded: {exc.reason}", file=sys.stderr
            )
            return 1
    finally:
        aws.close()
    return 0

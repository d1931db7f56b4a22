"""``triagebot demo``: the whole bot, locally — no credentials, no network.

It starts a local AWS (moto server) seeded with a realistic incident and yesterday's bill, a
local Slack Web API stand-in, and the real bot against both; then tells the incident the way
the world would, with signed requests to the bot (``bot.demo.story``): the alarm through
``POST /sns``, ``/triage`` through ``POST /slack/events``, someone pressing *Acknowledge*, the OK
notification, ``/triage cost``. It prints the channel as a transcript, then the incident's
timeline as ``triagebot timeline`` exports it, and writes the messages' Block Kit JSON and the
charts to ``--output`` (default ``./triagebot-demo-output``).
``--keep-running`` leaves everything up for poking with curl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.app import build_app
from bot.commands.timeline import incident_timeline
from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.render.text import format_seconds
from bot.triage_app import TriageApp

CHANNEL = "C0INCIDENTS"
USER = "U0ONCALL"
TOPIC = "arn:aws:sns:us-east-1:123456789012:prod-alarms"
DEMO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_REGION": "us-east-1",
}
ALARM_AGE = timedelta(minutes=4)  # the alarm fired this long before it resolves
EARLIER = timedelta(days=3, hours=2)  # the same alarm fired this long ago, once before
EARLIER_TOOK = timedelta(minutes=9)  # and resolved after this


async def demo(args: argparse.Namespace, settings: Settings) -> int:
    try:
        import moto  # noqa: F401

        from bot.demo.moto_server import LocalAws
        from bot.demo.seed import seed_earlier_incident, seed_incident
    except ImportError as exc:
        raise ConfigError("`triagebot demo` needs moto: pip install 'triagebot[demo]'") from exc
    from bot.demo import output
    from bot.demo.costs import seed_bill
    from bot.demo.demo_aws import demo_session_factory
    from bot.demo.slack_api import FakeSlackApi
    from bot.demo.sns_signer import signer
    from bot.demo.story import Story

    folder = output.prepare(Path(getattr(args, "output", None) or output.DEFAULT_OUTPUT))
    # The demo talks only to its own moto server: never pick up the caller's AWS identity.
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(DEMO_CREDENTIALS)
    # The demo's digest is on demand only (/triage cost); its scheduler has no channel on purpose.
    logging.getLogger("bot.digest.service").setLevel(logging.ERROR)
    say = _printer()
    with tempfile.TemporaryDirectory(prefix="triagebot-demo-") as tmp, LocalAws() as aws:
        say(f"local AWS (moto server) on {aws.url}; seeding an incident and yesterday's bill …")
        incident = await asyncio.to_thread(seed_incident, aws.url)
        await asyncio.to_thread(seed_bill, aws.url, datetime.now(UTC).date())
        slack = FakeSlackApi(first_ts=int(time.time()))  # messages at the story's own time
        await slack.start()
        sns_key = signer()
        sns_key.place(Path(tmp) / "certs")
        signing_secret = secrets.token_hex(16)
        settings = _settings(Path(tmp), slack.base_url, aws.url, signing_secret)
        app = build_app(
            settings,
            session_factory=demo_session_factory(incident),
        )
        runner = web.AppRunner(app.web, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        base = f"http://127.0.0.1:{port}"
        say(f"triagebot on {base}, Slack stand-in on {slack.base_url}")
        try:
            async with aiohttp.ClientSession() as http:
                story = Story(
                    http, base, slack, sns_key, signing_secret, incident, TOPIC, CHANNEL, USER, say
                )
                earlier = await seed_earlier_incident(
                    app.store,
                    slack.workspace,
                    incident,
                    topic_arn=TOPIC,
                    channel=CHANNEL,
                    route=f"{CHANNEL}/alb-errors",
                    acknowledged_by=USER,
                    at=datetime.now(UTC) - EARLIER,
                    took=EARLIER_TOOK,
                )
                say("seeded the same alarm's incident of 3 days ago (its root and its record)")
                fired = datetime.now(UTC) - ALARM_AGE
                took = await story.alarm("ALARM", at=fired)
                say(
                    f"alarm → complete thread in {format_seconds(took)} "
                    "(POST /sns to the final run message and the chart in Slack)"
                )
                await story.command(f"alb-errors load_balancer={incident.load_balancer}")
                await story.acknowledge()
                await story.alarm("OK", at=datetime.now(UTC))
                await story.command("cost")
                await _settle(app)
                exported = await incident_timeline(app.store, settings, earlier.key)
            transcript = slack.transcript(CHANNEL)
            print()
            print(transcript)
            written = output.write_output(folder, slack, CHANNEL)
            say(f"wrote the transcript, {_count(written)} to {folder}/")
            say(f"the incident's timeline, as `triagebot timeline {earlier.key}` exports it:")
            print()
            print(exported, end="")
            if args.keep_running:
                _explain(base, slack.base_url, aws.url, signing_secret, tmp)
                await asyncio.Event().wait()
        finally:
            await runner.cleanup()
            await slack.stop()
    return 0


def _settings(tmp: Path, slack_url: str, aws_url: str, signing_secret: str) -> Settings:
    config = tmp / "config.toml"
    config.write_text(
        f"""
[slack]
default_channel = "{CHANNEL}"
[sns]
topic_arns = ["{TOPIC}"]
cert_dir = "certs"
[store]
url = "sqlite:///state.db"
[[routes]]
match = {{ alarm_name = "prod-web-*", namespace = "AWS/ApplicationELB" }}
playbook = "alb-errors"
channel = "{CHANNEL}"
[digest]
timezone = "UTC"
channel = ""
"""
    )
    return load_settings(
        config,
        env={
            "SLACK_BOT_TOKEN": "xoxb-demo-token",
            "SLACK_SIGNING_SECRET": signing_secret,
            "SLACK_API_URL": slack_url,
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_REGION": "us-east-1",
        },
    )


async def _settle(app: TriageApp, timeout: float = 60.0) -> None:
    """Wait until every background task (runs, edits, uploads) is done."""
    await app.tasks.drain(timeout)
    app.tasks.accepting = True


def _count(written: list[Path]) -> str:
    messages = sum(1 for p in written if p.suffix == ".json")
    images = sum(1 for p in written if p.suffix == ".png")
    return f"{messages} messages' Block Kit JSON and {images} charts (PNG)"


def _printer() -> Printer:
    return Printer()


class Printer:
    def __call__(self, line: str) -> None:
        print(f"· {line}", flush=True)


def _explain(base: str, slack_url: str, aws_url: str, signing_secret: str, tmp: str) -> None:
    example = json.dumps({"status": "ok"})
    print(
        f"""
Everything stays up until Ctrl-C:
  triagebot        {base}   (try: curl {base}/healthz → {example} …, curl {base}/metrics)
  Slack stand-in   {slack_url}
  local AWS        {aws_url}   (AWS_ENDPOINT_URL={aws_url} aws elbv2 describe-load-balancers)
  signing secret   SLACK_SIGNING_SECRET={signing_secret}
  state            {tmp}/state.db
"""
    )

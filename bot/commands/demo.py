"""``triagebot demo``: the whole bot, locally — no credentials, no network.

It starts a local AWS (moto server) seeded with a realistic incident, a local Slack Web API
stand-in, and the real bot against both; fires a real-shaped, signed alarm through ``POST /sns``
and a signed ``/triage`` command through ``POST /slack/events``; then prints the channel as a
transcript. ``--keep-running`` leaves everything up for poking with curl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import tempfile
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.app import TriageApp, build_app
from bot.config import Settings, load_settings
from bot.errors import ConfigError

CHANNEL = "C0INCIDENTS"
USER = "U0ONCALL"
TOPIC = "arn:aws:sns:us-east-1:123456789012:prod-alarms"
DEMO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "demo",
    "AWS_SECRET_ACCESS_KEY": "demo",
    "AWS_REGION": "us-east-1",
}


async def demo(args: argparse.Namespace, settings: Settings) -> int:
    try:
        import moto  # noqa: F401

        from bot.demo.moto_server import LocalAws
        from bot.demo.seed import alarm_envelope, seed_incident
    except ImportError as exc:
        raise ConfigError("`triagebot demo` needs moto: pip install 'triagebot[demo]'") from exc
    from bot.demo.demo_aws import demo_session_factory
    from bot.demo.slack_api import FakeSlackApi
    from bot.demo.slack_requests import signed_headers, slash_command_body
    from bot.demo.sns_signer import signer

    # The demo talks only to its own moto server: never pick up the caller's AWS identity.
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(DEMO_CREDENTIALS)
    say = _printer()
    with tempfile.TemporaryDirectory(prefix="triagebot-demo-") as tmp, LocalAws() as aws:
        say(f"local AWS (moto server) on {aws.url}; seeding an incident …")
        incident = await asyncio.to_thread(seed_incident, aws.url)
        slack = FakeSlackApi()
        await slack.start()
        sns_key = signer()
        sns_key.place(Path(tmp) / "certs")
        signing_secret = secrets.token_hex(16)
        app = build_app(
            _settings(Path(tmp), slack.base_url, aws.url, signing_secret),
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
                body = sns_key.body(alarm_envelope(incident, TOPIC))
                async with http.post(
                    f"{base}/sns", data=body, headers={"Content-Type": "text/plain"}
                ) as r:
                    say(f"POST /sns  (signed ALARM for {incident.alarm_name}) → {r.status}")
                await _settle(app)
                text = f"alb-errors load_balancer={incident.load_balancer}"
                form = slash_command_body(text, user=USER, channel=CHANNEL)
                headers = signed_headers(form, signing_secret)
                async with http.post(f"{base}/slack/events", data=form, headers=headers) as r:
                    say(f"POST /slack/events  (/triage {text}) → {r.status}")
                await _settle(app)
            print()
            print(slack.transcript(CHANNEL))
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
    """Wait until the alarm's thread and the runs are complete."""
    await app.tasks.drain(timeout)
    app.tasks.accepting = True


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

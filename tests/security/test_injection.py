"""Nothing from an alarm, a log line, a CloudTrail event or a ``/triage`` caller can ping a
channel, mention someone or plant a link: control sequences go into every text field of every
alarm shape we receive, through the running bot (``POST /sns`` with messages we sign, signed
``/slack/events``), and every call that reached the Slack stand-in is read for a control
sequence the bot did not write (``tests.security.markup``).

One bot for the module: moto server over HTTP (a log group whose lines carry the injected text),
CloudTrail's LookupEvents faked with a botocore hook (moto has none), a SQLite file, the fake
Slack Web API. Alarm times are spaced an hour apart so that each opens its own root; the storm
test puts several in one window.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import shlex
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
import pytest_asyncio
from aiohttp import web
from botocore.session import get_session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import build_app
from bot.config import load_settings
from bot.demo.aws_hooks import fake_operation
from bot.demo.moto_server import LocalAws, free_port
from bot.demo.slack_api import FakeSlackApi, SlackCall
from bot.demo.slack_requests import signed_headers, slash_command_body
from bot.timings import Timings
from bot.triage_app import TriageApp
from tests.alarms.signing import TOPIC, notification, signer
from tests.security.markup import CONTROL_SEQUENCES, problems

pytestmark = pytest.mark.asyncio(loop_scope="module")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PLAYBOOKS = FIXTURES / "playbooks" / "security"
ALARMS, TRIAGE = "C0ALARMS", "C0TRIAGE"
CALLER = "U0ONCALL"
SECRET = "injection-test-signing-secret"
LOG_GROUP = "/app/injected"
REGIONS = ("us-east-1", "us-west-2", "ap-northeast-2")
EXAMPLES = 4  # per shape: each is a whole alarm → root → run in Slack
POOL = 40  # payloads drawn per example, spread over its text fields

# Keys whose values say what a message is (its type, state, time, ids); the rest is text.
STRUCTURE = frozenset(
    {
        "Type", "MessageId", "TopicArn", "Timestamp", "SignatureVersion", "NewStateValue",
        "OldStateValue", "StateChangeTime", "AWSAccountId", "Region", "AlarmArn",
        "AlarmConfigurationUpdatedTimestamp", "ComparisonOperator", "Statistic", "StatisticType",
        "Stat", "stat", "Unit", "Period", "EvaluationPeriods", "ThresholdMetricId", "Id", "id",
        "ReturnData", "returnData", "reasonData", "version", "detail-type", "source", "account",
        "time", "region", "resources", "timestamp", "eventArn", "eventTypeCategory", "language",
        "startTime", "endTime", "statusCode", "period", "TreatMissingData",
        "EvaluateLowSampleCountPercentile", "actionsSuppressedBy",
    }
)  # fmt: skip

text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)
payload = st.lists(st.sampled_from(CONTROL_SEQUENCES) | text, min_size=1, max_size=4).map("".join)


def sns_message(path: str) -> str:
    """The ``Message`` of an SNS fixture (an HTTP delivery or a Lambda record)."""
    data = json.loads((FIXTURES / path).read_text())
    envelope = data["Records"][0]["Sns"] if "Records" in data else data
    return str(envelope["Message"])


def firing(message: str) -> str:
    """An SNS alarm message turned to ALARM (an OK opens no incident, so shows nothing)."""
    return json.dumps({**json.loads(message), "NewStateValue": "ALARM", "OldStateValue": "OK"})


def event(name: str) -> str:
    """An EventBridge event fixture, as SNS carries it in ``Message``."""
    return (FIXTURES / "eventbridge" / f"{name}.json").read_text()


SHAPES: dict[str, Callable[[], str]] = {
    "metric alarm": lambda: sns_message("sns/http-notification-alarm-ec2-cpu-alarm.json"),
    "metric math": lambda: sns_message("sns/lambda-record-alarm-metric-math.json"),
    "anomaly detection": lambda: firing(
        sns_message("sns/http-notification-alarm-anomaly-detection-ok.json")
    ),
    "composite": lambda: event("cloudwatch-alarm-state-change-composite-suppressor"),
    "EventBridge alarm state change": lambda: event("cloudwatch-alarm-state-change-single-metric"),
    "EventBridge metric math": lambda: event("cloudwatch-alarm-state-change-metric-math"),
    "Health event": lambda: event("aws-health-event-ec2-issue-from-sns"),
    "plain notification": lambda: sns_message("sns/lambda-record-plain-with-attributes.json"),
}
# Slack's pace is not what these tests are about: at production's (50 edits a minute for the
# workspace) the module spent most of its two minutes waiting for edit tokens.
FAST = Timings(
    slack_posts_per_second=1000.0,
    slack_edits_per_minute=60_000.0,
    live_edit_interval=timedelta(seconds=0.05),
    slack_backoff=timedelta(seconds=0.01),
)
SNS_HEADERS = {
    "Content-Type": "text/plain; charset=UTF-8",
    "x-amz-sns-message-type": "Notification",
}


@dataclass
class Bot:
    slack: FakeSlackApi
    app: TriageApp
    url: str
    http: aiohttp.ClientSession
    logs: Any  # a boto3 CloudWatch Logs client per region, on moto server
    trail: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"Events": []})
    slots: Iterator[int] = field(default_factory=itertools.count)
    base: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=20))

    async def settle(self) -> None:
        assert await self.app.tasks.drain(30.0) == 0
        self.app.tasks.accepting = True

    async def sns(self, message: str, subject: str) -> None:
        body = signer().body(notification(message, subject=subject))
        async with self.http.post(f"{self.url}/sns", data=body.encode(), headers=SNS_HEADERS) as r:
            assert r.status == 200, await r.text()

    async def command(self, text: str) -> dict[str, Any]:
        body = slash_command_body(text, user=CALLER, channel=TRIAGE)
        headers = signed_headers(body, SECRET)
        async with self.http.post(f"{self.url}/slack/events", data=body, headers=headers) as r:
            assert r.status == 200
            raw = await r.text()
        return json.loads(raw) if raw.strip() else {}

    def outside_text(self, line: str) -> None:
        """What the next run's steps read: a CloudTrail event and a log line holding ``line``."""
        now = datetime.now(UTC)
        record = {
            "eventSource": "ec2.amazonaws.com",
            "errorCode": line,
            "userIdentity": {"arn": f"arn:aws:sts::123456789012:assumed-role/{line}/x"},
            "requestParameters": {"groupId": line},
        }
        self.trail["Events"] = [
            {
                "EventId": "e1",
                "EventName": line,
                "EventTime": now.isoformat(),
                "EventSource": "ec2.amazonaws.com",
                "Username": line,
                "Resources": [{"ResourceType": "AWS::EC2::SecurityGroup", "ResourceName": line}],
                "CloudTrailEvent": json.dumps(record),
            }
        ]
        for client in self.logs.values():
            client.put_log_events(
                logGroupName=LOG_GROUP,
                logStreamName="web",
                logEvents=[{"timestamp": int(now.timestamp() * 1000), "message": line}],
            )

    def when(self, slot: int) -> datetime:
        return self.base + timedelta(hours=slot)


def inject(value: Any, draw: Callable[[], str], n: int, key: str = "") -> Any:
    """``value`` with a drawn payload in every text field (structure left as it is)."""
    if isinstance(value, dict):
        if key in ("state", "previousState") and "value" in value:
            return {k: v if k == "value" else inject(v, draw, n, k) for k, v in value.items()}
        return {k: inject(v, draw, n, k) for k, v in value.items()}
    if isinstance(value, list):
        return [inject(v, draw, n, key) for v in value]
    if isinstance(value, str) and key not in STRUCTURE:
        return f"{value} {draw()} #{n}"
    return value


def at_time(message: dict[str, Any], when: datetime) -> dict[str, Any]:
    """The alarm's own times moved to ``when`` (its incident opens then)."""
    out = copy.deepcopy(message)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if "StateChangeTime" in out:
        out["StateChangeTime"] = stamp
    if "detail-type" in out:
        out["time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        detail = out["detail"]
        if "state" in detail:
            detail["state"]["timestamp"] = stamp
        if "startTime" in detail:
            detail["startTime"] = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
        if "eventArn" in detail:
            detail["eventArn"] += f"-{int(when.timestamp())}"
    return out


def posted(calls: list[SlackCall]) -> list[SlackCall]:
    return [c for c in calls if c.method in ("chat.postMessage", "chat.update") and c.ok]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    tmp_path_factory: pytest.TempPathFactory, moto_server: LocalAws
) -> AsyncIterator[Bot]:
    tmp = tmp_path_factory.mktemp("injection")
    moto_server.reset()
    logs = {}
    for region in REGIONS:
        client = boto3.client("logs", region_name=region, endpoint_url=moto_server.url)
        client.create_log_group(logGroupName=LOG_GROUP)
        client.create_log_stream(logGroupName=LOG_GROUP, logStreamName="web")
        logs[region] = client
    trail: dict[str, list[dict[str, Any]]] = {"Events": []}

    def session() -> boto3.Session:
        made = boto3.Session(botocore_session=get_session())
        fake_operation(made, "cloudtrail", "LookupEvents", lambda _: trail)
        return made

    signer().place(tmp / "certs")
    config = tmp / "config.toml"
    config.write_text(
        f"""
[slack]
default_channel = "{ALARMS}"
[store]
url = "sqlite:///{tmp / "state.db"}"
[sns]
topic_arns = ["{TOPIC}"]
cert_dir = "certs"
[playbooks]
dirs = ["{PLAYBOOKS}"]
[alarms]
storm_threshold = 2
storm_window = "2m"
[[routes]]
match = {{}}
playbook = "injected"
"""
    )
    slack = FakeSlackApi()
    await slack.start()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-injection",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.base_url,
        "AWS_ENDPOINT_URL": moto_server.url,
    }
    try:
        app = build_app(load_settings(config, env=env), session_factory=session, timings=FAST)
        runner = web.AppRunner(app.web, access_log=None)
        await runner.setup()
        try:
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            async with aiohttp.ClientSession() as http:
                yield Bot(slack, app, f"http://127.0.0.1:{port}", http, logs, trail)
        finally:
            await runner.cleanup()
    finally:
        await slack.stop()


def drive(bot: Bot, make: Callable[[Callable[[], str]], Any]) -> Callable[[], None]:
    """A hypothesis test (run in a worker thread) whose examples are coroutines on the bot's
    loop: ``make(draw)`` returns the coroutine for one example, ``draw()`` the next of the
    example's payloads (drawn up front, in hypothesis' thread)."""
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(pool=st.lists(payload, min_size=POOL, max_size=POOL))
    def run(pool: list[str]) -> None:
        drawn = itertools.cycle(pool)
        example = make(lambda: next(drawn))
        asyncio.run_coroutine_threadsafe(example, loop).result(timeout=120)

    return run


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_alarm_text_never_pings_or_links(bot: Bot, shape: str) -> None:
    async def one(draw: Callable[[], str]) -> None:
        slot = next(bot.slots)
        bot.outside_text(f"ERROR {draw()}")
        raw = SHAPES[shape]()
        try:
            message = json.dumps(inject(at_time(json.loads(raw), bot.when(slot)), draw, slot))
        except ValueError:  # a plain notification's text
            message = inject(raw, draw, slot)
        seen = len(bot.slack.calls)
        await bot.sns(message, subject=inject("ALARM: in US East", draw, slot))
        await bot.settle()
        calls = bot.slack.calls[seen:]
        assert posted(calls), f"nothing reached Slack for {shape}"
        assert problems(calls, [CALLER]) == []

    await asyncio.to_thread(drive(bot, one))


async def test_a_storm_of_injected_alarms_lists_them_escaped(bot: Bot) -> None:
    async def one(draw: Callable[[], str]) -> None:
        slot = next(bot.slots)  # every alarm of this example in one window: a storm
        seen = len(bot.slack.calls)
        for n in range(4):
            raw = json.loads(SHAPES["metric alarm"]())
            later = bot.when(slot) + timedelta(seconds=n)
            message = inject(at_time(raw, later), draw, slot * 10 + n)
            await bot.sns(json.dumps(message), subject="ALARM")
        await bot.settle()
        calls = bot.slack.calls[seen:]
        storm = [c for c in posted(calls) if "Alarm storm" in str(c.args.get("text", ""))]
        assert storm, "the alarms did not make a storm"
        assert problems(calls, [CALLER]) == []

    await asyncio.to_thread(drive(bot, one))


async def test_triage_parameters_never_ping_or_link(bot: Bot) -> None:
    async def one(draw: Callable[[], str]) -> None:
        value = "v" + draw()
        bot.outside_text(value)
        seen = len(bot.slack.calls)
        acks = [
            await bot.command(f"injected {shlex.quote('alarm_name=' + value)}"),
            await bot.command(f"injected {shlex.quote('other=' + value)}"),
            await bot.command(shlex.quote(value)),
            await bot.command(value),
            await bot.command(f"alarm {shlex.quote(value)}"),
        ]
        await bot.settle()
        acks.append(await bot.command("history 5"))
        await bot.settle()
        calls = bot.slack.calls[seen:]
        assert posted(calls), "the run did not reach Slack"
        history = [str(c.args.get("text")) for c in calls if c.method == "chat.postEphemeral"]
        assert any("in this channel" in text for text in history), history
        shown = [SlackCall("ack", ack, "", "POST", 200, {}) for ack in acks]
        assert problems(calls + shown, [CALLER]) == []

    await asyncio.to_thread(drive(bot, one))


async def test_a_40_kb_command_comes_back_clipped_and_escaped(bot: Bot) -> None:
    huge = "<!channel>" * 4096  # 40 KB in one word
    for text in (huge, f"injected {huge}", f"injected {huge}=1", f"'{huge}"):
        ack = await bot.command(text)
        assert ack.get("response_type") == "ephemeral", ack
        assert len(ack["text"]) < 500, (len(ack["text"]), ack["text"][:100])
        assert "&lt;!channel&gt;" in ack["text"] and "…" in ack["text"]
        assert problems([SlackCall("ack", ack, "", "POST", 200, {})], [CALLER]) == []

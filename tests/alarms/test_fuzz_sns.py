"""Thousands of random and mutated bodies to ``POST /sns`` of one running app: every answer
is 200, 400, 403 or 413, and ``/healthz`` stays 200."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import SignatureInvalid
from tests.alarms.signing import TOPIC, confirmation, notification, signer
from tests.alarms.sns_harness import SnsHarness, start_harness

ALLOWED = {200, 400, 403, 413}
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sns"
SNS_KEYS = [
    "Type",
    "MessageId",
    "TopicArn",
    "Subject",
    "Message",
    "Timestamp",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
    "SigningCertUrl",
    "SubscribeURL",
    "UnsubscribeURL",
    "Token",
    "MessageAttributes",
]


def fixture_bodies() -> list[str]:
    """Real SNS bodies (AWS-signed and unsigned samples) and our own signed ones."""
    bodies = [p.read_text() for p in sorted(FIXTURES.glob("*.json")) if "headers" not in p.name]
    bodies += [
        p.read_text() for p in sorted((FIXTURES / "signed").glob("*.json")) if p.stem != "EXPECTED"
    ]
    bodies += [signer().body(notification()), signer().body(confirmation(), "2")]
    return bodies


async def no_such_certificate(url: str) -> bytes:
    """What a forged certificate URL on an SNS host gets: nothing usable (never the network)."""
    raise SignatureInvalid("no such signing certificate")


def place_aws_certificates(cert_dir: Path) -> None:
    """The certificates of the AWS-signed fixtures, named as their SigningCertURL says."""
    cases = json.loads((FIXTURES / "signed" / "EXPECTED.json").read_text())["cases"]
    for case in cases:
        message = json.loads((FIXTURES.parent / case["message"]).read_text())
        if case["message_path_in_file"] == "Records[0].Sns":
            message = message["Records"][0]["Sns"]
        url = message.get("SigningCertURL", message.get("SigningCertUrl"))
        shutil.copy(FIXTURES.parent / case["cert"], cert_dir / url.rsplit("/", 1)[1])


@pytest.fixture
async def app(tmp_path: Path, moto_url: str) -> AsyncIterator[SnsHarness]:
    """One app; certificates come from cert_dir only (503 cannot happen: no fetch can fail
    for a passing reason here)."""
    async for harness in start_harness(tmp_path, moto_url, cert_fetch=no_such_certificate):
        place_aws_certificates(tmp_path / "certs")
        yield harness


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
sns_like = st.dictionaries(
    st.sampled_from(SNS_KEYS) | st.text(max_size=12),
    json_values
    | st.sampled_from(
        [
            "Notification",
            "SubscriptionConfirmation",
            "UnsubscribeConfirmation",
            TOPIC,
            "1",
            "2",
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
            "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
            "aGVsbG8=",
        ]
    ),
    max_size=14,
)
bodies = (
    st.binary(max_size=2048)
    | st.text(max_size=2048).map(str.encode)
    | json_values.map(lambda v: json.dumps(v).encode())
    | sns_like.map(lambda v: json.dumps(v).encode())
)


def mutate(body: str, rng: random.Random) -> bytes:
    """One random change to a real body: bytes flipped, cut, spliced, or a field changed."""
    data = bytearray(body.encode())
    kind = rng.randrange(6)
    if kind == 0 and data:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:
        data = data[: rng.randrange(len(data) + 1)]
    elif kind == 2 and data:
        at = rng.randrange(len(data))
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    elif kind == 3:
        try:
            value = json.loads(body)
        except ValueError:
            return bytes(data)
        if isinstance(value, dict) and value:
            key = rng.choice(list(value))
            choice = rng.randrange(5)
            if choice == 0:
                del value[key]
            elif choice == 1:
                value[key] = rng.choice([None, 0, [], {}, "", "x" * 1000, True, 1.5])
            elif choice == 2:
                value[key] = str(value[key])[::-1]
            elif choice == 3:
                value["TopicArn"] = rng.choice([TOPIC, "arn:aws:sns:us-east-1:1:x", None])
            else:
                value["SigningCertURL"] = rng.choice(
                    [
                        "http://sns.us-east-1.amazonaws.com/x.pem",
                        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
                        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
                        "https://127.0.0.1/x.pem",
                        "",
                    ]
                )
        return json.dumps(value).encode()
    elif kind == 4:
        data = data * rng.randint(2, 4)
    else:
        data = bytearray(b"[" * rng.randint(1, 50_000))  # deep nesting
    return bytes(data)


async def post_all(app: SnsHarness, payloads: list[bytes], in_flight: int = 20) -> list[int]:
    gate = asyncio.Semaphore(in_flight)

    async def one(payload: bytes) -> int:
        async with gate:
            return (await app.post(payload))[0]

    return await asyncio.gather(*(one(p) for p in payloads))


async def test_thousands_of_mutated_real_bodies(app: SnsHarness) -> None:
    rng = random.Random(20240501)
    base = fixture_bodies()
    payloads = [mutate(rng.choice(base), rng) for _ in range(3000)]
    payloads += [b.encode() for b in base]
    statuses = await post_all(app, payloads)
    unexpected = {s for s in statuses if s not in ALLOWED}
    assert not unexpected, unexpected
    assert await app.healthz() == 200
    assert {200, 400, 403} <= set(statuses)


async def test_random_bodies_from_hypothesis(app: SnsHarness) -> None:
    seen: list[int] = []
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=bodies)
    def post_one(body: bytes) -> None:
        future = asyncio.run_coroutine_threadsafe(app.post(body), loop)
        status = future.result(timeout=30)[0]
        seen.append(status)
        assert status in ALLOWED, (status, body[:200])

    await asyncio.to_thread(post_one)
    assert len(seen) >= 300
    assert await app.healthz() == 200


async def test_an_oversized_body_in_the_middle_of_the_storm(app: SnsHarness) -> None:
    big = signer().body(notification("y" * (300 * 1024)))
    statuses = await post_all(app, [big.encode()] * 5 + [b"{}"] * 5)
    assert statuses == [413] * 5 + [400] * 5
    assert await app.healthz() == 200

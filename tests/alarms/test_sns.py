"""SNS verification against real AWS-signed messages and messages we sign ourselves."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.alarms.reading import timestamp
from bot.demo.sns_signer import Signer, make_certificate, new_signer
from bot.errors import SignatureInvalid
from bot.ingress.sns import (
    CertificateNotValid,
    CertificateStore,
    CertificateUnavailable,
    MalformedMessage,
    MessageStale,
    SnsEnvelope,
    SnsVerifier,
    TopicNotAllowed,
    check_cert_url,
    check_subscribe_url,
    fetch_https,
    string_to_sign,
)
from tests.alarms.signing import sns_time

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXPECTED: list[dict[str, Any]] = json.loads((FIXTURES / "sns/signed/EXPECTED.json").read_text())[
    "cases"
]
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test0123456789.pem"
TOPIC = "arn:aws:sns:eu-west-1:111122223333:alarms"
NOW = datetime.now(UTC).replace(microsecond=0)
STAMP = sns_time(NOW)


async def verify(
    message: Any, certs: CertificateStore, *, at: datetime | None = None
) -> SnsEnvelope:
    """Verify as the bot does, for the message's own topic, at ``at`` — by default at the
    message's own Timestamp, so that AWS-signed fixtures from years ago (and certificates long
    expired) are judged as they were when SNS sent them."""
    fields = message if isinstance(message, Mapping) else {}
    topic = fields.get("TopicArn")
    when = at or timestamp(fields.get("Timestamp")) or NOW
    verifier = SnsVerifier(certs, [topic] if isinstance(topic, str) else [], clock=lambda: when)
    return await verifier.verify(message)


async def never_fetch(url: str) -> bytes:
    pytest.fail(f"the verifier fetched {url} although the certificate was in cert_dir")


def cert_url_of(message: dict[str, Any]) -> str:
    url = message.get("SigningCertURL", message.get("SigningCertUrl"))
    assert isinstance(url, str)
    return url


def last_segment(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).name


def load_case(case: dict[str, Any], cert_dir: Path) -> dict[str, Any]:
    """The case's SNS message, with its named PEM placed in cert_dir under the URL's file name."""
    message: dict[str, Any] = json.loads((FIXTURES / case["message"]).read_text())
    if case["message_path_in_file"] == "Records[0].Sns":
        message = message["Records"][0]["Sns"]
    else:
        assert case["message_path_in_file"] == "$"
    shutil.copy(FIXTURES / case["cert"], cert_dir / last_segment(cert_url_of(message)))
    return message


def case_id(case: dict[str, Any]) -> str:
    return Path(case["message"]).stem


def case_named(stem: str) -> dict[str, Any]:
    (case,) = [c for c in EXPECTED if case_id(c) == stem]
    return case


async def judge(message: dict[str, Any], store: CertificateStore) -> bool:
    try:
        await verify(message, store)
    except SignatureInvalid:
        return False
    return True


def test_expected_lists_thirteen_valid_messages_and_three_negatives() -> None:
    assert sum(case["expected_valid"] for case in EXPECTED) == 13
    assert sum(not case["expected_valid"] for case in EXPECTED) == 3


@pytest.mark.parametrize("case", EXPECTED, ids=case_id)
async def test_real_sns_messages_are_judged_as_expected(
    case: dict[str, Any], tmp_path: Path
) -> None:
    message = load_case(case, tmp_path)
    assert message["SignatureVersion"] == case["signature_version"]
    assert await judge(message, CertificateStore(tmp_path, never_fetch)) is case["expected_valid"]


@pytest.mark.parametrize("case", [c for c in EXPECTED if c["expected_valid"]], ids=case_id)
async def test_one_changed_character_of_message_fails(case: dict[str, Any], tmp_path: Path) -> None:
    message = load_case(case, tmp_path)
    text = message["Message"]
    middle = len(text) // 2
    message["Message"] = text[:middle] + ("A" if text[middle] != "A" else "B") + text[middle + 1 :]
    with pytest.raises(SignatureInvalid, match="does not match"):
        await verify(message, CertificateStore(tmp_path, never_fetch))


async def test_verified_message_comes_back_parsed_with_either_key_casing(tmp_path: Path) -> None:
    http = load_case(case_named("aws-sdk-ruby-notification-sigv1"), tmp_path)
    lam = load_case(case_named("aws-sdk-ruby-notification-sigv1-lambda-casing"), tmp_path)
    store = CertificateStore(tmp_path, never_fetch)
    for message in (http, lam):
        envelope = await verify(message, store)
        assert envelope.type == "Notification"
        assert envelope.message == "Hello world"
        assert envelope.message_id == "792cda85-518f-5dd3-9163-81d851212f3a"
        assert envelope.subject is None
        assert envelope.signing_cert_url.endswith("7ff5318490ec183fbaddaa2a969abfda.pem")
        assert envelope.unsubscribe_url is not None
        assert envelope.unsubscribe_url.startswith("https://sns.us-east-2.amazonaws.com/?Action=")


def test_string_to_sign_uses_values_exactly_as_received() -> None:
    message = json.loads(
        (FIXTURES / "sns/signed/health-event-elb-api-issue-via-sns-sigv1.json").read_text()
    )
    expected = (
        f"Message\n{message['Message']}\n"
        "MessageId\n3f78eee9-6691-51be-b77e-b4603c34d486\n"
        "Timestamp\n2022-02-18T08:27:17.407Z\n"
        "TopicArn\narn:aws:sns:ap-southeast-2:257706363616:phd-info-dev\n"
        "Type\nNotification\n"
    ).encode()
    assert string_to_sign(message) == expected
    assert b'{\n  "version": "0",\n  "id"' in expected  # the pretty-printed JSON, untouched


def test_string_to_sign_for_a_subscription_confirmation() -> None:
    path = FIXTURES / "sns/alerta-subscription-confirmation-eu-west-1.json"
    signed = string_to_sign(json.loads(path.read_text())).decode()
    assert signed.startswith(
        "Message\nYou have chosen to subscribe to the topic arn:aws:sns:eu-west-1:1234567890:"
        "alerta-test.\nTo confirm the subscriptionDataBuilder, visit the SubscribeURL included in "
        "this message.\nMessageId\n8a14e4f3-f3ab-4be0-a12f-681ee8fe214f\nSubscribeURL\n"
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
    )
    assert "\nTimestamp\n2018-07-08T21:33:44.782Z\nToken\n2336412f37fb687f" in signed
    assert signed.endswith(
        "\nTopicArn\narn:aws:sns:eu-west-1:1234567890:alerta-test\nType\nSubscriptionConfirmation\n"
    )
    assert "Signature" not in signed and "SigningCertURL" not in signed


# --- messages we sign ourselves -----------------------------------------------------------


@pytest.fixture(scope="module")
def signer() -> Signer:
    return new_signer(CERT_URL)


@pytest.fixture
def store(signer: Signer, tmp_path: Path) -> CertificateStore:
    (tmp_path / last_segment(CERT_URL)).write_bytes(signer.pem)
    return CertificateStore(tmp_path, never_fetch)


SUBJECT = 'ALARM: "prod-api-5xx" in EU (Ireland)'


def notification(*, subject: str | None = SUBJECT, omit_subject: bool = False) -> dict[str, Any]:
    message: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": "5b1bd8b8-8e3e-5c5a-9d2c-1f8e4c1a0f11",
        "TopicArn": TOPIC,
        "Message": '{"AlarmName":"prod-api-5xx",\n "NewStateValue":"ALARM"}',
        "Timestamp": STAMP,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&x=1",
    }
    if not omit_subject:
        message["Subject"] = subject
    return message


def confirmation(kind: str = "SubscriptionConfirmation") -> dict[str, Any]:
    return {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d9",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\nTo confirm, visit it.",
        "SubscribeURL": (
            "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
            f"&TopicArn={TOPIC}&Token=2336412f"
        ),
        "Timestamp": STAMP,
    }


MESSAGES: dict[str, Callable[[], dict[str, Any]]] = {
    "notification-with-subject": notification,
    "notification-without-subject": lambda: notification(omit_subject=True),
    "notification-subject-null": lambda: notification(subject=None),
    "subscription-confirmation": confirmation,
    "unsubscribe-confirmation": lambda: confirmation("UnsubscribeConfirmation"),
}


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("kind", list(MESSAGES))
async def test_own_signed_messages_verify(
    kind: str, version: str, signer: Signer, store: CertificateStore
) -> None:
    message = signer.sign(MESSAGES[kind](), version)
    envelope = await verify(message, store)
    assert envelope.type == message["Type"]
    assert envelope.message_id == message["MessageId"]
    assert envelope.subject == message.get("Subject")


def test_subject_is_signed_only_when_present() -> None:
    assert b"Subject\n" not in string_to_sign(notification(omit_subject=True))
    assert b"Subject\n" not in string_to_sign(notification(subject=None))
    assert b'Subject\nALARM: "prod-api-5xx" in EU (Ireland)\n' in string_to_sign(notification())
    assert b"Subject\n\n" in string_to_sign(notification(subject=""))


async def test_the_other_signature_version_does_not_verify(
    signer: Signer, store: CertificateStore
) -> None:
    message = signer.sign(notification(), "1")
    message["SignatureVersion"] = "2"
    with pytest.raises(SignatureInvalid, match="does not match"):
        await verify(message, store)


TAMPERED = [
    ("notification-with-subject", "Message", '{"AlarmName":"prod-api-5xx"}'),
    ("notification-with-subject", "MessageId", "5b1bd8b8-8e3e-5c5a-9d2c-1f8e4c1a0f12"),
    ("notification-with-subject", "Subject", 'OK: "prod-api-5xx" in EU (Ireland)'),
    ("notification-with-subject", "Subject", None),
    ("notification-without-subject", "Subject", "added later"),
    ("notification-with-subject", "Timestamp", sns_time(NOW + timedelta(milliseconds=1))),
    ("notification-with-subject", "TopicArn", "arn:aws:sns:eu-west-1:111122223333:other"),
    ("subscription-confirmation", "Type", "UnsubscribeConfirmation"),
    ("unsubscribe-confirmation", "Type", "SubscriptionConfirmation"),
    ("subscription-confirmation", "Token", "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f7"),
    (
        "subscription-confirmation",
        "SubscribeURL",
        "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=other",
    ),
    ("subscription-confirmation", "Message", "You have chosen to subscribe."),
]


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    ("kind", "field", "value"), TAMPERED, ids=[f"{k}-{f}" for k, f, _ in TAMPERED]
)
async def test_each_tampered_field_fails(
    kind: str, field: str, value: str | None, version: str, signer: Signer, store: CertificateStore
) -> None:
    message = signer.sign(MESSAGES[kind](), version)
    assert message.get(field) != value
    message[field] = value
    with pytest.raises(SignatureInvalid, match="does not match"):
        await verify(message, store)


async def test_unsigned_fields_may_change(signer: Signer, store: CertificateStore) -> None:
    message = signer.sign(notification())
    message["UnsubscribeURL"] = "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&x=2"
    message["MessageAttributes"] = {"k": {"Type": "String", "Value": "v"}}
    message["SomeFieldSnsAddsLater"] = 1
    assert (await verify(message, store)).message_attributes == message["MessageAttributes"]


REJECTED_CERT_URLS = {
    "http": "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test0123456789.pem",
    "other host": "https://sns.example.com/SimpleNotificationService-test0123456789.pem",
    "suffix host": "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-x.pem",
    "prefix host": "https://evilsns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
    "not sns": "https://s3.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
    "no region": "https://sns.amazonaws.com/SimpleNotificationService-x.pem",
    "cn suffix off cn": "https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
    "user info": "https://user@sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem",
    "user info host": "https://sns.eu-west-1.amazonaws.com@evil.com/SimpleNotificationService.pem",
    "port 8443": "https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-x.pem",
    "bad port": "https://sns.eu-west-1.amazonaws.com:99999/SimpleNotificationService-x.pem",
    "not pem": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.crt",
    "pem in query": "https://sns.eu-west-1.amazonaws.com/cert?file=x.pem",
    "query after pem": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem?a=1",
    "empty": "",
    "arabic-indic digit": "https://sns.us-east-\u0661.amazonaws.com/SimpleNotificationService-x.pem",
    "fullwidth digit": "https://sns.us-east-\uff11.amazonaws.com/SimpleNotificationService-x.pem",
    "non-ascii file": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-\u0661.pem",
}


@pytest.mark.parametrize("url", list(REJECTED_CERT_URLS.values()), ids=list(REJECTED_CERT_URLS))
async def test_rejected_cert_urls(url: str, signer: Signer, tmp_path: Path) -> None:
    with pytest.raises(SignatureInvalid):
        check_cert_url(url)
    # Even with a matching file in cert_dir, nothing is read and nothing is fetched.
    (tmp_path / "SimpleNotificationService-x.pem").write_bytes(signer.pem)
    message = {**signer.sign(notification()), "SigningCertURL": url}
    with pytest.raises(SignatureInvalid):
        await verify(message, CertificateStore(tmp_path, never_fetch))


async def test_missing_cert_url_is_refused(signer: Signer, store: CertificateStore) -> None:
    message = signer.sign(notification())
    del message["SigningCertURL"]
    with pytest.raises(SignatureInvalid, match="missing SigningCertURL"):
        await verify(message, store)


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
        "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-x.pem",
        "https://SNS.EU-WEST-1.AMAZONAWS.COM/SimpleNotificationService-x.pem",
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-x.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem",
        "https://sns.ap-southeast-5.amazonaws.com/SimpleNotificationService-x.pem",
    ],
)
def test_accepted_cert_urls(url: str) -> None:
    check_cert_url(url)


def test_subscribe_url_uses_the_same_host_rule() -> None:
    check_subscribe_url(confirmation()["SubscribeURL"])
    for bad in (
        "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription",
        "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://attacker@sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-east-1.amazonaws.com:8443/?Action=ConfirmSubscription",
        None,
    ):
        with pytest.raises(SignatureInvalid):
            check_subscribe_url(bad)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Signature": None}, "missing Signature"),
        ({"Signature": ""}, "missing Signature"),
        ({"Signature": "not base64 at all!"}, "not base64"),
        ({"Signature": "QUJD=EF"}, "not base64"),
        ({"SignatureVersion": "3"}, "unsupported SignatureVersion"),
        ({"SignatureVersion": 1}, "unsupported SignatureVersion"),
        ({"SignatureVersion": None}, "missing SignatureVersion"),
    ],
)
async def test_bad_signature_fields(
    change: dict[str, Any], reason: str, signer: Signer, store: CertificateStore
) -> None:
    message = signer.sign(notification())
    for key, value in change.items():
        if value is None:
            del message[key]
        else:
            message[key] = value
    with pytest.raises(SignatureInvalid, match=reason):
        await verify(message, store)


@pytest.mark.parametrize(
    "message",
    [
        ["not", "an", "object"],
        {"Type": "Hello"},
        {"MessageId": "x"},
        {**notification(), "MessageId": None},
        {**notification(), "Message": {"AlarmName": "x"}},
        {**notification(), "Subject": 5},
        {k: v for k, v in confirmation().items() if k != "Token"},
    ],
    ids=["list", "unknown-type", "no-type", "no-id", "message-object", "subject-number", "token"],
)
async def test_structurally_bad_input_is_malformed(message: Any, store: CertificateStore) -> None:
    with pytest.raises(MalformedMessage):
        await verify(message, store)


async def test_cert_is_fetched_once_and_then_served_from_memory(
    signer: Signer, tmp_path: Path
) -> None:
    calls: list[str] = []

    async def fetch(url: str) -> bytes:
        calls.append(url)
        return signer.pem

    store = CertificateStore(tmp_path, fetch)  # empty cert_dir
    await verify(signer.sign(notification()), store)
    await verify(signer.sign(confirmation(), "2"), store)
    assert calls == [CERT_URL]


async def test_memory_cache_is_bounded(signer: Signer, tmp_path: Path) -> None:
    calls: list[str] = []

    async def fetch(url: str) -> bytes:
        calls.append(last_segment(url))
        return signer.pem

    store = CertificateStore(tmp_path, fetch, max_cached=1)
    first = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a.pem"
    second = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-b.pem"
    for url in (first, first, second, first):
        await store.get(url)
    a, b = "SimpleNotificationService-a.pem", "SimpleNotificationService-b.pem"
    assert calls == [a, b, a]


async def test_fetch_failure_is_a_retryable_refusal(signer: Signer, tmp_path: Path) -> None:
    async def fetch(url: str) -> bytes:
        raise ConnectionResetError("peer went away")

    with pytest.raises(CertificateUnavailable, match="ConnectionResetError"):
        await verify(signer.sign(notification()), CertificateStore(tmp_path, fetch))


async def test_fetched_garbage_is_refused(signer: Signer, tmp_path: Path) -> None:
    async def fetch(url: str) -> bytes:
        return b"<html>not a certificate</html>"

    with pytest.raises(SignatureInvalid, match="not a PEM certificate") as caught:
        await verify(signer.sign(notification()), CertificateStore(tmp_path, fetch))
    assert not isinstance(caught.value, CertificateUnavailable)


async def test_a_different_key_does_not_verify(signer: Signer, tmp_path: Path) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / last_segment(CERT_URL)).write_bytes(
        make_certificate(other, not_after=datetime.now(UTC) + timedelta(days=1))
    )
    with pytest.raises(SignatureInvalid, match="does not match"):
        await verify(signer.sign(notification()), CertificateStore(tmp_path, never_fetch))


@pytest.mark.parametrize(
    ("not_after", "reason"),
    [(NOW - timedelta(days=1), "expired"), (NOW + timedelta(days=400), "valid only from")],
    ids=["expired", "not-yet-valid"],
)
async def test_a_certificate_outside_its_validity_is_refused(
    signer: Signer, tmp_path: Path, not_after: datetime, reason: str
) -> None:
    (tmp_path / last_segment(CERT_URL)).write_bytes(
        make_certificate(signer.key, not_after=not_after)
    )
    with pytest.raises(CertificateNotValid, match=reason):
        await verify(signer.sign(notification()), CertificateStore(tmp_path, never_fetch))


async def test_an_old_aws_signed_message_is_stale_today(tmp_path: Path) -> None:
    message = load_case(case_named("aws-sdk-ruby-notification-sigv1"), tmp_path)
    with pytest.raises(MessageStale, match=r"older than sns\.max_age"):
        await verify(message, CertificateStore(tmp_path, never_fetch), at=NOW)


@pytest.mark.parametrize(
    ("sent", "refused"),
    [
        (NOW - timedelta(hours=1, minutes=4), False),  # max_age plus the skew allowance
        (NOW - timedelta(hours=1, minutes=6), True),
        (NOW + timedelta(minutes=4), False),
        (NOW + timedelta(minutes=6), True),  # from the future
    ],
)
async def test_the_message_age_is_judged_on_the_injected_clock(
    sent: datetime, refused: bool, signer: Signer, store: CertificateStore
) -> None:
    message = signer.sign({**notification(), "Timestamp": sns_time(sent)})
    if refused:
        with pytest.raises(MessageStale):
            await verify(message, store, at=NOW)
    else:
        await verify(message, store, at=NOW)


async def test_an_unlisted_topic_is_refused_before_the_certificate_is_fetched(
    signer: Signer, tmp_path: Path
) -> None:
    verifier = SnsVerifier(CertificateStore(tmp_path, never_fetch), ["arn:aws:sns:x:1:other"])
    with pytest.raises(TopicNotAllowed):
        await verifier.verify(signer.sign(notification()))


async def test_a_stale_message_is_refused_before_the_certificate_is_fetched(
    signer: Signer, tmp_path: Path
) -> None:
    message = signer.sign({**notification(), "Timestamp": "2020-01-01T00:00:00.000Z"})
    with pytest.raises(MessageStale):
        await verify(message, CertificateStore(tmp_path, never_fetch), at=NOW)


async def test_valid_cert_logs_nothing(
    store: CertificateStore, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.ingress.sns"):
        await verify(signer.sign(notification()), store)
    assert caplog.records == []


def test_envelope_model_ignores_new_fields_and_knows_both_casings() -> None:
    base = {k: v for k, v in notification().items() if k != "UnsubscribeURL"}
    base |= {"SignatureVersion": "1", "Signature": "AAAA", "NewField": True}
    http = SnsEnvelope.model_validate(
        base | {"SigningCertURL": CERT_URL, "UnsubscribeURL": "https://u"}
    )
    lam = SnsEnvelope.model_validate(
        base | {"SigningCertUrl": CERT_URL, "UnsubscribeUrl": "https://u"}
    )
    assert http == lam
    assert http.signing_cert_url == CERT_URL
    assert http.unsubscribe_url == "https://u"


# --- the default fetch, against a loopback server ------------------------------------------


async def test_default_fetch_gets_the_certificate(aiohttp_server: Any, signer: Signer) -> None:
    server = await aiohttp_server(pem_app(signer.pem))
    assert await fetch_https(str(server.make_url("/cert.pem"))) == signer.pem


async def test_default_fetch_refuses_errors_redirects_and_huge_bodies(
    aiohttp_server: Any, signer: Signer
) -> None:
    server = await aiohttp_server(pem_app(signer.pem))
    with pytest.raises(SignatureInvalid, match="HTTP 404") as missing:
        await fetch_https(str(server.make_url("/missing.pem")))
    assert not isinstance(missing.value, CertificateUnavailable), "no such certificate: 403"
    with pytest.raises(CertificateUnavailable, match="HTTP 503"):
        await fetch_https(str(server.make_url("/busy.pem")))
    with pytest.raises(CertificateUnavailable, match="HTTP 302"):
        await fetch_https(str(server.make_url("/redirect.pem")))
    with pytest.raises(SignatureInvalid, match="too large"):
        await fetch_https(str(server.make_url("/huge.pem")))


def pem_app(pem: bytes) -> web.Application:
    async def cert(request: web.Request) -> web.Response:
        return web.Response(body=pem)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("https://evil.example/cert.pem")

    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"A" * (200 * 1024))

    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/busy.pem", busy)
    app.router.add_get("/cert.pem", cert)
    app.router.add_get("/redirect.pem", redirect)
    app.router.add_get("/huge.pem", huge)
    return app

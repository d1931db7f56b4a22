"""Every shape of alarm AWS sends, read into one Alarm."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alarms.model import Alarm, AlarmSource
from bot.alarms.parse import parse_notification, unwrap_envelope
from bot.ingress.sns import MalformedMessage, SnsEnvelope

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ALARM = AlarmSource.ALARM
HEALTH = AlarmSource.HEALTH
NOTE = AlarmSource.NOTIFICATION


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def parse(name: str) -> Alarm:
    alarm = parse_notification(load(name))
    assert alarm is not None
    return alarm


def parse_message(message: dict[str, Any]) -> Alarm:
    """Parse a CloudWatch message (decoded) as SNS would deliver it."""
    alarm = parse_notification(sns_envelope(json.dumps(message)))
    assert alarm is not None
    return alarm


# source, name, state, old state, region, account, metric summary: one row per alarm fixture
EXPECTED: dict[str, tuple[AlarmSource, str, str, str, str, str, str]] = {
    "sns/alerta-notification-alarm-s3-two-dimensions.json": (
        ALARM,
        "bucketbytesAlarm",
        "ALARM",
        "INSUFFICIENT_DATA",
        "eu-west-1",
        "1234567890",
        "AWS/S3 BucketSizeBytes Average >= 0",
    ),
    "sns/alerta-notification-insufficient-data.json": (
        ALARM,
        "notificationCountAlarm",
        "INSUFFICIENT_DATA",
        "ALARM",
        "eu-west-1",
        "1234567890",
        "AWS/SNS NumberOfNotificationsDelivered Average >= 0",
    ),
    "sns/http-notification-alarm-anomaly-detection-ok.json": (
        ALARM,
        "ContainerInsight-pod_cpu_utilization",
        "OK",
        "ALARM",
        "ap-northeast-2",
        "257706363616",
        "ContainerInsights pod_cpu_utilization Average outside ANOMALY_DETECTION_BAND(m1, 0.592)",
    ),
    "sns/http-notification-alarm-ec2-cpu-alarm.json": (
        ALARM,
        "EC2-CPU",
        "ALARM",
        "INSUFFICIENT_DATA",
        "ap-northeast-2",
        "257706363616",
        "AWS/EC2 CPUUtilization Average > 15",
    ),
    "sns/lambda-record-alarm-metric-math.json": (
        ALARM,
        "EXAMPLE",
        "ALARM",
        "INSUFFICIENT_DATA",
        "",  # Region "EXAMPLE", ARN region "REGION", topic "arn:aws:sns:EXAMPLE"
        "EXAMPLE",
        "m1*1 > 0",
    ),
    "sns/lambda-record-alarm-single-metric.json": (
        ALARM,
        "EXAMPLE",
        "ALARM",
        "INSUFFICIENT_DATA",
        "",
        "123456789012",
        "AWS/EC2 NetworkOut Average > 0",
    ),
    "sns/signed/lambda-record-alarm-single-metric-2dims-sigv1.json": (
        ALARM,
        "if-sim-app_427809481713_us-east-1-metric_emitting_node_failure",
        "ALARM",
        "INSUFFICIENT_DATA",
        "us-east-1",
        "427809481713",
        "sim-app_427809481713_us-east-1 IExecutionFailureHook Sum >= 1",
    ),
    "sns/signed/lambda-record-composite-alarm-sigv1.json": (
        ALARM,
        "if-sim-app_427809481713_us-east-1-test_node_monitor",
        "ALARM",
        "OK",
        "us-east-1",
        "427809481713",
        "ALARM(if-sim-app_427809481713_us-east-1-metric_emitting_node_failure) OR "
        "ALARM(if-sim-app_427809481713_us-east-1-metric_emitting_long_execution)",
    ),
    "eventbridge/cloudwatch-alarm-state-change-single-metric.json": (
        ALARM,
        "ServerCpuTooHigh",
        "ALARM",
        "OK",
        "us-east-1",
        "123456789012",
        "AWS/EC2 CPUUtilization Average (threshold 50)",
    ),
    "eventbridge/cloudwatch-alarm-state-change-metric-math.json": (
        ALARM,
        "TotalNetworkTrafficTooHigh",
        "ALARM",
        "INSUFFICIENT_DATA",
        "us-east-1",
        "123456789012",
        "SUM(METRICS()) (threshold 10000)",
    ),
    "eventbridge/cloudwatch-alarm-state-change-anomaly-detection.json": (
        ALARM,
        "EC2 CPU Utilization Anomaly",
        "ALARM",
        "OK",
        "us-east-1",
        "123456789012",
        "AWS/EC2 CPUUtilization Average vs ANOMALY_DETECTION_BAND(m1, 0.8)",
    ),
    "eventbridge/cloudwatch-alarm-state-change-composite-suppressor.json": (
        ALARM,
        "ServiceAggregatedAlarm",
        "ALARM",
        "OK",
        "us-east-1",
        "123456789012",
        "ALARM(ServerCpuTooHigh) OR ALARM(TotalNetworkTrafficTooHigh)",
    ),
    "sns/http-notification-health-acm-renewal-redacted-sig.json": (
        HEALTH,
        "AWS_ACM_RENEWAL_STATE_CHANGE",
        "open",
        "",
        "us-east-1",
        "1234567890",
        "",
    ),
    "sns/signed/health-abuse-event-dmca-via-sns-sigv1.json": (
        HEALTH,
        "AWS_ABUSE_COPYRIGHT_DMCA_REPORT",
        "open",
        "",
        "",  # region "global"
        "123456789012",
        "",
    ),
    "sns/signed/health-abuse-event-dos-via-sns-sigv1.json": (
        HEALTH,
        "AWS_ABUSE_DOS_REPORT",
        "open",
        "",
        "",
        "123456789012",
        "",
    ),
    "sns/signed/health-event-ec2-affected-entity-tags-via-sns-sigv1.json": (
        HEALTH,
        "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED",
        "open",
        "",
        "us-west-2",
        "123456789012",
        "",
    ),
    "sns/signed/health-event-elb-api-issue-via-sns-sigv1.json": (
        HEALTH,
        "AWS_ELASTICLOADBALANCING_API_ISSUE",
        "open",
        "",
        "ap-southeast-2",
        "123456789012",
        "",
    ),
}
IGNORED = {
    "sns/alerta-subscription-confirmation-eu-west-1.json",
    "sns/docs-subscription-confirmation.json",
    "sns/docs-unsubscribe-confirmation.json",
    "sns/signed/subscription-confirmation-us-east-1-sigv1.json",
    "eventbridge/cloudwatch-alarm-configuration-change-update.json",
}


def alarm_fixture_names() -> list[str]:
    names = [
        *(FIXTURES / "sns").glob("*.json"),
        *(FIXTURES / "sns/signed").glob("*.json"),
        *(FIXTURES / "eventbridge").glob("cloudwatch-alarm-*.json"),
    ]
    return sorted(
        str(p.relative_to(FIXTURES))
        for p in names
        if not p.name.endswith(".headers.json") and p.name != "EXPECTED.json"
    )


def test_every_alarm_fixture_has_an_expectation() -> None:
    names = alarm_fixture_names()
    assert len(names) == 30
    unlisted = set(names) - set(EXPECTED) - IGNORED
    # the rest are plain notifications, checked below
    assert unlisted == {
        "sns/docs-notification.json",
        "sns/lambda-record-plain-with-attributes.json",
        "sns/signed/aws-php-notification-with-subject-sigv1.json",
        "sns/signed/aws-php-notification-with-subject-sigv2-sha256.json",
        "sns/signed/aws-sdk-java-v2-notification-sigv1.json",
        "sns/signed/aws-sdk-ruby-notification-sigv1-lambda-casing.json",
        "sns/signed/aws-sdk-ruby-notification-sigv1.json",
        "sns/signed/aws-sdk-ruby-notification-sigv2-sha256.json",
    }
    for name in unlisted:
        assert parse(name).source == NOTE, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_fields(name: str) -> None:
    source, alarm_name, state, old_state, region, account, summary = EXPECTED[name]
    alarm = parse(name)
    assert alarm.source == source
    assert alarm.name == alarm_name
    assert alarm.state == state
    assert alarm.old_state == old_state
    assert alarm.region == region
    assert alarm.account == account
    assert alarm.metric_summary == summary
    assert alarm.reason  # every one of them says why
    assert alarm.message_id
    assert alarm.changed_at is not None
    assert alarm.changed_at.tzinfo is UTC


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_confirmations_and_configuration_changes_are_ignored(name: str) -> None:
    assert parse_notification(load(name)) is None


def test_configuration_change_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    event = load("eventbridge/cloudwatch-alarm-configuration-change-update.json")
    with caplog.at_level(logging.INFO, logger="bot.alarms.parse"):
        assert parse_notification(event) is None
        # the same event delivered through an SNS topic
        assert parse_notification(sns_envelope(json.dumps(event))) is None
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert (
        lines
        == ["ignoring a CloudWatch Alarm Configuration Change event for alarm 'ServerCpuTooHigh'"]
        * 2
    )


def test_single_metric_alarm_in_full() -> None:
    alarm = parse("sns/alerta-notification-alarm-s3-two-dimensions.json")
    assert alarm.reason.startswith("Threshold Crossed: 1 datapoint [1062305.0")
    assert alarm.description == "bucket bytes size exceeded"
    assert alarm.namespace == "AWS/S3"
    assert alarm.metric_name == "BucketSizeBytes"
    assert alarm.statistic == "Average"  # "AVERAGE" in the message
    assert alarm.period_s == 86400
    assert alarm.threshold == 0.0
    assert alarm.comparison == "GreaterThanOrEqualToThreshold"
    assert alarm.dimensions == {"StorageType": "StandardStorage", "BucketName": "try.alerta.io"}
    assert alarm.changed_at == datetime(2019, 2, 15, 23, 53, 45, 93000, tzinfo=UTC)
    assert alarm.arn == ""  # this older message has no AlarmArn; region came from "EU (Ireland)"
    assert alarm.message_id == "e288882d-4281-5be4-8fde-dccc11c8cb01"
    assert alarm.incident_key == "1234567890/eu-west-1/bucketbytesAlarm"


def test_null_description_and_unit_none_string() -> None:
    alarm = parse("sns/signed/lambda-record-alarm-single-metric-2dims-sigv1.json")
    assert alarm.description == ""  # AlarmDescription null
    assert alarm.statistic == "Sum"
    assert alarm.dimensions == {
        "MetricGroupId": "routing_table.receive.hook",
        "RouteID": "metric_emitting_node",
    }
    assert alarm.arn.endswith(
        ":alarm:if-sim-app_427809481713_us-east-1-metric_emitting_node_failure"
    )
    assert alarm.message_id == "57c992bc-21f6-5a74-bda5-c8b9155571ca"


def test_region_from_the_arn_wins_over_the_display_name() -> None:
    message = json.loads(load("sns/http-notification-alarm-ec2-cpu-alarm.json")["Message"])
    message["Region"] = "US East (Ohio)"
    assert parse_message(message).region == "ap-northeast-2"
    del message["AlarmArn"]
    assert parse_message(message).region == "us-east-2"


def test_metric_math_alarm() -> None:
    alarm = parse("sns/lambda-record-alarm-metric-math.json")
    assert alarm.namespace == "AWS/EC2"
    assert alarm.metric_name == "NetworkOut"  # the only metric the expression reads
    assert alarm.dimensions == {"InstanceId": "TestInstance"}
    assert alarm.threshold == 0.0
    assert alarm.period_s == 60

    event = parse("eventbridge/cloudwatch-alarm-state-change-metric-math.json")
    assert event.namespace == "AWS/EC2"
    assert event.metric_name == ""  # NetworkIn and NetworkOut: no single metric
    assert event.statistic == "Maximum"
    assert event.dimensions == {"InstanceId": "i-12345678901234567"}
    assert event.threshold == 10000.0  # from state.reasonData, a JSON string inside the event
    assert event.description == "Goes into alarm if total network traffic exceeds 10Kb"


def test_anomaly_detection_alarm_has_no_threshold() -> None:
    alarm = parse("sns/http-notification-alarm-anomaly-detection-ok.json")
    assert alarm.threshold is None
    assert alarm.comparison == "LessThanLowerOrGreaterThanUpperThreshold"
    assert alarm.metric_name == "pod_cpu_utilization"
    assert alarm.dimensions == {"ClusterName": "cloudone-dev-v1-eks-cluster"}
    assert alarm.description == ""


@pytest.mark.parametrize(
    ("comparison", "word"),
    [
        ("GreaterThanUpperThreshold", "above"),
        ("LessThanLowerThreshold", "below"),
        ("LessThanLowerOrGreaterThanUpperThreshold", "outside"),
    ],
)
def test_anomaly_band_comparisons(comparison: str, word: str) -> None:
    message = json.loads(load("sns/http-notification-alarm-anomaly-detection-ok.json")["Message"])
    message["Trigger"]["ComparisonOperator"] = comparison
    assert parse_message(message).metric_summary == (
        f"ContainerInsights pod_cpu_utilization Average {word} ANOMALY_DETECTION_BAND(m1, 0.592)"
    )


def test_composite_alarm_has_no_metric() -> None:
    alarm = parse("sns/signed/lambda-record-composite-alarm-sigv1.json")
    assert alarm.reason.startswith("arn:aws:cloudwatch:us-east-1:427809481713:alarm:if-sim-app")
    assert alarm.description == ""
    assert (alarm.namespace, alarm.metric_name, alarm.threshold) == ("", "", None)
    assert alarm.dimensions == {}


def test_eventbridge_alarm_uses_the_state_timestamp_and_event_id() -> None:
    alarm = parse("eventbridge/cloudwatch-alarm-state-change-single-metric.json")
    assert alarm.changed_at == datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC)
    assert alarm.message_id == "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92"
    assert alarm.dimensions == {"InstanceId": "i-12345678901234567"}
    assert alarm.arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"
    assert alarm.period_s == 300


def test_eventbridge_alarm_through_sns_keeps_the_sns_message_id() -> None:
    event = load("eventbridge/cloudwatch-alarm-state-change-single-metric.json")
    alarm = parse_notification(sns_envelope(json.dumps(event, indent=2), message_id="sns-1"))
    assert alarm is not None
    assert (alarm.source, alarm.name, alarm.message_id) == (ALARM, "ServerCpuTooHigh", "sns-1")


def test_health_event_via_sns() -> None:
    alarm = parse("sns/signed/health-event-elb-api-issue-via-sns-sigv1.json")
    assert alarm.service == "ELASTICLOADBALANCING"
    assert alarm.reason == "A description of the event will be provided here"
    assert alarm.changed_at == datetime(2016, 6, 4, 5, 1, 10, tzinfo=UTC)  # startTime, RFC 1123
    assert alarm.arn.startswith("arn:aws:health:ap-southeast-2::event/")
    assert alarm.message_id == "3f78eee9-6691-51be-b77e-b4603c34d486"  # SNS's, not the event's


@pytest.mark.parametrize(
    ("name", "service", "event_type", "region"),
    [
        (
            "eventbridge/aws-health-event-ec2-issue-from-sns.json",
            "EC2",
            "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED",
            "us-west-2",
        ),
        ("eventbridge/aws-health-abuse-event-global.json", "ABUSE", "AWS_ABUSE_DOS_REPORT", ""),
    ],
)
def test_health_event_from_eventbridge(
    name: str, service: str, event_type: str, region: str
) -> None:
    alarm = parse(name)
    assert alarm.source == HEALTH
    assert (alarm.service, alarm.name, alarm.region) == (service, event_type, region)
    assert alarm.account == "123456789012"
    assert alarm.message_id == "7bf73129-1428-4cd3-a780-95db273d1602"


@pytest.mark.parametrize(
    ("status", "state"), [("open", "open"), ("closed", "closed"), ("upcoming", "upcoming")]
)
def test_health_state_comes_from_status_code(status: str, state: str) -> None:
    event = load("eventbridge/aws-health-event-ec2-issue-from-sns.json")
    event["detail"]["statusCode"] = status
    event["detail"]["eventDescription"] = [
        {"language": "fr_FR", "latestDescription": "Une description"},
        {"language": "en_US", "latestDescription": "The English one"},
    ]
    alarm = parse_notification(event)
    assert alarm is not None
    assert (alarm.state, alarm.reason) == (state, "The English one")


def test_plain_text_is_a_notification() -> None:
    alarm = parse("sns/docs-notification.json")
    assert (alarm.source, alarm.name, alarm.text) == (NOTE, "My First Message", "Hello world!")
    assert (alarm.account, alarm.region) == ("123456789012", "us-west-2")  # from the topic
    untitled = parse("sns/signed/aws-sdk-ruby-notification-sigv1.json")
    assert (untitled.name, untitled.text) == ("SNS notification", "Hello world")


def test_json_that_is_not_an_alarm_is_a_notification_with_the_message_as_sent() -> None:
    message = '{"hello": "world", "AlarmName": "only half an alarm"}'
    alarm = parse_notification(sns_envelope(message, subject=None))
    assert alarm is not None
    assert (alarm.source, alarm.name, alarm.text) == (NOTE, "SNS notification", message)


def test_other_eventbridge_events_are_notifications() -> None:
    alarm = parse("eventbridge/ecs-task-state-change-fargate-running.json")
    assert (alarm.source, alarm.name) == (NOTE, "ECS Task State Change")
    assert json.loads(alarm.text)["detail-type"] == "ECS Task State Change"
    assert (alarm.account, alarm.region) == ("111122223333", "us-west-2")


def test_verified_envelope_model_parses_like_its_dict() -> None:
    raw = load("sns/http-notification-alarm-ec2-cpu-alarm.json")
    assert parse_notification(SnsEnvelope.model_validate(raw)) == parse_notification(raw)


def test_nulls_and_odd_values_everywhere() -> None:
    message = {
        "AlarmName": 'say "hi" \\ there',
        "AlarmDescription": None,
        "AWSAccountId": None,
        "NewStateValue": "ALARM",
        "NewStateReason": None,
        "StateChangeTime": "yesterday",
        "Region": None,
        "AlarmArn": None,
        "OldStateValue": None,
        "Trigger": {
            "MetricName": "Errors",
            "Namespace": None,
            "Statistic": None,
            "ExtendedStatistic": "p99",
            "Unit": "None",
            "Dimensions": None,
            "Period": "sixty",
            "ComparisonOperator": None,
            "Threshold": "NaN",
            "TreatMissingData": "- TreatMissingData:                    missing",
        },
    }
    alarm = parse_message(message)
    assert alarm.source == ALARM
    assert alarm.name == 'say "hi" \\ there'
    assert alarm.statistic == "p99"
    assert alarm.metric_summary == "Errors p99"
    assert (alarm.description, alarm.reason) == ("", "")
    assert alarm.account == "111122223333"  # from the topic ARN
    assert (alarm.period_s, alarm.threshold, alarm.dimensions) == (None, None, {})
    # an unreadable StateChangeTime falls back to the SNS Timestamp
    assert alarm.changed_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert alarm.region == "eu-west-1"  # from the topic ARN


def test_the_last_resort_posts_what_it_cannot_read(caplog: pytest.LogCaptureFixture) -> None:
    class Exploding(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("boom")

        def __iter__(self) -> Iterator[str]:
            return iter(["Message"])

        def __len__(self) -> int:
            return 1

    with caplog.at_level(logging.ERROR, logger="bot.alarms.parse"):
        alarm = parse_notification(Exploding())
    assert alarm is not None and alarm.source == NOTE
    assert "could not read an alarm message" in caplog.text


# --- Lambda, SQS and raw bodies --------------------------------------------------------------


def sns_envelope(
    message: str, *, subject: str | None = "subject", message_id: str = "mid-1"
) -> dict[str, Any]:
    envelope = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": "arn:aws:sns:eu-west-1:111122223333:alarms",
        "Message": message,
        "Timestamp": "2024-05-01T12:00:00.000Z",
    }
    if subject is not None:
        envelope["Subject"] = subject
    return envelope


def test_unwrap_lambda_record() -> None:
    event = load("sns/lambda-record-plain-with-attributes.json")
    envelope = unwrap_envelope(event)
    assert envelope["SigningCertUrl"] == "EXAMPLE"
    assert envelope["Message"] == "Hello from SNS!"


def test_unwrap_sqs_shapes() -> None:
    inner = sns_envelope('{"AlarmName": "a", "NewStateValue": "ALARM"}')
    body = json.dumps(inner)
    lambda_sqs = {"Records": [{"messageId": "q-1", "body": body, "eventSource": "aws:sqs"}]}
    boto3_message = {"MessageId": "q-1", "ReceiptHandle": "rh", "Body": body}
    for shape in (lambda_sqs, boto3_message, body, body.encode()):
        assert unwrap_envelope(shape) == inner
        alarm = parse_notification(unwrap_envelope(shape))
        assert alarm is not None and (alarm.name, alarm.message_id) == ("a", "mid-1")


def test_unwrap_sqs_raw_delivery_and_eventbridge_bodies() -> None:
    raw = {"MessageId": "q-2", "ReceiptHandle": "rh", "Body": "disk full on db-1"}
    assert unwrap_envelope(raw) == {
        "Type": "Notification",
        "MessageId": "q-2",
        "Message": "disk full on db-1",
    }
    event = load("eventbridge/cloudwatch-alarm-state-change-metric-math.json")
    direct = {"MessageId": "q-3", "ReceiptHandle": "rh", "Body": json.dumps(event)}
    alarm = parse_notification(direct)
    assert alarm is not None and alarm.name == "TotalNetworkTrafficTooHigh"


@pytest.mark.parametrize(
    "bad", [{"Records": []}, {"Records": ["x"]}, {"Records": [{"kinesis": {}}]}, "not json", b"[1]"]
)
def test_unwrap_refuses_what_holds_no_message(bad: Any) -> None:
    with pytest.raises(MalformedMessage):
        unwrap_envelope(bad)


def test_parse_ignores_what_holds_no_message() -> None:
    assert parse_notification({"Records": [{"kinesis": {}}]}) is None


# --- never raises --------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def no_parse_errors() -> Iterator[None]:
    """Fail if parsing fell back to its last resort (which means it hit a bug)."""
    handler = _Collect()
    logger = logging.getLogger("bot.alarms.parse")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert handler.records == [], handler.records[0].exc_info


KEYS = [
    "AlarmName", "NewStateValue", "OldStateValue", "Trigger", "Metrics", "MetricStat", "Metric",
    "MetricName", "Dimensions", "Threshold", "ThresholdMetricId", "Expression", "ReturnData",
    "AlarmRule", "StateChangeTime", "AlarmArn", "Region", "detail-type", "source", "detail",
    "state", "previousState", "configuration", "metrics", "metricStat", "dimensions",
    "reasonData", "eventDescription", "statusCode", "startTime", "Records", "Sns", "Message",
    "Type", "Subject", "body", "Body", "ReceiptHandle", "id", "name", "value",
]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_message_never_raises(message: str) -> None:
    with no_parse_errors():
        alarm = parse_notification(sns_envelope(message))
    assert alarm is None or isinstance(alarm, Alarm)
    if not message.lstrip().startswith("{"):
        assert alarm is not None and (alarm.source, alarm.text) == (NOTE, message)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_message_never_raises(value: Any) -> None:
    with no_parse_errors():
        alarm = parse_notification(sns_envelope(json.dumps(value)))
        direct = parse_notification(value) if isinstance(value, dict) else None
    assert alarm is None or isinstance(alarm, Alarm)
    assert direct is None or isinstance(direct, Alarm)


BASES = (
    [
        json.loads(load(name)["Message"])
        for name in (
            "sns/alerta-notification-alarm-s3-two-dimensions.json",
            "sns/http-notification-alarm-anomaly-detection-ok.json",
            "sns/signed/health-event-elb-api-issue-via-sns-sigv1.json",
        )
    ]
    + [
        json.loads(load(name)["Records"][0]["Sns"]["Message"])
        for name in (
            "sns/lambda-record-alarm-metric-math.json",
            "sns/signed/lambda-record-composite-alarm-sigv1.json",
        )
    ]
    + [
        load(f"eventbridge/{name}.json")
        for name in (
            "cloudwatch-alarm-state-change-single-metric",
            "cloudwatch-alarm-state-change-metric-math",
            "cloudwatch-alarm-state-change-anomaly-detection",
            "cloudwatch-alarm-state-change-composite-suppressor",
            "cloudwatch-alarm-configuration-change-update",
            "aws-health-abuse-event-global",
        )
    ]
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


_DELETE = object()


def _mutate(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return None if new is _DELETE else new
    result = copy.deepcopy(value)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    if new is _DELETE and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = None if new is _DELETE else new
    return result


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_real_alarms_with_any_field_broken_never_raise(data: st.DataObject) -> None:
    value = data.draw(st.sampled_from(BASES))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(value))))
        value = _mutate(value, path, data.draw(json_values | st.just(_DELETE)))
    with no_parse_errors():
        results = [parse_notification(sns_envelope(json.dumps(value)))]
        if isinstance(value, dict):
            results.append(parse_notification(value))
    assert all(result is None or isinstance(result, Alarm) for result in results)


# --- state-change times from the future ------------------------------------------------------

NOW = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)


def test_a_state_change_time_in_the_future_is_taken_as_the_sns_timestamp(
    caplog: pytest.LogCaptureFixture,
) -> None:
    message = {"AlarmName": "skewed", "NewStateValue": "ALARM"}
    envelope = sns_envelope(json.dumps({**message, "StateChangeTime": "2099-01-01T00:00:00Z"}))
    alarm = parse_notification(envelope, now=NOW)
    assert alarm is not None
    assert alarm.changed_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)  # the envelope's Timestamp
    assert "in the future; taken as 2024-05-01T12:00:00+00:00" in caplog.text
    # Up to five minutes ahead is clock skew, and believed.
    near = json.dumps({**message, "StateChangeTime": "2024-05-01T12:04:00Z"})
    alarm = parse_notification(sns_envelope(near), now=NOW)
    assert alarm is not None and alarm.changed_at == datetime(2024, 5, 1, 12, 4, tzinfo=UTC)


def test_with_no_believable_sent_time_a_future_state_change_is_taken_as_now() -> None:
    event = json.loads(
        (FIXTURES / "eventbridge/cloudwatch-alarm-state-change-single-metric.json").read_text()
    )
    event["time"] = "2099-01-01T00:00:00Z"
    event["detail"]["state"]["timestamp"] = "2099-01-01T00:00:00Z"
    alarm = parse_notification(event, now=NOW)
    assert alarm is not None and alarm.changed_at == NOW

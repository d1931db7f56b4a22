"""Whatever AWS sent about an alarm → one ``Alarm``.

Shapes understood (``tests/fixtures/README.md`` lists their traps):

- an SNS envelope (verified ``SnsEnvelope`` or its dict; also inside a Lambda ``Records[].Sns``
  or an SQS body, see ``unwrap_envelope``) whose ``Message`` is a JSON string holding
  a CloudWatch alarm: single metric, metric math, anomaly detection or composite;
- an EventBridge event, directly or as the ``Message`` of an SNS envelope:
  "CloudWatch Alarm State Change", "AWS Health Event", "AWS Health Abuse Event";
- anything else becomes a plain ``NOTIFICATION`` (posted as it is, never dropped).

"CloudWatch Alarm Configuration Change" events and subscription (un)confirmations give None.
``parse_notification`` never raises: odd values are read as absent.

A state-change time later than now (plus ``FUTURE_SKEW``) is not believed: incidents follow
state-change times, and one in 2099 would make every later message look older and be ignored.
It is taken as the time the message was sent (SNS ``Timestamp``, EventBridge ``time``) when
that one is not in the future itself, else as now, and logged.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.alarms import reading as r
from bot.alarms.envelope import MalformedMessage, SnsEnvelope
from bot.alarms.metric_summary import Query, describe_metric
from bot.alarms.model import Alarm, AlarmSource
from bot.regions import account_from_arn, region_code, region_from_arn

logger = logging.getLogger(__name__)

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
ALARM_CONFIGURATION_CHANGE = "CloudWatch Alarm Configuration Change"
HEALTH_EVENTS = frozenset({"AWS Health Event", "AWS Health Abuse Event"})
DEFAULT_NOTIFICATION_NAME = "SNS notification"

FUTURE_SKEW = timedelta(minutes=5)
"""How far ahead of our clock a state-change time may be (AWS's clock against ours)."""

_CONFIRMATIONS = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})
_ALARM_ARN = re.compile(r"arn:aws[\w-]*:cloudwatch:[\w-]*:\d*:alarm:")


def unwrap_envelope(obj: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    """The SNS envelope inside a Lambda event, an SQS message or an HTTP body.

    Accepts a Lambda SNS event (``Records[0].Sns``), an SQS event (``Records[0].body``), an SQS
    message as boto3 returns it (``Body``), or the envelope itself (dict or JSON text). An SQS
    body that is not an SNS envelope (raw message delivery) is wrapped as a Notification; an
    EventBridge event is returned as it is. Raises MalformedMessage for anything else.
    """
    value = _decode(obj)
    records = value.get("Records")
    if isinstance(records, list):
        record = records[0] if records else None
        if not isinstance(record, Mapping):
            raise MalformedMessage("an event with Records holds no record")
        if isinstance(record.get("Sns"), Mapping):
            return dict(record["Sns"])
        if isinstance(record.get("body"), str):
            return _from_sqs_body(record["body"], r.text(record.get("messageId")))
        raise MalformedMessage("a record that holds neither Sns nor an SQS body")
    if isinstance(value.get("Body"), str) and "ReceiptHandle" in value:
        return _from_sqs_body(value["Body"], r.text(value.get("MessageId")))
    return value


def _decode(obj: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, str | bytes):
        decoded = r.json_object(obj)
        if decoded is not None:
            return decoded
        raise MalformedMessage("the body is not a JSON object")
    raise MalformedMessage("an SNS message is a JSON object")


def _from_sqs_body(body: str, message_id: str) -> dict[str, Any]:
    decoded = r.json_object(body)
    if decoded is not None and (_is_event(decoded) or {"Type", "Message"} <= decoded.keys()):
        return decoded
    return {"Type": "Notification", "MessageId": message_id, "Message": body}


def parse_notification(
    envelope: SnsEnvelope | Mapping[str, Any], *, now: datetime | None = None
) -> Alarm | None:
    """One Alarm from a verified SNS envelope or an EventBridge event; None when it is ignored.

    ``now`` (the caller's clock; default the system clock) bounds the state-change time.
    """
    try:
        alarm = _parse(envelope)
    except MalformedMessage as exc:
        logger.warning("ignoring a message that is not SNS or EventBridge: %s", exc.user_message)
        return None
    except Exception:  # a message we cannot read is still posted, never dropped
        logger.exception("could not read an alarm message; posting it as a plain notification")
        return _plain(envelope)
    if alarm is None:
        return None
    return _not_in_the_future(alarm, envelope, now or datetime.now(UTC))


def _not_in_the_future(
    alarm: Alarm, envelope: SnsEnvelope | Mapping[str, Any], now: datetime
) -> Alarm:
    """The alarm with a state-change time from the future replaced (see the module doc)."""
    latest = now + FUTURE_SKEW
    if alarm.changed_at is None or alarm.changed_at <= latest:
        return alarm
    sent = _sent_at(envelope)
    taken = sent if sent is not None and sent <= latest else now
    logger.warning(
        "%s of %r says it changed at %s, in the future; taken as %s",
        alarm.state or alarm.source.value,
        alarm.name[:200],
        alarm.changed_at.isoformat(),
        taken.isoformat(),
        extra={"message_id": alarm.message_id[:100]},
    )
    return dataclasses.replace(alarm, changed_at=taken)


def _sent_at(envelope: SnsEnvelope | Mapping[str, Any]) -> datetime | None:
    """When the message was sent: the SNS Timestamp, else an EventBridge event's time."""
    try:
        sns = (
            _envelope_dict(envelope)
            if isinstance(envelope, SnsEnvelope)
            else unwrap_envelope(envelope)
        )
    except MalformedMessage:
        return None
    return r.timestamp(sns.get("Timestamp")) or r.timestamp(sns.get("time"))


def _parse(envelope: SnsEnvelope | Mapping[str, Any]) -> Alarm | None:
    if isinstance(envelope, SnsEnvelope):
        sns = _envelope_dict(envelope)
    else:
        sns = unwrap_envelope(envelope)
    if _is_event(sns):
        return _from_event(sns, r.text(sns.get("id")))
    kind = r.text(sns.get("Type"))
    if kind in _CONFIRMATIONS:
        logger.info("ignoring an SNS %s: it is not an alarm", kind)
        return None
    message = sns.get("Message") if "Message" in sns else sns
    decoded = dict(message) if isinstance(message, Mapping) else r.json_object(message)
    message_id = r.text(sns.get("MessageId"))
    if decoded is not None and _is_event(decoded):
        return _from_event(decoded, message_id or r.text(decoded.get("id")))
    if decoded is not None and "AlarmName" in decoded and "NewStateValue" in decoded:
        return _from_sns_alarm(decoded, sns, message_id)
    return _notification(sns, message, message_id)


def _envelope_dict(envelope: SnsEnvelope) -> dict[str, Any]:
    return {
        "Type": envelope.type,
        "MessageId": envelope.message_id,
        "TopicArn": envelope.topic_arn,
        "Subject": envelope.subject,
        "Message": envelope.message,
        "Timestamp": envelope.timestamp,
    }


def _is_event(value: Mapping[str, Any]) -> bool:
    return isinstance(value.get("detail-type"), str) and "source" in value


def _notification(sns: Mapping[str, Any], message: Any, message_id: str) -> Alarm:
    topic = r.text(sns.get("TopicArn"))
    return Alarm(
        source=AlarmSource.NOTIFICATION,
        name=r.text(sns.get("Subject")) or DEFAULT_NOTIFICATION_NAME,
        text=message if isinstance(message, str) else r.dump(message),
        account=account_from_arn(topic),
        region=region_from_arn(topic),
        changed_at=r.timestamp(sns.get("Timestamp")),
        message_id=message_id,
    )


def _plain(envelope: object) -> Alarm:
    """The last resort: the message as text, nothing else read from it."""
    try:
        sns = _envelope_dict(envelope) if isinstance(envelope, SnsEnvelope) else envelope
        message = sns.get("Message", sns) if isinstance(sns, Mapping) else sns
        text = message if isinstance(message, str) else r.dump(message)
    except Exception:  # pragma: no cover - r.dump falls back to repr already
        text = ""
    return Alarm(source=AlarmSource.NOTIFICATION, name=DEFAULT_NOTIFICATION_NAME, text=text)


def _from_sns_alarm(msg: Mapping[str, Any], sns: Mapping[str, Any], message_id: str) -> Alarm:
    """A CloudWatch alarm as SNS delivers it (``Trigger``; ``AlarmRule`` when composite)."""
    arn = r.text(msg.get("AlarmArn"))
    topic = r.text(sns.get("TopicArn"))
    trigger = r.mapping(msg.get("Trigger"))
    single = None
    if r.text(trigger.get("MetricName")):
        single = Query(
            namespace=r.text(trigger.get("Namespace")),
            metric_name=r.text(trigger.get("MetricName")),
            dimensions=r.dimensions(trigger.get("Dimensions")),
            stat=r.text(trigger.get("Statistic")) or r.text(trigger.get("ExtendedStatistic")),
            period=r.integer(trigger.get("Period")),
        )
    metric = describe_metric(
        single=single,
        queries=[_sns_query(m) for m in r.mappings(trigger.get("Metrics"))],
        threshold=r.number(trigger.get("Threshold")),
        comparison=r.text(trigger.get("ComparisonOperator")),
        threshold_metric_id=r.text(trigger.get("ThresholdMetricId")),
        period=r.integer(trigger.get("Period")),
        rule=_short_rule(r.text(msg.get("AlarmRule"))),
    )
    return Alarm(
        source=AlarmSource.ALARM,
        name=r.text(msg.get("AlarmName")) or r.text(sns.get("Subject")) or "CloudWatch alarm",
        state=r.text(msg.get("NewStateValue")),
        old_state=r.text(msg.get("OldStateValue")),
        reason=r.text(msg.get("NewStateReason")),
        account=(
            r.text(msg.get("AWSAccountId")) or account_from_arn(arn) or account_from_arn(topic)
        ),
        region=(
            region_from_arn(arn) or region_code(r.text(msg.get("Region"))) or region_from_arn(topic)
        ),
        arn=arn,
        changed_at=r.timestamp(msg.get("StateChangeTime")) or r.timestamp(sns.get("Timestamp")),
        description=r.text(msg.get("AlarmDescription")),
        message_id=message_id,
        **metric.alarm_fields(),
    )


def _sns_query(item: Mapping[str, Any]) -> Query:
    stat = r.mapping(item.get("MetricStat"))
    metric = r.mapping(stat.get("Metric"))
    return Query(
        id=r.text(item.get("Id")),
        expression=r.text(item.get("Expression")),
        returns=item.get("ReturnData") is not False,
        namespace=r.text(metric.get("Namespace")),
        metric_name=r.text(metric.get("MetricName")),
        dimensions=r.dimensions(metric.get("Dimensions")),
        stat=r.text(stat.get("Stat")),
        period=r.integer(stat.get("Period")),
    )


def _event_query(item: Mapping[str, Any]) -> Query:
    stat = r.mapping(item.get("metricStat"))
    metric = r.mapping(stat.get("metric"))
    return Query(
        id=r.text(item.get("id")),
        expression=r.text(item.get("expression")),
        returns=item.get("returnData") is not False,
        namespace=r.text(metric.get("namespace")),
        metric_name=r.text(metric.get("name")),
        dimensions=r.dimensions(metric.get("dimensions")),
        stat=r.text(stat.get("stat")),
        period=r.integer(stat.get("period")),
    )


def _short_rule(rule: str) -> str:
    """A composite alarm's rule with child alarm ARNs shortened to their names."""
    return _ALARM_ARN.sub("", rule)


def _from_event(event: Mapping[str, Any], message_id: str) -> Alarm | None:
    kind = r.text(event.get("detail-type"))
    detail = r.mapping(event.get("detail"))
    if kind == ALARM_CONFIGURATION_CHANGE:
        logger.info("ignoring a %s event for alarm %r", kind, r.text(detail.get("alarmName"))[:200])
        return None
    if kind == ALARM_STATE_CHANGE:
        return _from_alarm_event(event, detail, message_id)
    if kind in HEALTH_EVENTS or event.get("source") == "aws.health":
        return _from_health_event(event, detail, message_id)
    return Alarm(
        source=AlarmSource.NOTIFICATION,
        name=kind or "EventBridge event",
        text=r.dump(event, indent=2),
        account=r.text(event.get("account")),
        region=region_code(r.text(event.get("region"))),
        changed_at=r.timestamp(event.get("time")),
        message_id=message_id,
    )


def _from_alarm_event(
    event: Mapping[str, Any], detail: Mapping[str, Any], message_id: str
) -> Alarm:
    """An EventBridge "CloudWatch Alarm State Change" (dimensions as a map, lowercase keys)."""
    state = r.mapping(detail.get("state"))
    previous = r.mapping(detail.get("previousState"))
    config = r.mapping(detail.get("configuration"))
    reason_data = r.json_object(state.get("reasonData")) or {}
    resources = [res for res in r.texts(event.get("resources")) if ":alarm:" in res]
    arn = resources[0] if resources else ""
    threshold = r.number(config.get("threshold"))
    metric = describe_metric(
        single=None,
        queries=[_event_query(m) for m in r.mappings(config.get("metrics"))],
        threshold=threshold if threshold is not None else r.number(reason_data.get("threshold")),
        comparison=r.text(config.get("comparisonOperator")),
        threshold_metric_id=r.text(config.get("thresholdMetricId")),
        period=r.integer(config.get("period")),
        rule=_short_rule(r.text(config.get("alarmRule"))),
    )
    return Alarm(
        source=AlarmSource.ALARM,
        name=r.text(detail.get("alarmName")) or arn.rpartition(":alarm:")[2] or "CloudWatch alarm",
        state=r.text(state.get("value")),
        old_state=r.text(previous.get("value")),
        reason=r.text(state.get("reason")),
        account=r.text(event.get("account")) or account_from_arn(arn),
        region=region_code(r.text(event.get("region"))) or region_from_arn(arn),
        arn=arn,
        changed_at=r.timestamp(state.get("timestamp")) or r.timestamp(event.get("time")),
        description=r.text(config.get("description")),
        message_id=message_id,
        **metric.alarm_fields(),
    )


def _from_health_event(
    event: Mapping[str, Any], detail: Mapping[str, Any], message_id: str
) -> Alarm:
    """An AWS Health event: named by its event type code, state from ``statusCode``."""
    return Alarm(
        source=AlarmSource.HEALTH,
        name=r.text(detail.get("eventTypeCode")) or r.text(event.get("detail-type")),
        state=r.text(detail.get("statusCode")).lower() or "open",
        reason=_latest_description(detail.get("eventDescription")),
        account=r.text(event.get("account")) or r.text(detail.get("affectedAccount")),
        region=region_code(r.text(event.get("region")))
        or region_code(r.text(detail.get("eventRegion"))),
        arn=r.text(detail.get("eventArn")),
        changed_at=r.timestamp(detail.get("startTime")) or r.timestamp(event.get("time")),
        service=r.text(detail.get("service")),
        message_id=message_id,
    )


def _latest_description(value: Any) -> str:
    descriptions = r.mappings(value)
    english = [d for d in descriptions if r.text(d.get("language")).startswith("en")]
    for description in english + descriptions:
        text = r.text(description.get("latestDescription"))
        if text:
            return text
    return ""

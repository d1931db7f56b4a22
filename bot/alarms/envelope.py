"""The shape of an SNS message, as every way in delivers it (HTTP, SQS, a Lambda record).

Domain, not ingress: parsing reads alarms out of an ``SnsEnvelope`` whichever way it arrived;
``bot.ingress.sns`` verifies one before it is trusted.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from bot.errors import BotError


class MalformedMessage(BotError):
    """The body is not an SNS message (not JSON, not an object, a required field missing)."""


class SnsEnvelope(BaseModel):
    """A verified SNS message as received over HTTP, from Lambda or from SQS.

    ``extra="ignore"`` on purpose: SNS adds fields over time and must not be refused for it.
    Both key casings are accepted (HTTP bodies say ``SigningCertURL``, Lambda records
    ``SigningCertUrl``).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"] = Field(
        alias="Type"
    )
    message_id: str = Field(alias="MessageId")
    topic_arn: str = Field(alias="TopicArn")
    subject: str | None = Field(default=None, alias="Subject")
    message: str = Field(alias="Message")
    timestamp: str = Field(alias="Timestamp")
    signature_version: str = Field(alias="SignatureVersion")
    signature: str = Field(alias="Signature")
    signing_cert_url: str = Field(
        validation_alias=AliasChoices("SigningCertURL", "SigningCertUrl", "signing_cert_url")
    )
    subscribe_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SubscribeURL", "subscribe_url")
    )
    unsubscribe_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("UnsubscribeURL", "UnsubscribeUrl", "unsubscribe_url"),
    )
    token: str | None = Field(default=None, alias="Token")
    message_attributes: dict[str, Any] = Field(default_factory=dict, alias="MessageAttributes")

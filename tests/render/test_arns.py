"""ARNs in Slack messages read from their resource end."""

from __future__ import annotations

import pytest

from bot.render.arns import shorten_arns

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prod-web-tg/73e2d6bc24d8a067"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            f"called ModifyTargetGroup on {TG} at 09:35",
            "called ModifyTargetGroup on targetgroup/prod-web-tg/… at 09:35",
        ),
        (f"touches {TG}.", "touches targetgroup/prod-web-tg/…."),
        ("role arn:aws:iam::123456789012:role/triagebot-read", "role role/triagebot-read"),
        ("arn:aws:lambda:eu-west-1:123456789012:function:checkout", "function:checkout"),
        (
            "by arn:aws:sts::123456789012:assumed-role/deploy-pipeline/web-release-4711",
            "by assumed-role/deploy-pipeline/web-release-4711",
        ),
        ("arn:aws-cn:s3:::logs-bucket/2024/01", "logs-bucket/2024/01"),
        (
            "<https://console.aws.amazon.com/?arn=arn:aws:iam::1:role/x|open>",
            "<https://console.aws.amazon.com/?arn=arn:aws:iam::1:role/x|open>",
        ),
        ("no ARN here: arn is a word", "no ARN here: arn is a word"),
    ],
)
def test_arns_are_shortened_from_the_front(text: str, shown: str) -> None:
    assert shorten_arns(text) == shown

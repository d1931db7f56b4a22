from __future__ import annotations

from bot.aws_errors import iam_action


def test_iam_action_names() -> None:
    assert (
        iam_action("elbv2", "describe_target_health") == "elasticloadbalancing:DescribeTargetHealth"
    )
    assert iam_action("cloudtrail", "lookup_events") == "cloudtrail:LookupEvents"
    assert iam_action("service-quotas", "get_service_quota") == "servicequotas:GetServiceQuota"

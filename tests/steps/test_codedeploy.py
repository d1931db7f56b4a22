"""codedeploy.deployments against moto (applications, groups, deployments), with
BatchGetDeployments faked where moto never moves a deployment past Created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from bot.results import Change, Searched, Severity, Status
from bot.steps.codedeploy import deployments
from tests.steps.stepctx import context, run
from tests.support.aws_hooks import fake_operation

REVISION = {
    "revisionType": "S3",
    "s3Location": {"bucket": "releases", "key": "web-4711.zip", "bundleType": "zip"},
}


def seed(session: boto3.Session) -> list[str]:
    """Application `web`, groups `prod` and `staging`, one deployment to each."""
    deploy = session.client("codedeploy")
    deploy.create_application(applicationName="web", computePlatform="Server")
    ids = []
    for group in ("prod", "staging"):
        deploy.create_deployment_group(
            applicationName="web",
            deploymentGroupName=group,
            serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy",
        )
        ids.append(
            deploy.create_deployment(
                applicationName="web", deploymentGroupName=group, revision=REVISION
            )["deploymentId"]
        )
    return ids


async def test_every_group_of_the_application_is_read(session: boto3.Session) -> None:
    ids = seed(session)
    now = datetime.now(UTC) + timedelta(minutes=1)

    out = await run(deployments, context(session, now=now), application="web")

    assert out.status is Status.OK
    assert {d["id"] for d in out.data["deployments"]} == set(ids)
    assert {d["group"] for d in out.data["deployments"]} == {"prod", "staging"}
    assert out.summary.startswith("2 deployments of `web` in the last 6h; latest ")
    searched, *changes = out.evidence
    assert isinstance(searched, Searched)
    assert all(isinstance(c, Change) and c.failed for c in changes)  # Created: not started yet


async def test_a_failed_deployment_is_critical_with_its_error(session: boto3.Session) -> None:
    [prod, _] = seed(session)
    now = datetime.now(UTC) + timedelta(minutes=1)

    def answer(request: dict[str, Any]) -> dict[str, Any]:
        return {
            "deploymentsInfo": [
                {
                    "applicationName": "web",
                    "deploymentGroupName": "prod",
                    "deploymentId": prod,
                    "status": "Failed",
                    "creator": "user",
                    "createTime": now - timedelta(minutes=30),
                    "completeTime": now - timedelta(minutes=21),
                    "errorInformation": {
                        "code": "HEALTH_CONSTRAINTS",
                        "message": "The overall deployment failed because too many "
                        "individual instances failed deployment.",
                    },
                }
            ]
        }

    fake_operation(session, "codedeploy", "BatchGetDeployments", answer)
    out = await run(
        deployments, context(session, now=now), application="web", deployment_group="prod"
    )

    assert out.status is Status.WARN
    [finding] = out.findings
    assert finding.severity is Severity.CRITICAL
    finished = (now - timedelta(minutes=21)).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert finding.text == (
        f"Deployment {prod} to prod failed at {finished}: HEALTH_CONSTRAINTS: The overall "
        "deployment failed because too many individual instances failed deployment."
    )
    [_, change] = out.evidence
    assert isinstance(change, Change) and not change.failed
    assert change.resources == ("prod", "web", prod)


async def test_no_deployments_in_the_window(session: boto3.Session) -> None:
    seed(session)
    later = datetime.now(UTC) + timedelta(days=2)
    out = await run(deployments, context(session, now=later), application="web", lookback="1h")
    assert out.summary == "No CodeDeploy deployments of `web` in the last 1h."
    assert out.data["count"] == 0

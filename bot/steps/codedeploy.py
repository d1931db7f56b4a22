"""CodeDeploy: what was deployed recently, and did it finish?"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from bot.durations import Duration, format_duration
from bot.results import (
    Change,
    EvidenceKind,
    Finding,
    Searched,
    Severity,
    Status,
    StepOutput,
    Table,
)
from bot.steps.base import StepContext, StepParams, step

_BATCH = 25  # BatchGetDeployments takes at most 25 ids
_NOT_STARTED = frozenset({"Created", "Queued", "Ready"})
_RUNNING = frozenset({"InProgress", "Baking"})
_FAILED = frozenset({"Failed", "Stopped"})


class DeploymentsParams(StepParams):
    """Which application (and deployment group), and how far back."""

    application: str = Field(description="The CodeDeploy application name.")
    deployment_group: str | None = Field(
        default=None, description="Only this deployment group (default: all of the application's)."
    )
    lookback: Duration = Field(
        default=timedelta(hours=6), description="Deployments created this far back from now."
    )
    max_deployments: int = Field(
        default=10, ge=1, le=50, description="At most this many deployments, newest first."
    )


@step(
    "codedeploy.deployments",
    params=DeploymentsParams,
    permissions=(
        "codedeploy:ListDeploymentGroups",
        "codedeploy:ListDeployments",
        "codedeploy:BatchGetDeployments",
    ),
)
async def deployments(ctx: StepContext, params: DeploymentsParams) -> StepOutput:
    """Recent CodeDeploy deployments of an application (or one deployment group), newest first.

    Each with its group, status, who or what started it (a user, Auto Scaling, an automatic
    rollback), when it was created and when it finished, and the error of a failed one.
    WARN when a deployment failed or was stopped; deployments still in progress are named.

    Example:
        - id: deploys
          uses: codedeploy.deployments
          with:
            application: web
            lookback: 6h
    """
    since = ctx.now - params.lookback
    groups = [params.deployment_group] if params.deployment_group else await _groups(ctx, params)
    listed = await asyncio.gather(
        *(
            ctx.paginate(
                "codedeploy",
                "list_deployments",
                max_pages=3,
                applicationName=params.application,
                deploymentGroupName=group,
                createTimeRange={"start": since, "end": ctx.now},
            )
            for group in groups
        )
    )
    ids = list(
        dict.fromkeys(i for pages in listed for p in pages for i in p.get("deployments", []))
    )
    infos: list[dict[str, Any]] = []
    for first in range(0, min(len(ids), params.max_deployments * 2), _BATCH):
        answer = await ctx.call(
            "codedeploy", "batch_get_deployments", deploymentIds=ids[first : first + _BATCH]
        )
        infos += answer.get("deploymentsInfo", [])
    infos = [d for d in infos if d.get("createTime") is None or d["createTime"] >= since]
    infos.sort(key=lambda d: d.get("createTime") or since, reverse=True)
    infos = infos[: params.max_deployments]
    window = format_duration(params.lookback)
    searched = Searched(EvidenceKind.CHANGES, since=since)
    if not infos:
        return StepOutput(
            summary=f"No CodeDeploy deployments of `{params.application}` in the last {window}.",
            data={"count": 0, "failed": 0, "in_progress": 0, "deployments": []},
            evidence=(searched,),
        )
    rows = [_row(d) for d in infos]
    failed = [r for r in rows if r["status"] in _FAILED]
    running = [r for r in rows if r["status"] in _RUNNING]
    findings = [
        Finding(
            f"Deployment {r['id']} to {r['group']} {r['status'].lower()} at {r['finished']}: "
            f"{r['error'] or 'no error given'}",
            Severity.CRITICAL,
        )
        for r in failed
    ] + [
        Finding(f"Deployment {r['id']} to {r['group']} is {r['status']} (since {r['created']}).")
        for r in running
    ]
    latest = rows[0]
    summary = (
        f"{len(rows)} deployment{'s' if len(rows) != 1 else ''} of `{params.application}` in the "
        f"last {window}; latest {latest['id']} to {latest['group']}: {latest['status']}"
    )
    if failed:
        summary += f"; {len(failed)} failed or stopped"
    return StepOutput(
        summary=summary + ".",
        status=Status.WARN if failed else Status.OK,
        findings=tuple(findings),
        tables=(
            Table(
                title="Deployments",
                columns=("id", "group", "status", "by", "created", "finished"),
                rows=tuple(
                    (r["id"], r["group"], r["status"], r["creator"], r["created"], r["finished"])
                    for r in rows
                ),
            ),
        ),
        data={
            "count": len(rows),
            "failed": len(failed),
            "in_progress": len(running),
            "deployments": rows,
        },
        evidence=(searched, *(_change(d) for d in infos if d.get("createTime"))),
    )


async def _groups(ctx: StepContext, params: DeploymentsParams) -> list[str]:
    pages = await ctx.paginate(
        "codedeploy", "list_deployment_groups", max_pages=3, applicationName=params.application
    )
    return [g for page in pages for g in page.get("deploymentGroups", [])]


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _row(info: dict[str, Any]) -> dict[str, str]:
    error = info.get("errorInformation") or {}
    return {
        "id": str(info.get("deploymentId", "")),
        "group": str(info.get("deploymentGroupName", "")),
        "status": str(info.get("status", "")),
        "creator": str(info.get("creator", "")),
        "created": _when(info.get("createTime")),
        "finished": _when(info.get("completeTime")),
        "error": ": ".join(str(x) for x in (error.get("code"), error.get("message")) if x),
    }


def _change(info: dict[str, Any]) -> Change:
    """A deployment as the correlator reads it: the application, the group and the id."""
    group = str(info.get("deploymentGroupName", ""))
    return Change(
        at=info["createTime"],
        action="CodeDeploy deployment",
        resources=tuple(
            x
            for x in (group, str(info.get("applicationName", "")), info.get("deploymentId", ""))
            if x
        ),
        detail=f"{info.get('deploymentId', '')} {str(info.get('status', '')).lower()}".strip(),
        failed=info.get("status") in _NOT_STARTED,
    )


STEPS = (deployments,)

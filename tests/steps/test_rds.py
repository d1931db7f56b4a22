from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bot.errors import StepError
from bot.results import Status
from bot.steps.rds import instance
from tests.steps.stepctx import alarm_on, context, run
from tests.support.aws_hooks import fake_operation

GIB = 1024**3
NO_MAINTENANCE: dict[str, Any] = {"PendingMaintenanceActions": []}


def create_db(
    session: boto3.Session, name: str = "orders-db", maintenance: dict[str, Any] = NO_MAINTENANCE
) -> None:
    # moto has no DescribePendingMaintenanceActions: answer it (none unless a test gives some).
    fake_operation(session, "rds", "DescribePendingMaintenanceActions", maintenance)
    session.client("rds").create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.r6g.large",
        Engine="postgres",
        EngineVersion="15.4",
        AllocatedStorage=100,
        StorageType="gp3",
        MultiAZ=True,
        MasterUsername="admin",
        MasterUserPassword="correct-horse-battery",
    )


def put_metrics(session: boto3.Session, name: str, now: datetime, **values: list[float]) -> None:
    data = [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": name}],
            "Timestamp": now - timedelta(minutes=5 * (len(points) - i)),
            "Value": value,
        }
        for metric, points in values.items()
        for i, value in enumerate(points)
    ]
    session.client("cloudwatch").put_metric_data(Namespace="AWS/RDS", MetricData=data)


async def test_healthy_instance_with_its_creation_events(session: boto3.Session) -> None:
    create_db(session)
    now = datetime.now(UTC) + timedelta(seconds=1)
    put_metrics(
        session,
        "orders-db",
        now,
        CPUUtilization=[22.0, 35.0, 31.0],
        DatabaseConnections=[40, 52, 48],
        FreeStorageSpace=[60 * GIB, 59 * GIB],
    )

    out = await run(instance, context(session, now=now), db_instance="orders-db")

    assert out.status is Status.OK, out.findings
    assert out.summary.startswith(
        "`orders-db` is available (db.r6g.large, postgres 15.4, Multi-AZ), CPU 31% (peak 35%), "
        "48 connections; "
    )
    assert out.data["free_storage_gib"] == 59
    assert "DB instance created" in [e["message"] for e in out.data["events"]]
    assert ("storage", "100 GiB gp3") in out.tables[0].rows
    assert {s.label for s in out.series} == {"CPU %", "Connections", "Free storage"}


async def test_low_storage_high_cpu_and_maintenance(session: boto3.Session) -> None:
    arn = "arn:aws:rds:us-east-1:123456789012:db:orders-db"
    create_db(
        session,
        maintenance={
            "PendingMaintenanceActions": [
                {
                    "ResourceIdentifier": arn,
                    "PendingMaintenanceActionDetails": [
                        {
                            "Action": "system-update",
                            "Description": "Upgrade to the latest platform version",
                            "AutoAppliedAfterDate": "2024-06-01T00:00:00Z",
                        }
                    ],
                }
            ]
        },
    )
    now = datetime.now(UTC) + timedelta(seconds=1)
    put_metrics(
        session,
        "orders-db",
        now,
        CPUUtilization=[97.0, 88.0],
        FreeStorageSpace=[9 * GIB, 4.5 * GIB],
    )

    out = await run(instance, context(session, now=now), db_instance="orders-db")

    assert out.status is Status.WARN
    texts = [f.text for f in out.findings]
    assert texts == [
        "CPU peaked at 97% (now 88%).",
        "Free storage low: 4.5 GiB of 100 GiB (4%).",
        "Pending maintenance: system-update (Upgrade to the latest platform version), "
        "applied from 2024-06-01 00:00 UTC.",
    ]
    assert out.summary.endswith("CPU peaked at 97% (now 88%).")


async def test_db_defaults_to_the_alarm_dimension(session: boto3.Session) -> None:
    create_db(session, "billing-db")
    alarm = alarm_on("AWS/RDS", DBInstanceIdentifier="billing-db")

    out = await run(instance, context(session, alarm=alarm))

    assert out.data["db_instance"] == "billing-db"
    assert out.data["cpu_percent"] is None  # no datapoints yet: nothing invented


async def test_db_by_its_arn_reads_as_its_identifier(session: boto3.Session) -> None:
    create_db(session, "billing-db")
    arn = session.client("rds").describe_db_instances()["DBInstances"][0]["DBInstanceArn"]

    out = await run(instance, context(session), db_instance=arn)

    assert out.data["db_instance"] == "billing-db"


async def test_unknown_instance_is_a_step_error(session: boto3.Session) -> None:
    with pytest.raises(StepError, match="There is no DB instance `nope` in us-east-1"):
        await run(instance, context(session), db_instance="nope")

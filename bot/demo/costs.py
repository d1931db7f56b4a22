"""The demo's AWS bill, dated from today, for ``/triage cost``.

moto's Cost Explorer answers GetCostAndUsage from a queue of results (one per distinct request,
in the order the requests come); ``seed_bill`` fills it with the two queries the digest makes.
moto has no GetCostForecast or GetAnomalies: ``fake_costs`` answers those with botocore hooks.

Per day (USD), on a normal day: EC2 182.40, RDS 96.00, ELB 38.55, S3 21.30, CloudWatch 9.80,
KMS 1.20 → 349.25. Yesterday, the day of the incident, EC2 ran extra capacity (201.75) and
CloudWatch logged more (12.35) → 371.15. Last month EC2 was 170.00 a day → 336.85.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import boto3

from bot.demo.aws_hooks import fake_operation
from bot.digest.periods import DigestPeriods

EC2 = "Amazon Elastic Compute Cloud - Compute"
RDS = "Amazon Relational Database Service"
ELB = "Amazon Elastic Load Balancing"
S3 = "Amazon Simple Storage Service"
CLOUDWATCH = "AmazonCloudWatch"
KMS = "AWS Key Management Service"

NORMAL_DAY = {
    EC2: Decimal("182.40"),
    RDS: Decimal("96.00"),
    ELB: Decimal("38.55"),
    S3: Decimal("21.30"),
    CLOUDWATCH: Decimal("9.80"),
    KMS: Decimal("1.20"),
}
INCIDENT_DAY = NORMAL_DAY | {EC2: Decimal("201.75"), CLOUDWATCH: Decimal("12.35")}
LAST_MONTH_DAY = NORMAL_DAY | {EC2: Decimal("170.00")}
YESTERDAY_TOTAL = sum(INCIDENT_DAY.values(), Decimal(0))  # 371.15

_RESULTS_API = "/moto-api/static/ce/cost-and-usage-results"


def service_costs(day: date, sent_on: date) -> dict[str, Decimal]:
    """What each service cost on ``day``, for the digest that goes out on ``sent_on``."""
    periods = DigestPeriods(sent_on)
    if day == periods.report_date:
        return INCIDENT_DAY
    if day < periods.month_start:
        return LAST_MONTH_DAY
    return NORMAL_DAY


def seed_bill(endpoint_url: str, sent_on: date) -> None:
    """Queue the digest's two GetCostAndUsage answers in the moto server at ``endpoint_url``:
    14 days by service, then month to date (and last month) ungrouped."""
    periods = DigestPeriods(sent_on)
    answers = [
        _by_service(periods.window_start, sent_on),
        _ungrouped(periods.last_month_start, sent_on),
    ]
    request = urllib.request.Request(
        endpoint_url.rstrip("/") + _RESULTS_API,
        data=json.dumps({"results": answers}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


def fake_costs(session: boto3.Session) -> None:
    """Answer GetCostForecast (a normal day for each day left) and GetAnomalies (yesterday's EC2
    spend) on ``session``'s clients."""
    fake_operation(session, "ce", "GetCostForecast", _forecast)
    fake_operation(session, "ce", "GetAnomalies", _anomalies)


def _money(amount: Decimal) -> dict[str, str]:
    return {"Amount": f"{amount:.10f}", "Unit": "USD"}


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


def _period(day: date) -> dict[str, str]:
    return {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()}


def _by_service(start: date, sent_on: date) -> dict[str, Any]:
    results = [
        {
            "TimePeriod": _period(day),
            "Total": {},
            "Groups": [
                {"Keys": [name], "Metrics": {"UnblendedCost": _money(cost)}}
                for name, cost in sorted(service_costs(day, sent_on).items())
            ],
            "Estimated": True,
        }
        for day in _days(start, sent_on)
    ]
    return {
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        "ResultsByTime": results,
        "DimensionValueAttributes": [],
    }


def _ungrouped(start: date, sent_on: date) -> dict[str, Any]:
    month_start = DigestPeriods(sent_on).month_start
    results = [
        {
            "TimePeriod": _period(day),
            "Total": {
                "UnblendedCost": _money(sum(service_costs(day, sent_on).values(), Decimal(0)))
            },
            "Groups": [],
            "Estimated": day >= month_start,
        }
        for day in _days(start, sent_on)
    ]
    return {"ResultsByTime": results, "DimensionValueAttributes": []}


def _forecast(request: dict[str, Any]) -> dict[str, Any]:
    period = request.get("TimePeriod", {})
    start, end = date.fromisoformat(period["Start"]), date.fromisoformat(period["End"])
    amount = sum(NORMAL_DAY.values(), Decimal(0)) * (end - start).days
    return {
        "Total": {"Amount": f"{amount:.2f}", "Unit": "USD"},
        "ForecastResultsByTime": [
            {
                "TimePeriod": {"Start": period["Start"], "End": period["End"]},
                "MeanValue": f"{amount:.2f}",
            }
        ],
    }


def _anomalies(request: dict[str, Any]) -> dict[str, Any]:
    yesterday = date.fromisoformat(request.get("DateInterval", {})["EndDate"])
    extra = INCIDENT_DAY[EC2] - NORMAL_DAY[EC2]
    return {
        "Anomalies": [
            {
                "AnomalyId": "5d0c2e9a-7b1f-4c3e-9a8d-2f6b1c0e4a77",
                "AnomalyStartDate": f"{yesterday.isoformat()}T00:00:00Z",
                "AnomalyEndDate": f"{yesterday.isoformat()}T00:00:00Z",
                "DimensionValue": EC2,
                "RootCauses": [
                    {
                        "Service": EC2,
                        "Region": "us-east-1",
                        "LinkedAccount": "123456789012",
                        "UsageType": "BoxUsage:t3.small",
                    }
                ],
                "AnomalyScore": {"MaxScore": 0.74, "CurrentScore": 0.74},
                "Impact": {
                    "MaxImpact": float(extra),
                    "TotalImpact": float(extra),
                    "TotalActualSpend": float(INCIDENT_DAY[EC2]),
                    "TotalExpectedSpend": float(NORMAL_DAY[EC2]),
                },
                "MonitorArn": "arn:aws:ce::123456789012:anomalymonitor/demo-services",
            }
        ]
    }

"""A small, realistic AWS bill to seed moto's Cost Explorer with, and fakes for what moto lacks.

The digest tested here goes out on the morning of 2025-03-11 and reports 2025-03-10.
Per-day costs (USD):

- a normal day: EC2 120, RDS 80, S3 20, Lambda 5, DynamoDB 4, CloudFront 3, CloudWatch 2.25,
  KMS 0.50, Tax 0 → 234.75;
- 2025-03-03 (inside the 7-day baseline): EC2 141 → 255.75 (so the 7-day average is 237.75);
- 2025-03-10 (reported day): EC2 150, S3 12.50, Lambda 45 → 297.25;
- 2025-02-01..10 (last month's same days): EC2 85.25 → 200.00 a day, 2,000.00 in all.

Month to date (2025-03-01..10) is therefore 10 * 234.75 + 21 + 62.50 = 2,431.00.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import requests

from tests.support.aws_hooks import AwsFault

SENT_ON = date(2025, 3, 11)
REPORTED = date(2025, 3, 10)
MOTO_CE_RESULTS = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"

EC2 = "Amazon Elastic Compute Cloud - Compute"
RDS = "Amazon Relational Database Service"
S3 = "Amazon Simple Storage Service"
LAMBDA = "AWS Lambda"
DYNAMODB = "Amazon DynamoDB"
CLOUDFRONT = "Amazon CloudFront"
CLOUDWATCH = "AmazonCloudWatch"
KMS = "AWS Key Management Service"
TAX = "Tax"

_NORMAL = {
    EC2: 120.0,
    RDS: 80.0,
    S3: 20.0,
    LAMBDA: 5.0,
    DYNAMODB: 4.0,
    CLOUDFRONT: 3.0,
    CLOUDWATCH: 2.25,
    KMS: 0.5,
    TAX: 0.0,
}


def service_costs(day: date) -> dict[str, float]:
    costs = dict(_NORMAL)
    if day == date(2025, 3, 3):
        costs[EC2] = 141.0
    if day == REPORTED:
        costs.update({EC2: 150.0, S3: 12.5, LAMBDA: 45.0})
    if date(2025, 2, 1) <= day <= date(2025, 2, 10):
        costs[EC2] = 85.25
    return costs


def _money(amount: float, unit: str = "USD") -> dict[str, str]:
    return {"Amount": f"{amount:.10f}", "Unit": unit}


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


def _period(day: date) -> dict[str, str]:
    return {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()}


def daily_by_service(unit: str = "USD") -> dict[str, Any]:
    """GetCostAndUsage, DAILY, grouped by SERVICE, over 2025-02-25..2025-03-10."""
    results = []
    for day in _days(date(2025, 2, 25), SENT_ON):
        groups = [
            {"Keys": [name], "Metrics": {"UnblendedCost": _money(cost, unit)}}
            for name, cost in sorted(service_costs(day).items())
        ]
        results.append(
            {"TimePeriod": _period(day), "Total": {}, "Groups": groups, "Estimated": True}
        )
    return {
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        "ResultsByTime": results,
        "DimensionValueAttributes": [],
    }


def month_to_date(unit: str = "USD") -> dict[str, Any]:
    """GetCostAndUsage, DAILY, ungrouped, over 2025-02-01..2025-03-10."""
    results = [
        {
            "TimePeriod": _period(day),
            "Total": {"UnblendedCost": _money(sum(service_costs(day).values()), unit)},
            "Groups": [],
            "Estimated": day.month == 3,
        }
        for day in _days(date(2025, 2, 1), SENT_ON)
    ]
    return {"ResultsByTime": results, "DimensionValueAttributes": []}


def seed_cost_and_usage(*answers: dict[str, Any]) -> None:
    """Queue GetCostAndUsage answers in moto, consumed one per distinct request, in order."""
    response = requests.post(MOTO_CE_RESULTS, json={"results": list(answers)}, timeout=5)
    assert response.status_code == 201


def recorder(
    answer: dict[str, Any] | AwsFault, calls: list[dict[str, Any]]
) -> Callable[[dict[str, Any]], dict[str, Any] | AwsFault]:
    """A fake_operation answer that remembers each request it was given."""

    def respond(request: dict[str, Any]) -> dict[str, Any] | AwsFault:
        calls.append(request)
        return answer

    return respond


FORECAST = {
    "Total": {"Amount": "5600.12", "Unit": "USD"},
    "ForecastResultsByTime": [
        {"TimePeriod": {"Start": "2025-03-11", "End": "2025-04-01"}, "MeanValue": "5600.12"}
    ],
}

MONITOR = "arn:aws:ce::123456789012:anomalymonitor/0a6f4d6e-1d5c-4c5a-9a0e-1f0e6d1a2b3c"
ANOMALIES = {
    "Anomalies": [
        {
            "AnomalyId": "4a1c7a0c-8b6f-4f9b-a3a5-1c0f7a2b9d11",
            "AnomalyStartDate": "2025-03-09T00:00:00Z",
            "AnomalyEndDate": "2025-03-10T00:00:00Z",
            "DimensionValue": "AWS Lambda",
            "RootCauses": [
                {
                    "Service": "AWS Lambda",
                    "Region": "us-east-1",
                    "LinkedAccount": "123456789012",
                    "LinkedAccountName": "prod",
                    "UsageType": "USE1-Lambda-GB-Second",
                    "Impact": {"Contribution": 38.5},
                }
            ],
            "AnomalyScore": {"MaxScore": 0.91, "CurrentScore": 0.87},
            "Impact": {
                "MaxImpact": 40.0,
                "TotalImpact": 40.0,
                "TotalActualSpend": 45.0,
                "TotalExpectedSpend": 5.0,
                "TotalImpactPercentage": 800.0,
            },
            "MonitorArn": MONITOR,
        },
        {
            "AnomalyId": "9d2e0b1f-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
            "AnomalyStartDate": "2025-03-05T00:00:00Z",
            "AnomalyEndDate": "2025-03-06T00:00:00Z",
            "DimensionValue": "Amazon CloudFront",
            "RootCauses": [{"Service": "Amazon CloudFront", "Region": "global"}],
            "AnomalyScore": {"MaxScore": 0.6, "CurrentScore": 0.1},
            "Impact": {"MaxImpact": 12.0, "TotalImpact": 12.0},
            "MonitorArn": MONITOR,
            "Feedback": "PLANNED_ACTIVITY",
        },
    ]
}

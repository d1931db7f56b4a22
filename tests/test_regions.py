"""Region display names (as CloudWatch writes them in alarms) and codes."""

from __future__ import annotations

import json
from pathlib import Path

import botocore
import pytest

from bot.regions import REGION_NAMES, account_from_arn, region_code, region_from_arn


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("US East (Ohio)", "us-east-2"),
        ("US East (N. Virginia)", "us-east-1"),
        ("EU (Ireland)", "eu-west-1"),
        ("Europe (Ireland)", "eu-west-1"),
        ("EU (Frankfurt)", "eu-central-1"),
        ("Asia Pacific (Seoul)", "ap-northeast-2"),
        ("Asia Pacific (Osaka-Local)", "ap-northeast-3"),
        ("South America (São Paulo)", "sa-east-1"),
        ("south america (sao paulo)", "sa-east-1"),
        ("  US  West (Oregon) ", "us-west-2"),
        ("AWS GovCloud (US)", "us-gov-west-1"),
        ("AWS GovCloud (US-East)", "us-gov-east-1"),
        ("China (Ningxia)", "cn-northwest-1"),
        ("us-east-2", "us-east-2"),
        ("EU-WEST-1", "eu-west-1"),
        ("us-gov-west-1", "us-gov-west-1"),
        ("xy-newplace-3", "xy-newplace-3"),  # a region newer than the table, well-formed
        ("EXAMPLE", ""),
        ("REGION", ""),
        ("global", ""),
        ("Atlantis (Central)", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_region_code(text: str | None, code: str) -> None:
    assert region_code(text) == code


def test_table_covers_every_commercial_govcloud_and_china_region_botocore_knows() -> None:
    endpoints = Path(botocore.__file__).parent / "data" / "endpoints.json"
    partitions = json.loads(endpoints.read_text())["partitions"]
    known = {
        code: region["description"]
        for partition in partitions
        if partition["partition"] in ("aws", "aws-cn", "aws-us-gov")
        for code, region in partition["regions"].items()
    }
    assert len(known) > 30
    for code, name in known.items():
        assert region_code(name) == code, name
        assert region_code(code) == code
        assert REGION_NAMES[code] == name


def test_region_and_account_from_arn() -> None:
    arn = "arn:aws:cloudwatch:ap-northeast-2:257706363616:alarm:EC2-CPU"
    assert region_from_arn(arn) == "ap-northeast-2"
    assert account_from_arn(arn) == "257706363616"
    cn = "arn:aws-cn:cloudwatch:cn-north-1:111122223333:alarm:a:b:c"
    assert (region_from_arn(cn), account_from_arn(cn)) == ("cn-north-1", "111122223333")
    placeholder = "arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE"
    assert (region_from_arn(placeholder), account_from_arn(placeholder)) == ("", "")
    assert region_from_arn("arn:aws:s3:::bucket/key") == ""
    assert region_from_arn("arn:aws:health:global::event/X") == ""
    assert region_from_arn("not an arn") == ""
    assert account_from_arn(None) == ""

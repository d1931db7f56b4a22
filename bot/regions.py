"""AWS region codes and the display names CloudWatch puts in alarm messages.

A CloudWatch alarm sent through SNS names its region the way the console does
(``"Region": "US East (Ohio)"``, older alarms ``"EU (Ireland)"``); everything inside the bot uses
the code (``us-east-2``). This table covers the commercial, GovCloud and China partitions.
"""

from __future__ import annotations

import re
import unicodedata
from types import MappingProxyType

REGION_NAMES = MappingProxyType(
    {
        "us-east-1": "US East (N. Virginia)",
        "us-east-2": "US East (Ohio)",
        "us-west-1": "US West (N. California)",
        "us-west-2": "US West (Oregon)",
        "af-south-1": "Africa (Cape Town)",
        "ap-east-1": "Asia Pacific (Hong Kong)",
        "ap-east-2": "Asia Pacific (Taipei)",
        "ap-south-1": "Asia Pacific (Mumbai)",
        "ap-south-2": "Asia Pacific (Hyderabad)",
        "ap-northeast-1": "Asia Pacific (Tokyo)",
        "ap-northeast-2": "Asia Pacific (Seoul)",
        "ap-northeast-3": "Asia Pacific (Osaka)",
        "ap-southeast-1": "Asia Pacific (Singapore)",
        "ap-southeast-2": "Asia Pacific (Sydney)",
        "ap-southeast-3": "Asia Pacific (Jakarta)",
        "ap-southeast-4": "Asia Pacific (Melbourne)",
        "ap-southeast-5": "Asia Pacific (Malaysia)",
        "ap-southeast-6": "Asia Pacific (New Zealand)",
        "ap-southeast-7": "Asia Pacific (Thailand)",
        "ca-central-1": "Canada (Central)",
        "ca-west-1": "Canada West (Calgary)",
        "eu-central-1": "Europe (Frankfurt)",
        "eu-central-2": "Europe (Zurich)",
        "eu-west-1": "Europe (Ireland)",
        "eu-west-2": "Europe (London)",
        "eu-west-3": "Europe (Paris)",
        "eu-south-1": "Europe (Milan)",
        "eu-south-2": "Europe (Spain)",
        "eu-north-1": "Europe (Stockholm)",
        "il-central-1": "Israel (Tel Aviv)",
        "me-south-1": "Middle East (Bahrain)",
        "me-central-1": "Middle East (UAE)",
        "mx-central-1": "Mexico (Central)",
        "sa-east-1": "South America (Sao Paulo)",
        "us-gov-west-1": "AWS GovCloud (US-West)",
        "us-gov-east-1": "AWS GovCloud (US-East)",
        "cn-north-1": "China (Beijing)",
        "cn-northwest-1": "China (Ningxia)",
    }
)
"""Region code → the display name AWS uses today."""

_OLDER_NAMES = {
    "Asia Pacific (Osaka-Local)": "ap-northeast-3",
    "AWS GovCloud (US)": "us-gov-west-1",
    "Canada (Calgary)": "ca-west-1",
}
"""Names AWS used before renaming a region (the ``EU (…)`` names are derived below)."""

_CODE = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$")


def _key(text: str) -> str:
    """A display name folded for lookup: no accents, no case, single spaces."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return " ".join(plain.casefold().split())


def _names_to_codes() -> dict[str, str]:
    table = {_key(name): code for code, name in REGION_NAMES.items()}
    for code, name in REGION_NAMES.items():
        if name.startswith("Europe ("):
            table[_key("EU " + name.removeprefix("Europe "))] = code
    table.update({_key(name): code for name, code in _OLDER_NAMES.items()})
    return table


def region_code(text: str | None) -> str:
    """The region code for a code or a display name, or "" when it names no region.

    A well-formed code that is not in the table (a region newer than this file) is returned
    as it is; "global" and anything else unknown give "".
    """
    if not isinstance(text, str):
        return ""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in REGION_NAMES or _CODE.match(lowered):
        return lowered
    return _names_to_codes().get(_key(stripped), "")


def region_from_arn(arn: str | None) -> str:
    """The region code in an ARN (``arn:aws:cloudwatch:eu-west-1:…``), or "" if it has none."""
    if not isinstance(arn, str):
        return ""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return ""
    return region_code(parts[3]) if parts[3] else ""


def account_from_arn(arn: str | None) -> str:
    """The account id in an ARN, or "" if it has none (S3 buckets, Health global events)."""
    if not isinstance(arn, str):
        return ""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return ""
    return parts[4] if parts[4].isdigit() else ""

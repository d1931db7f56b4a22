"""ARNs as people read them in Slack: the resource end, not the partition and account.

``arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prod-web-tg/73e2d6bc24d8a067``
reads as ``targetgroup/prod-web-tg/…``: the service, region and account are the same for
everything in one run, and a generated id at the end of a path is noise next to the name.
The CLI and the attached full-output file keep ARNs whole, for copying.
"""

from __future__ import annotations

import re

# An ARN standing on its own (not inside a URL or a longer word), up to whitespace, quotes or
# closing punctuation: partition, service, region, account, then the resource.
_ARN = re.compile(
    r"(?<![\w/:=%.@-])arn:aws[\w-]*:[\w-]+:[\w-]*:[\w-]*:"
    r"(?P<resource>[^\s`'\"|<>,;()\[\]{}]+)"
)
# A generated id: hex (``73e2d6bc24d8a067``) or a UUID.
_GENERATED = re.compile(r"^(?:[0-9a-f]{8,}|[0-9a-f-]{32,36})$")


def short_arn(arn_resource: str) -> str:
    """The resource part of an ARN, with a generated id at the end of a path cut to ``…``:
    ``targetgroup/prod-web-tg/73e2d6bc24d8a067`` → ``targetgroup/prod-web-tg/…``;
    ``role/triagebot-read`` and ``function:checkout`` stay as they are."""
    parts = arn_resource.split("/")
    if len(parts) >= 3 and _GENERATED.match(parts[-1]):
        return "/".join([*parts[:-1], "…"])
    return arn_resource


def shorten_arns(text: str) -> str:
    """Every ARN in ``text`` shortened with ``short_arn`` (a sentence's final dot is kept)."""

    def replace(match: re.Match[str]) -> str:
        resource = match.group("resource")
        trail = ""
        while resource and resource[-1] in ".:":
            resource, trail = resource[:-1], resource[-1] + trail
        return short_arn(resource) + trail if resource else match.group(0)

    return _ARN.sub(replace, text)

"""Resources as people name them: the name inside an ARN or an alarm dimension, and its kind.

``arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/prod-web-tg/73e2d6bc24d8a067``,
``targetgroup/prod-web-tg/73e2d6bc24d8a067`` (the alarm dimension) and ``prod-web-tg`` all name
the same target group: ``resource_keys`` gives each the key ``prod-web-tg``, so evidence from
different steps can be matched, and ``resource_phrase`` says ``target group `prod-web-tg```.
"""

from __future__ import annotations

import re

# A generated id at the end of a path: hex (``73e2d6bc24d8a067``) or a UUID.
_GENERATED = re.compile(r"^(?:[0-9a-f]{8,}|[0-9a-f-]{32,36})$")
_MIN_KEY = 3  # shorter names ("1", "a") would match too much by accident
# Resource-type prefixes (the first path part of an ARN's resource, or an id's prefix) → words.
_KINDS = {
    "targetgroup": "target group",
    "app": "load balancer",
    "net": "load balancer",
    "gwy": "load balancer",
    "loadbalancer": "load balancer",
    "function": "function",
    "service": "service",
    "task-definition": "task definition",
    "task": "task",
    "cluster": "cluster",
    "stack": "stack",
    "autoScalingGroup": "Auto Scaling group",
    "db": "database",
    "cluster-db": "database cluster",
    "deploymentgroup": "deployment group",
    "application": "application",
    "healthcheck": "health check",
    "hostedzone": "hosted zone",
    "log-group": "log group",
    "role": "role",
    "table": "table",
    "alarm": "alarm",
}
_ID_KINDS = {
    "sg-": "security group",
    "i-": "instance",
    "subnet-": "subnet",
    "acl-": "network ACL",
    "rtb-": "route table",
    "vpc-": "VPC",
    "ami-": "image",
    "lt-": "launch template",
}


def _body(resource: str) -> str:
    """The resource part of an ARN (everything after the account), or the text itself."""
    if resource.startswith("arn:") and resource.count(":") >= 5:
        return resource.split(":", 5)[5]
    return resource


def _kind_and_name(resource: str) -> tuple[str, str]:
    body = _body(resource.strip())
    if body.startswith("loadbalancer/"):  # loadbalancer/app/NAME/ID
        body = body.removeprefix("loadbalancer/")
    if "/" in body:
        head, *rest = body.split("/")
        if head.startswith("autoScalingGroup:"):  # autoScalingGroup:UUID:autoScalingGroupName/NAME
            return "autoScalingGroup", rest[-1] if rest else body
        pieces = [p for p in rest if p and not _GENERATED.match(p)]
        if head in _KINDS and pieces:
            name = pieces[0] if head == "stack" else pieces[-1]
            return head, name
        return "", body
    if ":" in body:  # function:NAME[:QUALIFIER], db:NAME, alarm:NAME
        head, name, *_ = body.split(":")
        return (head, name) if head in _KINDS else ("", body)
    return "", body


def resource_name(resource: str) -> str:
    """``prod-web-tg`` for the target group's ARN, dimension or name."""
    return _kind_and_name(resource)[1]


def resource_keys(resource: str) -> frozenset[str]:
    """What two mentions of one resource have in common: its name (and the ARN body)."""
    name = resource_name(resource)
    keys = {name, _body(resource.strip())}
    return frozenset(k for k in keys if len(k) >= _MIN_KEY)


def resource_phrase(resource: str) -> str:
    """``target group `prod-web-tg```, ``security group `sg-0abc```, or just `` `name` ``."""
    kind, name = _kind_and_name(resource)
    words = _KINDS.get(kind, "")
    if not words:
        words = next((w for prefix, w in _ID_KINDS.items() if name.startswith(prefix)), "")
    return f"{words} `{name}`" if words else f"`{name}`"

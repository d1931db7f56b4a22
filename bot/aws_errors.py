"""What a failed AWS call means to a person: the IAM action an operation needs, and the
sentence to show when AWS refuses it (naming the action and the principal when access is denied).
"""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

# Services whose IAM action prefix is not their boto3 name.
_IAM_PREFIX = {
    "elbv2": "elasticloadbalancing",
    "elb": "elasticloadbalancing",
    "service-quotas": "servicequotas",
    "stepfunctions": "states",
}

ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
}
_PRINCIPAL = re.compile(r"User: (arn:aws[\w-]*:[^ ]+)")

# Operations authorised by an IAM action of another name.
_IAM_ACTION = {("budgets", "describe_budgets"): "budgets:ViewBudget"}


def iam_action(service: str, method: str, operation: str | None = None) -> str:
    """``("elbv2", "describe_target_health")`` → ``elasticloadbalancing:DescribeTargetHealth``.

    ``operation`` is the API's own spelling (``DescribeDBInstances``) when the caller knows it.
    """
    special = _IAM_ACTION.get((service, method))
    if special:
        return special
    prefix = _IAM_PREFIX.get(service, service)
    name = operation or "".join(part.capitalize() for part in method.split("_"))
    return f"{prefix}:{name}"


def describe_client_error(
    exc: ClientError, service: str, method: str, operation: str | None = None
) -> str:
    """A sentence an engineer can act on, naming the IAM action and principal when denied."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")).strip()
    action = iam_action(service, method, operation or exc.operation_name)
    if code in ACCESS_DENIED or "not authorized" in message:
        found = _PRINCIPAL.search(message)
        who = found.group(1) if found else "the bot's role"
        return (
            f"Access denied: {who} may not call `{action}`. "
            f"Add `{action}` to its IAM policy (`triagebot iam-policy` prints the whole policy)."
        )
    if "<html" in message.lower() or len(message) > 500:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", code)
        message = f"the endpoint answered HTTP {status} with a page instead of an AWS error"
    return f"`{action}` failed: {code}: {message}" if message else f"`{action}` failed: {code}"

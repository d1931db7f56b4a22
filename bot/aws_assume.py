"""Sessions in other accounts: credentials from STS AssumeRole, refreshed before they expire.

A role that cannot be assumed (its trust policy does not name the bot, the bot may not call
``sts:AssumeRole`` on it, STS is unreachable) is a ``StepError`` naming the role and the
account, raised by the call that needed the session, not a crash; a call given up on
(``CallAbandoned``) stays one, so the caller says it got no answer in time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from bot.aws_deadline import BudgetHooks
from bot.aws_errors import ACCESS_DENIED
from bot.config import AwsAccount
from bot.errors import StepError


def assumed_session(
    base: boto3.Session,
    account: AwsAccount,
    *,
    new_session: Callable[[], boto3.Session],
    hooks: BudgetHooks,
    **client_args: Any,
) -> boto3.Session:
    """A session for ``account``: ``base`` (the bot's own credentials) assumes its role through
    an STS client built with ``client_args``; the session is ``new_session()`` with those
    credentials, refreshed by assuming the role again when they near their expiry."""
    sts = base.client("sts", **client_args)
    hooks.install(sts.meta.events)

    def fetch() -> dict[str, str]:
        args: dict[str, Any] = {
            "RoleArn": account.role_arn,
            "RoleSessionName": "triagebot",
            "DurationSeconds": 3600,
        }
        if account.external_id:
            args["ExternalId"] = account.external_id
        try:
            creds = sts.assume_role(**args)["Credentials"]
        except ClientError as exc:
            raise StepError(_refused(account, exc), aws_code=_code(exc)) from exc
        except BotoCoreError as exc:
            raise StepError(f"{_could_not(account)}: {exc}") from exc
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    refreshable = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
    )
    session = new_session()
    session._session._credentials = refreshable  # type: ignore[attr-defined]
    return session


def _could_not(account: AwsAccount) -> str:
    return f"Could not assume `{account.role_arn}` (account `{account.name}`)"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _refused(account: AwsAccount, exc: ClientError) -> str:
    code = _code(exc)
    message = str(exc.response.get("Error", {}).get("Message", "")).strip()
    said = f"{code}: {message}" if message else code
    if code in ACCESS_DENIED or "not authorized" in message:
        return (
            f"{_could_not(account)}: {said}. The role's trust policy must let the bot's own "
            "role assume it, and the bot's role needs `sts:AssumeRole` on it."
        )
    return f"{_could_not(account)}: {said}."

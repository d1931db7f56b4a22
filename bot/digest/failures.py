"""Why a digest section is missing, in one line a person can act on.

The digest never fails because one source is unavailable: each section that could not be read
becomes a line saying what is missing and what would fix it (usually an IAM action). AWS errors
arrive as ``StepError`` carrying AWS's error code and message (``aws_code``, ``aws_message``),
which tell the cases apart. A reply that was not AWS's format (a proxy's HTML error page) is
one sentence from ``AwsClients``; what AWS said is never pasted in raw when it is a page.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.aws_deadline import looks_like_web_page
from bot.errors import StepError

_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
}


@dataclass(frozen=True)
class Section:
    """A part of the digest and the IAM actions the bot needs to read it."""

    title: str
    actions: tuple[str, ...]

    @property
    def action_list(self) -> str:
        return " and ".join(f"`{a}`" for a in self.actions)


DAILY = Section("Daily spend", ("ce:GetCostAndUsage",))
MONTH_TO_DATE = Section("Month to date", ("ce:GetCostAndUsage",))
FORECAST = Section("Forecast", ("ce:GetCostForecast",))
ANOMALIES = Section("Anomalies", ("ce:GetAnomalies",))
# DescribeBudgets is authorised by budgets:ViewBudget; the account id comes from STS.
BUDGETS = Section("Budgets", ("budgets:ViewBudget", "sts:GetCallerIdentity"))


def cost_explorer_disabled(exc: StepError) -> bool:
    """True when the account has not enabled Cost Explorer (or billing access for IAM)."""
    code, message = exc.aws_code, exc.aws_message
    return code == "DataUnavailableException" or "not enabled for cost explorer" in message.lower()


def access_denied(exc: StepError) -> bool:
    code, message = exc.aws_code, exc.aws_message
    return code in _DENIED or "not authorized" in message


def not_enabled_line(section: Section) -> str:
    return (
        f"{section.title} unavailable: Cost Explorer is not enabled for this account. "
        "Enable it in the Billing and Cost Management console (Cost Explorer, then "
        "Launch Cost Explorer); data appears within 24 hours. "
        f"The bot also needs {section.action_list} in its IAM policy."
    )


def missing_line(section: Section, exc: StepError) -> str:
    """The line that replaces ``section`` in the digest when reading it raised ``exc``."""
    code, message = exc.aws_code, exc.aws_message
    if section is FORECAST and code == "DataUnavailableException" and "enabled" not in message:
        return f"{section.title} unavailable: Cost Explorer has too little history to forecast yet."
    if cost_explorer_disabled(exc):
        return not_enabled_line(section)
    if access_denied(exc):
        return f"{section.title} unavailable: add {section.action_list} to the bot's IAM policy."
    if code and not looks_like_web_page(message.encode()):
        detail = f"{code}: {message}" if message else code
        return f"{section.title} unavailable: {detail}"
    return f"{section.title} unavailable: {exc.user_message}"

"""What ``[[aws.accounts]]`` promises, checked before anything runs.

An account's ``regions`` bound where the bot looks in it (``bot.account_regions``): a route or
a playbook step that names a region outside them is a ``check`` problem; a step that reaches
one only at run time (a templated region, an alarm from elsewhere) gets a step error from
``AwsClients`` instead of a call. A step's literal ``account:`` must name a configured account.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from bot.account_regions import outside_regions
from bot.config import AwsAccount, AwsSettings
from bot.errors import did_you_mean
from bot.playbooks.catalog import Catalog
from bot.playbooks.loader import Problem
from bot.playbooks.marked_yaml import Mark, parse_marked
from bot.playbooks.schema import Playbook
from bot.regions import REGION_NAMES, region_code

Where = Callable[..., str]  # a config key path → "file:line:col"


def account_problems(aws: AwsSettings, where: Where) -> list[str]:
    """Account names are unique; every listed region is a region code."""
    problems: list[str] = []
    seen: set[str] = set()
    for index, account in enumerate(aws.accounts):
        if account.name in seen:
            problems.append(
                f"{where('aws', 'accounts', index, 'name')}: account name `{account.name}` "
                "is used by an earlier [[aws.accounts]] entry"
            )
        seen.add(account.name)
        for region in account.regions:
            if region_code(region) != region:
                hint = did_you_mean(region, REGION_NAMES)
                problems.append(
                    f"{where('aws', 'accounts', index, 'regions')}: `{region}` in the regions of "
                    f"account `{account.name}` is not an AWS region code, like us-east-1.{hint}"
                )
    return problems


def account_with_id(accounts: Mapping[str, AwsAccount], account_id: str) -> AwsAccount | None:
    for account in accounts.values():
        if account.role_arn.split(":")[4] == account_id:
            return account
    return None


def step_problems(catalog: Catalog, accounts: Mapping[str, AwsAccount]) -> list[str]:
    """Steps whose literal ``account`` is unknown or whose literal ``region`` is off limits."""
    problems: list[Problem] = []
    for playbook in catalog:
        for index, step in enumerate(playbook.steps):
            if step.account is None or _templated(step.account):
                continue
            account = accounts.get(step.account)
            if account is None:
                hint = did_you_mean(step.account, accounts)
                known = ", ".join(f"`{name}`" for name in accounts) or "none configured"
                message = (
                    f"step `{step.id}` uses account `{step.account}`, which is not in "
                    f"[[aws.accounts]] ({known}).{hint}"
                )
                problems.append(_problem(playbook, (index, "account"), message))
                continue
            if step.region is None or _templated(step.region):
                continue
            outside = outside_regions(account, step.region)
            if outside is not None:
                problems.append(
                    _problem(playbook, (index, "region"), f"step `{step.id}`: {outside}")
                )
    return [str(problem) for problem in sorted(problems)]


def _problem(playbook: Playbook, loc: tuple[int, str], message: str) -> Problem:
    mark = Mark(1, 1)
    try:
        doc, _ = parse_marked(Path(playbook.source).read_text(encoding="utf-8"))
        if doc is not None:
            mark = doc.value_mark(("steps", *loc))
    except OSError:
        pass
    return Problem(playbook.source, mark.line, mark.col, message)


def _templated(value: str) -> bool:
    return "{{" in value or "{%" in value

"""The ``triagebot`` command line: parse, call, print. Each verb lives in ``bot.commands``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

from bot.config import Settings, config_path, load_settings
from bot.errors import BotError, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="triagebot",
        description="Incident-response chatbot for Slack, for teams that run on AWS.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--config",
            metavar="PATH",
            help="config file (default: $TRIAGEBOT_CONFIG, else ./config.toml)",
        )
        return sub

    verb("serve", "Run the bot: Slack events, SNS, SQS, the digest scheduler.")
    demo = verb("demo", "Run a self-contained demo against a local AWS and a local Slack.")
    demo.add_argument(
        "--keep-running", action="store_true", help="leave the demo up for poking with curl"
    )
    demo.add_argument(
        "--output",
        metavar="DIR",
        help="where to write the messages' Block Kit JSON and the charts "
        "(default: ./triagebot-demo-output)",
    )

    run = verb("run", "Run one playbook once and print the result.")
    run.add_argument("playbook", help="a playbook name, or the path of a playbook file")
    run.add_argument(
        "--alarm", metavar="FILE", help="an alarm (SNS message or EventBridge event, JSON)"
    )
    run.add_argument(
        "--param",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a playbook parameter (repeatable)",
    )
    run.add_argument("--format", choices=("text", "blocks", "json"), default="text")

    check = verb("check", "Validate the config and playbooks without touching AWS or Slack.")
    check.add_argument("paths", nargs="*", metavar="PATH", help="playbook files or directories")

    digest = verb("digest", "Build the cost digest now; print it, or post it.")
    digest.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="the morning it goes out (reports the day before); default today",
    )
    digest.add_argument("--post", action="store_true", help="post it to digest.channel in Slack")

    timeline = verb("timeline", "Print an incident's timeline (Markdown) from the store.")
    timeline.add_argument(
        "incident",
        metavar="INCIDENT_ID",
        help="an incident key (account/region/alarm: its latest incident), or key@opened-at",
    )

    verb("iam-policy", "Print the least-privilege IAM policy the configured playbooks need.")
    verb("steps", "List the step types with their parameters and IAM actions.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit codes: 0 done, 1 the command itself failed, 2 bad usage, 130 interrupted."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(config_path(args.config, os.environ))
        logging.basicConfig(
            level=settings.log_level or "WARNING", format="%(levelname)s %(name)s: %(message)s"
        )
        code = asyncio.run(_dispatch(args, settings))
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        # The reader stopped reading (`triagebot steps | head`): what it wanted, it has.
        _discard_stdout()
        return 0
    except UsageError as exc:
        print(f"triagebot {args.verb}: {exc.user_message}", file=sys.stderr)
        return 2
    except BotError as exc:
        print(f"triagebot {args.verb}: {exc.user_message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# Each verb's module, imported only when that verb runs: `check` and `steps` never pay for the
# Slack app, the HTTP server, matplotlib or the demo's parts.
_VERBS = {
    "serve": ("bot.commands.serve", "serve"),
    "demo": ("bot.commands.demo", "demo"),
    "run": ("bot.commands.run", "run"),
    "check": ("bot.commands.check", "check"),
    "digest": ("bot.commands.digest", "digest"),
    "timeline": ("bot.commands.timeline", "timeline"),
    "iam-policy": ("bot.commands.info", "iam_policy"),
    "steps": ("bot.commands.info", "steps"),
}


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    module, name = _VERBS[args.verb]
    handler: Callable[[argparse.Namespace, Settings], Awaitable[int]] = getattr(
        importlib.import_module(module), name
    )
    return await handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())

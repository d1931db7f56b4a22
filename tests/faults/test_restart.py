"""``triagebot serve`` stopped (SIGTERM) or killed (SIGKILL) while Slack is down, and started
again: the root it could not post waits in the store, and the new process posts it once, with
its playbook's run, when Slack is back. A real serve process, a real SQLite file, the Slack
stand-in over HTTP, moto for AWS."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.demo.slack_api import FakeSlackApi
from bot.store import SqliteStore
from bot.store.base import Delivery
from tests.faults.outage import eventually
from tests.support.bot_serve import CHANNEL, bot_serve, post_alarm

ALARM = "restart-5xx"
KEY = f"123456789012/us-east-1/{ALARM}"
LEASE = 'lease = "3s"'  # how long a killed process's claim on a delivery holds it


async def root_row(db: Path) -> Delivery | None:
    store = SqliteStore(db)
    await store.start()
    try:
        incident = await store.incident_get(KEY)
        if incident is None:
            return None
        return await store.outbox_get(f"root:{KEY}@{incident.opened_at.isoformat()}")
    finally:
        await store.close()


async def finished_runs(db: Path) -> list[str]:
    store = SqliteStore(db)
    await store.start()
    try:
        return [r.outcome for r in await store.recent_runs(CHANNEL, 10) if r.outcome != "running"]
    finally:
        await store.close()


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
async def test_a_restart_mid_outage_posts_the_root_once_when_slack_is_back(
    tmp_path: Path, moto_url: str, slack: FakeSlackApi, how: str
) -> None:
    db = tmp_path / "state.db"
    bot = bot_serve(
        tmp_path, store=db, slack_url=slack.base_url, moto_url=moto_url, store_lines=LEASE
    )
    await bot.start()
    try:
        slack.set_down(True)
        assert await post_alarm(bot.url, ALARM) == 200

        async def tried_twice() -> bool:
            row = await root_row(db)
            return row is not None and row.attempts >= 2

        await eventually(tried_twice, "the root tried twice while Slack is down")
        if how == "sigkill":
            bot.kill()
        else:
            assert bot.stop() == 0
        row = await root_row(db)
        assert row is not None and row.state == "pending"
        assert not any(ALARM in m.text for m in slack.messages(CHANNEL))

        slack.set_down(False)
        await bot.start()

        async def posted_with_its_run() -> bool:
            return any(ALARM in m.text for m in slack.messages(CHANNEL)) and bool(
                await finished_runs(db)
            )

        await eventually(posted_with_its_run, "the root and its run after the restart", 60)
        [root] = [m for m in slack.messages(CHANNEL) if ALARM in m.text]
        kinds = [
            (m.metadata or {}).get("event_payload", {}).get("kind")
            for m in slack.thread(CHANNEL, root.ts)
        ]
        assert kinds.count("run") == 1, bot.log_text()
        row = await root_row(db)
        assert row is not None and (row.state, row.ts) == ("sent", root.ts)
    finally:
        bot.stop()

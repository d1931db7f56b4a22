"""What the fault tests share: the local Slack stand-in, and an AWS endpoint that can be made a
black hole (it accepts connections and never answers) in front of moto."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.demo.slack_api import FakeSlackApi
from tests.support.hung_aws import HungAws


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


@pytest.fixture
def hung_aws(moto_url: str) -> Iterator[HungAws]:
    server = HungAws(moto_url)
    server.start()
    yield server
    server.stop()

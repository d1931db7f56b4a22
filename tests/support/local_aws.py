"""pytest fixtures for moto server over HTTP (end-to-end tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.demo.moto_server import LocalAws
from tests.support.aws_proxy import SlowAws


@pytest.fixture(scope="session")
def moto_server() -> Iterator[LocalAws]:
    """One moto server (in a thread) for the whole test session; reset between tests."""
    with LocalAws(in_process=True) as server:
        yield server


@pytest.fixture
def moto_url(moto_server: LocalAws) -> Iterator[str]:
    moto_server.reset()
    yield moto_server.url


@pytest.fixture
def slow_aws(moto_url: str) -> Iterator[SlowAws]:
    """A proxy in front of moto server that can delay and throttle (no delay by default)."""
    proxy = SlowAws(moto_url)
    proxy.start()
    yield proxy
    proxy.stop()

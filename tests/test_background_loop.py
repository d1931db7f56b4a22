"""BackgroundLoop: started once, and stopped even when its body loses a cancellation."""

from __future__ import annotations

import asyncio

from bot.tasks import BackgroundLoop


async def test_stop_ends_a_loop_whose_body_swallowed_the_first_cancellation() -> None:
    swallowed = asyncio.Event()

    async def body() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed.is_set():
                    raise
                swallowed.set()  # lost, as asyncio.wait_for can lose one on Python 3.11

    loop = BackgroundLoop("test-loop")
    assert loop.start(body) and not loop.start(body), "a second start does nothing"
    await asyncio.sleep(0)
    assert await asyncio.wait_for(loop.stop(), timeout=5) is True
    assert swallowed.is_set() and not loop.running
    assert await loop.stop() is False

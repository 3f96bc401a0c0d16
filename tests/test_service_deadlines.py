"""service/deadlines.py: many waits on one timer per loop, each cut at its own deadline as
asyncio.timeout would cut it, and nothing else cancelled or swallowed."""

from __future__ import annotations

import asyncio

import pytest

from service.deadlines import Deadlines


def test_a_wait_that_never_ends_times_out_and_the_others_go_on() -> None:
    async def main() -> list[str]:
        deadlines = Deadlines(0.05)
        never = asyncio.get_running_loop().create_future()

        async def quick() -> str:
            return await deadlines.run(asyncio.sleep(0, "done"))

        async def stalled() -> str:
            try:
                await deadlines.run(never)
            except TimeoutError:
                return "timed out"
            return "finished"

        return await asyncio.gather(stalled(), quick())

    assert asyncio.run(main()) == ["timed out", "done"]


def test_a_cancel_from_outside_stays_a_cancel() -> None:
    async def main() -> None:
        deadlines = Deadlines(60.0)
        task = asyncio.create_task(deadlines.run(asyncio.sleep(30)))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_each_loop_has_its_own_watch() -> None:
    """The same Deadlines on a second loop (a fresh TestClient) still cuts a stalled wait:
    the first loop's timer died with that loop."""
    deadlines = Deadlines(0.05)

    async def stall() -> bool:
        try:
            await deadlines.run(asyncio.get_running_loop().create_future())
        except TimeoutError:
            return True
        return False

    assert asyncio.run(stall()) and asyncio.run(stall())


def test_a_finished_loop_is_let_go() -> None:
    import gc
    import weakref

    deadlines = Deadlines(0.05)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(deadlines.run(asyncio.sleep(0)))
    loop.run_until_complete(asyncio.sleep(0.1))  # the watch's timer fires and is not re-armed
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None

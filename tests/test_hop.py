"""The thread hop: events from a foreign thread arrive on the loop in order; commands drain in order."""
from __future__ import annotations

import asyncio
import threading

from edgepbx.sip.digits import DigitMerger
from edgepbx.sip.hop import ThreadHop


def test_events_from_another_thread_arrive_on_the_loop_in_order() -> None:
    async def scenario() -> tuple[list[int], set[int]]:
        loop = asyncio.get_running_loop()
        got: list[int] = []
        threads: set[int] = set()
        done = asyncio.Event()

        def deliver(event: int) -> None:
            got.append(event)
            threads.add(threading.get_ident())
            if len(got) == 1000:
                done.set()

        hop: ThreadHop[int, str] = ThreadHop(loop, deliver)
        worker = threading.Thread(target=lambda: [hop.post(i) for i in range(1000)])
        worker.start()
        await asyncio.wait_for(done.wait(), 5)
        worker.join()
        return got, threads

    got, threads = asyncio.run(scenario())
    assert got == list(range(1000))
    assert threads == {threading.get_ident()}


def test_commands_drain_in_order_on_the_other_thread() -> None:
    async def scenario() -> list[str]:
        hop: ThreadHop[int, str] = ThreadHop(asyncio.get_running_loop(), lambda e: None)
        for c in "abc":
            hop.send(c)
        result: list[str] = []
        thread = threading.Thread(target=lambda: result.extend(hop.drain()))
        thread.start()
        thread.join()
        return result + hop.drain()
    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_post_after_loop_closed_is_dropped() -> None:
    loop = asyncio.new_event_loop()
    hop: ThreadHop[int, str] = ThreadHop(loop, lambda e: None)
    loop.close()
    hop.post(1)  # must not raise


def test_a_digit_seen_both_ways_counts_once() -> None:
    merger = DigitMerger()
    assert merger.accept("5", "rfc4733", 10.00)
    assert not merger.accept("5", "inband", 10.05)
    assert merger.accept("5", "rfc4733", 10.40)   # a second press
    assert merger.accept("5", "rfc4733", 10.45)   # same source twice: two presses
    assert merger.accept("6", "inband", 10.46)

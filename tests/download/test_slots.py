"""SlotQueue: FIFO download slots with visible positions."""

from __future__ import annotations

import threading
import time

import pytest

from boxzipfs.download.slots import Cancelled, SlotQueue


def test_waiters_are_served_in_order_and_see_their_position() -> None:
    slots = SlotQueue(1)
    holder, second, third = object(), object(), object()
    slots.acquire(holder)
    order: list[object] = []

    def wait(ticket: object) -> None:
        slots.acquire(ticket)
        order.append(ticket)

    threads = [threading.Thread(target=wait, args=(t,)) for t in (second, third)]
    threads[0].start()
    time.sleep(0.05)
    threads[1].start()
    time.sleep(0.05)
    assert (slots.position(second), slots.position(third), slots.position(holder)) == (1, 2, None)
    slots.release(holder)
    time.sleep(0.05)
    assert order == [second]
    assert slots.position(third) == 1
    slots.release(second)
    for thread in threads:
        thread.join(2)
    assert order == [second, third]
    assert slots.in_use == 1


def test_close_cancels_waiters() -> None:
    slots = SlotQueue(1)
    slots.acquire(object())
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            slots.acquire(object())
        except Cancelled as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.05)
    slots.close()
    waiter.join(2)
    assert len(errors) == 1
    with pytest.raises(ValueError):
        SlotQueue(0)

"""FleetBudget over a real redis-server: the limit, first come first served, lapsing leases,
Redis lost and back. Each FleetBudget stands for one host."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from boxzipfs.download.fleet import FleetBudget, FleetSettings
from tests.redisserver import RedisServer


@pytest.fixture
def hosts(redis_server: RedisServer) -> Iterator[list[FleetBudget]]:
    made: list[FleetBudget] = []

    def host(**overrides: object) -> FleetBudget:
        settings = FleetSettings(
            redis_server.url,
            "test",
            user_limit=3,
            lease_seconds=1.0,
            poll_seconds=0.02,
            **overrides,  # type: ignore[arg-type]
        )
        budget = FleetBudget(settings)
        made.append(budget)
        return budget

    yield [host() for _ in range(3)]
    for budget in made:
        budget.close()


def never() -> bool:
    return False


def test_the_limit_holds_across_hosts(hosts: list[FleetBudget]) -> None:
    holding, peak, lock = 0, 0, threading.Lock()

    def work(budget: FleetBudget, ticket: object) -> None:
        nonlocal holding, peak
        assert budget.acquire(ticket, never)
        with lock:
            holding += 1
            peak = max(peak, holding)
        time.sleep(0.05)
        with lock:
            holding -= 1
        budget.release(ticket)

    threads = [threading.Thread(target=work, args=(hosts[i % 3], object())) for i in range(15)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert peak == 3 and holding == 0
    assert sum(h.leases_taken for h in hosts) == 15


def test_waiters_are_served_first_come_first_served_across_hosts(hosts: list[FleetBudget]) -> None:
    holders = [object() for _ in range(3)]
    for ticket in holders:
        assert hosts[0].acquire(ticket, never)
    order: list[int] = []
    tickets = [object() for _ in range(4)]

    def wait(index: int) -> None:
        host = hosts[1 + index % 2]
        assert host.acquire(tickets[index], never)
        order.append(index)
        time.sleep(0.3)
        host.release(tickets[index])

    threads = []
    for index in range(4):
        threads.append(threading.Thread(target=wait, args=(index,)))
        threads[-1].start()
        time.sleep(0.1)  # arrive in this order
    assert [hosts[1 + i % 2].position(tickets[i]) for i in range(4)] == [1, 2, 3, 4]
    hosts[0].release(holders[0])  # one lease free: waiters go one by one, in arrival order
    for thread in threads:
        thread.join(10)
    for ticket in holders[1:]:
        hosts[0].release(ticket)
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3]


def test_a_dead_hosts_leases_lapse_and_the_others_proceed(hosts: list[FleetBudget]) -> None:
    dead = hosts[0]
    for _ in range(3):
        assert dead.acquire(object(), never)
    dead._stop.set()  # the host dies: no more heartbeats, no release
    started = time.monotonic()
    assert hosts[1].acquire(object(), never)
    waited = time.monotonic() - started
    assert 0.5 < waited < 3.0, waited  # about lease_seconds (1 s)


def test_a_cancelled_waiter_leaves_the_queue(hosts: list[FleetBudget]) -> None:
    for _ in range(3):
        assert hosts[0].acquire(object(), never)
    gone = threading.Event()
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(hosts[1].acquire(object(), gone.is_set)))
    waiter.start()
    time.sleep(0.2)
    gone.set()
    waiter.join(5)
    assert result == [False]
    assert hosts[2].snapshot()["queued"] == 0


def test_redis_lost_degrades_to_local_limits_and_rejoins(
    hosts: list[FleetBudget], redis_server: RedisServer
) -> None:
    held = object()
    assert hosts[0].acquire(held, never)
    redis_server.stop()
    started = time.monotonic()
    assert hosts[1].acquire(object(), never)  # no wedge: granted at once, degraded
    assert time.monotonic() - started < 5
    assert hosts[1].degraded and "local limits only" in hosts[1].degraded
    redis_server.start()  # a restart: every lease was lost
    time.sleep(0.6)  # a heartbeat puts the held lease back
    assert hosts[0].snapshot()["leases"]["user"] == 1
    assert hosts[1].acquire(object(), never)
    assert hosts[1].degraded is None


def test_no_secret_of_the_url_is_kept_in_the_snapshot(redis_server: RedisServer) -> None:
    budget = FleetBudget(FleetSettings(redis_server.url, "named", lease_seconds=1.0))
    try:
        text = repr(budget.snapshot())
        assert "fleet-s3cret-pw" not in text and "named" in text
    finally:
        budget.close()

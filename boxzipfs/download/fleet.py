"""The fleet's download budget in Redis: expiring leases, served first come first served.

Box's concurrency limits belong to the account (5 downloads per user, 10 per
enterprise), not to a host. Every mount of a fleet takes a lease in Redis for
each content download. No maintained library offers an expiring counting
semaphore, so this is the small piece, one Lua script, run atomically with
Redis's own clock:

- ``leases:<scope>`` is a sorted set of holder -> lease expiry (ms). A holder
  renews its leases by heartbeat; a host that dies stops renewing, and its
  leases lapse after ``lease_seconds``.
- ``queue`` is a sorted set of waiter -> arrival number, with ``alive`` holding
  each waiter's liveness the same way, so a dead waiter never blocks the head.
- A waiter may take a lease only while fewer than ``free`` waiters are ahead of
  it, where ``free`` is the room left in the tightest scope: fair across hosts.

Redis unreachable, or lost mid-run: the mount goes on with its local limits and
Box's own 429 backoff (Box enforces the limit anyway), reports the fleet as
degraded, and rejoins as soon as a call succeeds again. A Redis restart (all
leases lost) never wedges anyone: renewals put held leases back.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

from boxzipfs import metrics
from boxzipfs.download.slots import Cancelled, SlotQueue
from boxzipfs.errors import FleetRefused, FleetUnreachable
from boxzipfs.options import default

log = logging.getLogger(__name__)

ACQUIRE = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local ticket = ARGV[1]
local queue, alive, seq = KEYS[1], KEYS[2], KEYS[3]
local scopes = (#KEYS - 3)
local free = 1000000000
for i = 1, scopes do
  local key = KEYS[3 + i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local room = tonumber(ARGV[2 + i]) - redis.call('ZCARD', key)
  if redis.call('ZSCORE', key, ticket) then
    for j = 1, scopes do redis.call('ZADD', KEYS[3 + j], now + ttl, ticket) end
    return {1, 0}
  end
  if room < free then free = room end
end
redis.call('ZREMRANGEBYSCORE', alive, '-inf', now)
for _, waiter in ipairs(redis.call('ZRANGE', queue, 0, 99)) do
  if not redis.call('ZSCORE', alive, waiter) and waiter ~= ticket then redis.call('ZREM', queue, waiter) end
end
redis.call('ZADD', alive, now + ttl, ticket)
if not redis.call('ZSCORE', queue, ticket) then
  redis.call('ZADD', queue, redis.call('INCR', seq), ticket)
end
local rank = redis.call('ZRANK', queue, ticket)
if rank < free then
  for i = 1, scopes do redis.call('ZADD', KEYS[3 + i], now + ttl, ticket) end
  redis.call('ZREM', queue, ticket)
  redis.call('ZREM', alive, ticket)
  return {1, 0}
end
return {0, rank + 1}
"""

RENEW = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], now + tonumber(ARGV[1]), ARGV[2]) end
return 1
"""


@dataclass(frozen=True)
class FleetSettings:
    url: str
    fleet: str
    user_limit: int = default("user_concurrency")
    enterprise_limit: int = default("enterprise_concurrency")
    enterprise: str | None = None  # fleets of one enterprise share its limit; default: the fleet
    lease_seconds: float = default("lease_seconds")
    poll_seconds: float = 0.2


@dataclass(frozen=True)
class FleetKeys:
    """The Redis keys of one fleet (the enterprise's leases are shared by its fleets)."""

    queue: str
    alive: str
    seq: str
    user: str
    enterprise: str


class FleetBudget:
    """Leases for content downloads, shared by every mount of a fleet through Redis."""

    def __init__(self, settings: FleetSettings, client: redis.Redis | None = None) -> None:
        self.settings = settings
        self._redis = client or redis.Redis.from_url(
            settings.url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=10
        )
        keys = self.keys(settings.fleet, settings.enterprise)
        self._queue_keys = [keys.queue, keys.alive, keys.seq]
        self._scope_keys = [keys.user, keys.enterprise]
        self._limits = [settings.user_limit, settings.enterprise_limit]
        self._acquire = self._redis.register_script(ACQUIRE)
        self._renew = self._redis.register_script(RENEW)
        self._host = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Guards _held and _positions (this host's leases and queue places).
        self._lock = threading.Lock()
        self._held: dict[object, str] = {}  # ticket -> lease id, leased in Redis
        self._positions: dict[object, int] = {}
        self.degraded: str | None = None  # why the fleet is not in use right now
        self.leases_taken = 0
        self._stop = threading.Event()
        self._heart = threading.Thread(target=self._heartbeat, name="fleet-heartbeat", daemon=True)
        self._heart.start()

    @staticmethod
    def keys(fleet: str, enterprise: str | None = None) -> FleetKeys:
        base = f"boxzipfs:fleet:{fleet}"
        return FleetKeys(
            queue=f"{base}:queue",
            alive=f"{base}:alive",
            seq=f"{base}:seq",
            user=f"{base}:leases:user",
            enterprise=f"boxzipfs:enterprise:{enterprise or fleet}:leases",
        )

    def reachable(self) -> str | None:
        """None if the fleet's Redis answers a PING now, else why not (readiness)."""
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            return f"the fleet's Redis is unreachable ({type(exc).__name__})"
        return None

    @property
    def ttl_ms(self) -> int:
        return int(self.settings.lease_seconds * 1000)

    @property
    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def position(self, ticket: object) -> int | None:
        """1-based place among the fleet's waiters, None when not waiting on the fleet."""
        with self._lock:
            return self._positions.get(ticket)

    def acquire(self, ticket: object, cancelled: Callable[[], bool]) -> bool:
        """Wait for a lease (first come first served across hosts). False when cancelled.

        With Redis unreachable this returns at once, degraded: the local limits and
        Box's 429s govern until Redis answers again.
        """
        lease = f"{self._host}:{id(ticket)}:{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        try:
            while not cancelled():
                try:
                    granted, rank = self._acquire(
                        keys=[*self._queue_keys, *self._scope_keys], args=[lease, self.ttl_ms, *self._limits]
                    )
                except redis.RedisError as exc:
                    self._degrade(exc)
                    return True
                self._rejoin()
                if granted:
                    waited = time.monotonic() - started
                    with self._lock:
                        self._held[ticket] = lease
                        self.leases_taken += 1
                    metrics.LEASE_WAITS.inc()
                    metrics.LEASE_WAIT_SECONDS.inc(waited)
                    return True
                with self._lock:
                    self._positions[ticket] = int(rank)
                self._stop.wait(self.settings.poll_seconds)
            self._forget(lease)
            return False
        finally:
            with self._lock:
                self._positions.pop(ticket, None)

    def release(self, ticket: object) -> None:
        with self._lock:
            lease = self._held.pop(ticket, None)
        if lease is not None:
            self._forget(lease)

    def _forget(self, lease: str) -> None:
        try:
            pipe = self._redis.pipeline()
            for key in self._scope_keys:
                pipe.zrem(key, lease)
            pipe.zrem(self._queue_keys[0], lease)
            pipe.zrem(self._queue_keys[1], lease)
            pipe.execute()
        except redis.RedisError as exc:
            self._degrade(exc)  # the lease lapses by itself

    def check(self) -> None:
        """At start: Redis must accept this mount. A refusal of its credentials or a bad
        setting is FleetRefused (the mount fails); an unreachable Redis only degrades, loudly."""
        try:
            self._redis.ping()
        except redis.AuthenticationError as exc:
            raise FleetRefused(f"Redis refused this mount's credentials ({type(exc).__name__})") from None
        except redis.ResponseError as exc:  # NOPERM and other refusals of a configured user
            raise FleetRefused(f"Redis refused this mount ({str(exc).split(' ', 1)[0]})") from None
        except redis.RedisError as exc:
            self._degrade(exc)

    def _heartbeat(self) -> None:
        """Renew held leases every third of their life (also after a Redis restart lost them);
        with none held, ping, so an idle mount notices Redis leave and come back."""
        while not self._stop.wait(max(self.settings.lease_seconds / 3, 0.05)):
            with self._lock:
                leases = list(self._held.values())
            try:
                for lease in leases:
                    self._renew(keys=self._scope_keys, args=[self.ttl_ms, lease])
                if not leases:
                    self._redis.ping()
            except redis.RedisError as exc:
                self._degrade(exc)
            else:
                self._rejoin()

    def _degrade(self, exc: Exception) -> None:
        with self._lock:
            first = self.degraded is None
            self.degraded = f"Redis unreachable ({type(exc).__name__}): local limits only"
        if first:
            log.warning("fleet %s degraded: %s", self.settings.fleet, self.degraded)

    def _rejoin(self) -> None:
        with self._lock:
            was, self.degraded = self.degraded, None
        if was is not None:
            log.warning("fleet %s: Redis answers again; rejoined", self.settings.fleet)

    def snapshot(self, remote: bool = True) -> dict[str, Any]:
        """The fleet part of status: this host's view and, if ``remote`` and Redis answers,
        the fleet's holders and queue."""
        doc: dict[str, Any] = {
            "fleet": self.settings.fleet,
            "degraded": self.degraded,
            "held_here": self.held,
        }
        if not remote:
            return doc
        try:
            pipe = self._redis.pipeline()
            for key in self._scope_keys:
                pipe.zrange(key, 0, -1)
            pipe.zcard(self._queue_keys[0])
            *holders, queued = pipe.execute()
        except redis.RedisError:
            return doc
        doc["holders"] = {
            scope: sorted({m.decode().rsplit(":", 2)[0] for m in members})
            for scope, members in zip(("user", "enterprise"), holders, strict=True)
        }
        doc["leases"] = {"user": len(holders[0]), "enterprise": len(holders[1])}
        doc["queued"] = int(queued)
        return doc

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            leases = list(self._held.values())
            self._held.clear()
        for lease in leases:
            self._forget(lease)
        self._redis.close()


class FleetSlots(SlotQueue):
    """The mount's own FIFO slots, then a fleet lease: a download needs both."""

    def __init__(self, slots: int, fleet: FleetBudget) -> None:
        super().__init__(slots)
        self.fleet = fleet

    def acquire(self, ticket: object) -> None:
        super().acquire(ticket)
        if not self.fleet.acquire(ticket, lambda: self.cancelled(ticket)):
            super().release(ticket)
            raise Cancelled("the download was cancelled")

    def release(self, ticket: object) -> None:
        self.fleet.release(ticket)
        super().release(ticket)

    def position(self, ticket: object) -> int | None:
        """The place in this mount's queue, else in the fleet's (fleet-wide)."""
        local = super().position(ticket)
        return local if local is not None else self.fleet.position(ticket)

    def close(self) -> None:
        super().close()
        self.fleet.close()


def fleet_report(url: str, fleet: str, enterprise: str | None = None) -> dict[str, Any]:
    """Every host's holders and the queue of ``fleet``, read from Redis without joining it."""
    keys = FleetBudget.keys(fleet, enterprise)
    client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        pipe = client.pipeline()
        pipe.zrange(keys.user, 0, -1)
        pipe.zcard(keys.enterprise)
        pipe.zcard(keys.queue)
        holders, enterprise_count, queued = pipe.execute()
    except redis.RedisError as exc:
        raise FleetUnreachable(f"cannot read the fleet from Redis: {type(exc).__name__}") from None
    finally:
        client.close()
    hosts: dict[str, int] = {}
    for member in holders:
        host = member.decode().rsplit(":", 2)[0]
        hosts[host] = hosts.get(host, 0) + 1
    return {
        "fleet": fleet,
        "leases": {"user": len(holders), "enterprise": int(enterprise_count)},
        "queued": int(queued),
        "hosts": hosts,
    }

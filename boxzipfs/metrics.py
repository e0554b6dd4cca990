"""Prometheus metrics (prometheus-client), in a registry of their own.

Counters and the histogram are updated where things happen; gauges are read
from the live state at scrape time (``register_state``). Names and labels never
carry a token, a URL or a file name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

BYTES_DELIVERED = Counter(
    "boxzipfs_bytes_delivered", "Bytes received from Box into spools", registry=REGISTRY
)
BYTES_READ = Counter("boxzipfs_bytes_read", "Bytes served to readers of the mount", registry=REGISTRY)
DOWNLOADS = Counter(
    "boxzipfs_downloads",
    "Downloads ended, by outcome (succeeded, failed, abandoned) and failure reason",
    ["outcome", "reason"],
    registry=REGISTRY,
)
BOX_429 = Counter("boxzipfs_box_429", "429 answers from Box, waited out", registry=REGISTRY)
API_CALLS = Counter(
    "boxzipfs_api_calls",
    "Box API calls (the monthly budget's unit), by endpoint",
    ["endpoint"],
    registry=REGISTRY,
)
API_PACING_SECONDS = Counter(
    "boxzipfs_api_pacing_seconds",
    "Seconds API calls waited for room in the per-minute budget",
    registry=REGISTRY,
)
RETRIES = Counter("boxzipfs_box_retries", "Requests to Box retried after an error", registry=REGISTRY)
RESUMES = Counter("boxzipfs_resumes", "Broken streams resumed", registry=REGISTRY)
PREFETCHED = Counter(
    "boxzipfs_browse_prefetched_files", "Browse files fetched ahead in a folder's one zip download",
    registry=REGISTRY,
)  # fmt: skip
BROWSE_CACHE_HITS = Counter(
    "boxzipfs_browse_cache_hits", "Browse files served from the verified file cache", registry=REGISTRY
)
LEASE_WAITS = Counter(
    "boxzipfs_fleet_lease_waits", "Fleet leases taken (each after a wait)", registry=REGISTRY
)
LEASE_WAIT_SECONDS = Counter(
    "boxzipfs_fleet_lease_wait_seconds", "Seconds spent waiting for fleet leases", registry=REGISTRY
)
CACHE_EVICTIONS = Counter(
    "boxzipfs_cache_evictions", "Completed spools evicted from the cache", registry=REGISTRY
)
TTFB = Histogram(
    "boxzipfs_time_to_first_byte_seconds",
    "From the create of a zip download to its first content bytes",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)


class _State(Collector):
    """Gauges read from the mount's live state when scraped."""

    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, value in sorted(self._read().items()):
            yield GaugeMetricFamily(f"boxzipfs_{name}", GAUGES[name], value=value)


GAUGES = {
    "downloads_active": "Downloads streaming now",
    "downloads_queued": "Downloads waiting for a slot or a fleet lease",
    "cache_bytes": "Bytes of completed spools kept in the cache",
    "fleet_leases_held": "Fleet leases this mount holds",
    "fleet_degraded": "1 while Redis is unreachable and only local limits apply",
}


def register_state(read: Callable[[], dict[str, float]]) -> None:
    """Expose the gauges named in GAUGES, read by ``read`` at each scrape."""
    REGISTRY.register(_State(read))

"""ApiPacer: calls spread under the per-minute budget, counted by endpoint; a fleet's store
that fails leaves this host pacing alone, never stuck."""

from __future__ import annotations

import time

import pytest

from boxzipfs.client.pacing import ApiPacer


def test_calls_are_spread_at_a_sixtieth_of_the_budget_a_second_and_counted() -> None:
    pacer = ApiPacer(120)  # 2 a second
    started = time.monotonic()
    waited = [pacer.wait("folder_items") for _ in range(5)]
    took = time.monotonic() - started
    assert 1.5 <= took < 4.0, took  # 5 calls at 2 a second: the last waits for the second window
    assert waited[0] == 0.0 and sum(waited) > 1.0
    shown = pacer.snapshot()
    assert shown["calls"] == {"folder_items": 5} and shown["per_minute"] == 120


def test_an_unreachable_fleet_store_falls_back_to_this_host(caplog: pytest.LogCaptureFixture) -> None:
    pacer = ApiPacer(600, "k", "redis://127.0.0.1:1/0")  # nothing listens there
    assert pacer.wait("zip_downloads") == 0.0
    assert pacer.snapshot()["shared"] is False
    assert "pacing this host alone" in caplog.text
    with pytest.raises(ValueError, match="at least one call"):
        ApiPacer(0)

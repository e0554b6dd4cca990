"""#18.4: browse/ costs the same per file however much was read before; RSS, threads and
descriptors stay bounded and come back after idle (a small soak; scripts/soak runs 20,000)."""

from __future__ import annotations

import pytest

from tests.unattended.soak import run_soak

pytestmark = pytest.mark.mount


def test_browse_reads_cost_the_same_late_as_early_and_memory_comes_back() -> None:
    figures = run_soak(rounds=4, files=800)
    assert figures.exact
    first, last = figures.rounds[0], figures.rounds[-1]
    # before the fix the last round ran at a fifth of the first (a sweep over every download ever)
    assert last["files_per_second"] >= 0.6 * first["files_per_second"], figures
    # libfuse keeps up to 10 idle workers; what must not happen is growth with the files read
    assert figures.idle["threads"] <= figures.start["threads"] + 12, figures
    # a round's threads are libfuse's workers of the moment (seen from 8 to 13 on 2 cores), not
    # one per file: bounded by the same pool limit, never by the 800 files each round reads
    assert last["threads"] <= figures.start["threads"] + 12, figures
    assert figures.idle["fds"] <= figures.start["fds"] + 2, figures
    assert figures.idle["rss_mib"] <= first["rss_mib"] + 20, figures  # not one step per file read

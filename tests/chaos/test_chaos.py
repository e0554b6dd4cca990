"""The chaos and soak suite, small: each scenario of tests/chaos/harness.py at a size of seconds.
``scripts/chaos`` runs them at full size and prints the figures."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.harness import SCENARIOS, is_clean

pytestmark = pytest.mark.mount


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "large"])
def test_scenario_keeps_its_promises(name: str) -> None:
    result = SCENARIOS[name](False)
    assert not result.broken, (result.broken, result.figures)
    assert is_clean(), "a scenario left a mount behind"


def test_mounts_the_harness_did_not_make_are_not_its_to_judge(
    mount: Callable[..., Path], tmp_path: Path
) -> None:
    """Another boxzipfs mount on the host (another user's, another test run's) left every
    scenario 'broken' when the clean-up check read all of /proc/mounts (#29.23)."""
    (tmp_path / "served").mkdir()
    bystander = mount("--local", str(tmp_path / "served"))
    assert os.path.ismount(bystander)
    assert is_clean()

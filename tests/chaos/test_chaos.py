"""The chaos and soak suite, small: each scenario of tests/chaos/harness.py at a size of seconds.
``scripts/chaos`` runs them at full size and prints the figures."""

from __future__ import annotations

import pytest

from tests.chaos.harness import SCENARIOS, is_clean

pytestmark = pytest.mark.mount


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "large"])
def test_scenario_keeps_its_promises(name: str) -> None:
    result = SCENARIOS[name](False)
    assert not result.broken, (result.broken, result.figures)
    assert is_clean(), "a scenario left a mount behind"

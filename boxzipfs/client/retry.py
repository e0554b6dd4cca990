"""Retry policy: an immutable value saying how long to wait before each attempt."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts; Box's Retry-After wins, else jittered exponential backoff.

    ``attempts`` counts every try, the first included.
    """

    attempts: int = 5
    backoff: float = 0.5
    max_delay: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_delay * 10))
        ceiling = min(self.max_delay, self.backoff * (2 ** (attempt - 1)))
        return self.rng.uniform(ceiling / 2, ceiling)

    def gives_up_after(self, attempt: int) -> bool:
        return attempt >= self.attempts


NO_RETRY = RetryPolicy(attempts=1)

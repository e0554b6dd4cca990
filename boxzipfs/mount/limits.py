"""The daemon's open-files limit: the soft limit raised to the hard one at start.

systemd gives services a soft limit of 1,024 (and a hard one far above); a mount
that serves many readers at once may need more. Spools close their descriptors
when nobody reads them, so the need follows concurrent readers, not history.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; the soft limit in force after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError) as exc:
            log.info("open files: soft limit stays %d (hard %d): %s", soft, hard, exc)
            return soft
        log.info("open files: soft limit raised from %d to %d (the hard limit)", soft, hard)
        return hard
    log.info("open files: limit %d", soft)
    return soft

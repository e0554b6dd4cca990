"""``boxzipfs ls``: a Box folder's items with IDs, types and sizes (every page)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from boxzipfs.models import FolderEntry

LISTED = frozenset({"name", "size", "modified_at"})  # what `ls` asks Box for, shown as listed


def format_entries(entries: Iterable[FolderEntry], as_json: bool) -> str:
    items = list(entries)
    if as_json:
        return json.dumps([e.to_json(LISTED) for e in items], indent=2)
    width = max((len(e.id) for e in items), default=2)
    lines = [f"{'ID':<{width}}  {'TYPE':<6}  {'SIZE':>14}  NAME"]
    for entry in items:
        size = "-" if entry.size is None or entry.type == "folder" else str(entry.size)
        lines.append(f"{entry.id:<{width}}  {entry.type:<6}  {size:>14}  {entry.name}")
    return "\n".join(lines)

"""Box's full user, folder and file objects for ``/2.0/users/me``, ``/2.0/folders/{id}``
and ``/2.0/files/{id}``: every default field Box documents that a local folder can
give, or only those ``fields`` asks for (with ``type`` and ``id``, as Box does)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from boxzipfs.server.accounts import User
from boxzipfs.server.store import LocalStore, Node

DEFAULT_ITEM_FIELDS = frozenset(
    {"sequence_id", "name", "size", "modified_at", "parent", "sha1", "file_version"}
)
ITEM_PAGE = 100  # a folder object's item_collection holds its first 100 items, as Box's


def _only(body: dict[str, Any], fields: frozenset[str] | None) -> dict[str, Any]:
    if fields is None:
        return body
    return {k: v for k, v in body.items() if k in ("type", "id") or k in fields}


def user_json(user: User, fields: frozenset[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "user",
        "id": user.id,
        "name": user.name,
        "login": user.login or f"{user.name}@example.com",
        "created_at": "2024-01-01T00:00:00+00:00",
        "modified_at": "2024-01-01T00:00:00+00:00",
        "language": "en",
        "timezone": "UTC",
        "space_amount": 10**15,
        "space_used": 0,
        "max_upload_size": 5 << 30,
        "status": "active",
        "job_title": "",
        "phone": "",
        "address": "",
        "avatar_url": "",
        "notification_email": None,
        # Not a default field: Box gives it only when asked for.
        "enterprise": (
            {"type": "enterprise", "id": user.enterprise_id, "name": f"Enterprise {user.enterprise_id}"}
            if user.enterprise_id
            else None
        ),
        "role": user.role,
    }
    if fields is None:
        body.pop("enterprise")
        body.pop("role")
    return _only(body, fields)


def _mini(store: LocalStore, node: Node) -> dict[str, Any]:
    entry = store.entry(node, None, frozenset({"sequence_id", "name", "sha1", "file_version"}))
    return entry.to_json(frozenset({"sequence_id", "name", "sha1", "file_version"}))


def _path(store: LocalStore, node: Node) -> list[dict[str, Any]]:
    """The folders from the root down to ``node``'s parent, as Box's path_collection."""
    chain: list[dict[str, Any]] = []
    if node.rel == "":
        return chain
    root = store.node(store.root)
    if root is not None:
        chain.append({"type": "folder", "id": "0", "sequence_id": None, "etag": None, "name": "All Files"})
    parent = node.path.parent
    ancestors = []
    while parent != store.root:
        found = store.node(parent)
        if found is not None:
            ancestors.append(found)
        parent = parent.parent
    for folder in reversed(ancestors):
        version = str(folder.mtime_ns // 1_000_000_000)
        chain.append({"type": "folder", "id": folder.id, "sequence_id": version, "etag": version,
                      "name": folder.path.name})  # fmt: skip
    return chain


def item_json(store: LocalStore, node: Node, user: User, fields: frozenset[str] | None) -> dict[str, Any]:
    wanted = fields or frozenset(
        {"sequence_id", "name", "size", "modified_at", "parent", "sha1", "file_version"}
    )
    parent_node = store.node(node.path.parent) if node.rel else None
    body = store.entry(node, parent_node, wanted | {"name"}).to_json(wanted | {"name", "sequence_id"})
    if node.rel == "":
        body.update(name="All Files", etag=None, sequence_id=None)
    modified = datetime.fromtimestamp(node.mtime_ns // 1_000_000_000, UTC).isoformat()
    owner = {
        "type": "user",
        "id": user.id,
        "name": user.name,
        "login": user.login or f"{user.name}@example.com",
    }
    path = _path(store, node)
    body.update(
        created_at=modified,
        content_created_at=modified,
        content_modified_at=modified,
        description="",
        path_collection={"total_count": len(path), "entries": path},
        created_by=owner,
        modified_by=owner,
        owned_by=owner,
        trashed_at=None,
        purged_at=None,
        shared_link=None,
        item_status="active",
    )
    body.setdefault("parent", None)
    if node.type == "folder":
        children = [c for c in store.children(node) if user.may_read(c.rel)]
        body["folder_upload_email"] = None
        body["item_collection"] = {
            "total_count": len(children),
            "entries": [_mini(store, child) for child in children[:ITEM_PAGE]],
            "offset": 0,
            "limit": ITEM_PAGE,
            "order": [{"by": "type", "direction": "ASC"}, {"by": "name", "direction": "ASC"}],
        }
    return _only(body, fields)

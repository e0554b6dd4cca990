"""Zip downloads on the local server: validation and planning at create, the
one-shot content claim, concurrency slots, and live status.

The plan (which files and folders, under which archive names) is fixed at
create; at download time each entry is checked again and counted as skipped if
it vanished or became forbidden.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath

from boxzipfs.models import NameConflict, ZipItem, ZipRequest, ZipStatus
from boxzipfs.server.accounts import User
from boxzipfs.server.config import ServerConfig
from boxzipfs.server.store import LocalStore, Node


class ZipError(Exception):
    """A ClientError answer: HTTP status, Box code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PlannedEntry:
    """One archive member: ``name`` ends with ``/`` for folders."""

    name: str
    node: Node


@dataclass
class ZipJob:
    """One created zip download."""

    content_id: str
    status_id: str
    user: User
    plan: list[PlannedEntry]
    file_name: str
    name_conflicts: list[list[NameConflict]]
    expires_wall: datetime
    expires: float
    claimed: bool = False
    started: float | None = None
    downloaded: int = 0
    skipped_files: int = 0
    skipped_folders: int = 0
    state: str = "in_progress"
    finished: bool = False  # its slot was released
    delivered: int = 0  # files whose bytes have surely gone out to the client
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total_files(self) -> int:
        return sum(1 for e in self.plan if e.node.type == "file")

    def status(self) -> ZipStatus:
        with self.lock:
            return ZipStatus(
                self.total_files, self.downloaded, self.skipped_files, self.skipped_folders, self.state
            )


def _renamed(item: ZipItem, name: str) -> str:
    """A short hex name that keeps the extension, as Box renames conflicting items."""
    stem = hashlib.sha256(f"{item.type}:{item.id}".encode()).hexdigest()[:6]
    suffix = PurePosixPath(name).suffix if item.type == "file" else ""
    return stem + suffix


class ZipRegistry:
    """Creates zip downloads and hands out their one-shot content."""

    def __init__(self, store: LocalStore, config: ServerConfig) -> None:
        self.store = store
        self.config = config
        self._jobs: dict[str, ZipJob] = {}
        self._by_status: dict[str, ZipJob] = {}
        # The jobs in the order their life ends, so purging costs the dead ones only:
        # unstarted ones by creation (same URL lifetime), started ones by start.
        self._unstarted: deque[ZipJob] = deque()
        self._started: deque[ZipJob] = deque()
        self._active: Counter[str] = Counter()
        # Guards the zip downloads, their states and the counts of running downloads.
        self._lock = threading.Lock()
        self.created = 0
        self.started = 0
        self.status_reads = 0
        self.answered_429 = 0
        self.peak_active = 0
        self.redirected = 0

    def create(self, user: User, request: ZipRequest) -> ZipJob:
        """Validate and plan an archive, or raise ZipError as Box would."""
        nodes: list[tuple[ZipItem, Node]] = []
        for item in dict.fromkeys(request.items):  # an item listed twice is one entry
            if item.type == "folder" and item.id == "0":
                raise ZipError(400, "bad_request", "The root folder (ID 0) cannot be added to a zip")
            node = self.store.resolve(item.type, item.id)
            if node is None:
                raise ZipError(404, "not_found", f"Could not find the specified {item.type} {item.id}")
            if not user.may_read(node.rel):
                raise ZipError(403, "forbidden", f"Access denied to {item.type} {item.id}")
            nodes.append((item, node))
        names = self._top_level_names(nodes)
        plan: list[PlannedEntry] = []
        for (_, node), top in zip(nodes, names[0], strict=True):
            if node.type == "file":
                plan.append(PlannedEntry(top, node))
                continue
            plan.append(PlannedEntry(top + "/", node))
            base = node.rel
            for child in self.store.walk(node):
                if not user.may_read(child.rel):
                    continue
                tail = child.rel[len(base) + 1 :] if base else child.rel
                plan.append(PlannedEntry(f"{top}/{tail}" + ("/" if child.type == "folder" else ""), child))
        files = [e for e in plan if e.node.type == "file"]
        if len(files) > self.config.max_files:
            raise ZipError(
                400,
                "zip_download_file_count_exceeded_limit",
                f"The archive would hold {len(files)} files; the limit is {self.config.max_files}",
            )
        total = sum(e.node.size for e in files)
        if total > self.config.max_bytes:
            raise ZipError(
                400,
                "zip_download_pre_compressed_bytes_exceeded_limit",
                f"The archive would hold {total} bytes; the limit is {self.config.max_bytes}",
            )
        now = datetime.now(UTC)
        job = ZipJob(
            content_id=secrets.token_urlsafe(32),
            status_id=secrets.token_urlsafe(24),
            user=user,
            plan=plan,
            file_name=(request.download_file_name or f"box-download-{now:%Y%m%d-%H%M%S}") + ".zip",
            name_conflicts=names[1],
            expires_wall=now + timedelta(seconds=self.config.url_ttl),
            expires=time.monotonic() + self.config.url_ttl,
        )
        with self._lock:
            self._purge()
            self.created += 1
            self._jobs[job.content_id] = job
            self._by_status[job.status_id] = job
            self._unstarted.append(job)
        return job

    @staticmethod
    def _top_level_names(
        nodes: list[tuple[ZipItem, Node]],
    ) -> tuple[list[str], list[list[NameConflict]]]:
        """Names of the requested items in the archive; each clash renames both sides."""
        original = [node.path.name for _, node in nodes]
        counts = Counter(original)
        final = list(original)
        conflicts: list[list[NameConflict]] = []
        first_of: dict[str, int] = {}
        for index, ((item, _), name) in enumerate(zip(nodes, original, strict=True)):
            if counts[name] < 2:
                continue
            final[index] = _renamed(item, name)
            if name not in first_of:
                first_of[name] = index
                continue
            first = first_of[name]
            pair = [
                NameConflict(nodes[first][0].id, nodes[first][0].type, name, _renamed(nodes[first][0], name)),
                NameConflict(item.id, item.type, name, final[index]),
            ]
            conflicts.append(pair)
        return final, conflicts

    def _purge(self) -> None:
        """Forget unstarted jobs past their URL's life and started ones past the status's."""
        now = time.monotonic()
        while self._unstarted and (self._unstarted[0].claimed or now > self._unstarted[0].expires):
            job = self._unstarted.popleft()
            if not job.claimed:
                self._forget(job)
        while self._started and now > (self._started[0].started or now) + self.config.status_ttl:
            self._forget(self._started.popleft())

    def _forget(self, job: ZipJob) -> None:
        self._jobs.pop(job.content_id, None)
        self._by_status.pop(job.status_id, None)

    def claim(self, content_id: str) -> ZipJob:
        """Start a download: once only, before expiry, within the concurrency limits."""
        with self._lock:
            job = self._jobs.get(content_id)
            if job is None or job.claimed or time.monotonic() > job.expires:
                raise ZipError(404, "not_found", "This zip download does not exist or was already used")
            if self._active[job.user.id] >= self.config.user_concurrency:
                self.answered_429 += 1
                raise ZipError(
                    429,
                    "user_too_many_concurrent_downloads",
                    f"The maximum of {self.config.user_concurrency} parallel zip downloads "
                    "per user has been met",
                )
            if sum(self._active.values()) >= self.config.enterprise_concurrency:
                self.answered_429 += 1
                raise ZipError(
                    429,
                    "enterprise_too_many_concurrent_downloads",
                    f"The maximum of {self.config.enterprise_concurrency} parallel zip downloads "
                    "per enterprise has been met",
                )
            job.claimed = True
            job.started = time.monotonic()
            self._started.append(job)
            self.started += 1
            self._active[job.user.id] += 1
            self.peak_active = max(self.peak_active, sum(self._active.values()))
            return job

    def finish(self, job: ZipJob, succeeded: bool) -> None:
        """Release the job's concurrency slot and fix its final state; once per job, however
        many paths end it (a stream that ends, one never started, a response that failed)."""
        with job.lock:
            if job.finished:
                return
            job.finished = True
            job.state = "succeeded" if succeeded else "failed"
        with self._lock:
            self._active[job.user.id] -= 1

    def status(self, status_id: str, user: User) -> ZipStatus:
        """Live status: 404 before the download starts and after status_ttl."""
        with self._lock:
            self.status_reads += 1
            job = self._by_status.get(status_id)
        if job is None or job.started is None or time.monotonic() > job.started + self.config.status_ttl:
            raise ZipError(404, "not_found", "No status for this zip download")
        if job.user.id != user.id:
            raise ZipError(403, "forbidden", "This zip download belongs to another user")
        return job.status()

    def count_429(self) -> None:
        """A 429 answered outside the download slots (the API rate limit)."""
        with self._lock:
            self.answered_429 += 1

    def stats(self) -> dict[str, int]:
        """Counters for tests and benchmarks: creates, started and active downloads, status reads."""
        with self._lock:
            return {
                "creates": self.created,
                "downloads_started": self.started,
                "status_reads": self.status_reads,
                "active_downloads": sum(self._active.values()),
                "peak_active_downloads": self.peak_active,
                "answered_429": self.answered_429,
                "content_redirects": self.redirected,
            }

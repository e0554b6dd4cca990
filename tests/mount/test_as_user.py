"""Mounting as a user other than root, the way real users mount: through fusermount3.

Each test runs boxzipfs as ``nobody`` from a virtualenv of the system's
/usr/bin/python3 (root's python lives where other users cannot enter), with
/dev/fuse opened to users (mode 0666, as on a normal Debian system) for the
duration and restored afterwards.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import expected_members, file_id, make_tree, zip_contents

pytestmark = pytest.mark.mount
REPO = Path(__file__).resolve().parents[2]
UID = GID = 65534  # nobody / nogroup
PACKAGE = ("boxzipfs", "pyproject.toml", "README.md", "LICENSE")


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A directory every user can enter (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="boxzipfs-user-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def user_bin(scratch: Path) -> Path:
    """A wheel and an sdist built with the standard build frontend (PEP 517, setuptools), and the
    wheel installed with pip alone into a fresh venv of /usr/bin/python3: no scripts/bootstrap."""
    source, venv, dist = scratch / "src", scratch / "venv", scratch / "dist"
    source.mkdir()
    for name in PACKAGE:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy
        copy(REPO / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(source)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = dist.glob("boxzipfs-*.whl")
    (sdist,) = dist.glob("boxzipfs-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "boxzipfs/cli/main.py", "boxzipfs/py.typed"} <= names
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return venv / "bin"


@pytest.fixture(scope="module")
def fuse_for_users() -> Iterator[None]:
    mode = stat.S_IMODE(os.stat("/dev/fuse").st_mode)
    os.chmod("/dev/fuse", 0o666)
    try:
        yield
    finally:
        os.chmod("/dev/fuse", mode)


@dataclass
class User:
    """``nobody`` with a home of its own and a Box tree it can read."""

    home: Path
    tree: Path
    files: dict[str, bytes]
    bin: Path

    @property
    def mnt(self) -> Path:
        return self.home / "box"

    def run(
        self, *argv: str | Path, path: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = {"HOME": str(self.home), "LANG": "C.UTF-8"}
        if path:
            env["PATH"] = f"{self.bin}:/usr/bin:/bin"
        return subprocess.run(
            ["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups", "--", *map(str, argv)],
            env=env, cwd=self.home, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def mount_line(self) -> str | None:
        return next((m for m in Path("/proc/mounts").read_text().splitlines() if f" {self.mnt} " in m), None)

    def define_docs(self) -> None:
        done = self.run(
            "boxzipfs", "request", "add", self.mnt, "docs", f"folder:{file_id(self.tree, 'docs')}"
        )
        assert done.returncode == 0, done.stderr

    def copy_docs(self) -> None:
        """``cp`` of request.zip as the user; the copy must be the folder, byte for byte."""
        out = self.home / "docs.zip"
        done = self.run("cp", self.mnt / "docs" / "request.zip", out)
        assert done.returncode == 0, done.stderr
        assert zip_contents(out.read_bytes()) == expected_members(self.tree, "docs")
        out.unlink()

    def daemons(self) -> list[int]:
        """Live processes of this user's mount (its daemon)."""
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and proc.stat().st_uid == UID:
                    cmdline = (proc / "cmdline").read_bytes()
                    if str(self.mnt).encode() in cmdline:
                        found.append(int(proc.name))
            except OSError:
                continue
        return found

    def assert_gone(self) -> None:
        """Unmounted, and the daemon has exited on its own."""
        assert self.mount_line() is None
        deadline = time.monotonic() + 15
        while self.daemons():
            assert time.monotonic() < deadline, f"daemon still running: {self.daemons()}"
            time.sleep(0.1)


@pytest.fixture
def user(scratch: Path, user_bin: Path, fuse_for_users: None) -> Iterator[User]:
    base = Path(tempfile.mkdtemp(dir=scratch))
    base.chmod(0o755)
    tree, home = base / "tree", base / "home"
    tree.mkdir()
    files = make_tree(tree)
    home.mkdir()
    (home / "box").mkdir()
    for path in (home, home / "box"):
        os.chown(path, UID, GID)
    person = User(home, tree, files, user_bin)
    try:
        yield person
    finally:
        if person.mount_line():
            subprocess.run(["fusermount", "-u", "-z", str(person.mnt)], capture_output=True, check=False)
        for pid in person.daemons():
            os.kill(pid, 9)


def test_a_user_mounts_reads_and_unmounts_with_fusermount(user: User) -> None:
    done = user.run("boxzipfs", "mount", user.mnt, "--local", user.tree)
    assert done.returncode == 0, done.stderr
    line = user.mount_line()
    assert line and line.split()[2] == "fuse.boxzipfs" and f"user_id={UID}" in line
    user.define_docs()
    user.copy_docs()
    # A user may not raise the mount's read-ahead (boxzipfs/mount/readahead.py): the default stays.
    device = next(
        f.split()[2] for f in Path("/proc/self/mountinfo").read_text().splitlines() if str(user.mnt) in f
    )
    assert int(Path("/sys/class/bdi", device, "read_ahead_kb").read_text()) == 128
    # Without allow_other the mount is the user's alone, root included.
    with pytest.raises(PermissionError):
        os.stat(user.mnt / "docs")

    unmounted = user.run("fusermount", "-u", user.mnt)
    assert unmounted.returncode == 0, unmounted.stderr
    user.assert_gone()


def test_without_libfuse3_a_mount_names_the_package_to_install(user: User) -> None:
    done = user.run(
        "env", "FUSE_LIBRARY_NAME=no-such-fuse", "boxzipfs", "mount", user.mnt, "--local", user.tree
    )
    assert done.returncode == 1 and user.mount_line() is None
    assert done.stderr.strip() == (
        "boxzipfs: libfuse3 is not installed: install the fuse3 package (Debian, Ubuntu: apt-get install "
        "fuse3; Fedora: dnf install fuse3) and mount again"
    )


def test_the_pip_installed_commands_serve_and_report(user: User) -> None:
    """mount and status are shown above; serve and status --check from the same install."""
    server = subprocess.Popen(
        ["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups", "--",
         str(user.bin / "boxzipfs"), "serve", "--root", str(user.tree), "--port", "0"],
        stdout=subprocess.PIPE, text=True, env={"HOME": str(user.home), "BOXZIPFS_SERVE_TOKENS": "t"},
    )  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip().removeprefix("listening on ")
        refused = user.run("boxzipfs", "ls", "0", "--api-url", url)  # no credentials at all
        assert refused.returncode == 1 and refused.stderr.startswith("boxzipfs: no Box credentials")
        done = subprocess.run(
            ["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups", "--",
             str(user.bin / "boxzipfs"), "ls", "0", "--api-url", url],
            capture_output=True, text=True, check=False,
            env={"HOME": str(user.home), "BOX_ACCESS_TOKEN": "t"},
        )  # fmt: skip
        assert done.returncode == 0 and "docs" in done.stdout, done.stderr
    finally:
        server.terminate()
        server.communicate(timeout=10)
    assert user.run("boxzipfs", "mount", user.mnt, "--local", user.tree).returncode == 0
    checked = user.run("boxzipfs", "status", "--check", user.mnt)
    assert checked.returncode == 0 and "alive and ready" in checked.stdout, checked.stdout + checked.stderr
    assert user.run("boxzipfs", "unmount", user.mnt).returncode == 0
    user.assert_gone()


def test_a_user_unmounts_with_boxzipfs_unmount_and_mounts_again(user: User) -> None:
    assert user.run("boxzipfs", "mount", user.mnt, "--local", user.tree).returncode == 0
    user.define_docs()
    done = user.run("boxzipfs", "unmount", user.mnt)
    assert done.returncode == 0, done.stderr
    user.assert_gone()

    again = user.run("boxzipfs", "mount", user.mnt, "--local", user.tree)
    assert again.returncode == 0, again.stderr
    user.copy_docs()  # the definition outlived the first mount
    assert user.run("boxzipfs", "unmount", user.mnt).returncode == 0
    user.assert_gone()


@pytest.fixture
def command_for_mount_helpers(user_bin: Path) -> Iterator[None]:
    """mount(8) runs helpers with a fixed PATH: point /usr/local/bin/boxzipfs at the user's install."""
    link = Path("/usr/local/bin/boxzipfs")
    if link.exists() and not link.is_symlink():
        pytest.fail(f"{link} is not the link scripts/bootstrap makes; not replacing it")
    before = os.readlink(link) if link.is_symlink() else None
    link.unlink(missing_ok=True)
    link.symlink_to(user_bin / "boxzipfs")
    try:
        yield
    finally:
        link.unlink()
        if before is not None:
            link.symlink_to(before)


@pytest.fixture
def fstab() -> Iterator[Path]:
    """/etc/fstab, restored byte for byte afterwards (a user cannot pass mount -T)."""
    path = Path("/etc/fstab")
    before = path.read_bytes() if path.exists() else None
    try:
        yield path
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)


def test_a_user_mounts_an_fstab_entry_marked_user(
    user: User, fstab: Path, command_for_mount_helpers: None
) -> None:
    state, cache = user.home / "state", user.home / "cache"
    entry = (
        f"local:{user.tree} {user.mnt} fuse.boxzipfs "
        f"user,noauto,state_dir={state},cache_dir={cache},cache_size=1G 0 0\n"
    )
    fstab.write_bytes(fstab.read_bytes() + entry.encode() if fstab.exists() else entry.encode())
    # mount(8) hands the helper HOME=/root and no PATH; the helper must not care.
    done = user.run("mount", user.mnt, path=False)
    assert done.returncode == 0, done.stderr
    line = user.mount_line()
    assert line and line.split()[2] == "fuse.boxzipfs" and f"user_id={UID}" in line
    user.define_docs()
    user.copy_docs()
    assert (state / "requests" / "docs" / "request.json").is_file()  # the fstab options took effect
    assert not Path("/root/.local/state/boxzipfs/mounts", str(user.mnt).replace("/", "%2F")).exists()
    unmounted = user.run("fusermount", "-u", user.mnt)
    assert unmounted.returncode == 0, unmounted.stderr
    user.assert_gone()


def test_the_systemd_user_unit_mounts_and_stops_as_the_user(user: User) -> None:
    """Runs boxzipfs-user.service's ExecStartPre/ExecStart/ExecStop as systemd --user would."""
    config = user.home / ".config" / "boxzipfs" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'local = "{user.tree}"\n')
    (user.home / ".local" / "bin").mkdir(parents=True)
    (user.home / ".local" / "bin" / "boxzipfs").symlink_to(user.bin / "boxzipfs")
    subprocess.run(["chown", "-R", "-h", f"{UID}:{GID}", str(user.home)], check=True)
    user.mnt.rmdir()  # ExecStartPre makes it
    unit = (REPO / "contrib" / "systemd" / "boxzipfs-user.service").read_text()
    commands = {}
    for line in unit.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("Exec"):
            commands[key] = value.replace("%h", str(user.home)).split()
    assert user.run(*commands["ExecStartPre"]).returncode == 0
    env = {"HOME": str(user.home), "PATH": "/usr/bin:/bin"}
    service = subprocess.Popen(
        ["setpriv", f"--reuid={UID}", f"--regid={GID}", "--clear-groups", "--", *commands["ExecStart"]],
        env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not user.mount_line():
            if service.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the service did not mount: {service.communicate(timeout=5)[1]!r}")
            time.sleep(0.05)
        user.define_docs()
        user.copy_docs()
        stopped = user.run(*commands["ExecStop"])
        assert stopped.returncode == 0, stopped.stderr
        assert service.wait(15) == 0
        user.assert_gone()
    finally:
        if service.poll() is None:
            service.kill()
        service.wait()
        if service.stderr:
            service.stderr.close()

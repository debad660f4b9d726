"""Move inbox files to the NAS: rsync over SSH, or SFTP where rsync is missing.

Free of Home Assistant imports. Blocking file-system calls are plain functions
the caller runs in an executor; the transports are coroutines. Both transports
keep the same promise: a local file is deleted only after the NAS has all of
it under its final name, so a file is always either in the inbox or complete
on the NAS.

The inbox is hostile ground: a local user or an SMB client may swap any folder
for a symlink (to /config, say) while a flush runs. So the tree is only ever
walked through folder descriptors opened with O_NOFOLLOW, and each ready file
is first renamed into a private staging folder inside the inbox. The
transports read the staging folder through its descriptor, never by a path
through the inbox, and whatever did not move goes back afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum
import errno
import fcntl
import functools
import os
from pathlib import Path
import posixpath
import re
import secrets
import shlex
import shutil
import stat
import tempfile

# ssh checks the pinned key under this name, so the known-hosts line does not
# depend on how the host is written ([host]:port, IPv6 brackets).
HOST_KEY_ALIAS = "balupi-nas"
# The key offered for pinning: ed25519 first, as OpenSSH prefers it and as
# the README's fingerprint check (ssh_host_ed25519_key.pub) expects.
HOST_KEY_PREFERENCE = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
)
PARTIAL_DIR = ".balupi-partial"
SFTP_TEMP_SUFFIX = ".balupi-partial"
# Temporary names on the NAS hash the final name: short whatever its length,
# and the same each time, so the next flush overwrites a cut-off one.
SFTP_TEMP_DIGEST = 16
CONNECT_TIMEOUT = 10
# rsync gives up when no data moves for this long.
IO_TIMEOUT = 60
# rsync exits 24 when a listed file vanished before it was sent: nothing lost.
RSYNC_OK = (0, 24)
# Some files could not be transferred; the others were.
RSYNC_PARTIAL = 23
COMMAND_NOT_FOUND = 127
ITEMIZE_WIDTH = 11
_ESCAPED = re.compile(rb"\\#([0-7]{3})")
STOP_GRACE = 5.0

# A flush's private folder inside the inbox (same file system: renames).
STAGING_PREFIX = ".balupi-flush-"
_STAGING_NAME = re.compile(re.escape(STAGING_PREFIX) + r"[0-9a-f]{12}")
STAGING_MODE = 0o700
# Folders nested deeper are reported, not walked (the scan stays bounded).
MAX_DEPTH = 100
# What one executor job reads of a file for SFTP.
SFTP_CHUNK = 1024 * 1024
# A detail (the NAS's or the system's message) is cut to this length.
DETAIL_LENGTH = 200

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
# A folder on the way was replaced (by a symlink or a file) or removed.
_SWAPPED = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


class FlushErrorKind(StrEnum):
    """Why a flush failed; each kind maps to a translated message."""

    HOST_KEY_MISMATCH = "host_key_mismatch"
    AUTH_FAILED = "auth_failed"
    KEY_UNUSABLE = "key_unusable"
    NO_TRANSPORT = "no_transport"
    UNREACHABLE = "unreachable"
    TRANSFER_FAILED = "transfer_failed"


class NotMovedReason(StrEnum):
    """Why one file stayed in the inbox while others moved."""

    # Modified, replaced or removed after the scan: tried again next time.
    CHANGED = "changed"
    # Another name links to it, so it may be a file from outside the inbox.
    HARD_LINKED = "hard_linked"
    # In a folder nested deeper than MAX_DEPTH.
    TOO_DEEP = "too_deep"
    # The NAS refused it (a name it cannot store, a folder of that name...).
    REFUSED = "refused"
    # This system cannot read it.
    UNREADABLE = "unreadable"


# Reasons only the user can fix; the others pass by themselves.
NEEDS_USER = frozenset(
    {
        NotMovedReason.HARD_LINKED,
        NotMovedReason.TOO_DEEP,
        NotMovedReason.REFUSED,
        NotMovedReason.UNREADABLE,
    }
)


@dataclass(frozen=True, slots=True)
class NotMoved:
    """A file (or a folder of files) that stayed in the inbox, and why."""

    relpath: str
    reason: NotMovedReason
    detail: str = ""


@dataclass(slots=True)
class Progress:
    """What a flush did: files that reached the NAS and left the inbox, and not."""

    files: int = 0
    bytes: int = 0
    relpaths: list[str] = field(default_factory=list)
    not_moved: list[NotMoved] = field(default_factory=list)

    def add(self, relpath: str, size: int) -> None:
        """Count one file that moved."""
        self.files += 1
        self.bytes += size
        self.relpaths.append(relpath)

    def skip(self, relpath: str, reason: NotMovedReason, detail: str = "") -> None:
        """Record one file that stays in the inbox."""
        self.not_moved.append(NotMoved(relpath, reason, detail[:DETAIL_LENGTH]))


class FlushError(Exception):
    """A flush failed; files moved before the failure are counted."""

    def __init__(
        self, kind: FlushErrorKind, detail: str, progress: Progress | None = None
    ) -> None:
        """Keep the kind for the repair issue and the detail for the log."""
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.progress = progress or Progress()


@dataclass(frozen=True, slots=True)
class SshTarget:
    """Where the inbox goes and how to log in."""

    host: str
    port: int
    user: str
    remote_dir: str
    key_path: Path
    # The NAS's public host key as in known_hosts: "ssh-ed25519 AAAA...".
    host_key: str


@dataclass(frozen=True, slots=True)
class InboxFile:
    """A regular file in the inbox, as seen by the scan.

    Device and inode tell it from a file swapped in under its name later.
    """

    relpath: str
    size: int
    mtime: float
    device: int
    inode: int

    @classmethod
    def of(cls, relpath: str, info: os.stat_result) -> InboxFile:
        """Describe a file from its stat."""
        return cls(relpath, info.st_size, info.st_mtime, info.st_dev, info.st_ino)

    def matches(self, info: os.stat_result) -> bool:
        """Return whether ``info`` is this very file, unmodified and singly linked."""
        return (
            stat.S_ISREG(info.st_mode)
            and info.st_nlink == 1
            and (info.st_dev, info.st_ino, info.st_size, info.st_mtime)
            == (self.device, self.inode, self.size, self.mtime)
        )


@dataclass(frozen=True, slots=True)
class InboxScan:
    """What the inbox holds; only ``ready`` files may be moved now.

    ``staged`` files wait in a staging folder a flush left behind (a crash, or
    a newer file of the same name in the way); the next flush sends them.
    """

    ready: tuple[InboxFile, ...]
    files: int
    size: int
    oldest_mtime: float | None
    staged: int = 0
    not_movable: tuple[NotMoved, ...] = ()


# --- walking the inbox through folder descriptors ---------------------------


def _open_dir(name: str, dir_fd: int) -> int:
    """Open a real folder (never a symlink) below an open one."""
    return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _walk(
    top_fd: int, not_movable: list[NotMoved], skip: Iterable[str] = ()
) -> Iterator[tuple[str, os.stat_result]]:
    """Yield (relative path, lstat) of every entry below an open folder.

    Iterative and bounded: a folder deeper than MAX_DEPTH, or one that cannot
    be opened, is recorded in ``not_movable`` instead. Each folder is opened
    from its parent's descriptor with O_NOFOLLOW, so a symlink swapped in is
    never entered. ``skip`` names top-level entries to leave out.
    """
    skipped = set(skip)
    # Folders being walked: descriptor, relative path, subfolders still to enter.
    pending: list[tuple[int, str, list[str]]] = []
    fd, relpath = top_fd, ""
    try:
        while fd >= 0:
            subfolders: list[str] = []
            pending.append((fd, relpath, subfolders))
            with os.scandir(fd) as entries:
                for entry in sorted(entries, key=lambda item: item.name):
                    if not relpath and entry.name in skipped:
                        continue
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    yield posixpath.join(relpath, entry.name), info
                    if stat.S_ISDIR(info.st_mode):
                        subfolders.append(entry.name)
            subfolders.reverse()
            fd, relpath = _descend(pending, top_fd, not_movable)
    finally:
        for open_fd, _, _ in pending:
            if open_fd != top_fd:
                os.close(open_fd)


def _descend(
    pending: list[tuple[int, str, list[str]]], top_fd: int, not_movable: list[NotMoved]
) -> tuple[int, str]:
    """Open the next folder to walk; (-1, "") when the walk is done."""
    while pending:
        fd, relpath, names = pending[-1]
        if not names:
            pending.pop()
            if fd != top_fd:
                os.close(fd)
            continue
        child = posixpath.join(relpath, names.pop())
        if child.count("/") >= MAX_DEPTH:
            not_movable.append(NotMoved(child, NotMovedReason.TOO_DEEP))
            continue
        try:
            return _open_dir(posixpath.basename(child), fd), child
        except OSError as err:
            if err.errno not in _SWAPPED:
                not_movable.append(NotMoved(child, NotMovedReason.UNREADABLE, str(err)))
    return -1, ""


class _Folders:
    """Folders below an open one, entered one component at a time (O_NOFOLLOW).

    The chain last entered stays open, so the files of one folder, sorted
    together, cost one open per folder. With ``create`` missing folders are
    made with that mode.
    """

    def __init__(self, base_fd: int, create: int | None = None) -> None:
        """Start at ``base_fd`` (not closed here)."""
        self._base = base_fd
        self._create = create
        self._chain: list[tuple[str, int]] = []

    def open(self, parts: Sequence[str]) -> int:
        """Return the descriptor of the folder ``parts`` below the base."""
        keep = 0
        while (
            keep < min(len(self._chain), len(parts))
            and self._chain[keep][0] == parts[keep]
        ):
            keep += 1
        self._close_from(keep)
        for name in parts[keep:]:
            parent = self._chain[-1][1] if self._chain else self._base
            if self._create is not None:
                with suppress(FileExistsError):
                    os.mkdir(name, self._create, dir_fd=parent)
            self._chain.append((name, _open_dir(name, parent)))
        return self._chain[-1][1] if self._chain else self._base

    def close(self) -> None:
        """Close every folder this opened."""
        self._close_from(0)

    def _close_from(self, index: int) -> None:
        while len(self._chain) > index:
            os.close(self._chain.pop()[1])


def _split(relpath: str) -> tuple[list[str], str]:
    """Return the folder components and the name of a relative path."""
    *folders, name = relpath.split("/")
    return folders, name


def _folder_order(file: InboxFile) -> tuple[list[str], str]:
    """Sort key that keeps the files of one folder together."""
    return _split(file.relpath)


def _is_staging(fd: int) -> bool:
    """Return whether an open folder is one of our private staging folders."""
    info = os.fstat(fd)
    return info.st_uid == os.geteuid() and not info.st_mode & 0o077


def _staging_names(root_fd: int) -> list[str]:
    """Return the names of the staging folders in the inbox (ours or not)."""
    with os.scandir(root_fd) as entries:
        return sorted(e.name for e in entries if _STAGING_NAME.fullmatch(e.name))


def _open_staging(root_fd: int, name: str) -> int | None:
    """Open a staging folder that is really ours, or return None."""
    try:
        fd = _open_dir(name, root_fd)
    except OSError:
        return None
    if _is_staging(fd):
        return fd
    os.close(fd)
    return None


def scan_inbox(root: Path, now: float, settle: float) -> InboxScan:
    """List the inbox's regular files without following symlinks.

    Files modified within ``settle`` seconds may still be written (an SMB copy
    in progress) and are left for the next flush, and so are hard-linked files
    (they may be files from outside the inbox).
    """
    ready: list[InboxFile] = []
    not_movable: list[NotMoved] = []
    files = size = staged = 0
    oldest: float | None = None
    stagings: dict[str, int] = {}
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in _staging_names(root_fd):
            if (fd := _open_staging(root_fd, name)) is not None:
                stagings[name] = fd
        walks = [(_walk(root_fd, not_movable, skip=stagings), False)]
        walks += [(_walk(fd, []), True) for fd in stagings.values()]
        for walk, in_staging in walks:
            for relpath, info in walk:
                if not stat.S_ISREG(info.st_mode):
                    continue
                files += 1
                size += info.st_size
                oldest = info.st_mtime if oldest is None else min(oldest, info.st_mtime)
                if in_staging:
                    staged += 1
                elif info.st_nlink != 1:
                    not_movable.append(NotMoved(relpath, NotMovedReason.HARD_LINKED))
                elif info.st_mtime <= now - settle:
                    ready.append(InboxFile.of(relpath, info))
    finally:
        for fd in stagings.values():
            os.close(fd)
        os.close(root_fd)
    return InboxScan(tuple(ready), files, size, oldest, staged, tuple(not_movable))


# --- staging: the files of one flush, out of reach of the inbox's users ------


@dataclass(slots=True)
class StagedFolder:
    """A private folder in the inbox holding files on their way to the NAS.

    It mirrors the inbox's layout, so a file's path in it is its path in the
    inbox and on the NAS. It is reached through its descriptor only.
    """

    name: str
    fd: int
    files: list[InboxFile] = field(default_factory=list)

    @property
    def source(self) -> str:
        """The folder as a path that resolves through the descriptor itself."""
        return f"/proc/self/fd/{self.fd}/"


@dataclass(slots=True)
class Outbox:
    """The staging folders of one flush: left-overs first, then its own."""

    root_fd: int
    folders: list[StagedFolder] = field(default_factory=list)


def open_outbox(
    root: Path, ready: Sequence[InboxFile]
) -> tuple[Outbox, list[NotMoved]]:
    """Stage the ready files for sending; adopt staging folders left behind.

    A ready file is renamed into this flush's staging folder only if, reached
    through real folders from the inbox, it is still the regular file the scan
    saw. Also returns the ready files that stay in the inbox.
    """
    progress = Progress()
    outbox = Outbox(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    try:
        for name in _staging_names(outbox.root_fd):
            if (folder := _adopt(outbox.root_fd, name)) is not None:
                outbox.folders.append(folder)
        if ready:
            folder = _new_staging(outbox.root_fd)
            outbox.folders.append(folder)
            _stage(outbox.root_fd, folder, ready, progress)
    except BaseException:
        close_outbox(outbox, ())
        raise
    return outbox, progress.not_moved


def _lock(fd: int) -> bool:
    """Claim a staging folder for this flush; False if another flush has it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _adopt(root_fd: int, name: str) -> StagedFolder | None:
    """Take over a staging folder a flush left behind, with its files."""
    if (fd := _open_staging(root_fd, name)) is None:
        return None
    if not _lock(fd):
        os.close(fd)
        return None
    files = [
        InboxFile.of(relpath, info)
        for relpath, info in _walk(fd, [])
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1
    ]
    return StagedFolder(name, fd, files)


def _new_staging(root_fd: int) -> StagedFolder:
    """Create this flush's private staging folder with a name nobody can guess."""
    name = STAGING_PREFIX + secrets.token_hex(6)
    os.mkdir(name, STAGING_MODE, dir_fd=root_fd)
    fd = _open_dir(name, root_fd)
    if not _is_staging(fd) or not _lock(fd):
        os.close(fd)
        raise OSError(errno.EEXIST, "staging folder replaced", name)
    return StagedFolder(name, fd)


def _stage(
    root_fd: int, folder: StagedFolder, ready: Sequence[InboxFile], progress: Progress
) -> None:
    """Rename each ready file, checked again, into the staging folder."""
    inbox = _Folders(root_fd)
    staging = _Folders(folder.fd, create=STAGING_MODE)
    try:
        for file in sorted(ready, key=_folder_order):
            parts, name = _split(file.relpath)
            try:
                source = inbox.open(parts)
                if not file.matches(
                    os.stat(name, dir_fd=source, follow_symlinks=False)
                ):
                    progress.skip(file.relpath, NotMovedReason.CHANGED)
                    continue
                target = staging.open(parts)
                os.rename(name, name, src_dir_fd=source, dst_dir_fd=target)
            except OSError as err:
                progress.skip(file.relpath, *_local_failure(err))
                continue
            if file.matches(os.stat(name, dir_fd=target, follow_symlinks=False)):
                folder.files.append(file)
                continue
            # Swapped between the check and the rename: not what was scanned.
            # If it cannot go back now, closing the outbox tries again.
            with suppress(OSError):
                _move_back(name, target, source)
            progress.skip(file.relpath, NotMovedReason.CHANGED)
    finally:
        inbox.close()
        staging.close()


def _local_failure(err: OSError) -> tuple[NotMovedReason, str]:
    """Tell a file that was swapped or removed from one this system cannot read."""
    if err.errno in _SWAPPED:
        return NotMovedReason.CHANGED, ""
    return NotMovedReason.UNREADABLE, str(err)


def _move_back(name: str, from_fd: int, to_fd: int) -> bool:
    """Move an entry between folders without replacing anything there.

    Linking fails rather than replace a file of the same name (a newer one);
    a folder cannot be linked, but renaming one never replaces a file or a
    folder with content. False when the entry stays where it is.
    """
    try:
        os.link(name, name, src_dir_fd=from_fd, dst_dir_fd=to_fd, follow_symlinks=False)
    except FileExistsError:
        here = os.stat(name, dir_fd=from_fd, follow_symlinks=False)
        there = os.stat(name, dir_fd=to_fd, follow_symlinks=False)
        if not os.path.samestat(here, there):
            return False
    except PermissionError:
        if not stat.S_ISDIR(
            os.stat(name, dir_fd=from_fd, follow_symlinks=False).st_mode
        ):
            return False
        try:
            os.rename(name, name, src_dir_fd=from_fd, dst_dir_fd=to_fd)
        except OSError:
            return False
        return True
    os.unlink(name, dir_fd=from_fd)
    return True


def close_outbox(outbox: Outbox, moved: Iterable[str]) -> None:
    """Put back what did not move and remove the folders the flush emptied.

    A file whose place in the inbox is taken by a newer one, or whose folder
    is no longer a real folder, stays staged: the next flush sends it.
    """
    try:
        for folder in outbox.folders:
            _put_back(outbox.root_fd, folder)
        remove_emptied_dirs(outbox.root_fd, moved)
    finally:
        for folder in outbox.folders:
            os.close(folder.fd)
        os.close(outbox.root_fd)


def _put_back(root_fd: int, folder: StagedFolder) -> None:
    """Move a staging folder's files back into the inbox, then remove it."""
    entries = list(_walk(folder.fd, []))
    inbox = _Folders(root_fd, create=0o777)
    staging = _Folders(folder.fd)
    try:
        for relpath, info in entries:
            if stat.S_ISDIR(info.st_mode):
                continue
            parts, name = _split(relpath)
            with suppress(OSError):
                _move_back(name, staging.open(parts), inbox.open(parts))
    finally:
        inbox.close()
        staging.close()
    # Deepest first; a folder that still holds a file stays.
    for relpath, info in reversed(entries):
        if stat.S_ISDIR(info.st_mode):
            with suppress(OSError):
                os.rmdir(relpath, dir_fd=folder.fd)
    with suppress(OSError):
        os.rmdir(folder.name, dir_fd=root_fd)


def remove_emptied_dirs(root_fd: int, relpaths: Iterable[str]) -> None:
    """Remove the sub-folders the moved files left empty; never the inbox."""
    parents: set[str] = set()
    for relpath in relpaths:
        parent = posixpath.dirname(relpath)
        while parent:
            parents.add(parent)
            parent = posixpath.dirname(parent)
    folders = _Folders(root_fd)
    try:
        # Deepest first, so a parent is tried after its children went.
        for parent in sorted(parents, key=lambda p: p.count("/"), reverse=True):
            parts, name = _split(parent)
            with suppress(OSError):
                # rmdir of a symlink fails: only a real, empty folder goes.
                os.rmdir(name, dir_fd=folders.open(parts))
    finally:
        folders.close()


# --- rsync ----------------------------------------------------------------


def rsync_command(
    rsync: str, source: str, destination: str, ssh: Sequence[str] | None
) -> list[str]:
    """Build the rsync argument list (no shell is involved).

    The file list arrives NUL-separated on stdin, so no name can turn into an
    option or break a line. Each file is written to a temporary name and
    renamed by rsync when complete; an interrupted one waits in PARTIAL_DIR.
    """
    command = [
        rsync,
        "--archive",
        "--from0",
        "--files-from=-",
        # The staging folder's own mode must not reach the NAS's folders:
        # missing ones are made with the NAS's defaults, existing ones kept.
        "--no-implied-dirs",
        "--remove-source-files",
        # A file of the same size and time on the NAS is no proof of the same
        # content: without this rsync would skip the new file, then delete it.
        "--ignore-times",
        # The remote path reaches the NAS's rsync, not its shell, also where
        # rsync < 3.2.4 would hand it over unescaped (newer rsync also calls
        # it --secluded-args).
        "--protect-args",
        f"--partial-dir={PARTIAL_DIR}",
        f"--timeout={IO_TIMEOUT}",
        "--mkpath",
        # Itemized change, length, name; unchanged files are named as well.
        "--out-format=%i %l %n",
        "--info=name2",
    ]
    if ssh is not None:
        command.append("--rsh=" + " ".join(shlex.quote(arg) for arg in ssh))
    command += ["--", source, destination]
    return command


def ssh_command(target: SshTarget, known_hosts: Path) -> list[str]:
    """Return the ssh invocation that trusts only the pinned host key."""
    return [
        "ssh",
        "-F",
        os.devnull,
        "-i",
        str(target.key_path),
        "-p",
        str(target.port),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        f"GlobalKnownHostsFile={os.devnull}",
        "-o",
        f"HostKeyAlias={HOST_KEY_ALIAS}",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"ConnectTimeout={CONNECT_TIMEOUT}",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ServerAliveCountMax=3",
    ]


def rsync_destination(target: SshTarget) -> str:
    """Return user@host:dir/ (rsync protects the remote path from the shell)."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{target.user}@{host}:{target.remote_dir.rstrip('/')}/"


def file_list(files: Iterable[InboxFile]) -> bytes:
    """Return rsync's --files-from list, NUL-separated.

    "./" keeps rsync from reading a name that starts with "#" or ";" as a
    comment, which it does even with --from0.
    """
    return b"".join(b"./" + os.fsencode(file.relpath) + b"\0" for file in files)


def reported_files(output: bytes) -> set[str]:
    """Return the regular files rsync named in its --out-format lines.

    With --info=name2 unchanged files are named too, so a file a cut-off run
    already delivered still counts when the next run removes it. rsync escapes
    unprintable bytes in names as a backslash, "#" and three octal digits.
    """
    names: set[str] = set()
    for line in output.split(b"\n"):
        # "%i" is 11 characters wide ("<f+++++++++", ".f         ").
        itemized, rest = line[:ITEMIZE_WIDTH], line[ITEMIZE_WIDTH + 1 :]
        if itemized[1:2] != b"f":
            continue
        _, _, name = rest.partition(b" ")
        names.add(os.fsdecode(_ESCAPED.sub(lambda m: bytes([int(m[1], 8)]), name)))
    return names


def moved_files(folder: StagedFolder, reported: set[str]) -> list[InboxFile]:
    """Return the staged files rsync named that have left the staging folder.

    --remove-source-files deletes a file only after the NAS confirmed it, so a
    named file that is gone is on the NAS; one still here was cut off. Nobody
    else can reach the private staging folder to remove one.
    """
    moved = []
    for file in folder.files:
        if file.relpath not in reported:
            continue
        try:
            os.stat(file.relpath, dir_fd=folder.fd, follow_symlinks=False)
        except FileNotFoundError:
            moved.append(file)
        except OSError:
            continue  # cannot tell: it counts as still here
    return moved


def classify_ssh_failure(stderr: str) -> FlushErrorKind | None:
    """Recognise an SSH failure in ssh's or rsync's error output."""
    text = stderr.lower()
    if "host key verification failed" in text or "host identification has" in text:
        return FlushErrorKind.HOST_KEY_MISMATCH
    if "load key" in text or "no such identity" in text or "bad permissions" in text:
        return FlushErrorKind.KEY_UNUSABLE
    if "permission denied" in text:
        return FlushErrorKind.AUTH_FAILED
    if any(
        marker in text
        for marker in (
            "connection refused",
            "connection timed out",
            "no route to host",
            "could not resolve",
            "network is unreachable",
            "connection closed",
            "connection reset",
        )
    ):
        return FlushErrorKind.UNREACHABLE
    return None


def remote_rsync_missing(returncode: int, stderr: str) -> bool:
    """Return whether the NAS has no rsync (so SFTP should do the job)."""
    text = stderr.lower()
    return returncode == COMMAND_NOT_FOUND or ("rsync" in text and "not found" in text)


async def async_rsync(
    command: Sequence[str], folder: StagedFolder
) -> tuple[int, list[InboxFile], str]:
    """Run rsync on one staging folder; return its exit code, what moved, stderr.

    ``command`` reads from ``folder.source``: rsync gets the folder's
    descriptor, so no path through the inbox is resolved while it sends.
    Cancelling stops rsync (SIGTERM, then SIGKILL): what it finished stays
    counted on the NAS, the rest stays staged.
    """
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        pass_fds=(folder.fd,),
    )
    try:
        stdout, stderr = await process.communicate(file_list(folder.files))
    except asyncio.CancelledError:
        await _async_stop(process)
        raise
    returncode = process.returncode if process.returncode is not None else -1
    moved = await asyncio.get_running_loop().run_in_executor(
        None, moved_files, folder, reported_files(stdout)
    )
    return returncode, moved, stderr.decode(errors="replace")


async def async_rsync_outbox(
    rsync: str, outbox: Outbox, target: SshTarget, progress: Progress
) -> bool:
    """Send every staging folder with rsync over SSH, oldest first.

    Returns False, having moved nothing, when the NAS has no rsync to talk to.
    A file the NAS refused is recorded and the others go on.
    """
    loop = asyncio.get_running_loop()
    private = await loop.run_in_executor(None, make_private_dir)
    try:
        known_hosts = await loop.run_in_executor(
            None, write_known_hosts, private, target.host_key
        )
        ssh = ssh_command(target, known_hosts)
        for folder in outbox.folders:
            if not folder.files:
                continue
            command = rsync_command(
                rsync, folder.source, rsync_destination(target), ssh
            )
            returncode, moved, stderr = await async_rsync(command, folder)
            for file in moved:
                progress.add(file.relpath, file.size)
            if remote_rsync_missing(returncode, stderr) and not progress.files:
                return False
            if returncode not in (*RSYNC_OK, RSYNC_PARTIAL):
                raise rsync_failure(returncode, stderr, progress)
            _record_refused(folder, moved, returncode, stderr, progress)
    finally:
        await loop.run_in_executor(
            None, functools.partial(shutil.rmtree, private, ignore_errors=True)
        )
    return True


def _record_refused(
    folder: StagedFolder,
    moved: Sequence[InboxFile],
    returncode: int,
    stderr: str,
    progress: Progress,
) -> None:
    """Record the files of a finished rsync run that stayed behind.

    After exit code 23 rsync could not store them on the NAS; otherwise it
    left them because they changed while being sent.
    """
    gone = {file.relpath for file in moved}
    lines = [line for line in stderr.splitlines() if line.strip()]
    for file in folder.files:
        if file.relpath in gone:
            continue
        if returncode != RSYNC_PARTIAL:
            progress.skip(file.relpath, NotMovedReason.CHANGED)
            continue
        name = posixpath.basename(file.relpath)
        detail = next(
            (line for line in lines if name in line), lines[-1] if lines else ""
        )
        progress.skip(file.relpath, NotMovedReason.REFUSED, detail)


async def _async_stop(process: asyncio.subprocess.Process) -> None:
    """Terminate a child, killing it if it does not stop in time."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        async with asyncio.timeout(STOP_GRACE):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()


def write_known_hosts(directory: Path, host_key: str) -> Path:
    """Write a known-hosts file that holds only the pinned key."""
    path = directory / "known_hosts"
    path.write_text(f"{HOST_KEY_ALIAS} {host_key.strip()}\n", encoding="utf-8")
    return path


def check_client_key(path: Path) -> None:
    """Raise KEY_UNUSABLE when the user's key file cannot be opened."""
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise FlushError(FlushErrorKind.KEY_UNUSABLE, str(err)) from err


def make_private_dir() -> Path:
    """Create a directory only this user can read (for the known-hosts file)."""
    return Path(tempfile.mkdtemp(prefix="balupi-"))


def rsync_failure(returncode: int, stderr: str, progress: Progress) -> FlushError:
    """Turn a failed rsync into a FlushError of the right kind."""
    kind = classify_ssh_failure(stderr) or FlushErrorKind.TRANSFER_FAILED
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    return FlushError(kind, f"rsync exited {returncode}: {detail}", progress)

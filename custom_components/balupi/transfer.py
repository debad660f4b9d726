"""Move inbox files to the NAS: rsync over SSH, or SFTP where rsync is missing.

Free of Home Assistant imports. Blocking file-system calls are plain functions
the caller runs in an executor; the transports are coroutines. Both transports
keep the same promise: a local file is deleted only after the NAS has all of
it under its final name, so a file is always either in the inbox or complete
on the NAS.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
import os
from pathlib import Path
import posixpath
import re
import shlex
import stat
import tempfile

import asyncssh

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
CONNECT_TIMEOUT = 10
# rsync gives up when no data moves for this long.
IO_TIMEOUT = 60
# rsync exits 24 when a listed file vanished before it was sent: nothing lost.
RSYNC_OK = (0, 24)
COMMAND_NOT_FOUND = 127
ITEMIZE_WIDTH = 11
_ESCAPED = re.compile(rb"\\#([0-7]{3})")
STOP_GRACE = 5.0


class FlushErrorKind(StrEnum):
    """Why a flush failed; each kind maps to a translated message."""

    HOST_KEY_MISMATCH = "host_key_mismatch"
    AUTH_FAILED = "auth_failed"
    KEY_UNUSABLE = "key_unusable"
    NO_TRANSPORT = "no_transport"
    UNREACHABLE = "unreachable"
    TRANSFER_FAILED = "transfer_failed"


class FlushError(Exception):
    """A flush failed; files moved before the failure are counted."""

    def __init__(
        self, kind: FlushErrorKind, detail: str, moved: Moved | None = None
    ) -> None:
        """Keep the kind for the repair issue and the detail for the log."""
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.moved = moved or Moved()


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
    """A regular file in the inbox, as seen by the scan."""

    relpath: str
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class InboxScan:
    """What the inbox holds; only ``ready`` files may be moved now."""

    ready: tuple[InboxFile, ...]
    files: int
    size: int
    oldest_mtime: float | None


@dataclass(slots=True)
class Moved:
    """Files and bytes that reached the NAS and left the inbox."""

    files: int = 0
    bytes: int = 0
    relpaths: list[str] = field(default_factory=list)

    def add(self, relpath: str, size: int) -> None:
        """Count one file."""
        self.files += 1
        self.bytes += size
        self.relpaths.append(relpath)


def scan_inbox(root: Path, now: float, settle: float) -> InboxScan:
    """List the inbox's regular files without following symlinks.

    Files modified within ``settle`` seconds may still be written (an SMB copy
    in progress) and are left for the next flush.
    """
    ready: list[InboxFile] = []
    files = size = 0
    oldest: float | None = None
    for relpath, info in _walk(root, ""):
        files += 1
        size += info.st_size
        oldest = info.st_mtime if oldest is None else min(oldest, info.st_mtime)
        if info.st_mtime <= now - settle:
            ready.append(InboxFile(relpath, info.st_size, info.st_mtime))
    return InboxScan(tuple(ready), files, size, oldest)


def _walk(directory: Path, prefix: str) -> Iterable[tuple[str, os.stat_result]]:
    """Yield (relative path, stat) of regular files; symlinks are never entered."""
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda item: item.name):
            relpath = posixpath.join(prefix, entry.name)
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                yield from _walk(Path(entry.path), relpath)
            elif stat.S_ISREG(info.st_mode):
                yield relpath, info


def remove_emptied_dirs(root: Path, relpaths: Iterable[str]) -> None:
    """Remove the sub-folders the moved files left empty; never the inbox."""
    parents: set[str] = set()
    for relpath in relpaths:
        parent = posixpath.dirname(relpath)
        while parent:
            parents.add(parent)
            parent = posixpath.dirname(parent)
    # Deepest first, so a parent is tried after its children went.
    for parent in sorted(parents, key=lambda p: p.count("/"), reverse=True):
        path = root / parent
        if path.is_symlink():
            continue
        try:
            path.rmdir()
        except OSError:
            continue  # not empty (a new file arrived) or already gone


def read_client_key(path: Path) -> asyncssh.SSHKey:
    """Load the private key; a missing or unreadable key is KEY_UNUSABLE."""
    try:
        return asyncssh.read_private_key(path)
    except (OSError, asyncssh.KeyImportError) as err:
        raise FlushError(FlushErrorKind.KEY_UNUSABLE, str(err)) from err


def parse_host_key(host_key: str) -> asyncssh.SSHKey:
    """Parse a pinned host key ("type base64 [comment]")."""
    return asyncssh.import_public_key(host_key.strip())


def host_key_fingerprint(host_key: str) -> str:
    """Return the SHA256 fingerprint ssh prints for a host key."""
    return parse_host_key(host_key).get_fingerprint("sha256")


async def async_fetch_host_key(host: str, port: int) -> str:
    """Ask the server for its host key, for the user to confirm and pin."""
    async with asyncio.timeout(CONNECT_TIMEOUT):
        key = await asyncssh.get_server_host_key(
            host, port, config=[], server_host_key_algs=HOST_KEY_PREFERENCE
        )
    if key is None:
        raise OSError(f"{host}:{port} offered no host key")
    # The comment asyncssh may add is not part of the key.
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


# --- rsync ----------------------------------------------------------------


def rsync_command(
    rsync: str, source: Path, destination: str, ssh: Sequence[str] | None
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
    command += ["--", f"{source}/", destination]
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


def moved_files(root: Path, files: Sequence[InboxFile], reported: set[str]) -> Moved:
    """Count the files rsync named that have left the inbox.

    --remove-source-files deletes a file only after the NAS confirmed it, so a
    named file that is gone is on the NAS; one still here was cut off.
    """
    moved = Moved()
    for file in files:
        if file.relpath in reported and not os.path.lexists(root / file.relpath):
            moved.add(file.relpath, file.size)
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
    command: Sequence[str], root: Path, files: Sequence[InboxFile]
) -> tuple[int, Moved, str]:
    """Run rsync for these files; return its exit code, what moved and stderr.

    Cancelling stops rsync (SIGTERM, then SIGKILL): what it finished stays
    counted on the NAS, the rest stays in the inbox.
    """
    file_list = b"".join(os.fsencode(f.relpath) + b"\0" for f in files)
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await process.communicate(file_list)
    except asyncio.CancelledError:
        await _async_stop(process)
        raise
    returncode = process.returncode if process.returncode is not None else -1
    moved = await asyncio.get_running_loop().run_in_executor(
        None, moved_files, root, files, reported_files(stdout)
    )
    return returncode, moved, stderr.decode(errors="replace")


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


def make_private_dir() -> Path:
    """Create a directory only this user can read (for the known-hosts file)."""
    return Path(tempfile.mkdtemp(prefix="balupi-"))


def rsync_failure(returncode: int, stderr: str, moved: Moved) -> FlushError:
    """Turn a failed rsync into a FlushError of the right kind."""
    kind = classify_ssh_failure(stderr) or FlushErrorKind.TRANSFER_FAILED
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    return FlushError(kind, f"rsync exited {returncode}: {detail}", moved)


# --- SFTP -----------------------------------------------------------------


def sftp_options(
    target: SshTarget, client_key: asyncssh.SSHKey
) -> asyncssh.SSHClientConnectionOptions:
    """Return connection options that trust only the pinned host key and our key."""
    return asyncssh.SSHClientConnectionOptions(
        username=target.user,
        port=target.port,
        client_keys=[client_key],
        known_hosts=([parse_host_key(target.host_key)], [], []),
        # Nothing from ~/.ssh or an agent: the pinned key and the user key only.
        config=[],
        agent_path=None,
        password=None,
        kbdint_auth=False,
        connect_timeout=CONNECT_TIMEOUT,
        keepalive_interval=15,
        keepalive_count_max=3,
    )


@asynccontextmanager
async def _ssh_errors(moved: Moved | None = None) -> AsyncIterator[None]:
    """Turn asyncssh's and the socket's errors into FlushErrors."""
    try:
        yield
    except asyncssh.HostKeyNotVerifiable as err:
        raise FlushError(FlushErrorKind.HOST_KEY_MISMATCH, str(err), moved) from err
    except asyncssh.PermissionDenied as err:
        raise FlushError(FlushErrorKind.AUTH_FAILED, str(err), moved) from err
    except asyncssh.ChannelOpenError as err:
        raise FlushError(FlushErrorKind.NO_TRANSPORT, str(err), moved) from err
    except asyncssh.SFTPError as err:
        raise FlushError(FlushErrorKind.TRANSFER_FAILED, str(err), moved) from err
    except (OSError, TimeoutError, asyncssh.Error) as err:
        raise FlushError(FlushErrorKind.UNREACHABLE, str(err), moved) from err


async def async_test_login(target: SshTarget) -> None:
    """Log in once with the pinned host key and the user's key."""
    loop = asyncio.get_running_loop()
    client_key = await loop.run_in_executor(None, read_client_key, target.key_path)
    async with (
        _ssh_errors(),
        asyncssh.connect(
            target.host, options=sftp_options(target, client_key)
        ) as connection,
    ):
        connection.close()


async def async_sftp(
    root: Path,
    files: Sequence[InboxFile],
    target: SshTarget,
    options: asyncssh.SSHClientConnectionOptions,
    moved: Moved,
) -> None:
    """Upload each file under a temporary name, check it, rename, then delete.

    ``moved`` is filled as files complete, so a failure or cancellation part
    way still reports exactly what reached the NAS.
    """
    loop = asyncio.get_running_loop()
    async with (
        _ssh_errors(moved),
        asyncssh.connect(target.host, options=options) as connection,
        connection.start_sftp_client() as sftp,
    ):
        for file in files:
            if await _async_upload(
                sftp, root, file, target.remote_dir
            ) and await loop.run_in_executor(None, _unlink_if_unchanged, root, file):
                moved.add(file.relpath, file.size)


async def _async_upload(
    sftp: asyncssh.SFTPClient, root: Path, file: InboxFile, remote_dir: str
) -> bool:
    """Put one file in place on the NAS; False if it changed while being sent."""
    remote = posixpath.join(remote_dir, file.relpath)
    folder, name = posixpath.split(remote)
    temporary = posixpath.join(folder, f".{name}{SFTP_TEMP_SUFFIX}")
    await sftp.makedirs(folder, exist_ok=True)
    await sftp.put(os.fsencode(root / file.relpath), temporary, preserve=True)
    if (await sftp.stat(temporary)).size != file.size:
        # The local file changed under us; try again next time.
        await sftp.remove(temporary)
        return False
    await sftp.posix_rename(temporary, remote)
    return True


def _unlink_if_unchanged(root: Path, file: InboxFile) -> bool:
    """Delete the local file unless it was modified after the scan.

    A changed file keeps its new content in the inbox; the next flush
    overwrites the copy the NAS got now.
    """
    path = root / file.relpath
    info = path.stat(follow_symlinks=False)
    if info.st_size != file.size or info.st_mtime != file.mtime:
        return False
    path.unlink()
    return True

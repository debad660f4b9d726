"""SSH side of the inbox: the NAS's host key, the user's key, and SFTP uploads.

Kept apart from transfer.py because asyncssh is large: it is imported (in the
executor) only when an inbox is checked in a form or flushed over SFTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
import errno
import functools
import hashlib
import os
from pathlib import Path
import posixpath
import stat

import asyncssh

from .transfer import (
    _FILE_FLAGS,
    CONNECT_TIMEOUT,
    HOST_KEY_PREFERENCE,
    SFTP_CHUNK,
    SFTP_TEMP_DIGEST,
    SFTP_TEMP_SUFFIX,
    FlushError,
    FlushErrorKind,
    InboxFile,
    NotMovedReason,
    Outbox,
    Progress,
    SshTarget,
    StagedFolder,
    _local_failure,
)


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
async def _ssh_errors(progress: Progress | None = None) -> AsyncIterator[None]:
    """Turn asyncssh's and the socket's errors into FlushErrors."""
    try:
        yield
    except asyncssh.HostKeyNotVerifiable as err:
        raise FlushError(FlushErrorKind.HOST_KEY_MISMATCH, str(err), progress) from err
    except asyncssh.PermissionDenied as err:
        raise FlushError(FlushErrorKind.AUTH_FAILED, str(err), progress) from err
    except asyncssh.ChannelOpenError as err:
        raise FlushError(FlushErrorKind.NO_TRANSPORT, str(err), progress) from err
    except asyncssh.SFTPError as err:
        raise FlushError(FlushErrorKind.TRANSFER_FAILED, str(err), progress) from err
    except (OSError, TimeoutError, asyncssh.Error) as err:
        raise FlushError(FlushErrorKind.UNREACHABLE, str(err), progress) from err


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


class _UnreadableError(Exception):
    """A staged file could not be read here."""


def sftp_temporary(remote: bytes) -> bytes:
    """Return the short, hidden name a file is uploaded under on the NAS."""
    folder, name = posixpath.split(remote)
    digest = hashlib.sha256(name).hexdigest()[:SFTP_TEMP_DIGEST]
    return posixpath.join(folder, f".{digest}{SFTP_TEMP_SUFFIX}".encode())


async def async_sftp(
    outbox: Outbox,
    target: SshTarget,
    options: asyncssh.SSHClientConnectionOptions,
    progress: Progress,
) -> None:
    """Upload each staged file under a temporary name, check, rename, delete.

    ``progress`` is filled as files complete, so a failure or cancellation
    part way still reports exactly what reached the NAS. A file the NAS
    refuses is recorded and the others go on. Names travel as bytes, so a
    name that is not UTF-8 moves as it is.
    """
    async with (
        _ssh_errors(progress),
        asyncssh.connect(target.host, options=options) as connection,
        connection.start_sftp_client() as sftp,
    ):
        for folder in outbox.folders:
            for file in folder.files:
                await _async_send(sftp, folder, file, target.remote_dir, progress)


async def _async_send(
    sftp: asyncssh.SFTPClient,
    folder: StagedFolder,
    file: InboxFile,
    remote_dir: str,
    progress: Progress,
) -> None:
    """Move one staged file to the NAS, or record why it stays."""
    loop = asyncio.get_running_loop()
    remote = posixpath.join(os.fsencode(remote_dir), os.fsencode(file.relpath))
    temporary = sftp_temporary(remote)
    try:
        fd = await loop.run_in_executor(None, _open_staged, folder, file)
    except OSError as err:
        progress.skip(file.relpath, *_local_failure(err))
        return
    try:
        info = await _async_upload(sftp, fd, temporary, file)
        if info is None:
            progress.skip(file.relpath, NotMovedReason.CHANGED)
            return
        await sftp.posix_rename(temporary, remote)
    except _UnreadableError as err:
        progress.skip(file.relpath, NotMovedReason.UNREADABLE, str(err.__cause__))
        await _async_remove(sftp, temporary)
        return
    except asyncssh.SFTPError as err:
        if isinstance(err, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection):
            raise
        progress.skip(file.relpath, NotMovedReason.REFUSED, err.reason)
        await _async_remove(sftp, temporary)
        return
    finally:
        await loop.run_in_executor(None, os.close, fd)
    try:
        await loop.run_in_executor(
            None, functools.partial(os.unlink, file.relpath, dir_fd=folder.fd)
        )
    except OSError as err:
        # On the NAS, but still here too: it goes again next time.
        progress.skip(file.relpath, NotMovedReason.UNREADABLE, str(err))
        return
    progress.add(file.relpath, file.size)


def _open_staged(folder: StagedFolder, file: InboxFile) -> int:
    """Open a staged file for reading; ENOENT if it is not the one staged."""
    fd = os.open(file.relpath, _FILE_FLAGS, dir_fd=folder.fd)
    if not file.matches(os.fstat(fd)):
        os.close(fd)
        raise FileNotFoundError(errno.ENOENT, "not the staged file", file.relpath)
    return fd


def _read(fd: int, offset: int) -> bytes:
    """Read one chunk of a staged file (in the executor)."""
    try:
        return os.pread(fd, SFTP_CHUNK, offset)
    except OSError as err:
        raise _UnreadableError from err


async def _async_upload(
    sftp: asyncssh.SFTPClient, fd: int, temporary: bytes, file: InboxFile
) -> os.stat_result | None:
    """Copy a local file to a temporary name on the NAS; None if it changed.

    asyncssh would read the local file in the event loop; here each chunk is
    read in the executor.
    """
    loop = asyncio.get_running_loop()
    offset = 0
    await sftp.makedirs(posixpath.dirname(temporary), exist_ok=True)
    async with sftp.open(temporary, "wb") as remote:
        while data := await loop.run_in_executor(None, _read, fd, offset):
            await remote.write(data, offset)
            offset += len(data)
    info = await loop.run_in_executor(None, os.fstat, fd)
    if (
        not file.matches(info)
        or offset != file.size
        or (await sftp.stat(temporary)).size != file.size
    ):
        await _async_remove(sftp, temporary)
        return None
    await sftp.setstat(
        temporary,
        asyncssh.SFTPAttrs(
            permissions=stat.S_IMODE(info.st_mode),
            atime=int(info.st_atime),
            mtime=int(info.st_mtime),
        ),
    )
    return info


async def _async_remove(sftp: asyncssh.SFTPClient, path: bytes) -> None:
    """Remove a temporary file on the NAS if it is there."""
    with suppress(asyncssh.SFTPError):
        await sftp.remove(path)

"""A real OpenSSH server on 127.0.0.1 with its own host key and user key."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
import contextlib
from dataclasses import dataclass
import getpass
import os
from pathlib import Path
import shutil
import signal
import socket
import subprocess
import time

import pytest

from .real_parts import missing_real_part

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
# Absolute, so tests that hide rsync by emptying PATH can still make keys.
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"


def keygen(path: Path, kind: str = "ed25519") -> str:
    """Create a key pair; return the public key as "type base64"."""
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", kind, "-N", "", "-f", str(path)],
        check=True,
    )
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SshServer:
    """A running sshd and what a client needs to reach it."""

    port: int
    host_key: str
    client_key: Path
    user: str
    remote_dir: Path
    process: subprocess.Popen[bytes]

    def kill_sessions(self) -> None:
        """Kill every open session (the listener survives): a cut connection.

        Only sshd's own session processes die; the programs they ran (the
        remote rsync) see the connection drop, as after a network failure.
        """
        for pid, command in _descendants(self.process.pid):
            if command.startswith("sshd"):
                # A session may end by itself between the listing and the kill.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server and its sessions."""
        self.kill_sessions()
        self.process.terminate()
        self.process.wait(timeout=10)


def _descendants(pid: int) -> list[tuple[int, str]]:
    """Return (pid, command name) of a process's descendants, from /proc."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": the name may hold spaces and parentheses.
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append((int(entry.name), command))
    found: list[tuple[int, str]] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child[0])
    return found


def start_sshd(
    directory: Path,
    *,
    sftp: bool = True,
    rsync: bool = True,
    more_host_keys: Sequence[str] = (),
) -> SshServer:
    """Start sshd in ``directory``; the test user may log in with the user key.

    ``host_key`` is its ed25519 key; ``more_host_keys`` (e.g. "rsa") are
    offered too, as on a real NAS. Without ``rsync`` its sessions find no
    rsync (an empty PATH), as on a NAS that has none.
    """
    if not Path(SSHD).exists():
        missing_real_part("OpenSSH server (sshd) is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    host_key = keygen(directory / "host_key")
    for kind in more_host_keys:
        keygen(directory / f"host_key_{kind}", kind)
    client_key = directory / "client_key"
    authorized = keygen(client_key)
    (directory / "authorized_keys").write_text(authorized + "\n")
    remote_dir = directory / "nas"
    remote_dir.mkdir()
    port = free_port()
    config = directory / "sshd_config"
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {directory / 'host_key'}",
        *(f"HostKey {directory / f'host_key_{kind}'}" for kind in more_host_keys),
        f"AuthorizedKeysFile {directory / 'authorized_keys'}",
        f"PidFile {directory / 'sshd.pid'}",
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "MaxStartups 50",
    ]
    if sftp:
        lines.append("Subsystem sftp internal-sftp")
    if not rsync:
        empty = directory / "empty-bin"
        empty.mkdir()
        lines.append(f"SetEnv PATH={empty}")
    config.write_text("\n".join(lines) + "\n")
    # sshd insists on its privilege separation directory.
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(directory / "sshd.log").open("wb"),
    )
    _wait_for_port(port, process)
    return SshServer(port, host_key, client_key, getpass.getuser(), remote_dir, process)


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"sshd exited with {process.returncode}"
            raise RuntimeError(msg)
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    msg = "sshd did not start listening"
    raise RuntimeError(msg)


@pytest.fixture(name="sshd")
def sshd_fixture(tmp_path: Path, socket_enabled: None) -> Iterator[SshServer]:
    """A real sshd with SFTP."""
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


def main() -> None:
    """Run an sshd for scripts/develop and say what the inbox options need."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True, help="fresh folder")
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    server = start_sshd(args.dir)
    print(
        f"Inbox SSH: host 127.0.0.1, port {server.port}, user {server.user}, "
        f"folder on the NAS {server.remote_dir}, key file {server.client_key}",
        flush=True,
    )
    try:
        server.process.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()

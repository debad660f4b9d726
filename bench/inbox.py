"""Inbox flush benchmark: BaluPi's rsync path against a plain rsync command line.

Starts a real sshd on 127.0.0.1 (own host and user keys, as the tests do) and
moves an inbox of 1 000 small files (4 KiB each) and one 200 MB file to it,
alternately:

* with BaluPi's transfer code, the path the inbox coordinator takes: folder
  scan through descriptors, each file checked and renamed into a private
  staging folder, known-hosts file with the pinned key, rsync reading the
  staging folder through its descriptor with the file list on stdin,
  --out-format parsing, the check that each file left, putting back what did
  not and the removal of emptied folders;
* with ``rsync -a --remove-source-files -e "ssh ..." inbox/ user@host:dir/``,
  the command a user would type.

Each round refills the inbox and empties the target, so both move the same
bytes into an empty folder. Prints the median of the rounds and the ratio.

    .venv/bin/python bench/inbox.py [--rounds 3] [--big-mb 200] [--small 1000]

Target: BaluPi within 10 % of plain rsync (ratio <= 1.10).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Home Assistant must be imported first: it installs probatio as voluptuous.
import homeassistant  # noqa: F401  # isort: skip
from custom_components.balupi.transfer import (
    Progress,
    SshTarget,
    async_rsync_outbox,
    close_outbox,
    open_outbox,
    scan_inbox,
)
from tests.sshd import SshServer, start_sshd


def fill(inbox: Path, small: int, big: bytes) -> None:
    """Write the inbox: small files in 10 folders, plus the big one."""
    old = time.time() - 3600
    for index in range(small):
        path = inbox / f"folder{index % 10}" / f"file{index:05}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(index.to_bytes(4, "big") * 1024)
        os.utime(path, (old, old))
    (inbox / "big.bin").write_bytes(big)
    os.utime(inbox / "big.bin", (old, old))


def reset(server: SshServer) -> None:
    shutil.rmtree(server.remote_dir)
    server.remote_dir.mkdir()


async def balupi(inbox: Path, target: SshTarget, rsync: str) -> int:
    """Move the inbox the way InboxCoordinator does; return files moved."""
    loop = asyncio.get_running_loop()
    scan = await loop.run_in_executor(None, scan_inbox, inbox, time.time(), 10.0)
    outbox, not_moved = await loop.run_in_executor(None, open_outbox, inbox, scan.ready)
    progress = Progress()
    try:
        if not await async_rsync_outbox(rsync, outbox, target, progress):
            raise RuntimeError("the NAS has no rsync")
    finally:
        await loop.run_in_executor(None, close_outbox, outbox, progress.relpaths)
    if not_moved or progress.not_moved:
        raise RuntimeError(f"not moved: {not_moved + progress.not_moved}")
    return progress.files


def plain(inbox: Path, target: SshTarget, rsync: str, known_hosts: Path) -> None:
    """The rsync command line a user would type for the same move."""
    ssh = (
        f"ssh -i {shlex.quote(str(target.key_path))} -p {target.port} "
        f"-o UserKnownHostsFile={shlex.quote(str(known_hosts))} "
        "-o StrictHostKeyChecking=yes -o BatchMode=yes"
    )
    subprocess.run(
        [
            rsync,
            "-a",
            "--remove-source-files",
            "-e",
            ssh,
            f"{inbox}/",
            f"{target.user}@127.0.0.1:{target.remote_dir}/",
        ],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--small", type=int, default=1000)
    args = parser.parse_args()
    rsync = shutil.which("rsync")
    if rsync is None:
        sys.exit("rsync is not installed")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_sshd(root / "sshd")
        try:
            target = SshTarget(
                "127.0.0.1",
                server.port,
                server.user,
                str(server.remote_dir),
                server.client_key,
                server.host_key,
            )
            known_hosts = root / "known_hosts"
            known_hosts.write_text(f"[127.0.0.1]:{server.port} {server.host_key}\n")
            inbox = root / "inbox"
            inbox.mkdir()
            big = os.urandom(args.big_mb * 1_000_000)
            total = args.small + 1
            times: dict[str, list[float]] = {"balupi": [], "plain rsync": []}
            for _ in range(args.rounds):
                for name, results in times.items():
                    fill(inbox, args.small, big)
                    reset(server)
                    started = time.perf_counter()
                    if name == "balupi":
                        moved = asyncio.run(balupi(inbox, target, rsync))
                        assert moved == total, f"balupi moved {moved} of {total}"
                    else:
                        plain(inbox, target, rsync, known_hosts)
                    results.append(time.perf_counter() - started)
                    left = [p for p in inbox.rglob("*") if p.is_file()]
                    assert not left, f"{name} left {len(left)} files"
        finally:
            server.stop()

    print(
        f"inbox: {args.small} x 4 KiB + 1 x {args.big_mb} MB through sshd on "
        f"127.0.0.1, {args.rounds} rounds (median)"
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(
            f"  {name:12} {value:7.3f} s   (rounds: "
            + ", ".join(f"{v:.3f}" for v in times[name])
            + ")"
        )
    ratio = medians["balupi"] / medians["plain rsync"]
    print(f"  ratio balupi / plain rsync: {ratio:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()

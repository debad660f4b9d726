"""The inbox flush: real rsync and SFTP through a real sshd on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import contextlib
import os
from pathlib import Path
import shutil
import threading
import time
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.balupi.const import (
    CONF_HOST_KEY,
    CONF_INBOX_PATH,
    CONF_KEY_PATH,
    CONF_REMOTE_PATH,
    CONF_SSH_HOST,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    DOMAIN,
    EVENT_INBOX_FLUSHED,
    ISSUE_INBOX_AUTH,
    ISSUE_INBOX_FILES_STUCK,
    ISSUE_INBOX_HOST_KEY,
    ISSUE_INBOX_KEY,
    ISSUE_INBOX_NO_TRANSPORT,
    SERVICE_FLUSH_INBOX,
)
from custom_components.balupi.coordinator.inbox import (
    FlushRecord,
    InboxCoordinator,
    shown_path,
)
from custom_components.balupi.nas_state import NasState, Reason
from custom_components.balupi.sftp import async_fetch_host_key
from custom_components.balupi.transfer import (
    MAX_DEPTH,
    PARTIAL_DIR,
    SFTP_TEMP_SUFFIX,
    async_rsync,
    close_outbox,
    open_outbox,
    reported_files,
    rsync_command,
    scan_inbox,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir

from .conftest import SECRET
from .nas_signer import COMING_ONLINE, signed_call
from .real_parts import missing_real_part
from .sshd import SSH_KEYGEN, SshServer, keygen, sshd_fixture, start_sshd

__all__ = ["sshd_fixture"]

RSYNC = shutil.which("rsync")
OLD = time.time() - 3600

# Names that break naive shells, option parsers, line-based output, rsync's
# --files-from comments, temporary names and UTF-8-only paths.
ODD_NAMES = [
    "plain.txt",
    "with space.txt",
    "ünïcödé ✓ 日本.txt",
    "new\nline.txt",
    "-leading-dash.txt",
    "--rsync-option=x",
    "#hash.txt",
    ";semicolon.txt",
    "n" * 250,
    os.fsdecode(b"latin-1 caf\xe9.txt"),
    "nested/deeper/file.bin",
    "nested/another file",
]


def write(root: Path, relpath: str, data: bytes, *, mtime: float = OLD) -> None:
    """Write a file that has settled (old mtime) unless told otherwise."""
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def content(relpath: str) -> bytes:
    """Return distinct content per file, so a mix-up shows."""
    return f"content of {relpath!r}\n".encode() * (len(relpath) + 1)


def tree(root: Path) -> dict[str, bytes]:
    """Return every regular file under root (not following symlinks)."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def inbox_options(inbox: Path, server: SshServer, **overrides: Any) -> dict[str, Any]:
    """Return the inbox options for the test sshd."""
    return {
        CONF_INBOX_PATH: str(inbox),
        CONF_SSH_HOST: "127.0.0.1",
        CONF_SSH_PORT: server.port,
        CONF_SSH_USER: server.user,
        CONF_REMOTE_PATH: str(server.remote_dir),
        CONF_KEY_PATH: str(server.client_key),
        CONF_HOST_KEY: server.host_key,
    } | overrides


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """The Pi's inbox folder."""
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def no_rsync(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Look like Home Assistant OS: no rsync on PATH (ssh is not needed then)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture(params=["rsync", "sftp"])
def transport(request: pytest.FixtureRequest) -> str:
    """Each test runs with rsync, and again as on Home Assistant OS (SFTP)."""
    if request.param == "sftp":
        request.getfixturevalue("no_rsync")
    elif RSYNC is None:
        missing_real_part("rsync is not installed")
    return str(request.param)


type Setup = Callable[..., Any]


async def setup_with_options(
    hass: HomeAssistant, entry: MockConfigEntry, options: dict[str, Any]
) -> None:
    """Set up the entry with these options."""
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options=options)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.fixture
def setup_inbox(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    inbox: Path,
    sshd: SshServer,
) -> Setup:
    """Set up the entry with the inbox pointing at the test sshd."""

    async def setup(**overrides: Any) -> InboxCoordinator:
        await setup_with_options(
            hass, config_entry, inbox_options(inbox, sshd, **overrides)
        )
        coordinator = config_entry.runtime_data.inbox
        assert coordinator is not None
        assert config_entry.runtime_data.nas.lifecycle.state is NasState.ONLINE
        return coordinator

    return setup


async def flush(hass: HomeAssistant) -> dict[str, Any]:
    """Call balupi.flush_inbox and return its response."""
    response = await hass.services.async_call(
        DOMAIN, SERVICE_FLUSH_INBOX, {}, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


def issue(hass: HomeAssistant, key: str) -> ir.IssueEntry | None:
    """Return one of the entry's repair issues."""
    return ir.async_get(hass).async_get_issue(
        DOMAIN, f"{key}_01JBALUPI0000000000000000"
    )


# --- the folder scan and rsync without Home Assistant ------------------------


def test_scan_skips_symlinks_and_settling_files(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    outside = tmp_path / "outside"
    write(outside, "secret.txt", b"not for the NAS")
    write(root, "a/old.txt", b"12345")
    write(root, "young.txt", b"123", mtime=time.time())
    (root / "link-to-dir").symlink_to(outside)
    (root / "link-to-file").symlink_to(outside / "secret.txt")
    os.mkfifo(root / "fifo")

    scan = scan_inbox(root, time.time(), settle=10)

    assert [file.relpath for file in scan.ready] == ["a/old.txt"]
    assert (scan.files, scan.size) == (2, 8)
    assert scan.oldest_mtime == pytest.approx(OLD)


def test_out_format_names_regular_files_only() -> None:
    output = b"\n".join(
        [
            b"cd+++++++++ 4096 nested/",
            b"<f+++++++++ 10 nested/a b",
            b">f+++++++++ 5 new\\#012line",
            b"cL+++++++++ 0 link -> x",
            b".f          7 unchanged",
            b"<f+++++++++ 3 \\#303\\#274 two  spaces",
        ]
    )
    assert reported_files(output) == {
        "nested/a b",
        "new\nline",
        "unchanged",
        "ü two  spaces",
    }


async def test_rsync_into_a_local_target(tmp_path: Path) -> None:
    if RSYNC is None:
        missing_real_part("rsync is not installed")
    root, target = tmp_path / "inbox", tmp_path / "target"
    for name in ODD_NAMES:
        write(root, name, content(name))
    # Blocking folder work stays off the event loop, as in the coordinator.
    files = (await asyncio.to_thread(scan_inbox, root, time.time(), 10)).ready
    outbox, skipped = await asyncio.to_thread(open_outbox, root, files)
    [folder] = outbox.folders
    assert RSYNC is not None

    try:
        code, moved, stderr = await async_rsync(
            rsync_command(RSYNC, folder.source, f"{target}/", None), folder
        )
    finally:
        await asyncio.to_thread(close_outbox, outbox, [f.relpath for f in moved])

    assert skipped == []
    assert code == 0, stderr
    assert tree(target) == {name: content(name) for name in ODD_NAMES}
    # The staging folder went with the files.
    assert list(root.iterdir()) == []
    assert len(moved) == len(ODD_NAMES)
    assert sum(file.size for file in moved) == sum(
        len(content(name)) for name in ODD_NAMES
    )


# --- flushing through sshd ----------------------------------------------------


async def test_flush_moves_every_file_exactly(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    tmp_path: Path,
    sshd: SshServer,
    transport: str,
) -> None:
    outside = tmp_path / "outside"
    write(outside, "secret.txt", b"must not leave the Pi")
    await setup_inbox()
    for name in ODD_NAMES:
        write(inbox, name, content(name))
    (inbox / "link").symlink_to(outside)
    write(inbox, "being-written.part", b"half", mtime=time.time())
    (inbox / "empty-by-user").mkdir()
    flushed = async_capture_events(hass, EVENT_INBOX_FLUSHED)

    response = await flush(hass)

    expected = {name: content(name) for name in ODD_NAMES}
    assert tree(sshd.remote_dir) == expected
    assert response["files"] == len(ODD_NAMES)
    assert response["bytes"] == sum(map(len, expected.values()))
    assert response["transport"] == transport
    assert response["not_moved"] == 0
    # Left behind: the file still being written, the symlink, and a folder
    # that was empty before (only emptied folders are removed).
    assert tree(inbox) == {"being-written.part": b"half"}
    assert sorted(path.name for path in inbox.iterdir()) == [
        "being-written.part",
        "empty-by-user",
        "link",
    ]
    assert (outside / "secret.txt").exists()
    assert len(flushed) == 1
    assert flushed[0].data["files"] == len(ODD_NAMES)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.baluhost_inbox_files").state == "1"
    assert hass.states.get("binary_sensor.baluhost_inbox_flush_running").state == "off"
    last = hass.states.get("sensor.baluhost_last_inbox_flush")
    assert last.attributes["files"] == len(ODD_NAMES)
    assert last.attributes["transport"] == transport
    assert last.attributes["error"] is None


async def test_the_remote_folder_never_reaches_the_nas_shell(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    tmp_path: Path,
    sshd: SshServer,
    transport: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Also where rsync (< 3.2.4) would pass remote arguments to the NAS's shell."""
    # Today's rsync hands them over unescaped, as old ones do, with this set.
    monkeypatch.setenv("RSYNC_OLD_ARGS", "1")
    marker = tmp_path / "ran"
    remote = f"{sshd.remote_dir}/nas$(touch {marker})"
    await setup_inbox(**{CONF_REMOTE_PATH: remote})
    write(inbox, "a.txt", b"a")

    await flush(hass)

    assert not marker.exists(), "the NAS's shell ran the folder name"
    assert tree(Path(remote)) == {"a.txt": b"a"}


async def test_a_new_file_like_one_on_the_nas_is_sent(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    sshd: SshServer,
    transport: str,
) -> None:
    """Same name, size and time as the NAS's copy, other content: still sent."""
    await setup_inbox()
    write(sshd.remote_dir, "report.txt", b"old report")
    write(inbox, "report.txt", b"new report")

    response = await flush(hass)

    assert tree(sshd.remote_dir) == {"report.txt": b"new report"}
    assert tree(inbox) == {}
    assert response["files"] == 1


async def test_host_key_mismatch_refuses_and_moves_nothing(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    tmp_path: Path,
    sshd: SshServer,
    transport: str,
) -> None:
    impostor = keygen(tmp_path / "impostor")
    await setup_inbox(**{CONF_HOST_KEY: impostor})
    write(inbox, "a.txt", b"a")

    with pytest.raises(HomeAssistantError, match="not the pinned one"):
        await flush(hass)

    assert tree(inbox) == {"a.txt": b"a"}
    assert tree(sshd.remote_dir) == {}
    assert issue(hass, ISSUE_INBOX_HOST_KEY) is not None
    last = hass.states.get("sensor.baluhost_last_inbox_flush")
    assert last.attributes["error"] == "host_key_mismatch"


async def test_wrong_user_key_raises_auth_issue(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    tmp_path: Path,
    sshd: SshServer,
    transport: str,
) -> None:
    stranger = tmp_path / "stranger"
    keygen(stranger)
    await setup_inbox(**{CONF_KEY_PATH: str(stranger)})
    write(inbox, "a.txt", b"a")

    with pytest.raises(HomeAssistantError, match="refused the SSH key"):
        await flush(hass)

    assert tree(inbox) == {"a.txt": b"a"}
    assert issue(hass, ISSUE_INBOX_AUTH) is not None
    assert issue(hass, ISSUE_INBOX_HOST_KEY) is None

    # Fixed on the NAS side: the next flush clears the issue.
    authorized = sshd.client_key.parent / "authorized_keys"
    with authorized.open("a") as file:
        file.write(stranger.with_suffix(".pub").read_text())
    assert (await flush(hass))["files"] == 1
    assert issue(hass, ISSUE_INBOX_AUTH) is None


async def test_missing_key_file(
    hass: HomeAssistant, setup_inbox: Setup, inbox: Path, tmp_path: Path
) -> None:
    await setup_inbox(**{CONF_KEY_PATH: str(tmp_path / "nope")})
    write(inbox, "a.txt", b"a")

    with pytest.raises(HomeAssistantError, match="cannot be used"):
        await flush(hass)

    assert tree(inbox) == {"a.txt": b"a"}
    found = issue(hass, ISSUE_INBOX_KEY)
    assert found is not None
    assert found.translation_placeholders["key_path"] == str(tmp_path / "nope")
    # The system's (or the NAS's) own words are quoted, never rendered.
    detail = found.translation_placeholders["error"]
    assert detail.startswith("`")
    assert detail.endswith("`")


async def test_nas_without_rsync_gets_the_inbox_over_sftp(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    inbox: Path,
    tmp_path: Path,
    socket_enabled: None,
) -> None:
    if RSYNC is None:
        missing_real_part("rsync is not installed")
    server = start_sshd(tmp_path / "no-rsync", rsync=False)
    try:
        await setup_with_options(hass, config_entry, inbox_options(inbox, server))
        write(inbox, "a.txt", b"a")

        response = await flush(hass)
    finally:
        server.stop()
    assert response["transport"] == "sftp"
    assert response["files"] == 1
    assert tree(server.remote_dir) == {"a.txt": b"a"}
    assert tree(inbox) == {}


async def test_key_file_that_is_no_key(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    tmp_path: Path,
    transport: str,
) -> None:
    """ssh (rsync) and asyncssh (SFTP) both refuse it as an unusable key."""
    garbage = tmp_path / "not-a-key"
    garbage.write_text("this is no private key\n")
    garbage.chmod(0o600)
    await setup_inbox(**{CONF_KEY_PATH: str(garbage)})
    write(inbox, "a.txt", b"a")

    with pytest.raises(HomeAssistantError, match="cannot be used"):
        await flush(hass)

    assert tree(inbox) == {"a.txt": b"a"}
    found = issue(hass, ISSUE_INBOX_KEY)
    assert found is not None
    assert found.translation_placeholders["key_path"] == str(garbage)


async def test_no_rsync_and_no_sftp(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    inbox: Path,
    tmp_path: Path,
    no_rsync: None,
    socket_enabled: None,
) -> None:
    server = start_sshd(tmp_path / "no-sftp", sftp=False)
    try:
        await setup_with_options(hass, config_entry, inbox_options(inbox, server))
        write(inbox, "a.txt", b"a")

        with pytest.raises(HomeAssistantError, match="Neither rsync nor SFTP"):
            await flush(hass)
    finally:
        server.stop()
    assert tree(inbox) == {"a.txt": b"a"}
    assert issue(hass, ISSUE_INBOX_NO_TRANSPORT) is not None


async def test_flush_refused_while_nas_offline(
    hass: HomeAssistant, setup_inbox: Setup, config_entry: MockConfigEntry
) -> None:
    await setup_inbox()
    await config_entry.runtime_data.nas.async_transition(
        NasState.OFFLINE, Reason.HANDSHAKE
    )
    with pytest.raises(ServiceValidationError, match="only while the NAS is online"):
        await flush(hass)
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "button",
            "press",
            {"entity_id": "button.baluhost_flush_inbox"},
            blocking=True,
        )


async def test_three_triggers_at_once_make_one_run(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    sshd: SshServer,
) -> None:
    if RSYNC is None:
        missing_real_part("rsync is not installed")
    coordinator = await setup_inbox()
    for index in range(200):
        write(inbox, f"f{index:03}.txt", content(str(index)))
    flushed = async_capture_events(hass, EVENT_INBOX_FLUSHED)

    results = await asyncio.gather(
        flush(hass),
        hass.services.async_call(
            "button",
            "press",
            {"entity_id": "button.baluhost_flush_inbox"},
            blocking=True,
        ),
        coordinator.async_flush(),
    )
    await hass.async_block_till_done()

    assert results[0]["files"] == 200
    assert results[2].files == 200
    assert len(flushed) == 1
    assert len(tree(sshd.remote_dir)) == 200


async def test_heartbeat_online_flushes_waiting_files(
    hass: HomeAssistant,
    setup_inbox: Setup,
    config_entry: MockConfigEntry,
    inbox: Path,
    sshd: SshServer,
) -> None:
    coordinator = await setup_inbox()
    nas = config_entry.runtime_data.nas
    await nas.async_transition(NasState.OFFLINE, Reason.HANDSHAKE)
    write(inbox, "waiting.txt", b"w")
    await coordinator.async_refresh()
    assert tree(sshd.remote_dir) == {}

    await nas.async_transition(NasState.ONLINE, Reason.HEARTBEAT)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert tree(sshd.remote_dir) == {"waiting.txt": b"w"}
    assert tree(inbox) == {}


@pytest.mark.usefixtures("transport")
async def test_unload_cancels_a_running_flush(
    hass: HomeAssistant,
    setup_inbox: Setup,
    config_entry: MockConfigEntry,
    inbox: Path,
    sshd: SshServer,
) -> None:
    """Unloading mid-transfer loses nothing; the next flush finishes the job."""
    task, expected = await _flush_under_way(setup_inbox, inbox, sshd)

    assert await hass.config_entries.async_unload(config_entry.entry_id)

    assert task.cancelled()
    _assert_nothing_lost(inbox, sshd.remote_dir, expected)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await flush(hass)
    _assert_all_arrived(inbox, sshd.remote_dir, expected)


async def test_connection_cut_midway_loses_nothing(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    sshd: SshServer,
    transport: str,
) -> None:
    task, expected = await _flush_under_way(setup_inbox, inbox, sshd)

    sshd.kill_sessions()
    record = await task

    assert record.error is not None
    _assert_nothing_lost(inbox, sshd.remote_dir, expected)
    # What the record counts is exactly what left the inbox.
    assert record.files == len(expected) - len(tree(inbox))
    await flush(hass)
    _assert_all_arrived(inbox, sshd.remote_dir, expected)


async def _flush_under_way(
    setup_inbox: Setup, inbox: Path, sshd: SshServer
) -> tuple[asyncio.Task[FlushRecord], dict[str, bytes]]:
    """Start a flush of a full inbox; return once its first bytes arrived."""
    coordinator = await setup_inbox()
    expected = _fill_for_interruption(inbox)
    task = coordinator.async_start_flush()
    await _until_something_arrives(sshd.remote_dir)
    return task, expected


def _fill_for_interruption(inbox: Path) -> dict[str, bytes]:
    """Many small files around one big one, so a cut lands mid-transfer."""
    expected = {f"small/{index:04}.txt": content(str(index)) for index in range(400)}
    expected["big.bin"] = os.urandom(64 * 1024 * 1024)
    for name, data in expected.items():
        write(inbox, name, data)
    return expected


async def _until_something_arrives(remote: Path) -> None:
    """Wait (in real time) until the first bytes reach the NAS."""
    deadline = time.monotonic() + 30
    while not any(path.is_file() for path in remote.rglob("*")):
        assert time.monotonic() < deadline, "nothing arrived"
        await asyncio.sleep(0.005)


def _is_temporary(relpath: str) -> bool:
    """rsync's and SFTP's in-flight names, never a user's file."""
    name = relpath.rsplit("/", 1)[-1]
    return (
        PARTIAL_DIR in relpath.split("/")
        or name.endswith(SFTP_TEMP_SUFFIX)
        or (name.startswith(".") and len(name.rsplit(".", 1)[-1]) == 6)
    )


def _assert_nothing_lost(inbox: Path, remote: Path, expected: dict[str, bytes]) -> None:
    """Each file is whole in the inbox or whole on the NAS; none half-written."""
    local = tree(inbox)
    arrived = {
        name: data for name, data in tree(remote).items() if not _is_temporary(name)
    }
    for name, data in arrived.items():
        assert data == expected[name], f"{name} is not complete on the NAS"
    for name, data in local.items():
        assert data == expected[name], f"{name} changed in the inbox"
    assert set(local) | set(arrived) == set(expected)
    assert local, "the cut came too late to test anything"


def _assert_all_arrived(inbox: Path, remote: Path, expected: dict[str, bytes]) -> None:
    assert tree(remote) == expected
    assert tree(inbox) == {}
    assert not (remote / PARTIAL_DIR).exists()


# --- a hostile inbox ----------------------------------------------------------

SECRET_DATA = b"SECRET"
SWAP_FILES = 8
# Flushes that moved files while the folder was being swapped, and a cap.
SWAP_MOVING_ROUNDS = 6
SWAP_MAX_ROUNDS = 80
# Seconds the folder stays in place, and swapped for the symlink.
SWAP_IN_PLACE = 0.005
SWAP_AWAY = 0.001


class FolderSwapper:
    """Swap an inbox folder for a symlink to a folder outside, and back, in a loop.

    What a local user or an SMB client can do during a flush. Hold ``lock``
    to see the folder in place.
    """

    def __init__(self, folder: Path, outside: Path, parked: Path) -> None:
        """Swap ``folder`` for a link to ``outside``; it waits at ``parked``."""
        self.folder, self.outside, self.parked = folder, outside, parked
        self.lock = threading.Lock()
        self.swaps = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                time.sleep(SWAP_IN_PLACE)
                asked = time.monotonic()
                with self.lock:
                    if time.monotonic() - asked > SWAP_IN_PLACE / 2:
                        # The test held the folder: it stays a while longer,
                        # or each flush would start with it swapped.
                        continue
                    self.folder.rename(self.parked)
                    self.folder.symlink_to(self.outside)
                    time.sleep(SWAP_AWAY)
                    self.folder.unlink()
                    self.parked.rename(self.folder)
                self.swaps += 1
        except BaseException as err:  # noqa: BLE001 (reported by the test)
            self.error = err

    @contextlib.contextmanager
    def running(self) -> Iterator[FolderSwapper]:
        """Swap while the block runs."""
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
        assert self.error is None, self.error


async def test_a_folder_swapped_for_a_symlink_exposes_nothing_outside(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    tmp_path: Path,
    sshd: SshServer,
    transport: str,
) -> None:
    """A race against many flushes: nothing outside the inbox is sent or deleted."""
    coordinator = await setup_inbox()
    outside = tmp_path / "config-storage"
    names = [f"f{index}.txt" for index in range(SWAP_FILES)]
    for name in names:
        # As large and as old as the inbox's files, so no check tells them apart.
        write(outside, name, SECRET_DATA)
    sub = inbox / "sub"
    # A file still being written keeps the folder from being emptied.
    write(sub, "young.part", b"y", mtime=time.time() + 3600)
    latest: dict[str, bytes] = {}
    rounds = moving_rounds = 0
    swapper = FolderSwapper(sub, outside, tmp_path / "parked")
    with swapper.running():
        while moving_rounds < SWAP_MOVING_ROUNDS and rounds < SWAP_MAX_ROUNDS:
            with swapper.lock:
                for index, name in enumerate(names):
                    if not (sub / name).exists():
                        latest[name] = f"{rounds:03}{index:03}".encode()
                        write(sub, name, latest[name])
            record = await coordinator.async_flush()
            rounds += 1
            moving_rounds += record.files > 0
            on_nas = tree(sshd.remote_dir)
            assert SECRET_DATA not in on_nas.values(), "a file outside was sent"
            assert tree(outside) == dict.fromkeys(names, SECRET_DATA)
            with swapper.lock:
                here = tree(inbox)
            for name in names:
                path = f"sub/{name}"
                assert latest[name] in (here.get(path), on_nas.get(path))
    assert moving_rounds == SWAP_MOVING_ROUNDS
    assert swapper.swaps > rounds

    await coordinator.async_flush()

    assert tree(sshd.remote_dir) == {f"sub/{name}": latest[name] for name in names}
    assert tree(inbox) == {"sub/young.part": b"y"}
    assert [path.name for path in inbox.iterdir()] == ["sub"]


async def test_a_hard_link_to_a_file_outside_stays(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    tmp_path: Path,
    sshd: SshServer,
) -> None:
    await setup_inbox()
    outside = tmp_path / "outside"
    write(outside, "core.config_entries", SECRET_DATA)
    os.link(outside / "core.config_entries", inbox / "linked")
    write(inbox, "plain.txt", b"p")

    response = await flush(hass)

    assert tree(sshd.remote_dir) == {"plain.txt": b"p"}
    assert (outside / "core.config_entries").read_bytes() == SECRET_DATA
    assert (inbox / "linked").exists()
    assert response["not_moved_files"] == [
        {"path": "linked", "reason": "hard_linked", "detail": ""}
    ]
    assert issue(hass, ISSUE_INBOX_FILES_STUCK) is not None


async def test_a_file_the_nas_refuses_holds_back_no_other(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    sshd: SshServer,
    transport: str,
) -> None:
    coordinator = await setup_inbox()
    # A folder on the NAS where the first file should go.
    write(sshd.remote_dir, "a-clash/kept.txt", b"on the NAS")
    names = ["a-clash", "b.txt", "c/d.txt"]
    for name in names:
        write(inbox, name, content(name))
    flushed = async_capture_events(hass, EVENT_INBOX_FLUSHED)

    response = await flush(hass)

    assert tree(sshd.remote_dir) == {
        "a-clash/kept.txt": b"on the NAS",
        "b.txt": content("b.txt"),
        "c/d.txt": content("c/d.txt"),
    }
    assert tree(inbox) == {"a-clash": content("a-clash")}
    assert (response["files"], response["not_moved"]) == (2, 1)
    [entry] = response["not_moved_files"]
    assert (entry["path"], entry["reason"]) == ("a-clash", "refused")
    assert entry["detail"]
    found = issue(hass, ISSUE_INBOX_FILES_STUCK)
    assert found is not None
    assert "`a-clash`: refused" in found.translation_placeholders["files"]
    last = hass.states.get("sensor.baluhost_last_inbox_flush")
    assert last.attributes["not_moved_files"] == response["not_moved_files"]
    assert flushed[0].data["not_moved_files"] == response["not_moved_files"]
    # The refused file alone starts no flush every minute.
    await coordinator.async_refresh()
    assert not coordinator.flushing

    # Fixed on the NAS: the next flush moves it and clears the notice.
    shutil.rmtree(sshd.remote_dir / "a-clash")
    response = await flush(hass)

    assert (response["files"], response["not_moved"]) == (1, 0)
    assert tree(inbox) == {}
    assert issue(hass, ISSUE_INBOX_FILES_STUCK) is None


async def test_a_folder_chain_too_deep_is_reported_not_fatal(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    sshd: SshServer,
) -> None:
    coordinator = await setup_inbox()
    chain = inbox
    for _ in range(1000):
        chain /= "d"
        chain.mkdir()
    write(chain, "bottom.txt", b"deep")
    write(inbox, "top.txt", b"top")

    await coordinator.async_refresh()

    assert coordinator.last_update_success
    assert hass.states.get("sensor.baluhost_inbox_files").state == "1"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert tree(sshd.remote_dir) == {"top.txt": b"top"}
    record = coordinator.last_flush
    assert record is not None
    assert record.not_moved_files == (
        {
            "path": shown_path("/".join(["d"] * (MAX_DEPTH + 1))),
            "reason": "too_deep",
            "detail": "",
        },
    )
    assert (chain / "bottom.txt").read_bytes() == b"deep"
    found = issue(hass, ISSUE_INBOX_FILES_STUCK)
    assert found is not None
    assert found.translation_placeholders["max_depth"] == str(MAX_DEPTH)


async def test_files_a_crash_left_staged_are_sent(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    sshd: SshServer,
    transport: str,
) -> None:
    write(inbox, "a.txt", b"old a")
    write(inbox, "b/c.txt", b"c")
    scan = await asyncio.to_thread(scan_inbox, inbox, time.time(), 10)
    outbox, _ = await asyncio.to_thread(open_outbox, inbox, scan.ready)
    # Home Assistant dies mid-flush: its descriptors close, nothing goes back.
    for folder in outbox.folders:
        os.close(folder.fd)
    os.close(outbox.root_fd)
    assert all(name.startswith(".balupi-flush-") for name in tree(inbox))
    # Meanwhile a newer file of the same name arrives.
    write(inbox, "a.txt", b"new a")

    await setup_inbox()
    await hass.async_block_till_done(wait_background_tasks=True)
    await flush(hass)

    assert tree(sshd.remote_dir) == {"a.txt": b"new a", "b/c.txt": b"c"}
    assert list(inbox.iterdir()) == []


# --- options flow -------------------------------------------------------------


async def _open_inbox_options(
    hass: HomeAssistant, entry: MockConfigEntry
) -> dict[str, Any]:
    if hass.config_entries.async_get_entry(entry.entry_id) is None:
        entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "inbox"}
    )
    assert result["step_id"] == "inbox"
    return dict(result)


def _form(inbox: Path, server: SshServer, **overrides: Any) -> dict[str, Any]:
    options = inbox_options(inbox, server, **overrides)
    del options[CONF_HOST_KEY]
    return options


async def test_options_pin_the_offered_host_key(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    inbox: Path,
    tmp_path: Path,
    sshd: SshServer,
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    result = await _open_inbox_options(hass, config_entry)
    configure = hass.config_entries.options.async_configure

    result = await configure(
        result["flow_id"],
        _form(inbox, sshd, **{CONF_INBOX_PATH: "/etc", CONF_SSH_USER: ""}),
    )
    assert result["errors"] == {
        CONF_INBOX_PATH: "inbox_not_allowed",
        CONF_SSH_USER: "required_for_inbox",
    }
    # The form keeps what the user typed.
    assert result["data_schema"]({**_form(inbox, sshd), CONF_INBOX_PATH: "/etc"})
    result = await configure(
        result["flow_id"],
        _form(
            inbox,
            sshd,
            **{
                CONF_INBOX_PATH: str(tmp_path / "missing"),
                CONF_KEY_PATH: str(tmp_path / "no-key"),
            },
        ),
    )
    assert result["errors"] == {
        CONF_INBOX_PATH: "inbox_not_found",
        CONF_KEY_PATH: "key_unusable",
    }
    closed = start_sshd(tmp_path / "closed")
    closed.stop()
    result = await configure(
        result["flow_id"], _form(inbox, sshd, **{CONF_SSH_PORT: closed.port})
    )
    assert result["errors"] == {"base": "ssh_unreachable"}

    result = await configure(result["flow_id"], _form(inbox, sshd))
    assert result["step_id"] == "inbox_host_key"
    fingerprint = result["description_placeholders"]["fingerprint"]
    pub = sshd.client_key.parent / "host_key.pub"
    keygen_out = await asyncio.create_subprocess_exec(
        SSH_KEYGEN, "-lf", str(pub), stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await keygen_out.communicate()
    # The same fingerprint `ssh-keygen -lf` prints on the NAS.
    assert stdout.decode().split()[1] == fingerprint

    result = await configure(result["flow_id"], {})
    assert result["type"] == "create_entry"
    assert config_entry.options == inbox_options(inbox, sshd)
    await hass.async_block_till_done()
    assert config_entry.runtime_data.inbox is not None


async def test_options_confirm_fails_on_refused_key(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    inbox: Path,
    tmp_path: Path,
    sshd: SshServer,
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    stranger = tmp_path / "stranger"
    keygen(stranger)
    result = await _open_inbox_options(hass, config_entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _form(inbox, sshd, **{CONF_KEY_PATH: str(stranger)})
    )
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "ssh_auth_failed"}
    assert config_entry.options == {}


async def test_options_empty_folder_turns_the_inbox_off(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    inbox: Path,
    sshd: SshServer,
    tmp_path: Path,
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options=inbox_options(inbox, sshd, **{CONF_KEY_PATH: str(tmp_path / "no")})
        | {"scan_interval": 7},
    )
    result = await _open_inbox_options(hass, config_entry)
    write(inbox, "a.txt", b"a")
    with pytest.raises(HomeAssistantError):
        await flush(hass)
    assert issue(hass, ISSUE_INBOX_KEY) is not None
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SSH_PORT: 22}
    )
    assert result["type"] == "create_entry"
    assert config_entry.options == {"scan_interval": 7}
    await hass.async_block_till_done()
    assert config_entry.runtime_data.inbox is None
    # Its entities go with it, rather than stay behind unavailable.
    assert hass.states.get("sensor.baluhost_inbox_files") is None
    assert hass.states.get("button.baluhost_flush_inbox") is None
    # And its repair notice, which nobody could act on any more.
    assert issue(hass, ISSUE_INBOX_KEY) is None


async def test_coming_online_handshake_flushes_after_replying(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    setup_inbox: Setup,
    config_entry: MockConfigEntry,
    inbox: Path,
    sshd: SshServer,
) -> None:
    await setup_inbox()
    await config_entry.runtime_data.nas.async_transition(
        NasState.OFFLINE, Reason.HANDSHAKE
    )
    write(inbox, "a.txt", b"a")
    client = await hass_client_no_auth()
    headers, body = signed_call(SECRET, COMING_ONLINE)

    response = await client.post(COMING_ONLINE, headers=headers, data=body)

    assert response.status == 200
    reply = await response.json()
    assert reply["background"][-1] == "inbox"
    await hass.async_block_till_done(wait_background_tasks=True)
    assert tree(sshd.remote_dir) == {"a.txt": b"a"}


async def test_nas_ssh_down_keeps_files_and_raises_no_repair(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    sshd: SshServer,
    hass_client: ClientSessionGenerator,
    config_entry: MockConfigEntry,
) -> None:
    if RSYNC is None:
        missing_real_part("rsync is not installed")
    await setup_inbox()
    write(inbox, "a.txt", b"a")
    sshd.stop()

    with pytest.raises(HomeAssistantError, match="did not answer over SSH"):
        await flush(hass)

    assert tree(inbox) == {"a.txt": b"a"}
    # A NAS that is down is not something to repair.
    assert not [
        found for found in ir.async_get(hass).issues.values() if found.domain == DOMAIN
    ]
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    assert diagnostics["inbox"]["files"] == 1
    assert diagnostics["inbox"]["last_flush"]["error"] == "unreachable"


async def test_a_failing_flush_is_logged_once(
    hass: HomeAssistant,
    setup_inbox: Setup,
    inbox: Path,
    sshd: SshServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coordinator = await setup_inbox()
    write(inbox, "a.txt", b"a")
    sshd.stop()
    for _ in range(3):
        await coordinator.async_flush()
    failures = [r for r in caplog.records if "Inbox flush failed" in r.message]
    assert [r.levelname for r in failures] == ["WARNING", "DEBUG", "DEBUG"]


async def test_the_ed25519_host_key_is_offered_for_pinning(
    tmp_path: Path, socket_enabled: None
) -> None:
    """A NAS with RSA, ECDSA and ed25519 keys: the user is shown ed25519's."""
    server = start_sshd(tmp_path / "nas", more_host_keys=("rsa", "ecdsa"))
    try:
        assert await async_fetch_host_key("127.0.0.1", server.port) == server.host_key
    finally:
        server.stop()


def test_cutting_sessions_tolerates_one_that_already_ended(
    sshd: SshServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session that exits between listing and kill is not an error."""
    gone = 2**22 + 1  # above the default pid_max: no such process
    monkeypatch.setattr(
        "tests.sshd._descendants", lambda _pid: [(gone, "sshd-session")]
    )
    sshd.kill_sessions()

"""Shared fixtures for the BaluPi tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator
from functools import partial
from pathlib import Path
import ssl
import threading
import time
from typing import Any

# The hass fixture puts its own config dir (with a custom_components package) on
# sys.path; importing ours first makes Home Assistant find this integration.
import custom_components  # noqa: F401  # isort: skip

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
)
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.balupi.const import CONF_SECRET, DOMAIN
from homeassistant import block_async_io
from homeassistant.const import (
    CONF_BROADCAST_ADDRESS,
    CONF_BROADCAST_PORT,
    CONF_IP_ADDRESS,
    CONF_MAC,
    CONF_NAME,
    CONF_URL,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.frame import MissingIntegrationFrame, get_integration_frame
from homeassistant.util import loop as loop_util
from homeassistant.util.loop import protect_loop

from .fakes.nas_simulator import NasSimulator, write_self_signed_certificate

MAC = "aa:bb:cc:dd:ee:ff"
SECRET = "s" * 48


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None,
) -> Generator[None]:
    """Load integrations from custom_components in every test."""
    return


@pytest.fixture(autouse=True)
def detect_blocking_calls(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Generator[None]:
    """Fail a test in which BaluPi blocks the event loop.

    Home Assistant leaves most of its blocking-call detection off under pytest
    (open, scandir, Path.read_text, import_module, ...). Here all of it is on
    while an event loop runs, as in a real Home Assistant, and any "Detected
    blocking call" that Home Assistant attributes to this integration fails
    the test.
    """
    loop_thread = threading.get_ident()
    # Home Assistant warns once per code line and process: each test starts afresh.
    monkeypatch.setattr(loop_util, "_PREVIOUSLY_REPORTED", set())
    for call in block_async_io._BLOCKING_CALLS:
        monkeypatch.setattr(
            call.object,
            call.function,
            protect_loop(
                call.original_func,
                loop_thread_id=loop_thread,
                strict=call.strict,
                strict_core=call.strict_core,
                check_allowed=partial(_not_ours, call.check_allowed),
            ),
        )
    yield
    blocking = [
        record.getMessage()
        for phase in ("setup", "call", "teardown")
        for record in caplog.get_records(phase)
        if record.getMessage().startswith("Detected blocking call")
        and "integration 'balupi'" in record.getMessage()
    ]
    assert not blocking, blocking[0]


def _not_ours(
    allowed: Callable[[dict[str, Any]], bool] | None, mapped_args: dict[str, Any]
) -> bool:
    """Let a call through unless BaluPi makes it inside a running event loop.

    Sync tests and fixtures run no loop, and the tests' own helpers may block
    (starting sshd, stopping pihole-FTL): only the integration is judged.
    """
    try:
        asyncio.get_running_loop()
        get_integration_frame()
    except RuntimeError, MissingIntegrationFrame:
        return True
    return allowed is not None and allowed(mapped_args)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with Home Assistant's serializer."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
async def nas(socket_enabled: None) -> AsyncGenerator[NasSimulator]:
    """A NAS health endpoint on 127.0.0.1."""
    simulator = NasSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture(scope="session")
def self_signed_certificate(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key.

    Made once, before a test freezes the clock (cryptography wants real dates).
    """
    return write_self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_nas(
    socket_enabled: None, self_signed_certificate: tuple[Path, Path]
) -> Generator[NasSimulator]:
    """A NAS health endpoint on https://127.0.0.1 with a self-signed certificate.

    It runs in its own thread and event loop: a client that refuses the
    certificate breaks off the TLS handshake, and asyncio reports that as an
    error of the server's loop, which in the test's loop would fail the test.
    """
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*self_signed_certificate)
    simulator = NasSimulator(tls=tls)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(simulator.start(), loop).result(timeout=10)
    yield simulator
    asyncio.run_coroutine_threadsafe(simulator.stop(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


@pytest.fixture
def wol_port(unused_udp_port: int) -> int:
    """The UDP port Wake-on-LAN is sent to (tests bind it themselves)."""
    return unused_udp_port


def entry_data(url: str, /, **overrides: Any) -> dict[str, Any]:
    """Return the data of a configured NAS entry."""
    return {
        CONF_NAME: "BaluHost",
        CONF_URL: url,
        CONF_IP_ADDRESS: "127.0.0.1",
        CONF_MAC: MAC,
        CONF_BROADCAST_ADDRESS: "127.0.0.1",
        CONF_BROADCAST_PORT: 40009,
        CONF_SECRET: SECRET,
    } | overrides


@pytest.fixture
def config_entry(nas: NasSimulator, wol_port: int) -> MockConfigEntry:
    """A BaluPi entry pointing at the NAS simulator."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(nas.url, broadcast_port=wol_port),
        entry_id="01JBALUPI0000000000000000",
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add and set up an entry, waiting until its platforms are ready.

    Also waits for the first heartbeat, Pi-hole check and plug reads, which
    setup starts in the background: a test starts from what they found.
    """
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


async def settle(hass: HomeAssistant, seconds: float = 0.02) -> None:
    """Let real socket I/O finish while the frozen clock stands still.

    The event loop's clock is frozen in these tests, so waiting has to happen in
    a thread; the loop keeps serving sockets meanwhile.
    """
    await asyncio.get_running_loop().run_in_executor(None, time.sleep, seconds)
    await hass.async_block_till_done()


async def advance(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    seconds: float,
    step: float = 0.25,
) -> None:
    """Move the clock forward in steps, firing due timers and finishing I/O."""
    remaining = seconds
    while remaining > 0:
        freezer.tick(min(step, remaining))
        remaining -= step
        async_fire_time_changed_exact(hass)
        await settle(hass)

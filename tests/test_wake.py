"""Wake-on-LAN received by a real UDP socket, the boot watch and its timeout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.balupi.const import (
    DEFAULT_FAST_INTERVAL,
    DOMAIN,
    EVENT_NAS_STATE_CHANGED,
    ISSUE_NAS_DID_NOT_WAKE,
    SERVICE_WAKE_NAS,
)
from custom_components.balupi.nas_state import NasState
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_CONFIG_ENTRY_ID, ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir

from .conftest import MAC, advance, settle, setup_entry
from .fakes.nas_simulator import NasSimulator

STATE = "sensor.baluhost_nas_state"
BUTTON = "button.baluhost_wake_nas"


class Receiver(asyncio.DatagramProtocol):
    """Collects the datagrams that reach a UDP port on 127.0.0.1."""

    def __init__(self) -> None:
        self.packets: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.put_nowait(data)


@pytest.fixture
async def receiver(socket_enabled: None, wol_port: int) -> AsyncGenerator[Receiver]:
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        Receiver, local_addr=("127.0.0.1", wol_port)
    )
    yield protocol
    transport.close()


@pytest.fixture
async def asleep(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
) -> MockConfigEntry:
    await nas.stop()
    await setup_entry(hass, config_entry)
    await advance(hass, freezer, 5)
    assert hass.states.get(STATE).state == NasState.OFFLINE
    return config_entry


async def press(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: BUTTON}, blocking=True
    )


@pytest.mark.usefixtures("asleep")
async def test_button_sends_the_magic_packet_and_nas_boots(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    receiver: Receiver,
) -> None:
    events = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    await press(hass)
    packet = await receiver.packets.get()
    assert len(packet) == 102
    assert packet == b"\xff" * 6 + bytes.fromhex(MAC.replace(":", "")) * 16
    assert hass.states.get(STATE).state == NasState.BOOTING

    # Booting: probed every second, online as soon as it answers.
    await advance(hass, freezer, 3)
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.nas
    assert coordinator.update_interval == timedelta(seconds=DEFAULT_FAST_INTERVAL)
    await nas.start()
    await advance(hass, freezer, 2)
    assert hass.states.get(STATE).state == NasState.ONLINE
    assert [(e.data["to"], e.data["reason"]) for e in events] == [
        ("booting", "wol"),
        ("online", "heartbeat"),
    ]


async def test_action_wakes_the_only_nas(
    hass: HomeAssistant, asleep: MockConfigEntry, receiver: Receiver
) -> None:
    await hass.services.async_call(DOMAIN, SERVICE_WAKE_NAS, {}, blocking=True)
    assert len(await receiver.packets.get()) == 102
    assert hass.states.get(STATE).state == NasState.BOOTING


async def test_action_wakes_the_named_nas(
    hass: HomeAssistant, asleep: MockConfigEntry, receiver: Receiver
) -> None:
    await hass.services.async_call(
        DOMAIN,
        SERVICE_WAKE_NAS,
        {ATTR_CONFIG_ENTRY_ID: asleep.entry_id},
        blocking=True,
    )
    assert len(await receiver.packets.get()) == 102
    assert hass.states.get(STATE).state == NasState.BOOTING


@pytest.mark.usefixtures("asleep")
async def test_nas_that_does_not_wake_raises_a_repair(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
    receiver: Receiver,
) -> None:
    await press(hass)
    await advance(hass, freezer, 299, step=1)
    assert hass.states.get(STATE).state == NasState.BOOTING
    await advance(hass, freezer, 3)
    assert hass.states.get(STATE).state == NasState.OFFLINE
    issue_id = f"{ISSUE_NAS_DID_NOT_WAKE}_{config_entry.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["timeout"] == "300"

    # Woken by hand later: the notice goes away.
    await nas.start()
    await advance(hass, freezer, 31)
    assert hass.states.get(STATE).state == NasState.ONLINE
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.parametrize("mode", ["online", None])
async def test_wake_is_refused_when_online_or_booting(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
    receiver: Receiver,
    mode: str | None,
) -> None:
    if mode is None:
        await nas.stop()
        await setup_entry(hass, config_entry)
        await advance(hass, freezer, 5)
        await press(hass)
        await receiver.packets.get()
        key = "already_booting"
    else:
        await setup_entry(hass, config_entry)
        key = "already_online"
    with pytest.raises(ServiceValidationError) as err:
        await press(hass)
    assert err.value.translation_key == key
    assert str(err.value) == f"BaluHost is already {key.split('_')[1]}"
    await settle(hass)
    assert receiver.packets.empty()


async def test_unsendable_packet_is_a_translated_error(
    hass: HomeAssistant, asleep: MockConfigEntry
) -> None:
    with (
        patch(
            "custom_components.balupi.coordinator.nas.async_send_magic_packet",
            side_effect=OSError("Network is unreachable"),
        ),
        pytest.raises(HomeAssistantError) as err,
    ):
        await press(hass)
    assert err.value.translation_key == "wol_failed"
    assert "Network is unreachable" in str(err.value)
    assert hass.states.get(STATE).state == NasState.OFFLINE


async def test_action_needs_a_loaded_entry(
    hass: HomeAssistant, asleep: MockConfigEntry
) -> None:
    await hass.config_entries.async_unload(asleep.entry_id)
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            DOMAIN,
            SERVICE_WAKE_NAS,
            {ATTR_CONFIG_ENTRY_ID: asleep.entry_id},
            blocking=True,
        )

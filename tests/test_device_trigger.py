"""Device triggers of the NAS, fired by the real coordinator's state changes."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from freezegun.api import FrozenDateTimeFactory
import probatio
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
    async_mock_service,
)

from custom_components.balupi import device_trigger
from custom_components.balupi.const import (
    CONF_BOOT_TIMEOUT,
    DOMAIN,
    EVENT_NAS_STATE_CHANGED,
    SERVICE_WAKE_NAS,
)
from custom_components.balupi.coordinator.nas import NasCoordinator
from custom_components.balupi.heartbeat import PowerHint
from custom_components.balupi.nas_state import NasState, Reason
from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.components.device_automation.exceptions import (
    InvalidDeviceAutomationConfig,
)
from homeassistant.const import (
    ATTR_CONFIG_ENTRY_ID,
    ATTR_ENTITY_ID,
    CONF_MAC,
    SERVICE_TURN_OFF,
)
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component

from .conftest import MAC, advance, entry_data, setup_entry
from .fakes.nas_simulator import NasSimulator

TYPES = (
    "came_online",
    "did_not_wake",
    "fell_asleep",
    "went_offline",
    "went_offline_unexpectedly",
    "woke_up",
)
STATE = "sensor.baluhost_nas_state"
OTHER_MAC = "11:22:33:44:55:66"


def nas_device(hass: HomeAssistant, entry: MockConfigEntry) -> dr.DeviceEntry:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.data[CONF_MAC]), entry.entry_id
    )
    assert device is not None
    return device


def coordinator(entry: MockConfigEntry) -> NasCoordinator:
    return entry.runtime_data.nas


@pytest.fixture
async def online(
    hass: HomeAssistant, nas: NasSimulator, wol_port: int
) -> MockConfigEntry:
    """The NAS is up; a short boot timeout keeps the did-not-wake case quick."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(nas.url, broadcast_port=wol_port),
        options={CONF_BOOT_TIMEOUT: 10},
    )
    await setup_entry(hass, entry)
    assert hass.states.get(STATE).state == NasState.ONLINE
    return entry


async def attach_automations(
    hass: HomeAssistant, entry: MockConfigEntry
) -> list[ServiceCall]:
    """Add one automation per trigger type on the NAS device; return their calls."""
    calls = async_mock_service(hass, "test", "automation")
    device_id = nas_device(hass, entry).id
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                {
                    "alias": trigger_type,
                    "triggers": [
                        {
                            "trigger": "device",
                            "domain": DOMAIN,
                            "device_id": device_id,
                            "type": trigger_type,
                        }
                    ],
                    "actions": [
                        {
                            "action": "test.automation",
                            "data": {
                                "type": trigger_type,
                                "platform": "{{ trigger.platform }}",
                                "from": "{{ trigger.event.data['from'] }}",
                                "reason": "{{ trigger.event.data.reason }}",
                            },
                        }
                    ],
                }
                for trigger_type in TYPES
            ]
        },
    )
    for trigger_type in TYPES:
        assert hass.states.get(f"automation.{trigger_type}").state == "on"
    return calls


@pytest.fixture
async def fired(hass: HomeAssistant, online: MockConfigEntry) -> list[ServiceCall]:
    """The calls of the automations, one per trigger type, on the NAS device."""
    return await attach_automations(hass, online)


def types(calls: list[ServiceCall]) -> list[str]:
    return sorted(call.data["type"] for call in calls)


# --- listing and validation ----------------------------------------------------


async def test_nas_device_lists_its_triggers(
    hass: HomeAssistant, online: MockConfigEntry
) -> None:
    device_id = nas_device(hass, online).id
    triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, device_id
    )
    ours = [trigger for trigger in triggers if trigger["domain"] == DOMAIN]
    assert sorted(trigger["type"] for trigger in ours) == list(TYPES)
    for trigger in ours:
        assert trigger["platform"] == "device"
        assert trigger["device_id"] == device_id
        await device_trigger.async_validate_trigger_config(hass, trigger)


async def test_other_devices_of_the_entry_have_no_nas_triggers(
    hass: HomeAssistant, online: MockConfigEntry
) -> None:
    # A plug's device: same entry, same identifier domain, another MAC.
    plug = dr.async_get(hass).async_get_or_create(
        config_entry_id=online.entry_id, identifiers={(DOMAIN, OTHER_MAC)}
    )
    assert await device_trigger.async_get_triggers(hass, plug.id) == []
    config = {
        "platform": "device",
        "domain": DOMAIN,
        "device_id": plug.id,
        "type": "went_offline",
    }
    with pytest.raises(InvalidDeviceAutomationConfig):
        await device_trigger.async_validate_trigger_config(hass, config)


async def test_unknown_trigger_type_is_invalid(
    hass: HomeAssistant, online: MockConfigEntry
) -> None:
    config = {
        "platform": "device",
        "domain": DOMAIN,
        "device_id": nas_device(hass, online).id,
        "type": "exploded",
    }
    with pytest.raises(probatio.Invalid):
        await device_trigger.async_validate_trigger_config(hass, config)


# --- firing ----------------------------------------------------------------------


async def test_nas_dying_fires_offline_and_unexpectedly(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    fired: list[ServiceCall],
) -> None:
    await nas.stop()
    await advance(hass, freezer, 20)
    assert hass.states.get(STATE).state == NasState.OFFLINE
    assert types(fired) == ["went_offline", "went_offline_unexpectedly"]
    for call in fired:
        assert call.data["platform"] == "device"
        assert call.data["from"] == NasState.ONLINE
        assert call.data["reason"] == Reason.HEARTBEAT


async def test_power_cut_is_unexpected(
    hass: HomeAssistant, online: MockConfigEntry, fired: list[ServiceCall]
) -> None:
    await coordinator(online).async_transition(NasState.OFFLINE, Reason.POWER)
    await hass.async_block_till_done()
    assert types(fired) == ["went_offline", "went_offline_unexpectedly"]


async def test_announced_shutdown_is_not_unexpected(
    hass: HomeAssistant, online: MockConfigEntry, fired: list[ServiceCall]
) -> None:
    await coordinator(online).async_going_offline()
    await hass.async_block_till_done()
    assert hass.states.get(STATE).state == NasState.OFFLINE
    assert types(fired) == ["went_offline"]
    assert fired[0].data["reason"] == Reason.HANDSHAKE


async def test_handshake_straight_from_online_is_not_unexpected(
    hass: HomeAssistant, online: MockConfigEntry, fired: list[ServiceCall]
) -> None:
    """Announced is announced, even without the shutting-down step."""
    await coordinator(online).async_transition(NasState.OFFLINE, Reason.HANDSHAKE)
    await hass.async_block_till_done()
    assert types(fired) == ["went_offline"]


async def test_sleep_and_wake_fire_fell_asleep_and_woke_up(
    hass: HomeAssistant, online: MockConfigEntry, fired: list[ServiceCall]
) -> None:
    nas = coordinator(online)
    await nas.async_transition(NasState.SLEEPING, Reason.SLEEP)
    await hass.async_block_till_done()
    assert types(fired) == ["fell_asleep"]
    # Soft sleep going on to suspend is the same sleep.
    await nas.async_transition(NasState.SUSPENDED, Reason.SUSPEND)
    await hass.async_block_till_done()
    assert types(fired) == ["fell_asleep"]
    await nas.async_transition(NasState.ONLINE, Reason.HEARTBEAT)
    await hass.async_block_till_done()
    assert types(fired) == ["came_online", "fell_asleep", "woke_up"]


async def test_silence_at_standby_power_is_a_suspend_not_a_death(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    online: MockConfigEntry,
    nas: NasSimulator,
    fired: list[ServiceCall],
) -> None:
    coordinator(online).power_hint = lambda: PowerHint.STANDBY
    await nas.stop()
    await advance(hass, freezer, 20)
    assert hass.states.get(STATE).state == NasState.SUSPENDED
    assert types(fired) == ["fell_asleep"]
    assert fired[0].data["reason"] == Reason.POWER


async def test_nas_coming_back_fires_came_online(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    online: MockConfigEntry,
    fired: list[ServiceCall],
) -> None:
    await coordinator(online).async_going_offline()
    await hass.async_block_till_done()
    fired.clear()
    # Switched on by hand: the next slow offline poll sees it answer.
    await advance(hass, freezer, 31)
    assert hass.states.get(STATE).state == NasState.ONLINE
    assert types(fired) == ["came_online"]
    assert fired[0].data["from"] == NasState.OFFLINE


async def test_nas_that_does_not_boot_fires_did_not_wake(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    online: MockConfigEntry,
    fired: list[ServiceCall],
) -> None:
    await coordinator(online).async_going_offline()
    await nas.stop()
    await hass.services.async_call(
        DOMAIN,
        SERVICE_WAKE_NAS,
        {ATTR_CONFIG_ENTRY_ID: online.entry_id},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert hass.states.get(STATE).state == NasState.BOOTING
    fired.clear()
    await advance(hass, freezer, 12, step=1)
    assert hass.states.get(STATE).state == NasState.OFFLINE
    assert types(fired) == ["did_not_wake", "went_offline"]
    assert {call.data["reason"] for call in fired} == {Reason.BOOT_TIMEOUT}


@pytest.fixture
async def other_nas(socket_enabled: None) -> AsyncGenerator[NasSimulator]:
    simulator = NasSimulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


async def test_another_nas_does_not_fire(
    hass: HomeAssistant,
    online: MockConfigEntry,
    other_nas: NasSimulator,
    fired: list[ServiceCall],
) -> None:
    other = MockConfigEntry(
        domain=DOMAIN,
        title="Other NAS",
        unique_id=OTHER_MAC,
        data=entry_data(other_nas.url, mac=OTHER_MAC),
    )
    await setup_entry(hass, other)
    await coordinator(other).async_transition(NasState.OFFLINE, Reason.HEARTBEAT)
    await hass.async_block_till_done()
    assert fired == []
    # The other NAS's own device has its own triggers, bound to its entry.
    other_device = nas_device(hass, other)
    assert len(await device_trigger.async_get_triggers(hass, other_device.id)) == len(
        TYPES
    )

    await coordinator(online).async_transition(NasState.OFFLINE, Reason.HEARTBEAT)
    await hass.async_block_till_done()
    assert types(fired) == ["went_offline", "went_offline_unexpectedly"]


async def test_turning_automations_off_detaches_every_listener(
    hass: HomeAssistant, online: MockConfigEntry
) -> None:
    before = hass.bus.async_listeners().get(EVENT_NAS_STATE_CHANGED, 0)
    calls = await attach_automations(hass, online)
    assert hass.bus.async_listeners()[EVENT_NAS_STATE_CHANGED] > before
    await hass.services.async_call(
        automation.DOMAIN,
        SERVICE_TURN_OFF,
        {ATTR_ENTITY_ID: "all"},
        blocking=True,
    )
    assert hass.bus.async_listeners().get(EVENT_NAS_STATE_CHANGED, 0) == before
    await coordinator(online).async_transition(NasState.OFFLINE, Reason.HEARTBEAT)
    await hass.async_block_till_done()
    assert calls == []

"""Setup, restart, unload and removal of an entry; entities and diagnostics."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.balupi.const import DOMAIN
from custom_components.balupi.nas_state import NasState
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er

from .conftest import MAC, advance, setup_entry
from .fakes.nas_simulator import Mode, NasSimulator

STATE = "sensor.baluhost_nas_state"
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.freeze_time(T0)
@pytest.mark.parametrize(
    "platform", [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.SENSOR]
)
async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    config_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    with patch("custom_components.balupi.PLATFORMS", [platform]):
        await setup_entry(hass, config_entry)
    await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)


async def test_device(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    config_entry: MockConfigEntry,
) -> None:
    await setup_entry(hass, config_entry)
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, MAC), config_entry.entry_id
    )
    assert device is not None
    assert device.connections == {(dr.CONNECTION_NETWORK_MAC, MAC)}
    assert (device.name, device.manufacturer) == ("BaluHost", "BaluHost")


async def test_state_survives_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
) -> None:
    nas.mode = Mode.ERROR
    await setup_entry(hass, config_entry)
    await advance(hass, freezer, 5)
    since = hass.states.get("sensor.baluhost_state_since").state

    # Reload stands in for a restart: the lifecycle comes back from the store,
    # not from a fresh probe (which still fails, so nothing would say offline).
    await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(STATE).state == NasState.OFFLINE
    assert hass.states.get("sensor.baluhost_state_since").state == since


async def test_state_is_restored_from_storage(
    hass: HomeAssistant,
    hass_storage: dict[str, object],
    config_entry: MockConfigEntry,
    nas: NasSimulator,
) -> None:
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}",
        "data": {
            "lifecycle": {
                "state": "offline",
                "since": "2026-11-24T03:00:00+00:00",
                "reason": "handshake",
            },
            "version": "1.37.0",
        },
    }
    nas.mode = Mode.ERROR
    await setup_entry(hass, config_entry)
    assert hass.states.get(STATE).state == NasState.OFFLINE
    assert (
        hass.states.get("sensor.baluhost_state_since").state
        == "2026-11-24T03:00:00+00:00"
    )
    assert hass.states.get("sensor.baluhost_nas_version").state == "1.37.0"


async def test_unload_and_remove(
    hass: HomeAssistant,
    hass_storage: dict[str, object],
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
) -> None:
    nas.mode = Mode.ERROR
    await setup_entry(hass, config_entry)
    await advance(hass, freezer, 5)
    key = f"{DOMAIN}.{config_entry.entry_id}"
    assert key in hass_storage

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.NOT_LOADED
    requests = nas.requests
    # No timer is left: nothing probes the NAS any more.
    await advance(hass, freezer, 60, step=5)
    assert nas.requests == requests

    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


@pytest.mark.freeze_time(T0)
async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    config_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    await setup_entry(hass, config_entry)
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    assert diagnostics["entry"]["data"]["secret"] == "**REDACTED**"
    url = config_entry.data["url"]
    # Ports are picked free per test run.
    diagnostics["entry"]["data"]["url"] = url.rsplit(":", 1)[0]
    diagnostics["entry"]["data"]["broadcast_port"] = 9
    assert diagnostics == snapshot

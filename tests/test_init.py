"""Setup, restart, unload and removal of an entry; entities and diagnostics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
import json
from pathlib import Path
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

from custom_components.balupi.const import (
    CONF_API_KEY,
    CONF_HOST_KEY,
    CONF_HOSTNAME,
    CONF_INBOX_PATH,
    CONF_KEY_PATH,
    CONF_PI_IP,
    CONF_REMOTE_PATH,
    CONF_SSH_HOST,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
    DOMAIN,
    ROLE_NAS,
    SUBENTRY_PIHOLE,
)
from custom_components.balupi.nas_state import NasState
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er

from .conftest import MAC, SECRET, advance, entry_data, setup_entry
from .fakes.nas_simulator import NasSimulator
from .fakes.tapo_plug import DEFAULT_PASSWORD, FakeTapoPlug
from .nas_signer import COMING_ONLINE, signed_call
from .pihole import PiholeProcess, pihole_fixture
from .test_plugs import PLUG_MAC, USER, make_entry, other_plug, plug, plug_subentry

__all__ = ["other_plug", "pihole_fixture", "plug"]

STATE = "sensor.baluhost_nas_state"
# The shape of a BaluHost key; the NAS simulator accepts none (TCP only here).
API_KEY = "balu_" + "K3y" * 13 + "z"
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
    await nas.stop()
    await setup_entry(hass, config_entry)
    await advance(hass, freezer, 5)
    since = hass.states.get("sensor.baluhost_state_since").state

    # Reload stands in for a restart: the lifecycle comes back from the store,
    # not from a fresh probe (which still fails, so nothing would say offline).
    await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
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
    await nas.stop()
    await setup_entry(hass, config_entry)
    assert hass.states.get(STATE).state == NasState.OFFLINE
    assert (
        hass.states.get("sensor.baluhost_state_since").state
        == "2026-11-24T03:00:00+00:00"
    )
    assert hass.states.get("sensor.baluhost_nas_version").state == "1.37.0"


async def test_sleeping_without_a_key_is_decided_afresh(
    hass: HomeAssistant,
    hass_storage: dict[str, object],
    config_entry: MockConfigEntry,
    nas: NasSimulator,
) -> None:
    """Stored as soft-sleeping, then the key was removed: no reading can end it."""
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}",
        "data": {
            "lifecycle": {
                "state": "sleeping",
                "since": "2026-11-24T03:00:00+00:00",
                "reason": "sleep",
            },
        },
    }
    await setup_entry(hass, config_entry)
    assert hass.states.get(STATE).state == NasState.ONLINE


async def test_unload_and_remove(
    hass: HomeAssistant,
    hass_storage: dict[str, object],
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
) -> None:
    await nas.stop()
    await setup_entry(hass, config_entry)
    await advance(hass, freezer, 5)
    key = f"{DOMAIN}.{config_entry.entry_id}"
    assert key in hass_storage

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.NOT_LOADED
    await nas.start()
    connections = nas.connections
    # No timer is left: nothing probes the NAS any more.
    await advance(hass, freezer, 60, step=5)
    assert nas.connections == connections

    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_setup_waits_for_no_silent_part(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    nas: NasSimulator,
    plug: FakeTapoPlug,
    other_plug: FakeTapoPlug,
) -> None:
    """Two plugs and the NAS accept connections and never answer."""
    await nas.go_dark()
    plug.silent = other_plug.silent = True
    entry = make_entry(nas, plug_subentry(plug), plug_subentry(other_plug))
    entry.add_to_hass(hass)
    # python-kasa alone would wait half a minute per plug.
    assert await asyncio.wait_for(
        hass.config_entries.async_setup(entry.entry_id), timeout=5
    )
    assert entry.state is ConfigEntryState.LOADED
    await hass.async_block_till_done()
    # The NAS's handshake is answered while the plugs still hang.
    client = await hass_client_no_auth()
    headers, body = signed_call(SECRET, COMING_ONLINE)
    response = await client.post(COMING_ONLINE, headers=headers, data=body)
    assert response.status == 200
    assert hass.states.get(STATE).state == NasState.ONLINE
    assert [plug.data for plug in entry.runtime_data.plugs.values()] == [None, None]
    assert hass.states.get("sensor.nas_plug_power").state == "unavailable"
    assert plug.handshakes == other_plug.handshakes == 1
    plug.silent = other_plug.silent = False


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
    # Ports are picked free per test run.
    diagnostics["entry"]["data"]["broadcast_port"] = 9
    assert diagnostics == snapshot


async def test_diagnostics_hold_no_credential_or_address(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    tmp_path: Path,
    nas: NasSimulator,
    plug: FakeTapoPlug,
    pihole: PiholeProcess,
) -> None:
    """An entry with a plug, a Pi-hole and an inbox: searched by value."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    ssh_user = "nas-ssh-account"
    nas_ip, pi_ip = "192.0.2.10", "192.0.2.20"
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(nas.url, ip_address=nas_ip)
        | {
            CONF_TPLINK_USERNAME: USER,
            CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD,
            CONF_API_KEY: API_KEY,
        },
        options={
            CONF_INBOX_PATH: str(inbox),
            CONF_SSH_HOST: "nas.lan",
            CONF_SSH_PORT: 22,
            CONF_SSH_USER: ssh_user,
            CONF_REMOTE_PATH: "/srv/inbox",
            CONF_KEY_PATH: str(tmp_path / "id_ed25519"),
            CONF_HOST_KEY: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBaluHostKey",
        },
        subentries_data=[
            plug_subentry(plug, ROLE_NAS),
            ConfigSubentryData(
                data={
                    CONF_URL: pihole.url,
                    CONF_PASSWORD: pihole.password,
                    CONF_VERIFY_SSL: True,
                    CONF_HOSTNAME: "baluhost.lan",
                    CONF_PI_IP: pi_ip,
                },
                subentry_type=SUBENTRY_PIHOLE,
                title="Pi-hole",
                unique_id=None,
            ),
        ],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.data[CONF_TPLINK_USERNAME] == USER

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    text = json.dumps(diagnostics)
    configured = {
        "handshake secret": SECRET,
        "BaluHost API key": API_KEY,
        "Pi-hole password": pihole.password,
        "TP-Link account": USER,
        "TP-Link password": DEFAULT_PASSWORD,
        "SSH user": ssh_user,
        "NAS MAC": MAC,
        "plug MAC": PLUG_MAC,
        "NAS IP address": nas_ip,
        "Pi IP address": pi_ip,
        "loopback address": "127.0.0.1",
        "DNS name": "baluhost.lan",
        "SSH host": "nas.lan",
    }
    assert [name for name, value in configured.items() if value in text] == []
    # Still useful: what is configured and how it runs.
    assert [sub["type"] for sub in diagnostics["subentries"]] == ["plug", "pihole"]
    assert diagnostics["dns"]["target"] == "nas"
    assert diagnostics["dns"]["in_sync"] is True
    assert diagnostics["inbox"]["files"] == 0
    [nas_plug] = diagnostics["plugs"]
    assert (nas_plug["role"], nas_plug["answers"]) == ("nas", True)
    assert nas_plug["meter"]["cost"] == 0

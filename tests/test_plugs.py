"""Tapo plugs through python-kasa's real client against fake plugs on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import logging
from typing import Any
from unittest.mock import patch

from aiohttp import ClientSession
from freezegun.api import FrozenDateTimeFactory
from kasa import Discover
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.balupi.const import (
    CONF_CONNECTION,
    CONF_ROLE,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
    DOMAIN,
    ISSUE_NAS_UNRESPONSIVE,
    ROLE_GENERIC,
    ROLE_NAS,
    SERVICE_WAKE_NAS,
    SUBENTRY_PLUG,
)
from custom_components.balupi.coordinator.plugs import UPDATE_TIMEOUT
from custom_components.balupi.heartbeat import PowerHint
from custom_components.balupi.nas_state import NasState
from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryChange,
    ConfigEntryState,
    ConfigSubentryData,
)
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_HOST,
    CONF_MAC,
    CONF_NAME,
    CONF_PORT,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.aiohttp_client import async_create_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_connect

from .conftest import MAC, advance, entry_data, setup_entry
from .fakes.nas_simulator import NasSimulator
from .fakes.tapo_plug import DEFAULT_PASSWORD, FakeTapoPlug

USER = "user@example.com"
PLUG_MAC = "30:de:4b:00:00:01"
OTHER_MAC = "30:de:4b:00:00:02"
KLAP = {
    "device_family": "SMART.TAPOPLUG",
    "encryption_type": "KLAP",
    "login_version": 2,
    "https": False,
}


@pytest.fixture
async def plug(socket_enabled: None) -> AsyncGenerator[FakeTapoPlug]:
    fake = FakeTapoPlug(mac=PLUG_MAC, alias="NAS plug", power_w=45.0)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def other_plug(socket_enabled: None) -> AsyncGenerator[FakeTapoPlug]:
    fake = FakeTapoPlug(mac=OTHER_MAC, alias="Desk", power_w=12.0, with_voltage=False)
    await fake.start()
    yield fake
    await fake.stop()


def plug_subentry(
    fake: FakeTapoPlug, role: str = ROLE_GENERIC, title: str = ""
) -> ConfigSubentryData:
    return ConfigSubentryData(
        data={
            CONF_HOST: fake.host,
            CONF_PORT: fake.port,
            CONF_MAC: fake.mac.lower().replace("-", ":"),
            CONF_ROLE: role,
            CONF_CONNECTION: KLAP,
        },
        subentry_type=SUBENTRY_PLUG,
        title=title or fake.alias,
        unique_id=fake.mac.lower().replace("-", ":"),
    )


def make_entry(
    nas: NasSimulator, *plugs: ConfigSubentryData, **options: Any
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(nas.url)
        | {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD},
        options=options,
        subentries_data=list(plugs),
        entry_id="01JBALUPI0000000000000000",
    )


def value(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


# --- adding plugs ---------------------------------------------------------------


async def start_flow(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_PLUG), context={"source": SOURCE_USER}
    )


async def test_add_discovered_plug_with_account(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    plug: FakeTapoPlug,
) -> None:
    await setup_entry(hass, config_entry)
    await plug.stop()
    await plug.start(discovery_port=0)
    with (
        patch.object(Discover, "DISCOVERY_PORT_2", plug.discovery_port),
        patch(
            "homeassistant.components.network.async_get_ipv4_broadcast_addresses",
            return_value={"127.0.0.1"},
        ),
        patch("custom_components.balupi.coordinator.plugs.DISCOVERY_TIMEOUT", 1),
    ):
        result = await start_flow(hass, config_entry)
        assert result["step_id"] == "account"
        result = await hass.config_entries.subentries.async_configure(
            result["flow_id"],
            {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD},
        )
    assert result["step_id"] == "plug"
    options = result["data_schema"].schema[CONF_HOST].config["options"]
    address = f"127.0.0.1:{plug.port}"
    assert [option["value"] for option in options] == [address]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_HOST: address, CONF_ROLE: ROLE_NAS}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "NAS plug"
    assert result["data"][CONF_MAC] == PLUG_MAC
    assert config_entry.data[CONF_TPLINK_USERNAME] == USER
    await hass.async_block_till_done(wait_background_tasks=True)
    # The entry reloaded with the plug: its entities are there.
    assert value(hass, "sensor.nas_plug_power") == "45.0"


async def test_first_plug_reloads_the_entry_once(
    hass: HomeAssistant, config_entry: MockConfigEntry, plug: FakeTapoPlug
) -> None:
    await setup_entry(hass, config_entry)
    states: list[ConfigEntryState] = []

    @callback
    def changed(change: ConfigEntryChange, entry: ConfigEntry) -> None:
        if entry is config_entry and entry.state not in states[-1:]:
            states.append(entry.state)

    async_dispatcher_connect(hass, SIGNAL_CONFIG_ENTRY_CHANGED, changed)
    result = await start_flow(hass, config_entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD},
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_HOST: f"127.0.0.1:{plug.port}", CONF_ROLE: ROLE_NAS}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert value(hass, "sensor.nas_plug_power") == "45.0"
    # Stored the account and added the plug: set up again once, not twice.
    assert states.count(ConfigEntryState.SETUP_IN_PROGRESS) == 1


@pytest.mark.parametrize(
    ("refusal", "error"),
    [("bad_credentials", "invalid_auth"), ("third_party_off", "third_party_off")],
)
async def test_refused_login_is_explained(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    plug: FakeTapoPlug,
    refusal: str,
    error: str,
) -> None:
    await setup_entry(hass, config_entry)
    plug.refuse_login = refusal  # type: ignore[assignment]
    result = await start_flow(hass, config_entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD},
    )
    address = f"127.0.0.1:{plug.port}"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_HOST: address, CONF_ROLE: ROLE_GENERIC}
    )
    assert result["errors"] == {"base": error}
    plug.refuse_login = None
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_HOST: address, CONF_NAME: "Server", CONF_ROLE: ROLE_GENERIC},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Server"


async def test_add_plug_errors(
    hass: HomeAssistant, nas: NasSimulator, plug: FakeTapoPlug, other_plug: FakeTapoPlug
) -> None:
    entry = make_entry(nas, plug_subentry(plug, ROLE_NAS))
    await setup_entry(hass, entry)
    result = await start_flow(hass, entry)
    assert result["step_id"] == "plug"
    # Already added.
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_HOST: f"127.0.0.1:{plug.port}", CONF_ROLE: ROLE_GENERIC},
    )
    assert result["errors"] == {"base": "already_configured"}
    # Only one NAS plug.
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_HOST: f"127.0.0.1:{other_plug.port}", CONF_ROLE: ROLE_NAS},
    )
    assert result["errors"] == {CONF_ROLE: "nas_role_taken"}
    # Nothing there (a plain host means port 80, closed here).
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_ROLE: ROLE_GENERIC}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    await other_plug.offline()
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {CONF_HOST: f"127.0.0.1:{other_plug.port}", CONF_ROLE: ROLE_GENERIC},
    )
    assert result["errors"] == {"base": "cannot_connect"}
    await other_plug.online()


# --- entities and polling --------------------------------------------------------


@pytest.mark.freeze_time("2026-11-24T12:00:00+00:00")
async def test_plug_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
    nas: NasSimulator,
    plug: FakeTapoPlug,
    other_plug: FakeTapoPlug,
) -> None:
    plug.today_wh, plug.month_wh = 420, 9100
    entry = make_entry(nas, plug_subentry(plug, ROLE_NAS), plug_subentry(other_plug))
    await setup_entry(hass, entry)
    plug_entities = sorted(
        (e for e in entity_registry.entities.values() if e.config_subentry_id),
        key=lambda e: e.entity_id,
    )
    for entity in plug_entities:
        assert entity == snapshot(name=f"{entity.entity_id}-entry")
        if (state := hass.states.get(entity.entity_id)) is not None:
            assert (state.state, dict(state.attributes)) == snapshot(
                name=f"{entity.entity_id}-state"
            )
    # Voltage and current exist only where the firmware reports them.
    assert entity_registry.async_get("sensor.nas_plug_voltage") is not None
    assert entity_registry.async_get("sensor.desk_voltage") is None
    # The NAS plug hangs under the NAS.
    nas_device = device_registry.async_get_device_by_identifier(
        (DOMAIN, MAC), entry.entry_id
    )
    plug_device = device_registry.async_get_device_by_identifier(
        (DOMAIN, PLUG_MAC), entry.entry_id
    )
    assert plug_device.via_device_id == nas_device.id


async def test_one_plug_offline_leaves_the_others(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    nas: NasSimulator,
    plug: FakeTapoPlug,
    other_plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug), plug_subentry(other_plug))
    await setup_entry(hass, entry)
    await other_plug.offline()
    # python-kasa retries a few times (with pauses) before it gives up.
    await advance(hass, freezer, 90, step=1)
    assert value(hass, "sensor.desk_power") == STATE_UNAVAILABLE
    assert value(hass, "switch.desk") == STATE_UNAVAILABLE
    assert value(hass, "sensor.nas_plug_power") == "45.0"
    # Logged once when lost (later failures only at debug level), no traceback.
    lost = [
        r
        for r in caplog.records
        if r.levelno >= logging.INFO and "Desk does not answer" in r.getMessage()
    ]
    assert len(lost) == 1
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.INFO)
    await other_plug.online()
    await advance(hass, freezer, 60, step=1)
    assert value(hass, "sensor.desk_power") == "12.0"
    assert "Fetching balupi plug Desk data recovered" in caplog.text


async def test_silent_plug_times_out(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug))
    await setup_entry(hass, entry)
    plug.silent = True
    # Next poll within 30 s, bounded to 15 s, then one direct query of 5 s.
    await advance(hass, freezer, 55, step=1)
    assert value(hass, "sensor.nas_plug_power") == STATE_UNAVAILABLE
    plug.silent = False


async def test_silent_plug_at_setup_gives_up_at_the_bound(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    """A plug that takes the connection and never answers, from the start.

    The connect (python-kasa's handshake and first update, each with its own
    retries) is what hangs here, not a later poll: it gives up at the bound.
    """
    plug.silent = True
    entry = make_entry(nas, plug_subentry(plug))
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    await advance(hass, freezer, UPDATE_TIMEOUT - 1, step=1)
    # Reached, and still waiting for an answer.
    assert plug.handshakes >= 1
    assert "NAS plug does not answer" not in caplog.text
    await advance(hass, freezer, 2, step=1)
    assert "NAS plug does not answer" in caplog.text
    assert value(hass, "sensor.nas_plug_power") == STATE_UNAVAILABLE
    assert value(hass, "switch.nas_plug") == STATE_UNAVAILABLE
    assert entry.state is ConfigEntryState.LOADED
    plug.silent = False


async def test_one_connection_for_many_polls(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug))
    await setup_entry(hass, entry)
    # Fine steps: a coarse jump of the frozen clock could pass the poll's
    # timeout while a real request is still on its way.
    for _ in range(10):
        await advance(hass, freezer, 30, step=2)
    assert plug.handshakes == 1
    assert plug.requests >= 10
    await hass.config_entries.async_unload(entry.entry_id)


async def test_switch(
    hass: HomeAssistant, nas: NasSimulator, plug: FakeTapoPlug
) -> None:
    entry = make_entry(nas, plug_subentry(plug))
    await setup_entry(hass, entry)
    await hass.services.async_call(
        "switch", "turn_off", {ATTR_ENTITY_ID: "switch.nas_plug"}, blocking=True
    )
    assert not plug.is_on
    assert value(hass, "switch.nas_plug") == "off"
    assert value(hass, "sensor.nas_plug_power") == "0.0"
    await hass.services.async_call(
        "switch", "turn_on", {ATTR_ENTITY_ID: "switch.nas_plug"}, blocking=True
    )
    assert value(hass, "switch.nas_plug") == "on"
    await plug.offline()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            "switch", "turn_off", {ATTR_ENTITY_ID: "switch.nas_plug"}, blocking=True
        )
    assert err.value.translation_key == "plug_command_failed"
    await plug.online()


async def test_rejected_login_starts_reauth(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug))
    await setup_entry(hass, entry)
    plug.refuse_login = "bad_credentials"  # type: ignore[assignment]
    plug.drop_sessions()
    await advance(hass, freezer, 60, step=1)
    assert value(hass, "sensor.nas_plug_power") == STATE_UNAVAILABLE
    flows = hass.config_entries.flow.async_progress()
    assert [flow["step_id"] for flow in flows] == ["reauth_tplink"]
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: "x"}
    )
    assert result["errors"] == {"base": "plug_invalid_auth"}
    plug.refuse_login = None
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"],
        {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD},
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    await advance(hass, freezer, 5, step=0.5)
    assert value(hass, "sensor.nas_plug_power") == "45.0"


async def test_reauth_logs_in_to_the_plug_that_refused(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
    other_plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug), plug_subentry(other_plug))
    await setup_entry(hass, entry)
    # The second plug learnt the account's new password, the first not yet.
    other_plug.refuse_login = "bad_credentials"  # type: ignore[assignment]
    other_plug.drop_sessions()
    await advance(hass, freezer, 60, step=1)
    [flow] = hass.config_entries.flow.async_progress()
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["step_id"] == "reauth_tplink"
    assert result["description_placeholders"] == {"name": "Desk"}
    # The old password still works on the first plug, not on the one that refused.
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"],
        {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD},
    )
    assert result["errors"] == {"base": "plug_invalid_auth"}
    new_password = DEFAULT_PASSWORD + " (changed in the app)"
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"],
        {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: new_password},
    )
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_TPLINK_PASSWORD] == new_password


async def test_reauth_without_plugs_aborts(
    hass: HomeAssistant, nas: NasSimulator
) -> None:
    entry = make_entry(nas)
    await setup_entry(hass, entry)
    result = await entry.start_reauth_flow(
        hass, data={"reauth": "tplink", "plug": "01JREMOVED000000000000000"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_plugs"


async def test_reauth_errors_are_the_plugs(
    hass: HomeAssistant, nas: NasSimulator, plug: FakeTapoPlug
) -> None:
    entry = make_entry(nas, plug_subentry(plug))
    await setup_entry(hass, entry)
    subentry_id = next(iter(entry.subentries))
    result = await entry.start_reauth_flow(
        hass, data={"reauth": "tplink", "plug": subentry_id}
    )
    await plug.offline()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD},
    )
    # Not Pi-hole's "cannot_connect" ("Pi-hole does not answer at this URL.").
    assert result["errors"] == {"base": "plug_cannot_connect"}
    await plug.online()


async def test_failed_attempts_leave_no_session_open(
    hass: HomeAssistant, nas: NasSimulator, plug: FakeTapoPlug
) -> None:
    entry = make_entry(nas, plug_subentry(plug))
    await setup_entry(hass, entry)
    plug.refuse_login = "bad_credentials"  # type: ignore[assignment]
    sessions: list[ClientSession] = []

    def tracked(*args: Any, **kwargs: Any) -> ClientSession:
        session = async_create_clientsession(*args, **kwargs)
        sessions.append(session)
        return session

    with patch(
        "custom_components.balupi.coordinator.plugs.async_create_clientsession", tracked
    ):
        result = await start_flow(hass, entry)
        # A refused login, then nothing there.
        for host in (f"127.0.0.1:{plug.port}", "127.0.0.1"):
            result = await hass.config_entries.subentries.async_configure(
                result["flow_id"], {CONF_HOST: host, CONF_ROLE: ROLE_GENERIC}
            )
            assert result["errors"]
        result = await entry.start_reauth_flow(
            hass, data={"reauth": "tplink", "plug": next(iter(entry.subentries))}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_TPLINK_USERNAME: USER, CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD},
        )
        assert result["errors"]
    assert len(sessions) == 3
    assert all(session.closed for session in sessions)
    plug.refuse_login = None


async def test_other_device_at_the_address_is_not_adopted(
    hass: HomeAssistant, nas: NasSimulator, plug: FakeTapoPlug
) -> None:
    subentry = plug_subentry(plug)
    subentry["data"] = dict(subentry["data"]) | {CONF_MAC: OTHER_MAC}
    subentry["unique_id"] = OTHER_MAC
    entry = make_entry(nas, subentry)
    await setup_entry(hass, entry)
    plug_coordinator = next(iter(entry.runtime_data.plugs.values()))
    assert not plug_coordinator.last_update_success
    assert "plug_unexpected_device" in repr(
        plug_coordinator.last_exception.translation_key
    )


def plug_device(
    device_registry: dr.DeviceRegistry, entry: MockConfigEntry, mac: str = PLUG_MAC
) -> dr.DeviceEntry:
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, mac), entry.entry_id
    )
    assert device is not None
    return device


async def test_reload_with_a_plug_offline(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug))
    await setup_entry(hass, entry)
    known = ("P110", plug.fw_ver, "1.0")
    device = plug_device(device_registry, entry)
    assert (device.model, device.sw_version, device.hw_version) == known
    await plug.offline()
    assert await hass.config_entries.async_reload(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    await hass.async_block_till_done(wait_background_tasks=True)
    # The plug's device keeps what it last reported; its entities wait.
    device = plug_device(device_registry, entry)
    assert (device.model, device.sw_version, device.hw_version) == known
    assert value(hass, "sensor.nas_plug_power") == STATE_UNAVAILABLE
    assert value(hass, "switch.nas_plug") == STATE_UNAVAILABLE
    await plug.online()


async def test_firmware_update_reaches_the_device(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug))
    await setup_entry(hass, entry)
    plug.fw_ver = "1.4.2 Build 250110 Rel.101010"
    coordinator = next(iter(entry.runtime_data.plugs.values()))
    await coordinator.async_refresh()
    assert plug_device(device_registry, entry).sw_version == plug.fw_ver


async def test_removed_plug_leaves_no_device(
    hass: HomeAssistant,
    device_registry: dr.DeviceRegistry,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug))
    await setup_entry(hass, entry)
    assert device_registry.async_get_device_by_identifier(
        (DOMAIN, PLUG_MAC), entry.entry_id
    )
    subentry_id = next(iter(entry.subentries))
    hass.config_entries.async_remove_subentry(entry, subentry_id)
    await hass.async_block_till_done()
    assert (
        device_registry.async_get_device_by_identifier(
            (DOMAIN, PLUG_MAC), entry.entry_id
        )
        is None
    )
    assert hass.states.get("sensor.nas_plug_power") is None


async def test_removing_the_nas_plug(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    nas: NasSimulator,
    plug: FakeTapoPlug,
    other_plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug, ROLE_NAS), plug_subentry(other_plug))
    await setup_entry(hass, entry)
    of_the_nas_plug = [
        "sensor.baluhost_always_on_baseline",
        "sensor.baluhost_energy_saved_by_sleeping",
        "sensor.baluhost_cost_saved_by_sleeping",
        "sensor.baluhost_nas_cost_this_month",
    ]
    kept = [
        "sensor.baluhost_cost_this_month",
        "sensor.baluhost_projected_cost_this_month",
        "sensor.baluhost_awake_today",
        "sensor.baluhost_nas_state",
        "sensor.desk_power",
        "sensor.desk_energy_cost",
        "switch.desk",
    ]
    assert all(entity_registry.async_get(e) for e in of_the_nas_plug + kept)
    subentry_id = next(
        key for key, sub in entry.subentries.items() if sub.data[CONF_ROLE] == ROLE_NAS
    )
    hass.config_entries.async_remove_subentry(entry, subentry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert (
        device_registry.async_get_device_by_identifier(
            (DOMAIN, PLUG_MAC), entry.entry_id
        )
        is None
    )
    assert device_registry.async_get_device_by_identifier((DOMAIN, MAC), entry.entry_id)
    assert [e for e in of_the_nas_plug if entity_registry.async_get(e)] == []
    assert [e for e in of_the_nas_plug if hass.states.get(e)] == []
    assert [e for e in kept if not entity_registry.async_get(e)] == []
    assert value(hass, "sensor.desk_power") == "12.0"


# --- cost -----------------------------------------------------------------------


COST = "sensor.nas_plug_energy_cost"


@pytest.mark.freeze_time("2026-11-24T21:00:00+01:00")
async def test_cost_follows_time_of_use_midnight_and_reboots(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    plug.power_w = 1000.0  # 1 kWh per hour keeps the arithmetic readable
    entry = make_entry(
        nas,
        plug_subentry(plug),
        price=0.30,
        tou_start="22:00:00",
        tou_end="06:00:00",
        tou_price=0.20,
    )
    await setup_entry(hass, entry)
    assert value(hass, COST) == "0.0"

    async def hour() -> None:
        for _ in range(4):
            plug.advance(900)
            await advance(hass, freezer, 897, step=897)
            # Fine steps around the poll: python-kasa pauses a second before it
            # logs in again after a reboot.
            await advance(hass, freezer, 3, step=0.5)

    await hour()  # 21:00-22:00 at 0.30
    assert float(value(hass, COST)) == pytest.approx(0.30)
    await hour()  # 22:00-23:00 at 0.20
    assert float(value(hass, COST)) == pytest.approx(0.50)
    await hour()  # 23:00-00:00, then the day counter starts over
    plug.reset_counters()
    await hour()  # 00:00-01:00
    assert float(value(hass, COST)) == pytest.approx(0.90, abs=0.21)
    plug.reboot()
    await hour()
    cost = float(value(hass, COST))
    # Never negative, never doubled: 5 hours of 1 kWh at 0.30 or 0.20.
    assert 1.0 <= cost <= 1.1 + 1e-9
    # The counter reset at midnight cost nothing extra:
    assert cost == pytest.approx(0.30 + 0.20 * 4, abs=0.21)


@pytest.mark.freeze_time("2026-11-24T12:00:00+01:00")
async def test_cost_carries_over_from_before_one_meter(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    entity_registry: er.EntityRegistry,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    """An update from when the cost sensor and the month's cost counted apart."""
    await hass.config.async_set_time_zone("Europe/Berlin")
    hass.config.currency = "EUR"
    plug.today_wh = 2000
    entry = make_entry(nas, plug_subentry(plug), price=0.5)
    entry.add_to_hass(hass)
    subentry_id = next(iter(entry.subentries))
    # The sensor kept its running total in its restore data...
    entity_registry.async_get_or_create(
        "sensor",
        DOMAIN,
        f"{PLUG_MAC}_cost",
        config_entry=entry,
        config_subentry_id=subentry_id,
        suggested_object_id="nas_plug_energy_cost",
    )
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(COST, "1.5"),
                {
                    "native_value": 1.5,
                    "native_unit_of_measurement": "EUR",
                    "last_kwh": 1.0,
                },
            )
        ],
    )
    # ... and the insights their month's cost in their store.
    key = f"{DOMAIN}.{entry.entry_id}.insights"
    hass_storage[key] = {
        "version": 1,
        "minor_version": 1,
        "key": key,
        "data": {
            "month": {
                "start": "2026-10-31T23:00:00+00:00",
                "plugs": {subentry_id: {"cost": 0.25, "last_kwh": 1.0}},
            }
        },
    }
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await entry.runtime_data.insights.async_refresh()
    await hass.async_block_till_done()
    # 1 kWh more than before the update, at 0.5, on both.
    assert float(value(hass, COST)) == pytest.approx(2.0)
    assert float(value(hass, "sensor.baluhost_cost_this_month")) == pytest.approx(0.75)


async def test_small_dip_of_the_day_counter_costs_nothing(
    hass: HomeAssistant, nas: NasSimulator, plug: FakeTapoPlug
) -> None:
    plug.today_wh = 5000
    entry = make_entry(nas, plug_subentry(plug), price=1.0)
    await setup_entry(hass, entry)
    coordinator = next(iter(entry.runtime_data.plugs.values()))
    # The firmware's day counter goes back by a Wh, then on.
    for wh in (5010, 5009, 5011):
        plug.today_wh = wh
        await coordinator.async_refresh()
    await hass.async_block_till_done()
    # 11 Wh at 1.00: the dip re-priced nothing.
    assert float(value(hass, COST)) == pytest.approx(0.01)


# --- the NAS plug's power in the NAS state ---------------------------------------


async def test_power_off_means_offline_at_once(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug, ROLE_NAS))
    await setup_entry(hass, entry)
    plug.power_w = 0.8
    await advance(hass, freezer, 30, step=30)
    await nas.stop()
    await advance(hass, freezer, 6, step=1)
    assert value(hass, "sensor.baluhost_nas_state") == NasState.OFFLINE
    assert entry.runtime_data.nas.lifecycle.reason == "power"


async def test_running_but_silent_nas_is_not_offline(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    nas: NasSimulator,
    plug: FakeTapoPlug,
) -> None:
    entry = make_entry(nas, plug_subentry(plug, ROLE_NAS))
    await setup_entry(hass, entry)
    await nas.stop()
    await advance(hass, freezer, 30, step=1)
    assert value(hass, "sensor.baluhost_nas_state") == NasState.ONLINE
    issue_id = f"{ISSUE_NAS_UNRESPONSIVE}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    await nas.start()
    await advance(hass, freezer, 6, step=1)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.parametrize("answers", [True, False])
async def test_unresponsive_issue_across_a_reload(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    nas: NasSimulator,
    plug: FakeTapoPlug,
    answers: bool,
) -> None:
    entry = make_entry(nas, plug_subentry(plug, ROLE_NAS))
    await setup_entry(hass, entry)
    await nas.stop()
    await advance(hass, freezer, 30, step=1)
    issue_id = f"{ISSUE_NAS_UNRESPONSIVE}_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    if answers:
        await nas.start()
    # Any options change reloads the entry.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    for _ in range(30):
        # Cleared by the first answer; kept while the NAS is still silent, also
        # while the heartbeat confirms its failures afresh.
        assert (issue_registry.async_get_issue(DOMAIN, issue_id) is None) is answers
        await advance(hass, freezer, 1, step=1)
    assert value(hass, "sensor.baluhost_nas_state") == NasState.ONLINE


@pytest.mark.parametrize(
    ("power", "is_on", "key"),
    [(60.0, True, "already_running"), (0.0, False, "no_power")],
)
async def test_wake_refused_by_the_plug(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    plug: FakeTapoPlug,
    power: float,
    is_on: bool,
    key: str,
) -> None:
    await nas.stop()
    entry = make_entry(nas, plug_subentry(plug, ROLE_NAS))
    plug.power_w = 1.0
    await setup_entry(hass, entry)
    await advance(hass, freezer, 6, step=1)
    assert value(hass, "sensor.baluhost_nas_state") == NasState.OFFLINE
    plug.power_w = power
    plug.set_on(is_on)
    # The next poll, made here so a slow real request cannot miss the step.
    for coordinator in entry.runtime_data.plugs.values():
        await coordinator.async_refresh()
    assert entry.runtime_data.nas.power_hint() in (
        PowerHint.RUNNING,
        PowerHint.UNPOWERED,
    )
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(DOMAIN, SERVICE_WAKE_NAS, {}, blocking=True)
    assert err.value.translation_key == key

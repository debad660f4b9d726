"""A plug found by DHCP, on a running BaluPi entry: added, polled, followed."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.balupi.const import (
    CONF_ROLE,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
    DOMAIN,
    ROLE_GENERIC,
)
from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    SOURCE_DHCP,
    ConfigEntry,
    ConfigEntryChange,
    ConfigEntryState,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.service_info.dhcp import DhcpServiceInfo

from .conftest import MAC, entry_data, setup_entry
from .fakes.nas_simulator import NasSimulator
from .fakes.tapo_plug import DEFAULT_PASSWORD, FakeTapoPlug

# A real plug answers on port 80; DHCP tells only its address.
PLUG_MAC = "30:de:4b:00:00:08"


@pytest.fixture
async def plug(socket_enabled: None) -> AsyncGenerator[FakeTapoPlug]:
    fake = FakeTapoPlug(mac=PLUG_MAC, alias="Desk", port=80, power_w=12.0)
    await fake.start()
    yield fake
    await fake.stop()


async def test_dhcp_plug_on_a_running_entry(
    hass: HomeAssistant, nas: NasSimulator, plug: FakeTapoPlug
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="BaluHost",
        unique_id=MAC,
        data=entry_data(nas.url)
        | {
            CONF_TPLINK_USERNAME: "user@example.com",
            CONF_TPLINK_PASSWORD: DEFAULT_PASSWORD,
        },
    )
    await setup_entry(hass, entry)
    states: list[ConfigEntryState] = []

    @callback
    def changed(change: ConfigEntryChange, changed_entry: ConfigEntry) -> None:
        if changed_entry is entry and changed_entry.state not in states[-1:]:
            states.append(changed_entry.state)

    async_dispatcher_connect(hass, SIGNAL_CONFIG_ENTRY_CHANGED, changed)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_DHCP},
        data=DhcpServiceInfo(
            ip="127.0.0.1", hostname="p110", macaddress=PLUG_MAC.replace(":", "")
        ),
    )
    assert result["step_id"] == "plug_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ROLE: ROLE_GENERIC}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "plug_added"
    await hass.async_block_till_done(wait_background_tasks=True)
    # Reloaded once by the update listener; the plug is read like any other.
    assert states.count(ConfigEntryState.SETUP_IN_PROGRESS) == 1
    assert entry.state is ConfigEntryState.LOADED
    state = hass.states.get("sensor.desk_power")
    assert state is not None
    assert state.state == "12.0"

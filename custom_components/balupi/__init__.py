"""BaluPi: the Raspberry Pi that looks after a sleeping NAS."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from homeassistant.const import CONF_PASSWORD, CONF_URL, CONF_VERIFY_SSL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.importlib import async_import_module
from homeassistant.helpers.typing import ConfigType
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .const import (
    CONF_HEALTH_PATH,
    CONF_PLUG_INTERVAL,
    CONF_ROLE,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
    DEFAULT_PLUG_INTERVAL,
    DEFAULT_PRICE,
    DOMAIN,
    ENTRY_MINOR_VERSION,
    ENTRY_VERSION,
    ROLE_NAS,
    SUBENTRY_PLUG,
)
from .coordinator import BalupiConfigEntry, BalupiData
from .coordinator.device import (
    DeviceCoordinator,
    EventsCoordinator,
    JobsCoordinator,
    SoftwareCoordinator,
)
from .coordinator.dns import DnsCoordinator, async_remove_dns, pihole_subentry
from .coordinator.inbox import InboxCoordinator, async_remove_inbox, inbox_settings
from .coordinator.insights import InsightsCoordinator
from .coordinator.metering import energy_value
from .coordinator.nas import NasCoordinator, power_thresholds
from .coordinator.snapshot import SnapshotCoordinator
from .coordinator.store import ENTRY_STORES, entry_store
from .entity import nas_device_info
from .heartbeat import PowerHint, PowerThresholds
from .pihole import PiholeClient
from .services import async_setup_services
from .tariff import tariff_from_options
from .views import async_register_views

if TYPE_CHECKING:
    from .coordinator.plugs import PlugCoordinator

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

PLATFORMS = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.UPDATE,
]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register actions and views once; both look up their entry per call."""
    async_setup_services(hass)
    async_register_views(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: BalupiConfigEntry) -> bool:
    """Start watching the NAS.

    Setup reads only what is stored here and waits for no network: the first
    heartbeat, Pi-hole check and plug reads run in the background, so a
    sleeping NAS or a silent plug holds up neither Home Assistant's start nor
    the NAS's handshake. Until then the NAS shows its restored state and the
    Pi-hole and plug entities are unavailable.
    """
    nas = NasCoordinator(hass, entry)
    snapshots = SnapshotCoordinator(hass, entry)
    await snapshots.async_load()
    await nas.async_load()
    # Filled by _async_setup_plugs; the insights read the plugs through it.
    plugs: dict[str, PlugCoordinator] = {}
    insights = InsightsCoordinator(
        hass, entry, tariff_from_options(entry.options, DEFAULT_PRICE), nas, plugs
    )
    await insights.async_load()
    entry.runtime_data = BalupiData(
        nas, snapshots, insights, plugs=plugs, loaded_with=_loaded_with(entry)
    )
    entry.async_on_unload(insights.async_save)
    entry.async_on_unload(
        nas.async_add_transition_listener(insights.async_on_nas_transition)
    )
    polled: list[DataUpdateCoordinator[Any]] = [nas]
    polled.extend(await _async_setup_device(hass, entry))
    if (pihole := pihole_subentry(entry)) is not None:
        client = PiholeClient(
            async_get_clientsession(hass, verify_ssl=pihole.data[CONF_VERIFY_SSL]),
            pihole.data[CONF_URL],
            pihole.data[CONF_PASSWORD],
            verify_tls=pihole.data[CONF_VERIFY_SSL],
        )
        # Registered before the DNS coordinator, so it runs after the coordinator
        # stopped: the logout frees the Pi-hole seat last.
        entry.async_on_unload(client.close)
        dns = DnsCoordinator(hass, entry, client, pihole, nas)
        await dns.async_load()
        entry.runtime_data.dns = dns
        entry.async_on_unload(
            nas.async_add_transition_listener(dns.async_on_nas_transition)
        )
        polled.append(dns)
    else:
        await async_remove_dns(hass, entry)
    if (settings := inbox_settings(entry.data, entry.options)) is not None:
        inbox = InboxCoordinator(hass, entry, settings, nas)
        entry.runtime_data.inbox = inbox
        # A missing folder leaves the inbox entities unavailable, not the entry.
        await inbox.async_load()
        await inbox.async_refresh()
        entry.async_on_unload(
            nas.async_add_transition_listener(inbox.async_on_nas_transition)
        )
    else:
        async_remove_inbox(hass, entry)
    await _async_setup_plugs(hass, entry)
    for subentry_id, plug in entry.runtime_data.plugs.items():
        # Before the entities' listeners: the plug's readings are priced
        # before its sensors show them.
        entry.async_on_unload(
            plug.async_add_listener(
                partial(insights.async_on_plug_update, subentry_id, plug)
            )
        )
        polled.append(plug)
    await insights.async_refresh()
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    for polled_coordinator in polled:
        entry.async_create_background_task(
            hass,
            polled_coordinator.async_refresh(),
            f"{polled_coordinator.name} first refresh",
        )
    return True


async def _async_setup_device(
    hass: HomeAssistant, entry: BalupiConfigEntry
) -> list[DataUpdateCoordinator[Any]]:
    """Prepare what is read from the awake NAS with the API key; none without."""
    nas = entry.runtime_data.nas
    if nas.client is None:
        return []
    runtime = entry.runtime_data
    device = DeviceCoordinator(hass, entry, nas, nas.client)
    await device.async_load()
    entry.async_on_unload(device.async_save)
    runtime.device = device
    runtime.software = SoftwareCoordinator(hass, entry, nas, nas.client)
    runtime.jobs = JobsCoordinator(hass, entry, nas, nas.client)
    runtime.events = EventsCoordinator(hass, entry, nas, nas.client)
    coordinators: list[DataUpdateCoordinator[Any]] = [
        device,
        runtime.software,
        runtime.jobs,
        runtime.events,
    ]
    for coordinator in (device, runtime.software, runtime.jobs, runtime.events):
        entry.async_on_unload(
            nas.async_add_transition_listener(coordinator.async_on_nas_transition)
        )
    return coordinators


async def _async_setup_plugs(hass: HomeAssistant, entry: BalupiConfigEntry) -> None:
    """Prepare every plug and its device; they connect on their first refresh.

    python-kasa is large: it is loaded (in the executor) only when there are plugs.
    """
    runtime = entry.runtime_data
    interval = entry.options.get(CONF_PLUG_INTERVAL, DEFAULT_PLUG_INTERVAL)
    # Created before the platforms, so the NAS plug's device can hang under it.
    devices = dr.async_get(hass)
    nas_device = devices.async_get_or_create(
        config_entry_id=entry.entry_id, **nas_device_info(entry)
    )
    plugs = [
        subentry
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_PLUG
    ]
    if not plugs:
        return
    await async_import_module(hass, f"{__name__}.coordinator.plugs")
    from .coordinator.plugs import PlugCoordinator  # noqa: PLC0415 (loaded above)

    for subentry in plugs:
        plug = PlugCoordinator(hass, entry, subentry, interval)
        entry.async_on_unload(plug.async_close)
        runtime.plugs[subentry.subentry_id] = plug
        if subentry.data[CONF_ROLE] == ROLE_NAS:
            plug.nas_device_id = nas_device.id
            runtime.nas.power_hint = partial(
                _nas_power, plug, power_thresholds(entry.options)
            )
        # Before the first poll, which writes model and firmware to it.
        devices.async_get_or_create(
            config_entry_id=entry.entry_id,
            config_subentry_id=subentry.subentry_id,
            **plug.device_info,
        )


def _nas_power(plug: PlugCoordinator, thresholds: PowerThresholds) -> PowerHint:
    """Read the NAS plug; a plug that does not answer says nothing."""
    if not plug.last_update_success or plug.data is None:
        return PowerHint.UNKNOWN
    device = plug.data
    return thresholds.classify(
        energy_value(device, "current_consumption"), relay_on=device.is_on
    )


def _loaded_with(entry: BalupiConfigEntry) -> tuple[object, ...]:
    """Return what setup reads from the entry.

    The TP-Link account counts only once there are plugs: the first "Add plug"
    stores it just before its plug, which then reloads the entry once.
    """
    data = dict(entry.data)
    if not any(sub.subentry_type == SUBENTRY_PLUG for sub in entry.subentries.values()):
        data.pop(CONF_TPLINK_USERNAME, None)
        data.pop(CONF_TPLINK_PASSWORD, None)
    subentries = {
        key: (sub.subentry_type, sub.title, dict(sub.data))
        for key, sub in entry.subentries.items()
    }
    return entry.title, data, dict(entry.options), subentries


async def _async_entry_updated(hass: HomeAssistant, entry: BalupiConfigEntry) -> None:
    """Apply changed connection data, options, Pi-hole settings or plugs."""
    if _loaded_with(entry) != entry.runtime_data.loaded_with:
        hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_migrate_entry(hass: HomeAssistant, entry: BalupiConfigEntry) -> bool:
    """Bring an entry stored by an older BaluPi up to date.

    1.1 -> 1.2: the health path goes; liveness is a TCP connect to the URL's
    port, which a health request would have woken from soft sleep.
    """
    if entry.version > ENTRY_VERSION:
        # Stored by a newer BaluPi: refuse rather than misread it.
        return False
    if entry.minor_version < ENTRY_MINOR_VERSION:
        data = {k: v for k, v in entry.data.items() if k != CONF_HEALTH_PATH}
        hass.config_entries.async_update_entry(
            entry, data=data, minor_version=ENTRY_MINOR_VERSION
        )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: BalupiConfigEntry) -> bool:
    """Stop watching the NAS; coordinators and the Pi-hole session close with it."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: BalupiConfigEntry) -> None:
    """Delete what was persisted for a removed entry."""
    await async_remove_dns(hass, entry)
    for key in ENTRY_STORES:
        await entry_store(hass, entry.entry_id, key).async_remove()

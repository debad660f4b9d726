"""Tapo P110/P115 plugs: one persistent python-kasa Device and one coordinator each."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
import logging
from typing import Any, override

from aiohttp import ClientSession
from kasa import (
    AuthenticationError,
    Credentials,
    Device,
    DeviceConfig,
    DeviceConnectionParameters,
    DeviceEncryptionType,
    DeviceFamily,
    Discover,
    KasaException,
)
from kasa.exceptions import SmartErrorCode
from kasa.httpclient import get_cookie_jar

from homeassistant.components import network
from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_HOST, CONF_MAC, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_create_clientsession
from homeassistant.helpers.device_registry import (
    CONNECTION_NETWORK_MAC,
    DeviceInfo,
    format_mac,
)
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from ..const import (
    CONF_CONNECTION,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
    DOMAIN,
    PLUG_TIMEOUT,
    REAUTH,
    REAUTH_PLUG,
    REAUTH_TPLINK,
)

_LOGGER = logging.getLogger(__name__)

# One poll may take a few of python-kasa's own retries, never more.
UPDATE_TIMEOUT = 3 * PLUG_TIMEOUT
# How long the add-plug form listens for plugs' broadcast replies.
DISCOVERY_TIMEOUT = 3

# Tapo firmware answers KLAP's first handshake with HTTP 403 while "Third-Party
# Compatibility" is off in the Tapo app; python-kasa 0.12 reports it as a plain
# KasaException "... responded with 403 to handshake1".
THIRD_PARTY_MARKER = "403 to handshake1"


def is_third_party_refusal(err: Exception) -> bool:
    """Return whether a failure is Tapo's "Third-Party Compatibility" lock."""
    return THIRD_PARTY_MARKER in str(err)


def credentials_of(entry: ConfigEntry) -> Credentials | None:
    """Return the TP-Link account stored on the entry, if any."""
    username = entry.data.get(CONF_TPLINK_USERNAME)
    if not username:
        return None
    return Credentials(username, entry.data[CONF_TPLINK_PASSWORD])


def plug_session(hass: HomeAssistant, *, auto_cleanup: bool = True) -> ClientSession:
    """Return an HTTP session (and cookie jar) for one plug.

    KLAP keeps its login in a cookie, so the shared Home Assistant session
    (one jar for everything) must not be used. Made during entry setup, Home
    Assistant detaches it on unload; without ``auto_cleanup`` the caller must.
    """
    return async_create_clientsession(
        hass, verify_ssl=False, cookie_jar=get_cookie_jar(), auto_cleanup=auto_cleanup
    )


def device_config(
    session: ClientSession,
    host: str,
    port: int | None,
    credentials: Credentials | None,
    connection: dict[str, Any] | None = None,
) -> DeviceConfig:
    """Return python-kasa's config for one plug."""
    config = DeviceConfig(
        host,
        timeout=PLUG_TIMEOUT,
        port_override=port,
        credentials=credentials,
        http_client=session,
    )
    if connection:
        config.connection_type = DeviceConnectionParameters.from_dict(connection)
    return config


# Tapo P110/P115 speak KLAP (login v2) on current firmware, AES on older ones.
TAPO_CONNECTIONS = (
    DeviceConnectionParameters(
        DeviceFamily.SmartTapoPlug, DeviceEncryptionType.Klap, login_version=2
    ),
    DeviceConnectionParameters(
        DeviceFamily.SmartTapoPlug, DeviceEncryptionType.Aes, login_version=2
    ),
)


async def async_connect(config: DeviceConfig) -> Device:
    """Connect, given up after one bounded attempt.

    python-kasa's connect includes the first update, each query with its own
    retries: a silent plug would hold it for half a minute.
    """
    async with asyncio.timeout(UPDATE_TIMEOUT):
        return await Device.connect(config=config)


@dataclass(frozen=True, slots=True)
class PlugIdentity:
    """Which plug answered a login."""

    mac: str
    alias: str | None
    model: str
    connection: dict[str, Any]


async def async_identify_tapo(
    hass: HomeAssistant, host: str, port: int | None, credentials: Credentials
) -> PlugIdentity:
    """Log in to a Tapo plug by trying its protocols; raise the telling error.

    A rejected login (AuthenticationError) wins over "this protocol does not
    answer", so wrong credentials are reported as such. Nothing stays open:
    the plug is disconnected and the session detached, whatever happened.
    """
    failure: KasaException | TimeoutError | None = None
    session = plug_session(hass, auto_cleanup=False)
    try:
        for connection in TAPO_CONNECTIONS:
            config = device_config(session, host, port, credentials)
            config.connection_type = connection
            try:
                device = await async_connect(config)
            except AuthenticationError:
                raise
            except (KasaException, TimeoutError) as err:
                failure = failure or err
                continue
            try:
                return PlugIdentity(
                    format_mac(device.mac),
                    device.alias,
                    device.model,
                    device.config.connection_type.to_dict(),
                )
            finally:
                await device.disconnect()
    finally:
        session.detach()
    assert failure is not None  # noqa: S101 (the loop ran at least once)
    raise failure


class PlugCoordinator(DataUpdateCoordinator[Device]):
    """Poll one plug over one connection that lives as long as the entry."""

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        subentry: ConfigSubentry,
        interval: float,
    ) -> None:
        """Prepare the plug; the connection opens on the first refresh."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} plug {subentry.title}",
            update_interval=timedelta(seconds=interval),
        )
        self.subentry = subentry
        self.mac: str = subentry.data[CONF_MAC]
        self.device: Device | None = None
        # Made during entry setup: Home Assistant detaches it on unload.
        self._session = plug_session(hass)
        # The NAS device this plug feeds (its role is "nas"), set by setup.
        self.nas_device_id: str | None = None
        # Model and firmware as last written to the device registry.
        self._shown: tuple[str, str | None, str | None] | None = None

    @property
    def device_info(self) -> DeviceInfo:
        """Return the plug's device; model and firmware follow once it answers."""
        info = DeviceInfo(
            identifiers={(DOMAIN, self.mac)},
            connections={(CONNECTION_NETWORK_MAC, self.mac)},
            name=self.subentry.title,
            manufacturer="TP-Link",
        )
        if self.nas_device_id is not None:
            info["via_device_id"] = self.nas_device_id
        return info

    async def _async_connect(self) -> Device:
        """Open the connection and make sure it is still the same plug."""
        data = self.subentry.data
        config = device_config(
            self._session,
            data[CONF_HOST],
            data.get(CONF_PORT),
            credentials_of(self.config_entry),
            data.get(CONF_CONNECTION),
        )
        device = await async_connect(config)
        if format_mac(device.mac) != self.mac:
            # A DHCP lease moved to another device: never adopt it silently.
            await device.disconnect()
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="plug_unexpected_device",
                translation_placeholders={
                    "name": self.subentry.title,
                    "host": data[CONF_HOST],
                    "mac": format_mac(device.mac),
                },
            )
        return device

    @override
    async def _async_update_data(self) -> Device:
        """Update over the open connection (opening it when needed)."""
        try:
            if self.device is None:
                # The connect includes the first update, bounded with it.
                self.device = await self._async_connect()
            else:
                await self._async_update(self.device)
        except AuthenticationError as err:
            # Every further poll would only repeat the refused login: wait for
            # the reauthentication, which reloads the entry.
            self.update_interval = None
            self._start_reauth()
            raise self._error(UpdateFailed, "plug_auth_failed") from err
        except (KasaException, TimeoutError) as err:
            key = (
                "plug_third_party_off"
                if is_third_party_refusal(err)
                else "plug_unreachable"
            )
            raise self._error(UpdateFailed, key, str(err)) from err
        self._show_device(self.device)
        return self.device

    def _show_device(self, device: Device) -> None:
        """Write model and firmware to the registry when they are new."""
        shown = (
            device.model,
            device.hw_info.get("sw_ver"),
            device.hw_info.get("hw_ver"),
        )
        if shown == self._shown:
            return
        registry = dr.async_get(self.hass)
        if (
            device_entry := registry.async_get_device(identifiers={(DOMAIN, self.mac)})
        ) is None:
            return
        model, sw_version, hw_version = shown
        registry.async_update_device(
            device_entry.id, model=model, sw_version=sw_version, hw_version=hw_version
        )
        self._shown = shown

    @staticmethod
    async def _async_update(device: Device) -> None:
        """Update the device, and find the real reason when that went wrong.

        After the first update python-kasa does not give up on a plug that
        stopped answering: it retries every query one by one (minutes with a
        silent plug), then keeps the old values with an error code, or raises
        a generic error. So the whole update is bounded, and a failed one is
        followed by one direct query, which raises the telling exception
        (login refused, no answer).
        """
        try:
            async with asyncio.timeout(UPDATE_TIMEOUT):
                await device.update()
        except AuthenticationError:
            raise
        except KasaException, TimeoutError:
            pass
        else:
            if not isinstance(
                device.internal_state.get("get_device_info"), SmartErrorCode
            ):
                return
        await device.protocol.query("get_device_info", retry_count=0)
        raise KasaException(f"incomplete answer from {device.host}")

    async def async_turn(self, *, on: bool) -> None:
        """Switch the plug and show the new state at once."""
        if (device := self.device) is None:
            raise self._error(
                HomeAssistantError, "plug_command_failed", "not connected"
            )
        try:
            await (device.turn_on() if on else device.turn_off())
        except AuthenticationError as err:
            self._start_reauth()
            raise self._error(HomeAssistantError, "plug_auth_failed") from err
        except (KasaException, TimeoutError) as err:
            raise self._error(
                HomeAssistantError, "plug_command_failed", str(err)
            ) from err
        await self.async_refresh()

    def _start_reauth(self) -> None:
        """Ask for the account again, tested on this plug."""
        self.config_entry.async_start_reauth(
            self.hass,
            data={REAUTH: REAUTH_TPLINK, REAUTH_PLUG: self.subentry.subentry_id},
        )

    def _error[ErrorT: HomeAssistantError](
        self, kind: type[ErrorT], key: str, error: str = ""
    ) -> ErrorT:
        """Return a translated error about this plug."""
        return kind(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders={"name": self.subentry.title, "error": error},
        )

    async def async_close(self) -> None:
        """Close the connection; Home Assistant detaches its session on unload."""
        if self.device is not None:
            device, self.device = self.device, None
            await device.disconnect()


def plug_error_key(err: Exception) -> str:
    """Name what went wrong while logging in to a plug (a form error key)."""
    if is_third_party_refusal(err):
        return "third_party_off"
    if isinstance(err, AuthenticationError):
        return "invalid_auth"
    return "cannot_connect"


async def async_discover_plugs(
    hass: HomeAssistant, entry: ConfigEntry
) -> dict[str, str]:
    """Scan Home Assistant's networks for plugs not yet added; host -> label."""
    known = {sub.unique_id for sub in entry.subentries.values()}
    found: dict[str, str] = {}
    for broadcast in await network.async_get_ipv4_broadcast_addresses(hass):
        devices = await Discover.discover(
            target=str(broadcast), discovery_timeout=DISCOVERY_TIMEOUT
        )
        for host, device in devices.items():
            if format_mac(device.mac) in known:
                continue
            port = device.config.connection_type.http_port
            address = host if port in (None, 80) else f"{host}:{port}"
            found[address] = f"{device.model} {address} ({format_mac(device.mac)})"
    return found

"""Config, reconfigure and options flows for BaluPi."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, override

import probatio

from homeassistant.components import network
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentry,
    ConfigSubentryFlow,
    OptionsFlow,
    SubentryFlowResult,
)
from homeassistant.const import (
    CONF_BROADCAST_ADDRESS,
    CONF_BROADCAST_PORT,
    CONF_HOST,
    CONF_IP_ADDRESS,
    CONF_MAC,
    CONF_NAME,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_URL,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.device_registry import format_mac
from homeassistant.helpers.importlib import async_import_module
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
    TimeSelector,
)
from homeassistant.helpers.service_info.dhcp import DhcpServiceInfo
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .baluhost import BaluHostClient, KeyCheck, async_tcp_probe
from .const import (
    CONF_API_KEY,
    CONF_BASELINE_WATTS,
    CONF_BOOT_TIMEOUT,
    CONF_CONNECTION,
    CONF_ENTRY,
    CONF_FAILURE_THRESHOLD,
    CONF_FAST_INTERVAL,
    CONF_HOST_KEY,
    CONF_HOSTNAME,
    CONF_INBOX_PATH,
    CONF_KEY_PATH,
    CONF_OFFLINE_INTERVAL,
    CONF_PI_IP,
    CONF_PI_POWER_ENTITY,
    CONF_PI_WATTS,
    CONF_PLUG_INTERVAL,
    CONF_POWER_OFF,
    CONF_POWER_RUNNING,
    CONF_POWER_STANDBY,
    CONF_PRICE,
    CONF_PRICE_ENTITY,
    CONF_REMOTE_PATH,
    CONF_ROLE,
    CONF_SCAN_INTERVAL,
    CONF_SECRET,
    CONF_SSH_HOST,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    CONF_TOU_END,
    CONF_TOU_PRICE,
    CONF_TOU_START,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
    DEFAULT_BOOT_TIMEOUT,
    DEFAULT_BROADCAST_ADDRESS,
    DEFAULT_BROADCAST_PORT,
    DEFAULT_FAILURE_THRESHOLD,
    DEFAULT_FAST_INTERVAL,
    DEFAULT_HOSTNAME,
    DEFAULT_NAME,
    DEFAULT_OFFLINE_INTERVAL,
    DEFAULT_PLUG_INTERVAL,
    DEFAULT_POWER_OFF,
    DEFAULT_POWER_RUNNING,
    DEFAULT_POWER_STANDBY,
    DEFAULT_PRICE,
    DEFAULT_SCAN_INTERVAL,
    DEFAULT_SSH_PORT,
    DOMAIN,
    ENTRY_MINOR_VERSION,
    ENTRY_VERSION,
    HEALTH_TIMEOUT,
    NEIGHBOUR_TABLE,
    REAUTH,
    REAUTH_API_KEY,
    REAUTH_PLUG,
    REAUTH_TPLINK,
    ROLE_GENERIC,
    ROLE_NAS,
    SUBENTRY_PIHOLE,
    SUBENTRY_PLUG,
)
from .coordinator.dns import async_test_pihole, pihole_subentry
from .coordinator.inbox import inbox_folder_error, inbox_settings
from .coordinator.nas import Liveness, async_probe, probe_address
from .discovery import (
    MAX_NEIGHBOUR_TABLE,
    Announcement,
    moved_url,
    neighbour_mac,
    parse_announcement,
)
from .transfer import FlushError
from .validation import (
    hostname_error,
    ip_error,
    mac_error,
    normalised_url,
    secret_or_error,
    split_host,
    stripped,
    tariff_errors,
)

if TYPE_CHECKING:
    from kasa import Credentials

# Entry changes (reconfigure, options, Pi-hole) are applied by the entry's update
# listener, which reloads it; the flows only store them.

TEXT = TextSelector()
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
PORT = NumberSelector(
    NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
)


def _seconds(minimum: int, maximum: int) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=1,
            unit_of_measurement="s",
            mode=NumberSelectorMode.BOX,
        )
    )


def _connection_schema(defaults: dict[str, Any]) -> probatio.Schema:
    """Return the form for the NAS connection, pre-filled with defaults."""
    return probatio.Schema(
        {
            probatio.Required(CONF_NAME, default=defaults[CONF_NAME]): TEXT,
            probatio.Required(CONF_URL, default=defaults.get(CONF_URL, "")): (
                URL_SELECTOR
            ),
            probatio.Required(
                CONF_IP_ADDRESS, default=defaults.get(CONF_IP_ADDRESS, "")
            ): TEXT,
            probatio.Required(CONF_MAC, default=defaults.get(CONF_MAC, "")): TEXT,
            probatio.Required(
                CONF_BROADCAST_ADDRESS, default=defaults[CONF_BROADCAST_ADDRESS]
            ): TEXT,
            probatio.Required(
                CONF_BROADCAST_PORT, default=defaults[CONF_BROADCAST_PORT]
            ): PORT,
            probatio.Optional(
                CONF_SECRET, description={"suggested_value": defaults.get(CONF_SECRET)}
            ): PASSWORD,
            probatio.Optional(
                CONF_API_KEY,
                description={"suggested_value": defaults.get(CONF_API_KEY)},
            ): PASSWORD,
            # Entries made before this option existed verify.
            probatio.Required(
                CONF_VERIFY_SSL, default=defaults.get(CONF_VERIFY_SSL, True)
            ): BooleanSelector(),
        }
    )


async def _default_broadcast(hass: HomeAssistant) -> str:
    """Return the first LAN broadcast address Home Assistant knows of."""
    addresses = sorted(
        str(address)
        for address in await network.async_get_ipv4_broadcast_addresses(hass)
        if str(address) != DEFAULT_BROADCAST_ADDRESS
    )
    return addresses[0] if addresses else DEFAULT_BROADCAST_ADDRESS


def _normalise(user_input: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check and normalise the connection form; return data and inline errors."""
    data = stripped(user_input)
    data[CONF_URL], url_error = normalised_url(data[CONF_URL])
    data[CONF_MAC] = format_mac(data[CONF_MAC]).lower()
    data[CONF_BROADCAST_PORT] = int(data[CONF_BROADCAST_PORT])
    data[CONF_SECRET], secret_error = secret_or_error(data.get(CONF_SECRET))
    if not data.get(CONF_API_KEY):
        # No key: BaluPi watches by TCP only and cannot put the NAS to sleep.
        data.pop(CONF_API_KEY, None)
    errors = {
        CONF_URL: url_error,
        CONF_IP_ADDRESS: ip_error(data[CONF_IP_ADDRESS]),
        CONF_MAC: mac_error(data[CONF_MAC]),
        CONF_BROADCAST_ADDRESS: ip_error(data[CONF_BROADCAST_ADDRESS]),
        CONF_SECRET: secret_error,
    }
    return data, {key: error for key, error in errors.items() if error}


async def _async_load(hass: HomeAssistant, module: str) -> None:
    """Import one of our modules in the executor.

    python-kasa and asyncssh are large; the steps that need them load them on
    first use, so a NAS without plugs or inbox never does. After this, the
    step imports what it needs from the loaded module at no cost.
    """
    await async_import_module(hass, f"{__package__}.{module}")


async def async_key_errors(hass: HomeAssistant, data: dict[str, Any]) -> dict[str, str]:
    """Test an entry's API key with one whitelisted read; return inline errors.

    The read does not wake the NAS. A NAS that does not answer (asleep) is
    accepted: the key is tested again by its first sleep read.
    """
    # Entries made before this option existed verify.
    verify = data.get(CONF_VERIFY_SSL, True)
    try:
        client = BaluHostClient(
            async_get_clientsession(hass, verify_ssl=verify),
            data[CONF_URL],
            data[CONF_API_KEY],
            verify_tls=verify,
            timeout=HEALTH_TIMEOUT,
        )
    except ValueError:
        return {CONF_API_KEY: "invalid_api_key"}
    match await client.check_key():
        case KeyCheck.INVALID_KEY:
            return {CONF_API_KEY: "invalid_api_key"}
        case KeyCheck.NOT_BALUHOST:
            return {CONF_URL: "not_baluhost"}
        case _:
            return {}


def _read_neighbour_table() -> str:
    """Read the kernel's neighbour table; empty where there is none."""
    try:
        with Path(NEIGHBOUR_TABLE).open(encoding="ascii", errors="replace") as table:
            return table.read(MAX_NEIGHBOUR_TABLE)
    except OSError:
        return ""


async def _async_neighbour_mac(
    hass: HomeAssistant, announcement: Announcement
) -> str | None:
    """Return the announced NAS's MAC as the Pi's kernel knows it.

    BaluHost announces no MAC, the entry's unique ID. Core samsungtv and
    dlna_dmr take it from the neighbour table too (getmac). A stale table is
    refreshed by a TCP connect, which the NAS's backend never sees as a request.
    """
    table = await hass.async_add_executor_job(_read_neighbour_table)
    if mac := neighbour_mac(table, announcement.ip):
        return mac
    host, port = probe_address(announcement.url)
    if not await async_tcp_probe(host, port, HEALTH_TIMEOUT):
        return None
    table = await hass.async_add_executor_job(_read_neighbour_table)
    return neighbour_mac(table, announcement.ip)


def _address_updates(entry: ConfigEntry, ip: str) -> dict[str, Any] | None:
    """Return the entry's data at the NAS's new address (None if ignored)."""
    if CONF_URL not in entry.data:
        return None
    return {CONF_IP_ADDRESS: ip, CONF_URL: moved_url(entry.data[CONF_URL], ip)}


class BalupiConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one NAS; follow a known NAS or plug that moved; offer a found plug."""

    VERSION = ENTRY_VERSION
    MINOR_VERSION = ENTRY_MINOR_VERSION

    def __init__(self) -> None:
        """Start without a plug to reauthenticate and with nothing discovered."""
        self._refusing_plug: str | None = None
        self._announcement: Announcement | None = None
        self._discovered_mac: str | None = None
        self._plug_host: str | None = None

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> BalupiOptionsFlow:
        """Return the options flow."""
        return BalupiOptionsFlow()

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Return what can be added to a NAS entry."""
        return {SUBENTRY_PIHOLE: PiholeSubentryFlow, SUBENTRY_PLUG: PlugSubentryFlow}

    def _reauth_done(self, entry: ConfigEntry, *, changed: bool) -> ConfigFlowResult:
        """Finish reauthentication; the entry reloads to use the credential.

        A changed entry is reloaded by its update listener; an unchanged one
        (the same password works again) is reloaded here.
        """
        if not changed:
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_abort(reason="reauth_successful")

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Ask again for the credential that was refused (Pi-hole or TP-Link)."""
        if entry_data.get(REAUTH) == REAUTH_API_KEY:
            return await self.async_step_reauth_api_key()
        if entry_data.get(REAUTH) == REAUTH_TPLINK:
            self._refusing_plug = entry_data.get(REAUTH_PLUG)
            return await self.async_step_reauth_tplink()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_tplink(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Check the TP-Link account on the plug that refused it, then store it."""
        entry = self._get_reauth_entry()
        if (plug := self._reauth_plug(entry)) is None:
            return self.async_abort(reason="no_plugs")
        errors: dict[str, str] = {}
        if user_input is not None:
            await _async_load(self.hass, "coordinator.plugs")
            from kasa import Credentials, KasaException  # noqa: PLC0415 (loaded)

            from .coordinator.plugs import async_identify_tapo, plug_error_key  # noqa: PLC0415 (loaded)

            credentials = Credentials(
                user_input[CONF_TPLINK_USERNAME].strip(),
                user_input[CONF_TPLINK_PASSWORD],
            )
            try:
                await async_identify_tapo(
                    self.hass,
                    plug.data[CONF_HOST],
                    plug.data.get(CONF_PORT),
                    credentials,
                )
            except (KasaException, TimeoutError) as err:
                errors["base"] = f"plug_{plug_error_key(err)}"
            else:
                changed = self.hass.config_entries.async_update_entry(
                    entry,
                    data=entry.data
                    | {
                        CONF_TPLINK_USERNAME: credentials.username,
                        CONF_TPLINK_PASSWORD: credentials.password,
                    },
                )
                return self._reauth_done(entry, changed=changed)
        return self.async_show_form(
            step_id="reauth_tplink",
            data_schema=self.add_suggested_values_to_schema(
                _account_schema(),
                {CONF_TPLINK_USERNAME: entry.data.get(CONF_TPLINK_USERNAME)},
            ),
            description_placeholders={"name": plug.title},
            errors=errors,
        )

    def _reauth_plug(self, entry: ConfigEntry) -> ConfigSubentry | None:
        """Return the plug that refused the account; another one if it is gone."""
        plugs = [
            sub
            for sub in entry.subentries.values()
            if sub.subentry_type == SUBENTRY_PLUG
        ]
        return next(
            (sub for sub in plugs if sub.subentry_id == self._refusing_plug),
            next(iter(plugs), None),
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Check the new Pi-hole password, then store it."""
        entry = self._get_reauth_entry()
        subentry = pihole_subentry(entry)
        if subentry is None:
            return self.async_abort(reason="pihole_not_configured")
        errors: dict[str, str] = {}
        if user_input is not None:
            data = dict(subentry.data) | user_input
            errors = await async_test_pihole(self.hass, data)
            if not errors:
                changed = self.hass.config_entries.async_update_subentry(
                    entry, subentry, data=data
                )
                return self._reauth_done(entry, changed=changed)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=probatio.Schema({probatio.Required(CONF_PASSWORD): PASSWORD}),
            description_placeholders={"url": subentry.data[CONF_URL]},
            errors=errors,
        )

    async def _async_validate(
        self, user_input: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Validate the form, the certificate and, if the NAS answers, the key.

        A NAS that does not answer is accepted: it is usually asleep. One whose
        certificate is not trusted is not: it would look asleep for ever.
        """
        data, errors = _normalise(user_input)
        if errors:
            return data, errors
        liveness = await async_probe(
            data[CONF_URL], HEALTH_TIMEOUT, verify_tls=data[CONF_VERIFY_SSL]
        )
        if liveness is Liveness.BAD_CERTIFICATE:
            errors["base"] = "invalid_certificate"
        elif liveness is Liveness.ALIVE and CONF_API_KEY in data:
            errors |= await self._async_check_key(data)
        return data, errors

    async def _async_check_key(self, data: dict[str, Any]) -> dict[str, str]:
        """Test the API key with one whitelisted read (it does not wake the NAS)."""
        return await async_key_errors(self.hass, data)

    async def async_step_reauth_api_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new BaluHost API key after the NAS refused the stored one."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = dict(entry.data) | {CONF_API_KEY: user_input[CONF_API_KEY].strip()}
            errors = await self._async_check_key(data)
            if not errors:
                changed = self.hass.config_entries.async_update_entry(entry, data=data)
                return self._reauth_done(entry, changed=changed)
        return self.async_show_form(
            step_id="reauth_api_key",
            data_schema=probatio.Schema({probatio.Required(CONF_API_KEY): PASSWORD}),
            description_placeholders={"url": entry.data[CONF_URL]},
            errors=errors,
        )

    async def async_step_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """Offer a BaluHost that announced itself; follow a known one that moved.

        Nothing but a TCP connect reaches the NAS before the user confirms, so
        an announcement never wakes it or keeps it awake.
        """
        announcement = parse_announcement(
            discovery_info.type,
            discovery_info.properties,
            discovery_info.ip_address,
            discovery_info.port,
        )
        if announcement is None:
            return self.async_abort(reason="not_baluhost")
        mac = await _async_neighbour_mac(self.hass, announcement)
        if mac is not None:
            await self._async_follow_nas(mac, announcement.ip)
        # Without the MAC only the address tells a configured NAS apart.
        self._async_abort_entries_match({CONF_IP_ADDRESS: announcement.ip})
        self._announcement = announcement
        self._discovered_mac = mac
        self.context["title_placeholders"] = {"name": announcement.hostname}
        return await self.async_step_discovery_confirm()

    async def _async_follow_nas(self, mac: str, ip: str) -> None:
        """Make mac the flow's NAS; if it is configured, store its address and abort.

        The entry's update listener reloads it when the address changed.
        """
        await self.async_set_unique_id(mac)
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, mac)
        if entry is not None:
            self._abort_if_unique_id_configured(
                updates=_address_updates(entry, ip), reload_on_update=False
            )

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the discovered NAS; the connection form follows, filled in."""
        assert self._announcement is not None  # noqa: S101 (set by zeroconf)
        if user_input is not None:
            return await self.async_step_user()
        self._set_confirm_only()
        return self.async_show_form(
            step_id="discovery_confirm",
            description_placeholders={
                "name": self._announcement.hostname,
                "url": self._announcement.url,
                "version": self._announcement.version,
            },
        )

    async def async_step_dhcp(
        self, discovery_info: DhcpServiceInfo
    ) -> ConfigFlowResult:
        """Follow the NAS or a plug to a new address; offer a new Tapo plug."""
        mac = format_mac(discovery_info.macaddress)
        await self._async_follow_nas(mac, discovery_info.ip)
        for entry in self._async_current_entries(include_ignore=False):
            for plug in entry.subentries.values():
                if plug.subentry_type == SUBENTRY_PLUG and plug.unique_id == mac:
                    # The entry's update listener reloads it with the new address.
                    self.hass.config_entries.async_update_subentry(
                        entry, plug, data=plug.data | {CONF_HOST: discovery_info.ip}
                    )
                    return self.async_abort(reason="plug_already_configured")
        if not self._async_current_entries(include_ignore=False):
            return self.async_abort(reason="no_nas")
        self._plug_host = discovery_info.ip
        self.context["title_placeholders"] = {"name": discovery_info.hostname}
        return await self.async_step_plug_confirm()

    async def async_step_plug_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add the discovered plug to a NAS entry, as its "Add plug" flow does.

        Home Assistant starts discovery flows for config entries only, never
        for subentries: this flow adds the subentry itself.
        """
        assert self._plug_host is not None  # noqa: S101 (set by dhcp)
        entries = {
            entry.entry_id: entry
            for entry in self._async_current_entries(include_ignore=False)
        }
        if not entries:
            return self.async_abort(reason="no_nas")
        await _async_load(self.hass, "coordinator.plugs")
        from kasa import Credentials  # noqa: PLC0415 (loaded)

        from .coordinator.plugs import credentials_of  # noqa: PLC0415 (loaded)

        errors: dict[str, str] = {}
        if user_input is not None:
            entry = entries.get(
                user_input.get(CONF_ENTRY, ""), next(iter(entries.values()))
            )
            credentials = credentials_of(entry)
            if credentials is None and user_input.get(CONF_TPLINK_USERNAME):
                credentials = Credentials(
                    user_input[CONF_TPLINK_USERNAME].strip(),
                    user_input.get(CONF_TPLINK_PASSWORD, ""),
                )
            if credentials is None:
                errors["base"] = "account_required"
            else:
                plug, errors = await _async_new_plug(
                    self.hass,
                    entry,
                    credentials,
                    user_input | {CONF_HOST: self._plug_host},
                )
                if plug is not None:
                    self.hass.config_entries.async_add_subentry(entry, plug)
                    return self.async_abort(
                        reason="plug_added",
                        description_placeholders={
                            "name": plug.title,
                            "entry": entry.title,
                        },
                    )
                errors = {
                    key: f"plug_{error}" if key == "base" else error
                    for key, error in errors.items()
                }
        return self.async_show_form(
            step_id="plug_confirm",
            data_schema=self.add_suggested_values_to_schema(
                _plug_confirm_schema(list(entries.values())), user_input
            ),
            description_placeholders={"host": self._plug_host},
            errors=errors,
        )

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the NAS's address, MAC and the handshake secret."""
        errors: dict[str, str] = {}
        defaults: dict[str, Any] = {
            CONF_NAME: DEFAULT_NAME,
            CONF_BROADCAST_ADDRESS: await _default_broadcast(self.hass),
            CONF_BROADCAST_PORT: DEFAULT_BROADCAST_PORT,
        }
        if self._announcement is not None:
            defaults |= {
                CONF_NAME: self._announcement.hostname,
                CONF_URL: self._announcement.url,
                CONF_IP_ADDRESS: self._announcement.ip,
                CONF_MAC: self._discovered_mac or "",
            }
        if user_input is not None:
            data, errors = await self._async_validate(user_input)
            if not errors:
                await self.async_set_unique_id(data[CONF_MAC])
                self._abort_if_unique_id_configured()
                return self.async_create_entry(title=data[CONF_NAME], data=data)
            defaults |= {key: value for key, value in user_input.items() if value != ""}
        return self.async_show_form(
            step_id="user", data_schema=_connection_schema(defaults), errors=errors
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the connection data of the NAS (the MAC identifies it)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        defaults = dict(entry.data)
        if user_input is not None:
            # An empty secret keeps the current one: the NAS has it configured.
            user_input = {CONF_SECRET: entry.data[CONF_SECRET]} | {
                key: value for key, value in user_input.items() if value != ""
            }
            data, errors = await self._async_validate(user_input)
            if not errors:
                await self.async_set_unique_id(data[CONF_MAC])
                self._abort_if_unique_id_mismatch(reason="wrong_nas")
                return self.async_update_and_abort(
                    entry, title=data[CONF_NAME], data=data
                )
            defaults |= user_input
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_connection_schema(defaults),
            errors=errors,
        )


class BalupiOptionsFlow(OptionsFlow):
    """Tune the heartbeat, the plugs' polling, prices and NAS thresholds, the inbox."""

    def __init__(self) -> None:
        """Start without inbox settings waiting for confirmation."""
        self._inbox: dict[str, Any] = {}

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the two groups of options."""
        return self.async_show_menu(
            step_id="init", menu_options=["heartbeat", "energy", "inbox", "api_key"]
        )

    async def async_step_api_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add, change or remove the BaluHost API key (kept in the entry's data).

        The entry's update listener reloads it with the new key.
        """
        entry = self.config_entry
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {k: v for k, v in entry.data.items() if k != CONF_API_KEY}
            if key := (user_input.get(CONF_API_KEY) or "").strip():
                data[CONF_API_KEY] = key
                errors = await async_key_errors(self.hass, data)
            if not errors:
                self.hass.config_entries.async_update_entry(entry, data=data)
                return self.async_create_entry(data=dict(entry.options))
        return self.async_show_form(
            step_id="api_key",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema({probatio.Optional(CONF_API_KEY): PASSWORD}),
                {CONF_API_KEY: entry.data.get(CONF_API_KEY)},
            ),
            errors=errors,
        )

    async def async_step_heartbeat(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the heartbeat timing."""
        if user_input is not None:
            return self._save({key: int(value) for key, value in user_input.items()})
        fields = {
            CONF_SCAN_INTERVAL: (DEFAULT_SCAN_INTERVAL, _seconds(2, 300)),
            CONF_FAST_INTERVAL: (DEFAULT_FAST_INTERVAL, _seconds(1, 60)),
            CONF_OFFLINE_INTERVAL: (DEFAULT_OFFLINE_INTERVAL, _seconds(5, 900)),
            CONF_FAILURE_THRESHOLD: (DEFAULT_FAILURE_THRESHOLD, _count(1, 10)),
            CONF_BOOT_TIMEOUT: (DEFAULT_BOOT_TIMEOUT, _seconds(30, 3600)),
        }
        return self._form("heartbeat", fields)

    async def async_step_energy(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show plug polling, tariff and the NAS power thresholds."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = tariff_errors(user_input)
            if not errors:
                user_input[CONF_PLUG_INTERVAL] = int(user_input[CONF_PLUG_INTERVAL])
                return self._save(user_input, ENERGY_KEYS)
        fields = {
            CONF_PLUG_INTERVAL: (DEFAULT_PLUG_INTERVAL, _seconds(10, 300)),
            CONF_PRICE: (DEFAULT_PRICE, _money()),
            CONF_PRICE_ENTITY: (
                None,
                EntitySelector(
                    EntitySelectorConfig(domain=["sensor", "input_number", "number"])
                ),
            ),
            CONF_TOU_START: (None, TimeSelector()),
            CONF_TOU_END: (None, TimeSelector()),
            CONF_TOU_PRICE: (None, _money()),
            CONF_POWER_OFF: (DEFAULT_POWER_OFF, _watts()),
            CONF_POWER_STANDBY: (DEFAULT_POWER_STANDBY, _watts()),
            CONF_POWER_RUNNING: (DEFAULT_POWER_RUNNING, _watts()),
            CONF_BASELINE_WATTS: (None, _watts()),
            CONF_PI_POWER_ENTITY: (
                None,
                EntitySelector(
                    EntitySelectorConfig(domain="sensor", device_class="power")
                ),
            ),
            CONF_PI_WATTS: (None, _watts()),
        }
        return self._form("energy", fields, errors)

    async def async_step_inbox(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the inbox folder and the NAS's SSH login, then fetch its key."""
        errors: dict[str, str] = {}
        placeholders = {
            "allowed": ", ".join(sorted(self.hass.config.allowlist_external_dirs))
        }
        if user_input is not None:
            if not user_input.get(CONF_INBOX_PATH):
                # An empty folder turns the inbox off.
                return self._save({}, INBOX_KEYS)
            errors = await self._async_inbox_errors(user_input)
            if not errors:
                host = (
                    user_input.get(CONF_SSH_HOST)
                    or self.config_entry.data[CONF_IP_ADDRESS]
                )
                port = int(user_input[CONF_SSH_PORT])
                import asyncssh  # noqa: PLC0415 (loaded by _async_inbox_errors)

                from .sftp import async_fetch_host_key  # noqa: PLC0415 (loaded)

                try:
                    host_key = await async_fetch_host_key(host, port)
                except OSError, TimeoutError, asyncssh.Error:
                    errors["base"] = "ssh_unreachable"
                else:
                    user_input[CONF_SSH_PORT] = port
                    self._inbox = user_input | {CONF_HOST_KEY: host_key}
                    return await self.async_step_inbox_host_key()
        fields = {
            CONF_INBOX_PATH: (None, TEXT),
            CONF_SSH_HOST: (None, TEXT),
            CONF_SSH_PORT: (DEFAULT_SSH_PORT, PORT),
            CONF_SSH_USER: (None, TEXT),
            CONF_REMOTE_PATH: (None, TEXT),
            CONF_KEY_PATH: (None, TEXT),
        }
        return self._form("inbox", fields, errors, placeholders, user_input)

    async def async_step_inbox_host_key(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the NAS's host key; confirming pins it after a test login."""
        settings = inbox_settings(self.config_entry.data, self._inbox)
        assert settings is not None  # noqa: S101 (set by the previous step)
        target = settings.target
        errors: dict[str, str] = {}
        await _async_load(self.hass, "sftp")
        from .sftp import async_test_login, host_key_fingerprint  # noqa: PLC0415

        if user_input is not None:
            try:
                await async_test_login(target)
            except FlushError as err:
                errors["base"] = f"ssh_{err.kind}"
            else:
                return self._save(self._inbox, INBOX_KEYS)
        key_type, _, _ = target.host_key.partition(" ")
        return self.async_show_form(
            step_id="inbox_host_key",
            data_schema=probatio.Schema({}),
            errors=errors,
            description_placeholders={
                "host": target.host,
                "port": str(target.port),
                "key_type": key_type,
                "fingerprint": host_key_fingerprint(target.host_key),
            },
        )

    async def _async_inbox_errors(self, values: dict[str, Any]) -> dict[str, str]:
        """Check the folder, the login fields and the key file."""
        await _async_load(self.hass, "sftp")
        from .sftp import read_client_key  # noqa: PLC0415 (loaded)

        errors: dict[str, str] = {}
        for key in (CONF_SSH_USER, CONF_REMOTE_PATH, CONF_KEY_PATH):
            if not values.get(key):
                errors[key] = "required_for_inbox"
        if folder_error := await self.hass.async_add_executor_job(
            inbox_folder_error, self.hass, Path(values[CONF_INBOX_PATH])
        ):
            errors[CONF_INBOX_PATH] = folder_error
        if CONF_KEY_PATH not in errors:
            try:
                await self.hass.async_add_executor_job(
                    read_client_key, Path(values[CONF_KEY_PATH])
                )
            except FlushError:
                errors[CONF_KEY_PATH] = "key_unusable"
        return errors

    def _form(
        self,
        step_id: str,
        fields: dict[str, tuple[Any, Any]],
        errors: dict[str, str] | None = None,
        placeholders: dict[str, str] | None = None,
        user_input: dict[str, Any] | None = None,
    ) -> ConfigFlowResult:
        """Show fields with their current values (optional ones only if set).

        After an error the form shows what the user typed, not the stored value.
        """
        options = {**self.config_entry.options, **(user_input or {})}
        schema: dict[Any, Any] = {}
        for key, (default, selector) in fields.items():
            marker: probatio.Optional | probatio.Required
            if default is None:
                marker = probatio.Optional(
                    key, description={"suggested_value": options.get(key)}
                )
            else:
                marker = probatio.Required(key, default=options.get(key, default))
            schema[marker] = selector
        return self.async_show_form(
            step_id=step_id,
            data_schema=probatio.Schema(schema),
            errors=errors or {},
            description_placeholders=placeholders,
        )

    def _save(
        self, values: dict[str, Any], replaces: tuple[str, ...] = ()
    ) -> ConfigFlowResult:
        """Store one group; optional fields left empty are removed."""
        options = {
            key: value
            for key, value in self.config_entry.options.items()
            if key not in replaces
        }
        return self.async_create_entry(data=options | values)


INBOX_KEYS = (
    CONF_INBOX_PATH,
    CONF_SSH_HOST,
    CONF_SSH_PORT,
    CONF_SSH_USER,
    CONF_REMOTE_PATH,
    CONF_KEY_PATH,
    CONF_HOST_KEY,
)

ENERGY_KEYS = (
    CONF_PLUG_INTERVAL,
    CONF_PRICE,
    CONF_PRICE_ENTITY,
    CONF_TOU_START,
    CONF_TOU_END,
    CONF_TOU_PRICE,
    CONF_POWER_OFF,
    CONF_POWER_STANDBY,
    CONF_POWER_RUNNING,
    CONF_BASELINE_WATTS,
    CONF_PI_POWER_ENTITY,
    CONF_PI_WATTS,
)


def _count(minimum: int, maximum: int) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum, max=maximum, step=1, mode=NumberSelectorMode.BOX
        )
    )


def _money() -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(min=0, max=10, step="any", mode=NumberSelectorMode.BOX)
    )


def _watts() -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=0,
            max=500,
            step=0.1,
            unit_of_measurement="W",
            mode=NumberSelectorMode.BOX,
        )
    )


def _pihole_schema(defaults: dict[str, Any]) -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_URL, default=defaults.get(CONF_URL, "")): (
                URL_SELECTOR
            ),
            probatio.Required(
                CONF_PASSWORD,
                description={"suggested_value": defaults.get(CONF_PASSWORD)},
            ): PASSWORD,
            probatio.Required(
                CONF_VERIFY_SSL, default=defaults.get(CONF_VERIFY_SSL, True)
            ): BooleanSelector(),
            probatio.Required(CONF_HOSTNAME, default=defaults[CONF_HOSTNAME]): TEXT,
            probatio.Required(CONF_PI_IP, default=defaults.get(CONF_PI_IP, "")): TEXT,
        }
    )


def _check_pihole_form(
    user_input: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check and normalise the Pi-hole form; return data and inline errors."""
    data = stripped(user_input)
    data[CONF_URL], url_error = normalised_url(data[CONF_URL])
    errors = {
        CONF_URL: url_error,
        CONF_HOSTNAME: hostname_error(data[CONF_HOSTNAME]),
        CONF_PI_IP: ip_error(data[CONF_PI_IP]),
    }
    return data, {key: error for key, error in errors.items() if error}


class PiholeSubentryFlow(ConfigSubentryFlow):
    """Add or change the Pi-hole that holds the NAS's DNS name."""

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask for the Pi-hole and the name to manage."""
        if pihole_subentry(self._get_entry()) is not None:
            return self.async_abort(reason="already_configured")
        defaults: dict[str, Any] = {
            CONF_HOSTNAME: DEFAULT_HOSTNAME,
            CONF_PI_IP: await network.async_get_source_ip(self.hass),
        }
        return await self._async_form("user", defaults, user_input)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change the Pi-hole settings."""
        defaults = dict(self._get_reconfigure_subentry().data)
        return await self._async_form("reconfigure", defaults, user_input)

    async def _async_form(
        self,
        step_id: str,
        defaults: dict[str, Any],
        user_input: dict[str, Any] | None,
    ) -> SubentryFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            data, errors = _check_pihole_form(user_input)
            errors = errors or await async_test_pihole(self.hass, data)
            if not errors:
                title = f"Pi-hole ({data[CONF_HOSTNAME]})"
                if step_id == "user":
                    return self.async_create_entry(title=title, data=data)
                return self.async_update_and_abort(
                    self._get_entry(),
                    self._get_reconfigure_subentry(),
                    title=title,
                    data=data,
                )
            defaults |= user_input
        return self.async_show_form(
            step_id=step_id, data_schema=_pihole_schema(defaults), errors=errors
        )


class PlugSubentryFlow(ConfigSubentryFlow):
    """Add a Tapo P110/P115 plug: discovered or by address."""

    def __init__(self) -> None:
        """Start without an account or a scan."""
        self._credentials: Credentials | None = None
        self._discovered: dict[str, str] = {}

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask for the TP-Link account first if the entry has none."""
        await _async_load(self.hass, "coordinator.plugs")
        from .coordinator.plugs import credentials_of  # noqa: PLC0415 (loaded)

        self._credentials = credentials_of(self._get_entry())
        if self._credentials is None:
            return await self.async_step_account()
        return await self.async_step_plug()

    async def async_step_account(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Take the TP-Link account Tapo plugs need for local login."""
        if user_input is not None:
            from kasa import Credentials  # noqa: PLC0415 (loaded by the user step)

            self._credentials = Credentials(
                user_input[CONF_TPLINK_USERNAME].strip(),
                user_input[CONF_TPLINK_PASSWORD],
            )
            return await self.async_step_plug()
        return self.async_show_form(step_id="account", data_schema=_account_schema())

    async def async_step_plug(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Pick a discovered plug or type its address; name it and give it a role."""
        entry = self._get_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            assert self._credentials is not None  # noqa: S101 (set by the steps before)
            plug, errors = await _async_new_plug(
                self.hass, entry, self._credentials, user_input
            )
            if plug is not None:
                return self.async_create_entry(
                    title=plug.title, data=dict(plug.data), unique_id=plug.unique_id
                )
        elif not self._discovered:
            from .coordinator.plugs import async_discover_plugs  # noqa: PLC0415 (loaded by the user step)

            self._discovered = await async_discover_plugs(self.hass, entry)
        schema = probatio.Schema(
            {
                probatio.Required(CONF_HOST): SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(value=host, label=label)
                            for host, label in self._discovered.items()
                        ],
                        custom_value=True,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
                probatio.Optional(CONF_NAME): TEXT,
                probatio.Required(CONF_ROLE, default=ROLE_GENERIC): ROLE_SELECTOR,
            }
        )
        return self.async_show_form(
            step_id="plug",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )


async def _async_new_plug(
    hass: HomeAssistant,
    entry: ConfigEntry,
    credentials: Credentials,
    user_input: dict[str, Any],
) -> tuple[ConfigSubentry | None, dict[str, str]]:
    """Log in to the plug; return its subentry or say what went wrong.

    Shared by "Add plug" and a plug found by DHCP, so both check the same.
    Both load python-kasa before they call this.
    """
    from kasa import KasaException  # noqa: PLC0415 (loaded by the caller)

    from .coordinator.plugs import async_identify_tapo, credentials_of, plug_error_key  # noqa: PLC0415 (loaded by the caller)

    if errors := _plug_role_errors(entry, user_input[CONF_ROLE]):
        return None, errors
    host, port = split_host(user_input[CONF_HOST])
    try:
        plug = await async_identify_tapo(hass, host, port, credentials)
    except (KasaException, TimeoutError) as err:
        return None, {"base": plug_error_key(err)}
    title = user_input.get(CONF_NAME) or plug.alias or plug.model
    if any(sub.unique_id == plug.mac for sub in entry.subentries.values()):
        return None, {"base": "already_configured"}
    if credentials_of(entry) is None:
        # The account worked on a real plug: keep it for all plugs.
        hass.config_entries.async_update_entry(
            entry,
            data=entry.data
            | {
                CONF_TPLINK_USERNAME: credentials.username,
                CONF_TPLINK_PASSWORD: credentials.password,
            },
        )
    data = {
        CONF_HOST: host,
        CONF_PORT: port,
        CONF_MAC: plug.mac,
        CONF_ROLE: user_input[CONF_ROLE],
        CONF_CONNECTION: plug.connection,
    }
    return ConfigSubentry(
        data=MappingProxyType(data),
        subentry_type=SUBENTRY_PLUG,
        title=title,
        unique_id=plug.mac,
    ), {}


def _account_schema() -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_TPLINK_USERNAME): TextSelector(
                TextSelectorConfig(type=TextSelectorType.EMAIL)
            ),
            probatio.Required(CONF_TPLINK_PASSWORD): PASSWORD,
        }
    )


ROLE_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[ROLE_GENERIC, ROLE_NAS],
        translation_key=CONF_ROLE,
        mode=SelectSelectorMode.LIST,
    )
)


def _plug_confirm_schema(entries: list[ConfigEntry]) -> probatio.Schema:
    """Return the form for a plug found by DHCP.

    The NAS entry is asked for only if there are several, the TP-Link account
    only if one of them has none yet.
    """
    from .coordinator.plugs import credentials_of  # noqa: PLC0415 (loaded by the step)

    schema: dict[Any, Any] = {}
    if len(entries) > 1:
        schema[probatio.Required(CONF_ENTRY, default=entries[0].entry_id)] = (
            SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(value=entry.entry_id, label=entry.title)
                        for entry in entries
                    ],
                    mode=SelectSelectorMode.DROPDOWN,
                )
            )
        )
    schema[probatio.Optional(CONF_NAME)] = TEXT
    schema[probatio.Required(CONF_ROLE, default=ROLE_GENERIC)] = ROLE_SELECTOR
    if any(credentials_of(entry) is None for entry in entries):
        schema[probatio.Optional(CONF_TPLINK_USERNAME)] = TextSelector(
            TextSelectorConfig(type=TextSelectorType.EMAIL)
        )
        schema[probatio.Optional(CONF_TPLINK_PASSWORD)] = PASSWORD
    return probatio.Schema(schema)


def _plug_role_errors(entry: ConfigEntry, role: str) -> dict[str, str]:
    """Allow at most one plug in the NAS role."""
    if role == ROLE_NAS and any(
        sub.subentry_type == SUBENTRY_PLUG and sub.data.get(CONF_ROLE) == ROLE_NAS
        for sub in entry.subentries.values()
    ):
        return {CONF_ROLE: "nas_role_taken"}
    return {}

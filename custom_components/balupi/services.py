"""Actions of BaluPi, registered once for all entries."""

from __future__ import annotations

from ipaddress import ip_address

import probatio

from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, service
from homeassistant.util import dt as dt_util

from .const import (
    ATTR_MODE,
    ATTR_MONTH,
    ATTR_TARGET,
    ATTR_YEAR,
    DOMAIN,
    SERVICE_ENERGY_REPORT,
    SERVICE_FLUSH_INBOX,
    SERVICE_SLEEP_NAS,
    SERVICE_SWITCH_DNS,
    SERVICE_WAKE_NAS,
)
from .coordinator import BalupiConfigEntry
from .coordinator.dns import DnsTarget
from .insights import MonthRequestError, month_bounds, report_month
from .recorder_stats import async_month_report

ENTRY_SCHEMA = probatio.Schema({probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string})
REPORT_SCHEMA = ENTRY_SCHEMA.extend(
    {
        probatio.Optional(ATTR_YEAR): cv.positive_int,
        probatio.Optional(ATTR_MONTH): cv.positive_int,
    }
)
SWITCH_DNS_SCHEMA = ENTRY_SCHEMA.extend({probatio.Required(ATTR_TARGET): cv.string})
SLEEP_MODE_SOFT = "soft"
SLEEP_MODE_SUSPEND = "suspend"
SLEEP_NAS_SCHEMA = ENTRY_SCHEMA.extend(
    {
        probatio.Optional(ATTR_MODE, default=SLEEP_MODE_SOFT): probatio.In(
            [SLEEP_MODE_SOFT, SLEEP_MODE_SUSPEND]
        )
    }
)


def _loaded_entry(call: ServiceCall) -> BalupiConfigEntry:
    """Return the loaded entry an action targets (the only one if not given)."""
    entry: BalupiConfigEntry = service.async_get_config_entry(
        call.hass, DOMAIN, call.data.get(ATTR_CONFIG_ENTRY_ID)
    )
    return entry


async def _async_wake_nas(call: ServiceCall) -> None:
    """Wake the NAS of the targeted entry."""
    await _loaded_entry(call).runtime_data.nas.async_wake()


async def _async_sleep_nas(call: ServiceCall) -> None:
    """Put the NAS of the targeted entry into soft sleep or suspend it."""
    nas = _loaded_entry(call).runtime_data.nas
    if call.data[ATTR_MODE] == SLEEP_MODE_SUSPEND:
        await nas.async_suspend()
    else:
        await nas.async_soft_sleep()


def _dns_target(value: str) -> DnsTarget | str:
    """Return nas, pi or an explicit address; refuse anything else."""
    value = value.strip().lower()
    if value in (DnsTarget.NAS, DnsTarget.PI):
        return DnsTarget(value)
    try:
        return str(ip_address(value))
    except ValueError:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_dns_target",
            translation_placeholders={"target": value},
        ) from None


async def _async_switch_dns(call: ServiceCall) -> None:
    """Point the NAS's DNS name at the NAS, the Pi or an address."""
    entry = _loaded_entry(call)
    target = _dns_target(call.data[ATTR_TARGET])
    if (dns := entry.runtime_data.dns) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="pihole_not_configured",
            translation_placeholders={"name": entry.title},
        )
    if await dns.async_point_to(target):
        return
    if (error := dns.data.error) is None:
        # Pi-hole took the change but did not show it when read back.
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="dns_not_confirmed",
            translation_placeholders={"hostname": dns.hostname},
        )
    raise HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="dns_switch_failed",
        translation_placeholders={"hostname": dns.hostname, "error": error},
    )


async def _async_flush_inbox(call: ServiceCall) -> ServiceResponse:
    """Move the inbox to the NAS now and tell what moved."""
    entry = _loaded_entry(call)
    placeholders = {"name": entry.title}
    if (inbox := entry.runtime_data.inbox) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="inbox_not_configured",
            translation_placeholders=placeholders,
        )
    inbox.async_check_nas_online()
    record = await inbox.async_flush()
    if record.error is not None:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=f"inbox_{record.error}",
            translation_placeholders=placeholders | {"files": str(record.files)},
        )
    if not call.return_response:
        return None
    return record.summary()


async def _async_energy_report(call: ServiceCall) -> ServiceResponse:
    """Report a month (the current one by default) from the recorder's statistics."""
    entry = _loaded_entry(call)
    now = dt_util.now()
    tz = dt_util.get_default_time_zone()
    try:
        year, month = report_month(
            now, tz, call.data.get(ATTR_YEAR), call.data.get(ATTR_MONTH)
        )
    except MonthRequestError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=err.key,
            translation_placeholders={
                "year": str(call.data.get(ATTR_YEAR, now.year)),
                "month": str(call.data.get(ATTR_MONTH, now.month)),
            },
        ) from None
    start, end = month_bounds(year, month, tz)
    plugs = [plug.subentry for plug in entry.runtime_data.plugs.values()]
    report = await async_month_report(call.hass, entry, plugs, start, min(end, now))
    return {"year": year, "month": month} | report


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions."""
    hass.services.async_register(
        DOMAIN, SERVICE_WAKE_NAS, _async_wake_nas, schema=ENTRY_SCHEMA
    )
    hass.services.async_register(
        DOMAIN, SERVICE_SLEEP_NAS, _async_sleep_nas, schema=SLEEP_NAS_SCHEMA
    )
    hass.services.async_register(
        DOMAIN, SERVICE_SWITCH_DNS, _async_switch_dns, schema=SWITCH_DNS_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_FLUSH_INBOX,
        _async_flush_inbox,
        schema=ENTRY_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_ENERGY_REPORT,
        _async_energy_report,
        schema=REPORT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )

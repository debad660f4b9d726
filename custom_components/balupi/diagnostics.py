"""Diagnostics for BaluPi: configuration and state; accounts and addresses redacted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import (
    CONF_BROADCAST_ADDRESS,
    CONF_HOST,
    CONF_IP_ADDRESS,
    CONF_MAC,
    CONF_PASSWORD,
    CONF_URL,
)
from homeassistant.core import HomeAssistant

from .const import (
    CONF_API_KEY,
    CONF_HOSTNAME,
    CONF_PI_IP,
    CONF_ROLE,
    CONF_SECRET,
    CONF_SSH_HOST,
    CONF_SSH_USER,
    CONF_TPLINK_PASSWORD,
    CONF_TPLINK_USERNAME,
)
from .coordinator import BalupiConfigEntry
from .coordinator.dns import DnsStatus, DnsTarget

if TYPE_CHECKING:
    from kasa import Device

# Every credential, and (as core's tplink does) every MAC, host and IP address,
# wherever it appears: users post diagnostics in public issues.
TO_REDACT = {
    CONF_API_KEY,
    CONF_SECRET,
    CONF_PASSWORD,
    CONF_TPLINK_USERNAME,
    CONF_TPLINK_PASSWORD,
    CONF_SSH_USER,
    CONF_MAC,
    CONF_HOST,
    CONF_IP_ADDRESS,
    CONF_BROADCAST_ADDRESS,
    CONF_URL,
    CONF_PI_IP,
    CONF_HOSTNAME,
    CONF_SSH_HOST,
    "wanted_ip",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BalupiConfigEntry
) -> dict[str, Any]:
    """Return what helps to debug the NAS lifecycle."""
    coordinator = entry.runtime_data.nas
    diagnostics = {
        "entry": {"data": dict(entry.data), "options": dict(entry.options)},
        "lifecycle": coordinator.lifecycle.as_dict(),
        "heartbeat": {
            "failures": coordinator.policy.failures,
            "update_interval": coordinator.update_interval.total_seconds()
            if coordinator.update_interval
            else None,
            "last_seen": coordinator.last_seen.isoformat()
            if coordinator.last_seen
            else None,
            "worst_case_detection": coordinator.settings.worst_case_detection(),
        },
        "version": coordinator.version,
        "subentries": [
            {"type": subentry.subentry_type, "data": dict(subentry.data)}
            for subentry in entry.subentries.values()
        ],
        "dns": _dns(entry),
        "snapshot": _snapshot(entry),
        "inbox": _inbox(entry),
        "insights": _insights(entry),
        "plugs": _plugs(entry),
    }
    return async_redact_data(diagnostics, TO_REDACT)


def _plugs(entry: BalupiConfigEntry) -> list[dict[str, Any]]:
    """Return how each plug answers and what its cost meter holds."""
    meters = entry.runtime_data.insights.meters
    plugs = []
    for subentry_id, plug in entry.runtime_data.plugs.items():
        device: Device | None = plug.data
        meter = meters.get(subentry_id)
        plugs.append(
            {
                "role": plug.subentry.data[CONF_ROLE],
                "answers": plug.last_update_success and device is not None,
                "model": device.model if device else None,
                "firmware": device.hw_info.get("sw_ver") if device else None,
                "meter": meter.as_dict() if meter else None,
            }
        )
    return plugs


def _insights(entry: BalupiConfigEntry) -> dict[str, Any]:
    """Return the insight figures and how much history backs them."""
    insights = entry.runtime_data.insights
    data = insights.data
    return {
        "awake_today": data.awake_today if data else None,
        "awake_share": data.awake_share if data else None,
        "baseline": data.baseline if data else None,
        "baseline_slots": len(insights.baseline.slots),
        "saved_kwh": data.saved_kwh if data else None,
        "cost_month": data.cost_month if data else None,
        "projected_month": data.projected_month if data else None,
    }


def _inbox(entry: BalupiConfigEntry) -> dict[str, Any] | None:
    """Return what waits in the inbox and how the last flush went."""
    if (inbox := entry.runtime_data.inbox) is None:
        return None
    scan = inbox.data if inbox.last_update_success else None
    last = inbox.last_flush
    return {
        "files": scan.files if scan else None,
        "size": scan.size if scan else None,
        "ready": len(scan.ready) if scan else None,
        "flushing": inbox.flushing,
        "last_flush": last.as_dict() if last else None,
    }


def _dns(entry: BalupiConfigEntry) -> dict[str, Any] | None:
    """Return the DNS reconciliation state, if a Pi-hole is set up."""
    if (dns := entry.runtime_data.dns) is None:
        return None
    # None until the first check after setup.
    status: DnsStatus | None = dns.data
    if status is None:
        return {"hostname": dns.hostname}
    return {
        "hostname": dns.hostname,
        "target": _named_target(status.target),
        "wanted_ip": status.wanted_ip,
        "shown": status.shown,
        "in_sync": status.in_sync,
        "error": status.error,
        "update_interval": dns.update_interval.total_seconds()
        if dns.update_interval
        else None,
    }


def _named_target(target: str | None) -> str | None:
    """Name where the record should point; an explicit address is only "other"."""
    if target is None or target in (DnsTarget.NAS, DnsTarget.PI):
        return target
    return "other"


def _snapshot(entry: BalupiConfigEntry) -> dict[str, Any] | None:
    """Return when the last snapshot came and its format (not its content)."""
    if (snapshot := entry.runtime_data.snapshots.data) is None:
        return None
    return {
        "received_at": snapshot.received_at.isoformat(),
        "version": snapshot.version,
        "size": len(snapshot.raw),
    }

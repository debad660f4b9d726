"""Live figures coordinator: CPU, memory, network and boot time of the awake NAS.

Only with an API key, and only whitelisted reads (``/api/system/info`` and the
current network sample), which neither wake the NAS nor touch its disks: the
NAS answers them from memory. Each still counts toward BaluHost's idle
detection, so a cycle is two requests every ``DEVICE_LIVE_INTERVAL`` seconds,
and none at all unless the NAS is online. While it sleeps or is away, the last
figures stay with the time they were measured, and they survive a restart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from ..baluhost import (
    BaluHostAuthError,
    BaluHostClient,
    BaluHostError,
    MonitoringKind,
    NetworkReading,
    SystemInfo,
)
from ..const import (
    DEVICE_LIVE_INTERVAL,
    DEVICE_LIVE_REQUESTS,
    DEVICE_SAVE_DELAY,
    DOMAIN,
    UP_SINCE_TOLERANCE,
)
from ..nas_state import NasState, Transition
from .nas import NasCoordinator
from .store import STORE_DEVICE, entry_store

_LOGGER = logging.getLogger(__name__)

SECONDS_PER_MINUTE = 60.0


def counted_per_minute() -> float:
    """Return the requests a minute the live figures add to the NAS's count."""
    return DEVICE_LIVE_REQUESTS * SECONDS_PER_MINUTE / DEVICE_LIVE_INTERVAL


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """The NAS's figures at one moment (``measured_at``, by the Pi's clock)."""

    measured_at: datetime
    cpu_percent: float
    cpu_temperature: float | None
    memory_used: int
    memory_total: int
    # Megabits a second; None while the NAS has no network sample yet.
    network_down: float | None
    network_up: float | None
    # When the NAS's operating system booted; None if it does not say.
    up_since: datetime | None

    @property
    def memory_percent(self) -> float | None:
        """Return the share of memory in use."""
        if not self.memory_total:
            return None
        return 100.0 * self.memory_used / self.memory_total

    def as_dict(self) -> dict[str, Any]:
        """Return the figures for the store."""
        return asdict(self) | {
            "measured_at": self.measured_at.isoformat(),
            "up_since": None if self.up_since is None else self.up_since.isoformat(),
        }

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> LiveFigures:
        """Read stored figures; raises KeyError, TypeError or ValueError."""
        up_since = stored["up_since"]
        return cls(
            measured_at=datetime.fromisoformat(stored["measured_at"]),
            cpu_percent=float(stored["cpu_percent"]),
            cpu_temperature=_optional_float(stored["cpu_temperature"]),
            memory_used=int(stored["memory_used"]),
            memory_total=int(stored["memory_total"]),
            network_down=_optional_float(stored["network_down"]),
            network_up=_optional_float(stored["network_up"]),
            up_since=None if up_since is None else datetime.fromisoformat(up_since),
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def live_figures(
    info: SystemInfo,
    network: NetworkReading | None,
    now: datetime,
    previous: LiveFigures | None,
) -> LiveFigures:
    """Combine one cycle's reads.

    The boot time is derived from the uptime and stays put while it moves by
    less than UP_SINCE_TOLERANCE, so it changes only with a reboot.
    """
    up_since = None
    if info.system_uptime_seconds is not None:
        up_since = (now - timedelta(seconds=info.system_uptime_seconds)).replace(
            microsecond=0
        )
        if (
            previous is not None
            and previous.up_since is not None
            and abs((up_since - previous.up_since).total_seconds()) < UP_SINCE_TOLERANCE
        ):
            up_since = previous.up_since
    return LiveFigures(
        measured_at=now,
        cpu_percent=info.cpu_usage_percent,
        cpu_temperature=info.cpu_temperature_celsius,
        memory_used=info.memory_used_bytes,
        memory_total=info.memory_total_bytes,
        network_down=None if network is None else network.download_mbps,
        network_up=None if network is None else network.upload_mbps,
        up_since=up_since,
    )


class DeviceCoordinator(DataUpdateCoordinator[LiveFigures | None]):
    """Read the NAS's live figures while it is online; keep the last ones else."""

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        nas: NasCoordinator,
        client: BaluHostClient,
    ) -> None:
        """Read through the NAS coordinator's client (the same key)."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} live figures",
            update_interval=timedelta(seconds=DEVICE_LIVE_INTERVAL),
            always_update=False,
        )
        self._nas = nas
        self._client = client
        self._store = entry_store(hass, entry.entry_id, STORE_DEVICE)
        self.data = None

    async def async_load(self) -> None:
        """Restore the figures measured before the last restart."""
        stored = await self._store.async_load()
        if not stored:
            return
        try:
            self.data = LiveFigures.from_dict(stored)
        except KeyError, TypeError, ValueError:
            _LOGGER.warning("Stored NAS figures are unreadable and were ignored")

    async def async_save(self) -> None:
        """Store the figures now (on unload: a reload keeps them too)."""
        if (figures := self.data) is not None:
            await self._store.async_save(figures.as_dict())

    async def _async_update_data(self) -> LiveFigures | None:
        """Read one cycle while the NAS is online; else keep what was read."""
        if self._nas.lifecycle.state is not NasState.ONLINE:
            return self.data
        try:
            info = await self._client.system_info()
            network = await self._client.monitoring_current(MonitoringKind.NETWORK)
        except BaluHostError as err:
            if isinstance(err, BaluHostAuthError):
                self._nas.report_read_error(err)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="live_read_failed",
                translation_placeholders={
                    "name": self.config_entry.title,
                    "error": err.reason,
                },
            ) from err
        figures = live_figures(info, network, dt_util.utcnow(), self.data)
        self._store.async_delay_save(figures.as_dict, DEVICE_SAVE_DELAY)
        return figures

    @callback
    def async_on_nas_transition(self, transition: Transition) -> None:
        """Read at once when the NAS is back, unless the figures are fresh."""
        if transition.to_state is not NasState.ONLINE:
            return
        if (figures := self.data) is not None and (
            dt_util.utcnow() - figures.measured_at
        ).total_seconds() < DEVICE_LIVE_INTERVAL:
            return
        self.config_entry.async_create_background_task(
            self.hass, self.async_request_refresh(), f"{self.name} on return"
        )

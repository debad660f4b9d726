"""Energy insights in Home Assistant: awake time, baseline, savings, month costs.

The arithmetic lives in insights.py; this module feeds it from the NAS
lifecycle and the plugs, persists it, and reads the recorder's statistics for
the projection.
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from typing import TYPE_CHECKING, Any, override

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.const import CONF_MAC
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.restore_state import async_get as async_get_restore_state
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_BASELINE_WATTS,
    CONF_PI_POWER_ENTITY,
    CONF_PI_WATTS,
    CONF_ROLE,
    DOMAIN,
    INSIGHTS_INTERVAL,
    INSIGHTS_SAVE_DELAY,
    ROLE_NAS,
    SUBENTRY_PLUG,
)
from ..insights import (
    NO_SAVINGS,
    AwakeTracker,
    BaselineLearner,
    PollInterval,
    SavingsMeter,
    baseline_watts,
    hourly_cost_profile,
    month_bounds,
    project_month_cost,
)
from ..nas_state import AWAKE_STATES, NasState, Transition
from ..recorder_stats import async_hourly_changes, cost_statistic_ids, entity_id_for
from ..tariff import CostMeter, Tariff
from .metering import current_price, current_tariff, energy_value, state_float
from .nas import NasCoordinator
from .store import STORE_INSIGHTS, entry_store

if TYPE_CHECKING:
    from .plugs import PlugCoordinator

_LOGGER = logging.getLogger(__name__)

# The projection's hourly profile comes from a week of statistics.
PROFILE_DAYS = 7
PROFILE_REFRESH = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Insights:
    """What the insight sensors show."""

    awake_today: float
    awake_share: float | None
    baseline: float | None
    saved_kwh: float | None
    saved_cost: float | None
    nas_cost_month: float | None
    cost_month: float
    projected_month: float | None
    month_start: datetime


class InsightsCoordinator(DataUpdateCoordinator[Insights]):
    """Account awake time, savings and month costs; publish them every 5 minutes."""

    config_entry: ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        tariff: Tariff,
        nas: NasCoordinator,
        plugs: Mapping[str, PlugCoordinator],
    ) -> None:
        """Start empty; call async_load before the first refresh.

        ``plugs`` is the entry's mapping of plug coordinators, filled by setup.
        """
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} insights",
            update_interval=timedelta(seconds=INSIGHTS_INTERVAL),
        )
        self.tariff = tariff
        self._nas = nas
        self._plugs = plugs
        self._tz = dt_util.get_default_time_zone()
        self._store = entry_store(hass, entry.entry_id, STORE_INSIGHTS)
        self.awake = AwakeTracker(self._tz)
        self.baseline = BaselineLearner()
        self.savings = SavingsMeter()
        # The one cost meter of each plug (by subentry id): the plug's cost
        # sensor shows its total, the month's costs what it added this month.
        self.meters: dict[str, CostMeter] = {}
        self.month_start = month_bounds(*_year_month(dt_util.now()), self._tz)[0]
        self._last_nas_sample: tuple[datetime, float] | None = None
        self._profile: tuple[float, ...] | None = None
        self._profile_at: datetime | None = None

    async def async_load(self) -> None:
        """Restore what was counted before the last restart."""
        stored = await self._store.async_load() or {}
        self.awake = AwakeTracker.from_dict(stored.get("awake"), self._tz)
        self.baseline = BaselineLearner.from_dict(stored.get("baseline"))
        self.savings = SavingsMeter.from_dict(stored.get("savings"))
        month = stored.get("month") or {}
        this_month = month.get("start") == self.month_start.isoformat()
        # A removed plug's meter goes: no sensor shows its money any more.
        plugs = [
            subentry
            for subentry in self.config_entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_PLUG
        ]
        for subentry in plugs:
            if "meters" in stored:
                meter = _stored_meter(stored["meters"].get(subentry.subentry_id))
            else:
                meter = self._meter_before_upgrade(
                    subentry, month.get("plugs", {}) if this_month else {}
                )
            if meter is not None:
                self.meters[subentry.subentry_id] = meter
        if not this_month:
            # The month began while Home Assistant was down.
            for meter in self.meters.values():
                meter.start_month()

    def _meter_before_upgrade(
        self, subentry: ConfigSubentry, month: Mapping[str, Any]
    ) -> CostMeter | None:
        """Join the two meters kept before one meter per plug, so no total jumps.

        The cost sensor kept the running total in its restore data, this store
        the month's cost.
        """
        total: float | None = None
        last_kwh: float | None = None
        unique_id = f"{subentry.data[CONF_MAC]}_cost"
        if (
            (entity_id := entity_id_for(self.hass, self.config_entry, unique_id))
            and (
                restored := async_get_restore_state(self.hass).last_states.get(
                    entity_id
                )
            )
            and restored.extra_data is not None
        ):
            extra = restored.extra_data.as_dict()
            with contextlib.suppress(KeyError, TypeError, ValueError):
                total = float(extra["native_value"])
                last_kwh = _kwh(extra.get("last_kwh"))
        month_cost = 0.0
        if (part := month.get(subentry.subentry_id)) is not None:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                month_cost = float(part["cost"])
                last_kwh = (
                    last_kwh if last_kwh is not None else _kwh(part.get("last_kwh"))
                )
        elif total is None:
            return None
        if total is None:
            total = month_cost
        return CostMeter(total, total - month_cost, last_kwh)

    def _data_to_save(self) -> dict[str, Any]:
        return {
            "awake": self.awake.as_dict(),
            "baseline": self.baseline.as_dict(),
            "savings": self.savings.as_dict(),
            "month": {"start": self.month_start.isoformat()},
            "meters": {key: meter.as_dict() for key, meter in self.meters.items()},
        }

    async def async_save(self) -> None:
        """Write what was counted now (on unload; otherwise writes are batched)."""
        await self._store.async_save(self._data_to_save())

    @callback
    def async_on_nas_transition(self, transition: Transition) -> None:
        """Count awake time; close the savings interval in the state it ran in."""
        self.awake.apply(transition)
        if (last := self._last_nas_sample) is not None:
            self._count_savings(
                last,
                transition.at,
                last[1],
                awake=transition.from_state in AWAKE_STATES,
            )
            self._last_nas_sample = (transition.at, last[1])
        self._store.async_delay_save(self._data_to_save, INSIGHTS_SAVE_DELAY)
        # A state change shows at once; poll results wait for the next tick.
        self.async_set_updated_data(self._compute(dt_util.now()))

    @callback
    def async_on_plug_update(self, subentry_id: str, plug: PlugCoordinator) -> None:
        """Price the plug's new energy (once per poll); the NAS plug also saves."""
        if not plug.last_update_success or plug.data is None:
            return
        now = dt_util.now()
        self._roll_month(now)
        kwh = energy_value(plug.data, "consumption_today")
        if kwh is not None:
            meter = self.meters.setdefault(subentry_id, CostMeter())
            meter.add_reading(kwh, now, self._price)
        if plug.subentry.data[CONF_ROLE] == ROLE_NAS:
            watts = energy_value(plug.data, "current_consumption")
            if watts is not None:
                self._account_nas(now, watts)
        # Shown on the next tick (5 min): publishing every poll of every plug
        # would write a state row per sensor and poll into the recorder.
        self._store.async_delay_save(self._data_to_save, INSIGHTS_SAVE_DELAY)

    def _account_nas(self, now: datetime, watts: float) -> None:
        """Learn the baseline while online; count savings since the last sample."""
        state = self._nas.lifecycle.state
        if state is NasState.ONLINE:
            self.baseline.add(now, watts)
        if (last := self._last_nas_sample) is not None:
            # The draw between two readings is unknown: take their average.
            self._count_savings(
                last, now, (last[1] + watts) / 2, awake=state in AWAKE_STATES
            )
        self._last_nas_sample = (now, watts)

    def _count_savings(
        self,
        last: tuple[datetime, float],
        end: datetime,
        watts: float,
        *,
        awake: bool,
    ) -> None:
        """Count what sleeping saved from the last sample to ``end``."""
        self.savings.add(
            PollInterval(
                start=last[0],
                end=end,
                nas_awake=awake,
                nas_watts=watts,
                pi_watts=self._pi_watts(),
                baseline_watts=self._baseline(),
            ),
            current_tariff(self.hass, self.config_entry.options, self.tariff),
            self._tz,
        )

    def _baseline(self) -> float | None:
        user = self.config_entry.options.get(CONF_BASELINE_WATTS)
        return baseline_watts(None if user is None else float(user), self.baseline)

    def _pi_watts(self) -> float | None:
        """Return the Pi's draw: its power entity if named, else the fixed value."""
        options = self.config_entry.options
        if (
            watts := state_float(self.hass, options.get(CONF_PI_POWER_ENTITY))
        ) is not None:
            return watts
        fixed = options.get(CONF_PI_WATTS)
        return None if fixed is None else float(fixed)

    def _price(self, moment: datetime) -> float:
        return current_price(self.hass, self.config_entry.options, self.tariff, moment)

    @override
    async def _async_update_data(self) -> Insights:
        """Advance the clock-driven parts: awake time, month, projection."""
        now = dt_util.now()
        lifecycle = self._nas.lifecycle
        self.awake.observe(lifecycle.state, now)
        if lifecycle.state is NasState.ONLINE:
            self.awake.seen_alive(now)
        self._roll_month(now)
        if self._profile_at is None or now - self._profile_at >= PROFILE_REFRESH:
            await self._async_refresh_profile(now)
        self._store.async_delay_save(self._data_to_save, INSIGHTS_SAVE_DELAY)
        return self._compute(now)

    def _roll_month(self, now: datetime) -> None:
        """Start the month's costs anew on the 1st (local time)."""
        month_start = month_bounds(*_year_month(now), self._tz)[0]
        if month_start != self.month_start:
            self.month_start = month_start
            for meter in self.meters.values():
                meter.start_month()

    async def _async_refresh_profile(self, now: datetime) -> None:
        """Average each hour of day's cost over the last week (recorder)."""
        self._profile_at = now
        ids = cost_statistic_ids(
            self.hass, self.config_entry, (plug.mac for plug in self._plugs.values())
        )
        changes = await async_hourly_changes(
            self.hass, ids, now - timedelta(days=PROFILE_DAYS), now
        )
        self._profile = hourly_cost_profile(changes, self._tz)

    def _compute(self, now: datetime) -> Insights:
        saved = self.savings.total
        if saved is None and self._baseline() is not None:
            # Nothing counted yet, but countable: zero, not unknown.
            saved = NO_SAVINGS
        cost_month = sum(meter.month_cost for meter in self.meters.values())
        nas_meter = next(
            (
                self.meters[key]
                for key, plug in self._plugs.items()
                if plug.subentry.data[CONF_ROLE] == ROLE_NAS and key in self.meters
            ),
            None,
        )
        projected = None
        if self._profile is not None:
            month_end = month_bounds(*_year_month(now), self._tz)[1]
            projected = project_month_cost(
                cost_month, now, month_end, self._profile, self._tz
            )
        return Insights(
            awake_today=self.awake.awake_today(now),
            awake_share=self.awake.awake_share(now),
            baseline=self._baseline(),
            saved_kwh=None if saved is None else saved.kwh,
            saved_cost=None if saved is None else saved.cost,
            nas_cost_month=None if nas_meter is None else nas_meter.month_cost,
            cost_month=cost_month,
            projected_month=projected,
            month_start=self.month_start,
        )


def _stored_meter(data: Mapping[str, Any] | None) -> CostMeter | None:
    """Return a plug's stored meter; unreadable data counts anew."""
    if data is None:
        return None
    try:
        return CostMeter.from_dict(data)
    except KeyError, TypeError, ValueError:
        _LOGGER.warning("A plug's stored cost is unreadable, counting anew")
        return None


def _kwh(value: Any) -> float | None:
    return None if value is None else float(value)


def _year_month(moment: datetime) -> tuple[int, int]:
    local = dt_util.as_local(moment)
    return local.year, local.month

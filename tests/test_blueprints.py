"""The shipped blueprints, loaded and run by Home Assistant's own machinery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
import shutil
import time
from typing import Any

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.balupi.const import (
    DOMAIN,
    EVENT_NAS_STATE_CHANGED,
    SERVICE_WAKE_NAS,
)
from custom_components.balupi.heartbeat import PowerHint
from custom_components.balupi.nas_state import NasState, Reason
from homeassistant.components import automation
from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_MAC,
    ENTITY_MATCH_ALL,
    SERVICE_TURN_OFF,
)
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.template import Template
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util, yaml as yaml_util

from .conftest import advance, setup_entry
from .fakes.nas_simulator import NasSimulator

SHIPPED = Path(__file__).parent.parent / "blueprints" / "automation" / "balupi"
NAMES = (
    "monthly_energy_report",
    "nas_died_notify",
    "wake_from_phone",
    "wake_on_schedule",
)
STATE = "sensor.baluhost_nas_state"
PERSON = "person.anna"
WEBHOOK_ID = "balupi-test-phone"
QUESTION = "automation.wake_from_phone"


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A config dir holding the shipped blueprints, as HACS users copy them."""
    shutil.copytree(
        SHIPPED, Path(hass_tmp_config_dir, "blueprints", "automation", "balupi")
    )
    return hass_tmp_config_dir


def load_blueprint(name: str) -> Blueprint:
    """Load a shipped blueprint with Home Assistant's own machinery."""
    path = SHIPPED / f"{name}.yaml"
    return Blueprint(
        yaml_util.load_yaml_dict(path),
        path=str(path),
        expected_domain=automation.DOMAIN,
        schema=BLUEPRINT_SCHEMA,
    )


def use_blueprint(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "alias": name,
        "use_blueprint": {"path": f"balupi/{name}.yaml", "input": inputs},
    }


# --- the files themselves -------------------------------------------------------


def test_every_blueprint_is_covered() -> None:
    assert sorted(path.stem for path in SHIPPED.glob("*.yaml")) == list(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_blueprint_loads(name: str) -> None:
    blueprint = load_blueprint(name)
    # Runs on the Home Assistant version the tests use.
    assert blueprint.validate() is None
    for key, definition in blueprint.inputs.items():
        assert definition["name"], key
        assert definition["selector"], key
    # The NAS is picked by device, only BaluPi's NAS devices are offered.
    nas_filter = blueprint.inputs["nas_device"]["selector"]["device"]["filter"]
    assert nas_filter == [{"integration": DOMAIN, "model": "NAS"}]


def test_inputs_are_substituted() -> None:
    blueprint = load_blueprint("wake_on_schedule")
    inputs = BlueprintInputs(
        blueprint,
        use_blueprint("wake_on_schedule", {"nas_device": "abc", "weekdays": ["sat"]}),
    )
    inputs.validate()
    config = inputs.async_substitute()
    assert config["triggers"] == [{"trigger": "time", "at": "07:00:00"}]
    assert config["conditions"][0] == {"condition": "time", "weekday": ["sat"]}
    assert config["variables"]["nas_device"] == "abc"


# --- running them ----------------------------------------------------------------


class PushReceiver:
    """The companion app's push gateway, on 127.0.0.1: records what it is sent."""

    def __init__(self) -> None:
        self.pushes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/push", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{port}/push"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _push(self, request: web.Request) -> web.Response:
        self.pushes.put_nowait(await request.json())
        return web.json_response({}, status=201)

    async def next_push(self) -> dict[str, Any]:
        """Return the next push, waiting in real time (the loop's clock is frozen).

        Not through hass.async_block_till_done: that would wait for the
        automation, which waits for the answer to this very push.
        """
        for _ in range(100):
            if not self.pushes.empty():
                return self.pushes.get_nowait()
            await real_sleep(0.02)
        pytest.fail("no push arrived")


async def real_sleep(seconds: float) -> None:
    """Let the loop run (sockets, waiting automations) while real time passes."""
    await asyncio.get_running_loop().run_in_executor(None, time.sleep, seconds)


@pytest.fixture
async def receiver(socket_enabled: None) -> AsyncGenerator[PushReceiver]:
    push = PushReceiver()
    await push.start()
    yield push
    await push.stop()


@pytest.fixture
async def phone(
    hass: HomeAssistant, hass_admin_user: MockUser, receiver: PushReceiver
) -> dr.DeviceEntry:
    """A phone registered by the companion app, pushing to the local receiver."""
    entry = MockConfigEntry(
        domain="mobile_app",
        source="registration",
        title="Anna's phone",
        data={
            "app_data": {"push_token": "token", "push_url": receiver.url},
            "app_id": "io.homeassistant.mobile_app",
            "app_name": "Home Assistant",
            "app_version": "2026.10",
            "device_id": "anna-phone",
            "device_name": "Anna's phone",
            "manufacturer": "Google",
            "model": "Pixel",
            "os_name": "Android",
            "os_version": "16",
            "secret": "phone-secret",
            "supports_encryption": False,
            "user_id": hass_admin_user.id,
            "webhook_id": WEBHOOK_ID,
        },
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, "mobile_app", {})
    await hass.async_block_till_done()
    device = dr.async_get(hass).async_get_device_by_identifier(
        ("mobile_app", "anna-phone"), entry.entry_id
    )
    assert device is not None
    return device


@pytest.fixture
async def nas_device(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
) -> dr.DeviceEntry:
    """The NAS device; the NAS itself answers (online) unless a test says otherwise."""
    await setup_entry(hass, config_entry)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, config_entry.data[CONF_MAC]), config_entry.entry_id
    )
    assert device is not None
    return device


async def put_to_sleep(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, nas: NasSimulator
) -> None:
    await nas.stop()
    await advance(hass, freezer, 20)
    assert hass.states.get(STATE).state == NasState.OFFLINE


type SetUpAutomations = Callable[..., Awaitable[None]]


@pytest.fixture
async def automations(hass: HomeAssistant) -> AsyncGenerator[SetUpAutomations]:
    """Set up automations, and turn them off afterwards (their timers with them)."""

    async def set_up(*configs: dict[str, Any]) -> None:
        assert await async_setup_component(
            hass, automation.DOMAIN, {automation.DOMAIN: list(configs)}
        )
        await hass.async_block_till_done()
        for config in configs:
            state = hass.states.get(f"automation.{config['alias']}")
            assert state is not None
            assert state.state == "on", config["alias"]

    yield set_up
    if automation.DOMAIN in hass.config.components:
        await hass.services.async_call(
            automation.DOMAIN,
            SERVICE_TURN_OFF,
            {ATTR_ENTITY_ID: ENTITY_MATCH_ALL},
            blocking=True,
        )


def sample_inputs(nas: dr.DeviceEntry, phone: dr.DeviceEntry) -> dict[str, Any]:
    return {
        "monthly_energy_report": {"nas_device": nas.id, "notify_device": phone.id},
        "nas_died_notify": {"nas_device": nas.id, "notify_device": phone.id},
        "wake_from_phone": {
            "nas_device": nas.id,
            "notify_device": phone.id,
            "person_entity": PERSON,
        },
        "wake_on_schedule": {
            "nas_device": nas.id,
            "wake_time": "06:30:00",
            "weekdays": ["sat", "sun"],
        },
    }


@pytest.mark.parametrize("name", NAMES)
async def test_automation_from_blueprint_validates(
    hass: HomeAssistant,
    automations: SetUpAutomations,
    nas_device: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    name: str,
) -> None:
    assert await async_setup_component(hass, "zone", {})
    config = use_blueprint(name, sample_inputs(nas_device, phone)[name])
    validated = await async_validate_config_item(hass, name, config)
    assert validated is not None
    assert validated.validation_status == automation.config.ValidationStatus.OK
    await automations(config)


async def test_a_plug_is_not_a_nas_for_the_died_blueprint(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    nas_device: dr.DeviceEntry,
    phone: dr.DeviceEntry,
) -> None:
    plug = dr.async_get(hass).async_get_or_create(
        config_entry_id=config_entry.entry_id,
        identifiers={(DOMAIN, "11:22:33:44:55:66")},
    )
    config = use_blueprint(
        "nas_died_notify", {"nas_device": plug.id, "notify_device": phone.id}
    )
    with pytest.raises(Exception, match="not a BaluPi NAS"):
        await async_validate_config_item(hass, "plug", config)


async def test_died_blueprint_notifies_the_phone(
    hass: HomeAssistant,
    automations: SetUpAutomations,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
    nas_device: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    receiver: PushReceiver,
) -> None:
    await automations(
        use_blueprint(
            "nas_died_notify", {"nas_device": nas_device.id, "notify_device": phone.id}
        ),
    )
    # An announced shutdown is no news; coming back is not either.
    await config_entry.runtime_data.nas.async_going_offline()
    await nas.start()
    await advance(hass, freezer, 31)
    assert hass.states.get(STATE).state == NasState.ONLINE
    assert receiver.pushes.empty()

    # A suspend (silent at standby power) is sleep, not death: no news either.
    coordinator = config_entry.runtime_data.nas
    coordinator.power_hint = lambda: PowerHint.STANDBY
    await nas.stop()
    await advance(hass, freezer, 20)
    assert hass.states.get(STATE).state == NasState.SUSPENDED
    coordinator.power_hint = lambda: PowerHint.UNKNOWN
    await nas.start()
    await advance(hass, freezer, 31)
    assert hass.states.get(STATE).state == NasState.ONLINE
    assert receiver.pushes.empty()

    await put_to_sleep(hass, freezer, nas)
    push = await receiver.next_push()
    assert push["title"] == "NAS offline"
    assert push["message"] == (
        "The NAS went offline without shutting down (it stopped answering)."
    )
    assert push["registration_info"]["webhook_id"] == WEBHOOK_ID

    await nas.start()
    await advance(hass, freezer, 31)
    await config_entry.runtime_data.nas.async_transition(NasState.OFFLINE, Reason.POWER)
    await hass.async_block_till_done()
    push = await receiver.next_push()
    assert "its plug shows no power" in push["message"]


async def question_settled(hass: HomeAssistant) -> None:
    """Wait (in real time) until no run of the question automation is waiting."""
    for _ in range(100):
        if hass.states.get(QUESTION).attributes["current"] == 0:
            await hass.async_block_till_done()
            return
        await real_sleep(0.02)
    pytest.fail("the question is still waiting for an answer")


async def arrive(hass: HomeAssistant) -> None:
    """Anna comes home from far away (the automation's run may go on waiting)."""
    home = hass.states.get("zone.home")
    assert home is not None
    away = {"latitude": 0.0, "longitude": 0.0, "gps_accuracy": 10}
    hass.states.async_set(PERSON, "not_home", away)
    await hass.async_block_till_done()
    here = {
        "latitude": home.attributes["latitude"],
        "longitude": home.attributes["longitude"],
        "gps_accuracy": 10,
    }
    hass.states.async_set(PERSON, "home", here)


async def test_phone_button_wakes_the_sleeping_nas(
    hass: HomeAssistant,
    automations: SetUpAutomations,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    nas: NasSimulator,
    nas_device: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    receiver: PushReceiver,
) -> None:
    assert await async_setup_component(hass, "zone", {})
    await automations(
        use_blueprint(
            "wake_from_phone",
            sample_inputs(nas_device, phone)["wake_from_phone"],
        ),
    )
    # Awake: no question.
    await arrive(hass)
    await hass.async_block_till_done()
    assert receiver.pushes.empty()

    await put_to_sleep(hass, freezer, nas)
    changes = async_capture_events(hass, EVENT_NAS_STATE_CHANGED)
    await arrive(hass)
    push = await receiver.next_push()
    assert push["message"] == "Wake the NAS?"
    [button] = push["data"]["actions"]
    assert button["title"] == "Wake"
    assert button["action"].startswith("BALUPI_WAKE_")
    assert hass.states.get(QUESTION).attributes["current"] == 1

    # Another notification's button does nothing; this one wakes the NAS.
    hass.bus.async_fire("mobile_app_notification_action", {"action": "OTHER"})
    await real_sleep(0.1)
    assert changes == []
    hass.bus.async_fire("mobile_app_notification_action", {"action": button["action"]})
    await question_settled(hass)
    assert hass.states.get(STATE).state == NasState.BOOTING
    assert [(e.data["to"], e.data["reason"]) for e in changes] == [
        (NasState.BOOTING, Reason.WOL)
    ]


async def test_unanswered_question_expires(
    hass: HomeAssistant,
    automations: SetUpAutomations,
    freezer: FrozenDateTimeFactory,
    nas: NasSimulator,
    nas_device: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    receiver: PushReceiver,
) -> None:
    assert await async_setup_component(hass, "zone", {})
    inputs = sample_inputs(nas_device, phone)["wake_from_phone"]
    inputs["answer_timeout"] = {"minutes": 1}
    await automations(use_blueprint("wake_from_phone", inputs))
    await put_to_sleep(hass, freezer, nas)
    await arrive(hass)
    push = await receiver.next_push()
    assert hass.states.get(QUESTION).attributes["current"] == 1
    freezer.tick(61)
    async_fire_time_changed(hass)
    await question_settled(hass)
    hass.bus.async_fire(
        "mobile_app_notification_action",
        {"action": push["data"]["actions"][0]["action"]},
    )
    await hass.async_block_till_done()
    assert hass.states.get(STATE).state == NasState.OFFLINE


@pytest.mark.parametrize(
    ("day", "asleep", "wakes"),
    [
        (7, True, True),  # Saturday, 7 November 2026: selected
        (9, True, False),  # Monday: not selected
        (7, False, False),  # Saturday, but the NAS is already up
    ],
)
async def test_schedule_wakes_on_selected_weekdays_only(
    hass: HomeAssistant,
    automations: SetUpAutomations,
    freezer: FrozenDateTimeFactory,
    service_calls: list[ServiceCall],
    config_entry: MockConfigEntry,
    nas: NasSimulator,
    day: int,
    asleep: bool,
    wakes: bool,
) -> None:
    start = datetime(2026, 11, day, 6, 29, tzinfo=dt_util.get_default_time_zone())
    freezer.move_to(start)
    if asleep:
        await nas.stop()
    await setup_entry(hass, config_entry)
    await advance(hass, freezer, 20)
    before = NasState.OFFLINE if asleep else NasState.ONLINE
    assert hass.states.get(STATE).state == before
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, config_entry.data[CONF_MAC]), config_entry.entry_id
    )
    assert device is not None
    inputs = {"nas_device": device.id, "wake_time": "06:30:00", "weekdays": ["sat"]}
    await automations(use_blueprint("wake_on_schedule", inputs))

    await advance(hass, freezer, 30, step=1)
    assert dt_util.now().strftime("%a %H:%M") == start.strftime("%a %H:%M")
    assert not [call for call in service_calls if call.domain == DOMAIN]
    await advance(hass, freezer, 15, step=1)
    wake_calls = [
        call.data
        for call in service_calls
        if (call.domain, call.service) == (DOMAIN, SERVICE_WAKE_NAS)
    ]
    assert wake_calls == ([{"config_entry_id": config_entry.entry_id}] if wakes else [])
    assert hass.states.get(STATE).state == (NasState.BOOTING if wakes else before)


async def test_monthly_report_reaches_the_phone_on_the_first(
    hass: HomeAssistant,
    automations: SetUpAutomations,
    freezer: FrozenDateTimeFactory,
    nas_device: dr.DeviceEntry,
    phone: dr.DeviceEntry,
    receiver: PushReceiver,
) -> None:
    tz = dt_util.get_default_time_zone()
    freezer.move_to(datetime(2026, 11, 30, 7, 59, 50, tzinfo=tz))
    inputs = {"nas_device": nas_device.id, "notify_device": phone.id}
    await automations(use_blueprint("monthly_energy_report", inputs))

    # Not on the 30th.
    await advance(hass, freezer, 20, step=1)
    await real_sleep(0.1)
    assert receiver.pushes.empty()

    freezer.move_to(datetime(2026, 12, 1, 7, 59, 50, tzinfo=tz))
    await advance(hass, freezer, 20, step=1)
    push = await receiver.next_push()
    assert push["title"] == "BaluPi 2026-11"
    # No recorder in this test: the report says it has no data, and so does
    # the message.
    assert push["message"] == "No statistics were recorded for this month."


async def test_monthly_report_message_with_figures(hass: HomeAssistant) -> None:
    blueprint = load_blueprint("monthly_energy_report")
    inputs = BlueprintInputs(
        blueprint,
        use_blueprint(
            "monthly_energy_report", {"nas_device": "nas", "notify_device": "phone"}
        ),
    )
    inputs.validate()
    message = inputs.async_substitute()["actions"][1]["message"]
    report = {
        "year": 2026,
        "month": 10,
        "has_data": True,
        "currency": "EUR",
        "total": {"energy_kwh": 31.25, "cost": 9.375},
        "nas": {"awake_hours": 186.4, "energy_saved_kwh": 22.35, "cost_saved": 6.7},
    }
    rendered = Template(message, hass).async_render({"report": report})
    assert rendered == (
        "Plugs: 31.2 kWh, 9.38 EUR. NAS awake 186 h; "
        "sleeping saved 22.4 kWh (6.70 EUR)."
    )

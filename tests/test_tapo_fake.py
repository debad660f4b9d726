"""python-kasa's real KLAP client against the fake Tapo P110/P115 on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import json
import sys
import time

import aiohttp
from kasa import (
    AuthenticationError,
    Credentials,
    Device,
    DeviceConfig,
    Discover,
    KasaException,
    Module,
    UnsupportedDeviceError,
)
from kasa.deviceconfig import (
    DeviceConnectionParameters,
    DeviceEncryptionType,
    DeviceFamily,
)
from kasa.exceptions import (
    DeviceError,
    SmartErrorCode,
    TimeoutError as KasaTimeoutError,
    _ConnectionError,
)
from kasa.httpclient import get_cookie_jar
from kasa.interfaces import Energy
import pytest

from .fakes.ha_instance import ROOT, free_port
from .fakes.tapo_plug import FakeTapoPlug

USER = "tapo@example.com"
PASSWORD = "Secret-Tapo-1"
MAC = "30:DE:4B:00:00:01"


@pytest.fixture
async def plug(socket_enabled: None) -> AsyncGenerator[FakeTapoPlug]:
    fake = FakeTapoPlug(
        model="P110",
        mac=MAC,
        alias="Waschmaschine",
        username=USER,
        password=PASSWORD,
        power_w=123.4,
    )
    fake.today_wh, fake.month_wh = 456.0, 7890.0
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def http(socket_enabled: None) -> AsyncGenerator[aiohttp.ClientSession]:
    """The session handed to python-kasa; its jar must keep cookies from IPs."""
    async with aiohttp.ClientSession(cookie_jar=get_cookie_jar()) as session:
        yield session


def config(
    plug: FakeTapoPlug,
    http: aiohttp.ClientSession,
    *,
    password: str = PASSWORD,
    timeout: int = 2,
) -> DeviceConfig:
    return DeviceConfig(
        host=plug.host,
        port_override=plug.port,
        timeout=timeout,
        credentials=Credentials(USER, password),
        connection_type=DeviceConnectionParameters(
            DeviceFamily.SmartTapoPlug,
            DeviceEncryptionType.Klap,
            login_version=2,
            https=False,
        ),
        http_client=http,
    )


@pytest.fixture
async def device(
    plug: FakeTapoPlug, http: aiohttp.ClientSession
) -> AsyncGenerator[Device]:
    dev = await Device.connect(config=config(plug, http))
    yield dev
    await dev.disconnect()


def energy(dev: Device) -> Energy:
    return dev.modules[Module.Energy]


async def test_connect_reads_the_plug(device: Device, plug: FakeTapoPlug) -> None:
    assert device.model == "P110"
    assert device.alias == "Waschmaschine"
    assert device.mac == MAC
    assert device.device_type is Device.Type.Plug
    assert device.is_on
    assert device.hw_info["sw_ver"] == plug.fw_ver
    assert device.time.tzinfo is not None
    assert device.on_since is not None
    features = device.features
    for name in ("current_consumption", "consumption_today", "consumption_this_month"):
        assert name in features
    assert features["current_consumption"].value == pytest.approx(123.4)
    assert features["consumption_today"].value == pytest.approx(0.456)
    assert features["consumption_this_month"].value == pytest.approx(7.89)
    assert features["voltage"].value == pytest.approx(230.0)
    assert features["current"].value == pytest.approx(0.546)
    assert energy(device).supports(Energy.ModuleFeature.VOLTAGE_CURRENT)
    assert all(module._last_update_error is None for module in device.modules.values())


async def test_older_firmware_has_no_voltage(
    socket_enabled: None, http: aiohttp.ClientSession
) -> None:
    plug = FakeTapoPlug(
        model="P115", username=USER, password=PASSWORD, with_voltage=False
    )
    plug.power_w = 8.962
    await plug.start()
    dev = await Device.connect(config=config(plug, http))
    try:
        assert dev.model == "P115"
        assert "current_consumption" in dev.features
        assert "voltage" not in dev.features
        assert "current" not in dev.features
        assert not energy(dev).supports(Energy.ModuleFeature.VOLTAGE_CURRENT)
        assert energy(dev).voltage is None
        assert energy(dev).current_consumption == pytest.approx(8.962)
        assert "overheated" in dev.sys_info
    finally:
        await dev.disconnect()
        await plug.stop()


async def test_switching_is_reflected(device: Device, plug: FakeTapoPlug) -> None:
    await device.turn_off()
    assert not plug.is_on
    await device.update()
    assert not device.is_on
    assert energy(device).current_consumption == 0
    assert device.features["current"].value == pytest.approx(0.009)  # standby
    await device.turn_on()
    await device.update()
    assert device.is_on
    assert energy(device).current_consumption == pytest.approx(123.4)
    plug.set_on(False)  # the button on the plug
    await device.update()
    assert not device.is_on


async def test_energy_counters(device: Device, plug: FakeTapoPlug) -> None:
    plug.power_w = 1000.0
    plug.advance(1800)
    await device.update()
    assert energy(device).consumption_today == pytest.approx(0.956)
    assert energy(device).consumption_this_month == pytest.approx(8.39)
    assert energy(device).energy["today_runtime"] == 30

    plug.set_on(False)
    plug.advance(3600)  # nothing is drawn while off
    plug.reset_counters()  # midnight
    await device.update()
    assert energy(device).consumption_today == 0
    assert energy(device).consumption_this_month == pytest.approx(8.39)

    plug.set_on(True)
    plug.advance(360)
    plug.reboot()  # power cut: statistics survive, the session does not
    await device.update()
    assert plug.handshakes == 2
    assert energy(device).consumption_today == pytest.approx(0.1)
    assert energy(device).status["energy_wh"] == 0  # since boot
    plug.reset_counters(month=True)
    await device.update()
    assert energy(device).consumption_this_month == 0


async def test_connection_is_reused(device: Device, plug: FakeTapoPlug) -> None:
    requests = plug.requests
    for _ in range(10):
        await device.update()
    assert plug.handshakes == 1
    assert plug.requests >= requests + 10
    assert plug.calls["get_energy_usage"] == 11


async def test_bad_credentials(plug: FakeTapoPlug, http: aiohttp.ClientSession) -> None:
    with pytest.raises(AuthenticationError, match="did not match our challenge"):
        await Device.connect(config=config(plug, http, password="wrong"))
    plug.refuse_login = "bad_credentials"
    with pytest.raises(AuthenticationError):
        await Device.connect(config=config(plug, http))
    assert plug.requests == 0


async def test_third_party_compatibility_off(
    plug: FakeTapoPlug, http: aiohttp.ClientSession
) -> None:
    plug.refuse_login = "third_party_off"
    with pytest.raises(KasaException) as err:
        await Device.connect(config=config(plug, http))
    assert type(err.value) is KasaException
    assert str(err.value) == "Device 127.0.0.1 responded with 403 to handshake1"
    assert plug.handshakes == 1  # not retried


async def test_default_cookie_jar_loses_the_session(plug: FakeTapoPlug) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(KasaException, match="403 to handshake2"):
            await Device.connect(config=config(plug, http))


async def test_unknown_methods(device: Device) -> None:
    with pytest.raises(DeviceError) as err:
        await device.protocol.query("get_nonexistent")
    assert err.value.error_code is SmartErrorCode.UNKNOWN_METHOD_ERROR
    result = await device.protocol.query(
        {"get_device_info": None, "get_nonexistent": None, "get_led_info": None}
    )
    assert result["get_nonexistent"] is SmartErrorCode.UNKNOWN_METHOD_ERROR
    assert result["get_led_info"]["led_rule"] == "always"
    assert result["get_device_info"]["type"] == "SMART.TAPOPLUG"


async def test_silent_plug_times_out(device: Device, plug: FakeTapoPlug) -> None:
    device.config.timeout = 1
    plug.silent = True
    start = time.monotonic()
    with pytest.raises(KasaTimeoutError):
        await device.protocol.query("get_device_info", retry_count=0)
    assert 0.9 < time.monotonic() - start < 1.5
    plug.silent = False
    await device.update()
    assert device.is_on


async def test_offline_and_back(
    device: Device, plug: FakeTapoPlug, http: aiohttp.ClientSession
) -> None:
    await plug.offline()
    with pytest.raises(_ConnectionError, match="Device connection error"):
        await device.protocol.query("get_device_info", retry_count=0)
    with pytest.raises(_ConnectionError, match="Cannot connect to host"):
        await Device.connect(config=config(plug, http))

    await plug.online()  # a Wi-Fi outage: the session survives
    await device.update()
    assert plug.handshakes == 1

    await plug.offline()
    plug.reboot()  # a power cut: the session is gone
    await plug.online()
    await device.update()
    assert plug.handshakes == 2
    assert device.is_on


async def test_discovery(plug: FakeTapoPlug, monkeypatch: pytest.MonkeyPatch) -> None:
    await plug.stop()
    await plug.start(discovery_port=0)
    assert plug.discovery_port
    # python-kasa sends to, and only accepts answers from, DISCOVERY_PORT_2.
    monkeypatch.setattr(Discover, "DISCOVERY_PORT_2", plug.discovery_port)
    credentials = Credentials(USER, PASSWORD)

    dev = await Discover.discover_single(
        "127.0.0.1", discovery_timeout=2, credentials=credentials
    )
    assert dev is not None
    try:
        assert dev.mac == MAC
        assert dev.config.connection_type.http_port == plug.port
        await dev.update()  # over KLAP to the advertised http_port
        assert dev.alias == "Waschmaschine"
    finally:
        await dev.disconnect()

    found = await Discover.discover(
        target="127.0.0.1",
        discovery_packets=1,
        discovery_timeout=2,
        credentials=credentials,
    )
    assert list(found) == ["127.0.0.1"]
    assert found["127.0.0.1"].model == "P110"
    await found["127.0.0.1"].disconnect()

    plug.refuse_login = "third_party_off"
    with pytest.raises(UnsupportedDeviceError, match="encrypt_type='TPAP'"):
        await Discover.discover_single("127.0.0.1", discovery_timeout=2)


async def test_cli_runs_plugs(
    socket_enabled: None, http: aiohttp.ClientSession
) -> None:
    base = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.tapo_plug",
        "--count",
        "2",
        "--base-port",
        str(base),
        "--username",
        USER,
        "--password",
        PASSWORD,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        lines = [
            json.loads(await asyncio.wait_for(process.stdout.readline(), 10))
            for _ in range(2)
        ]
        assert [line["port"] for line in lines] == [base, base + 1]
        assert lines[1]["mac"] == "30:DE:4B:00:00:02"
        fake = FakeTapoPlug(port=lines[1]["port"])
        dev = await Device.connect(config=config(fake, http))
        assert dev.mac == lines[1]["mac"]
        assert energy(dev).current_consumption == pytest.approx(lines[1]["power_w"])
        await dev.disconnect()
    finally:
        process.terminate()
        await process.wait()

"""A TP-Link Tapo P110 / P115 energy-monitoring plug that speaks the real protocol.

python-kasa's own client (``Device.connect``, ``Discover``) talks to it over TCP
and UDP on 127.0.0.1; nothing in python-kasa is mocked. The pieces implemented:

KLAP v2 (``SMART.KLAP``, ``lv`` 2, plain HTTP)
    ``POST /app/handshake1`` takes the client's 16-byte seed and answers
    ``remote_seed + sha256(local_seed + remote_seed + auth_hash)`` where
    ``auth_hash = sha256(sha1(username) + sha1(password))``, with the header
    ``Set-Cookie: TP_SESSIONID=<hex>;TIMEOUT=86400`` the way the firmware sends it.
    ``POST /app/handshake2`` must carry that cookie and
    ``sha256(remote_seed + local_seed + auth_hash)``. ``POST /app/request?seq=N``
    carries ``sha256(sig + seq + ciphertext) + ciphertext``: AES-128-CBC with key,
    IV prefix and signature key derived from both seeds and the auth hash, the
    sequence number as the last 4 IV bytes; the answer is encrypted with the same
    sequence number. Requests without a valid session get HTTP 403, which
    python-kasa answers with a new handshake.

    The session lives in the cookie, so the client's aiohttp session must accept
    cookies from an IP address: use ``kasa.httpclient.get_cookie_jar()`` (as Home
    Assistant's tplink integration does). With aiohttp's default jar the cookie
    is dropped and handshake2 gets 403, as with a real plug.

SMART JSON methods
    ``{"method", "params", "request_time_milis", "terminal_uuid"}`` in,
    ``{"error_code": 0, "result": {...}}`` out; ``multipleRequest`` answers each
    entry with its ``method`` and stops after the first failing one; unknown
    methods get ``-1002`` (``UNKNOWN_METHOD_ERROR``). Shapes follow P110/P115
    firmware 1.2.x (``with_voltage=False``: ``overheated`` flag, no voltage or
    current in ``get_emeter_data``) and 1.3.x (``with_voltage=True``:
    ``overheat_status``/``charging_status``, ``voltage_mv``/``current_ma``).
    Energy counters are whole Wh (``today_energy``, ``month_energy``), power is mW
    (``current_power`` in ``get_energy_usage``, ``power_mw``) or whole W
    (``get_current_power``), runtimes are minutes.

Discovery (UDP, optional)
    Answers the 16-byte TDP header (version 2, probe, CRC32 seeded with
    ``0x5A6B7C8D``) plus RSA-key JSON that ``Discover`` sends to port 20002 with
    a 16-byte header and the JSON discovery result (``SMART.TAPOPLUG``, ``KLAP``,
    ``lv`` 2, ``http_port`` = this fake's TCP port, so the device python-kasa
    builds from it connects here). python-kasa 0.12.0 sends to and accepts
    answers only from ``Discover.DISCOVERY_PORT_2`` (20002) / ``_3`` (20004); its
    ``port`` argument only moves the legacy 9999 query (and becomes the device's
    ``port_override``). So either bind the responder on 20002 or set
    ``Discover.DISCOVERY_PORT_2`` to the responder's port.

Energy and reboots
    ``advance(seconds)`` (or real time with ``realtime=True``) adds
    ``power_w * seconds / 3600`` Wh to today/month while the plug is on.
    ``reboot()`` models a power cut: sessions are lost (python-kasa re-handshakes),
    ``on_time`` and the since-boot ``energy_wh`` of ``get_emeter_data`` restart
    at 0, but today's and this month's energy and runtime survive, as they do on
    Tapo plugs (the firmware keeps its statistics in flash; the app's history is
    not wiped by unplugging). The relay comes back in its last state
    (``default_states`` ``last_states``). Day/month rollovers are
    ``reset_counters()`` / ``reset_counters(month=True)``.

Failure modes: ``silent`` (connections accepted, nothing answered, discovery
ignored), ``offline()``/``online()`` (port closed and reopened, same port), and
``refuse_login``:

``"bad_credentials"``
    handshake1 answers with a hash of other credentials, as a plug whose cloud
    password changed: python-kasa raises ``kasa.AuthenticationError``
    ("Device response did not match our challenge on ip ...").
``"third_party_off"``
    firmware 1.4 with Third-Party Compatibility off: handshake1 gets HTTP 403 and
    discovery advertises ``encrypt_type`` ``"TPAP"``. python-kasa raises a plain
    ``kasa.KasaException`` ("Device 127.0.0.1 responded with 403 to handshake1",
    not retried, not an ``AuthenticationError``), and discovery raises
    ``kasa.UnsupportedDeviceError`` ("Unsupported device ... with encrypt_scheme
    EncryptionScheme(... encrypt_type='TPAP' ...)").

Run plugs for a development instance (one JSON line per plug)::

    python -m tests.fakes.tapo_plug --count 3 --base-port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
from collections import Counter
from collections.abc import Callable
import contextlib
import copy
from datetime import datetime
import hashlib
import json
import secrets
import struct
import time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

DEFAULT_PASSWORD = "tapo-password"
REGION = "Europe/Berlin"
TIME_DIFF = 60  # minutes, as the firmware reports it for Central Europe
_TZ = ZoneInfo(REGION)
SESSION_TIMEOUT = 86400
MAX_SESSIONS = 16
UNKNOWN_METHOD = -1002
PARAMS_ERROR = -1008
DISCOVERY_CRC_SEED = 0x5A6B7C8D
_TDP_HEADER = struct.Struct(">BBHHBBII")

RefuseLogin = Literal["bad_credentials", "third_party_off"]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def auth_hash(username: str, password: str) -> bytes:
    """KLAP v2 credential hash: sha256(sha1(username) + sha1(password))."""
    sha1 = hashlib.sha1
    return _sha256(sha1(username.encode()).digest() + sha1(password.encode()).digest())


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _hex_id(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length].upper()


class _KlapSession:
    """The device side of one KLAP session (keys derived as the firmware does)."""

    def __init__(self, local_seed: bytes, remote_seed: bytes, auth: bytes) -> None:
        self.local_seed, self.remote_seed, self.auth = local_seed, remote_seed, auth
        self.established = False
        material = local_seed + remote_seed + auth
        self._key = _sha256(b"lsk" + material)[:16]
        self._iv = _sha256(b"iv" + material)[:12]
        self._sig = _sha256(b"ldk" + material)[:28]

    def _cipher(self, seq: int) -> Cipher[modes.CBC]:
        iv = self._iv + struct.pack(">i", seq)
        return Cipher(algorithms.AES(self._key), modes.CBC(iv))

    def _signature(self, seq: int, ciphertext: bytes) -> bytes:
        return _sha256(self._sig + struct.pack(">i", seq) + ciphertext)

    def decrypt(self, seq: int, body: bytes) -> bytes | None:
        """Return the plaintext, or None if the signature or padding is wrong."""
        signature, ciphertext = body[:32], body[32:]
        if not ciphertext or signature != self._signature(seq, ciphertext):
            return None
        decryptor = self._cipher(seq).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            return None

    def encrypt(self, seq: int, plaintext: bytes) -> bytes:
        padder = padding.PKCS7(128).padder()
        encryptor = self._cipher(seq).encryptor()
        data = padder.update(plaintext) + padder.finalize()
        ciphertext = encryptor.update(data) + encryptor.finalize()
        return self._signature(seq, ciphertext) + ciphertext


class _DiscoveryResponder(asyncio.DatagramProtocol):
    """Answers python-kasa's 20002 probe for one plug."""

    def __init__(self, plug: FakeTapoPlug) -> None:
        self._plug = plug
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self.transport is None or self._plug.silent or len(data) < 16:
            return
        version, _, op_code, size, _, _, serial, crc = _TDP_HEADER.unpack(data[:16])
        check = bytearray(data)
        check[12:16] = DISCOVERY_CRC_SEED.to_bytes(4, "big")
        probe = (version, op_code, size) == (2, 1, len(data) - 16)
        if not probe or crc != binascii.crc32(check):
            return
        payload = json.dumps(self._plug.discovery_result()).encode()
        header = _TDP_HEADER.pack(
            2, 0, 1, len(payload), 0x11, 0, serial, DISCOVERY_CRC_SEED
        )
        reply = bytearray(header + payload)
        reply[12:16] = binascii.crc32(reply).to_bytes(4, "big")
        self.transport.sendto(bytes(reply), addr)


class FakeTapoPlug:
    """A P110/P115 on 127.0.0.1 that python-kasa connects to over KLAP."""

    def __init__(
        self,
        *,
        model: Literal["P110", "P115"] = "P110",
        mac: str = "30:DE:4B:00:00:01",
        alias: str = "Tapo Plug",
        username: str = "user@example.com",
        password: str = DEFAULT_PASSWORD,
        with_voltage: bool = True,
        hw_ver: str = "1.0",
        fw_ver: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        power_w: float = 5.0,
        realtime: bool = False,
    ) -> None:
        self.model = model
        self.mac = mac.upper().replace(":", "-")
        self.alias = alias
        self.username, self.password = username, password
        self.with_voltage = with_voltage
        self.hw_ver = hw_ver
        self.fw_ver = fw_ver or (
            "1.3.1 Build 240621 Rel.162048"
            if with_voltage
            else "1.2.3 Build 230425 Rel.142542"
        )
        self.host, self.port = host, port
        self.discovery_port: int | None = None
        self.device_id = _hex_id(f"device:{self.mac}", 40)

        # State a test drives.
        self.is_on = True
        self.power_w = power_w  # draw while on
        self.voltage_v = 230.0 if model == "P110" else 229.5
        self.today_wh = 0.0
        self.month_wh = 0.0
        self.boot_wh = 0.0  # get_emeter_data energy_wh: since the last reboot
        self.today_runtime_s = 0.0
        self.month_runtime_s = 0.0
        self.refuse_login: RefuseLogin | None = None
        self.realtime = realtime
        self._silent = False

        # What a test asserts on.
        self.handshakes = 0  # handshake1 requests (every login attempt)
        self.requests = 0  # encrypted /app/request posts
        self.calls: Counter[str] = Counter()  # SMART methods, batches unpacked

        self._auth = auth_hash(username, password)
        self._sessions: dict[str, _KlapSession] = {}
        self._offset = 0.0  # injected seconds on top of the real clock
        self._last_tick = time.monotonic()
        self._on_at = self._now()
        self._runner: web.AppRunner | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._hung: set[asyncio.Future[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._settings: dict[str, dict[str, Any]] = {
            "get_led_info": {
                "led_rule": "always",
                "led_status": True,
                "night_mode": {
                    "end_time": 420,
                    "night_mode_type": "sunrise_sunset",
                    "start_time": 1140,
                    "sunrise_offset": 0,
                    "sunset_offset": 0,
                },
            },
            "get_auto_off_config": {"delay_min": 120, "enable": False},
            "get_protection_power": {"enabled": False, "protection_power": 0},
            "get_auto_update_info": {"enable": True, "random_range": 120, "time": 180},
        }

    # -- lifecycle -------------------------------------------------------------

    async def start(self, *, discovery_port: int | None = None) -> None:
        """Listen on ``host:port`` (port 0 picks one; later starts reuse it).

        With ``discovery_port`` (0 picks one) a UDP responder answers
        python-kasa's discovery probe there as well.
        """
        app = web.Application()
        app.router.add_post("/app/handshake1", self._handshake1)
        app.router.add_post("/app/handshake2", self._handshake2)
        app.router.add_post("/app/request", self._request)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if not self.port:
            server = site._server
            assert isinstance(server, asyncio.Server)
            self.port = int(server.sockets[0].getsockname()[1])
        if discovery_port is not None:
            self.discovery_port = discovery_port
        if self.discovery_port is not None:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _DiscoveryResponder(self),
                local_addr=(self.host, self.discovery_port),
            )
            self._udp = transport
            self.discovery_port = int(transport.get_extra_info("sockname")[1])

    async def stop(self) -> None:
        """Close TCP and UDP ports; hanging requests are dropped unanswered."""
        self._release()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def offline(self) -> None:
        """Drop off the network: connections are refused until ``online()``.

        Sessions survive (a Wi-Fi outage); call ``reboot()`` too for a power cut.
        """
        await self.stop()

    async def online(self) -> None:
        """Come back on the same port(s)."""
        await self.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def silent(self) -> bool:
        """Accept connections but never answer (python-kasa times out)."""
        return self._silent

    @silent.setter
    def silent(self, value: bool) -> None:
        self._silent = value
        if not value:
            self._release()

    # -- energy and state --------------------------------------------------------

    def _now(self) -> float:
        return time.time() + self._offset

    def _accumulate(self, seconds: float) -> None:
        if not self.is_on or seconds <= 0:
            return
        wh = self.power_w * seconds / 3600
        self.today_wh += wh
        self.month_wh += wh
        self.boot_wh += wh
        self.today_runtime_s += seconds
        self.month_runtime_s += seconds

    def _tick(self) -> None:
        now = time.monotonic()
        if self.realtime:
            self._accumulate(now - self._last_tick)
        self._last_tick = now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on the plug: energy, runtimes and clocks move on."""
        self._tick()
        self._offset += seconds
        self._accumulate(seconds)

    def set_on(self, on: bool) -> None:
        """Switch the relay (as the button on the plug would)."""
        self._tick()
        if on and not self.is_on:
            self._on_at = self._now()
        self.is_on = on

    def reset_counters(self, *, month: bool = False) -> None:
        """Midnight (today's counters to 0) or, with ``month``, a month rollover."""
        self._tick()
        self.today_wh = self.today_runtime_s = 0.0
        if month:
            self.month_wh = self.month_runtime_s = 0.0

    def reboot(self) -> None:
        """Power cycle: sessions, on_time and since-boot energy are gone.

        Today's and this month's energy and runtime survive (kept in flash);
        the relay returns to its last state.
        """
        self._tick()
        self.drop_sessions()
        self.boot_wh = 0.0
        self._on_at = self._now()

    def drop_sessions(self) -> None:
        """Forget every KLAP session; the next request gets 403."""
        self._sessions.clear()

    @property
    def current_power_mw(self) -> int:
        return round(self.power_w * 1000) if self.is_on else 0

    # -- HTTP ----------------------------------------------------------------------

    def _release(self) -> None:
        for future in self._hung:
            if not future.done():
                future.set_result(None)

    async def _answers(self) -> bool:
        """Wait while silent; False means the request must stay unanswered."""
        if not self._silent:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._hung.add(future)
        try:
            await future
        finally:
            self._hung.discard(future)
        return False

    @staticmethod
    def _drop(request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=503)

    @staticmethod
    def _reply(body: bytes = b"", status: int = 200) -> web.Response:
        response = web.Response(body=body, status=status, content_type="text/html")
        response.headers["Server"] = "SHIP 2.0"
        return response

    def _session(self, request: web.Request) -> _KlapSession | None:
        return self._sessions.get(request.cookies.get("TP_SESSIONID", ""))

    async def _handshake1(self, request: web.Request) -> web.Response:
        self.handshakes += 1
        local_seed = await request.read()
        if not await self._answers():
            return self._drop(request)
        if self.refuse_login == "third_party_off":
            return self._reply(status=403)
        if len(local_seed) != 16:
            return self._reply(status=400)
        auth = self._auth
        if self.refuse_login == "bad_credentials":
            auth = auth_hash(self.username, self.password + " (changed in the app)")
        remote_seed = secrets.token_bytes(16)
        session_id = secrets.token_hex(16).upper()
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        self._sessions[session_id] = _KlapSession(local_seed, remote_seed, auth)
        response = self._reply(remote_seed + _sha256(local_seed + remote_seed + auth))
        response.headers["Set-Cookie"] = (
            f"TP_SESSIONID={session_id};TIMEOUT={SESSION_TIMEOUT}"
        )
        return response

    async def _handshake2(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not await self._answers():
            return self._drop(request)
        session = self._session(request)
        if session is None or body != _sha256(
            session.remote_seed + session.local_seed + session.auth
        ):
            return self._reply(status=403)
        session.established = True
        return self._reply()

    async def _request(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not await self._answers():
            return self._drop(request)
        self.requests += 1
        session = self._session(request)
        try:
            seq = int(request.query["seq"])
        except KeyError, ValueError:
            return self._reply(status=400)
        if session is None or not session.established:
            return self._reply(status=403)
        plaintext = session.decrypt(seq, body)
        if plaintext is None:
            return self._reply(status=403)
        self._tick()
        try:
            message = json.loads(plaintext)
            answer = self._call(message["method"], message.get("params"))
        except ValueError, KeyError, TypeError:
            answer = {"error_code": -1003}  # JSON_DECODE_FAIL_ERROR
        return self._reply(session.encrypt(seq, json.dumps(answer).encode()))

    # -- SMART methods ---------------------------------------------------------------

    def _call(self, method: str, params: Any) -> dict[str, Any]:
        self.calls[method] += 1
        if method == "multipleRequest":
            responses: list[dict[str, Any]] = []
            for entry in params["requests"]:
                answer = self._call(entry["method"], entry.get("params"))
                responses.append({"method": entry["method"], **answer})
                if answer["error_code"]:
                    break  # the firmware stops a batch at the first error
            return {"error_code": 0, "result": {"responses": responses}}
        if getter := self._getters().get(method):
            return {"error_code": 0, "result": getter()}
        if method == "set_device_info":
            return self._set_device_info(params or {})
        if method == "device_reboot":
            return self._device_reboot(params or {})
        if method.startswith("set_") and "get_" + method[4:] in self._settings:
            return self._set_setting("get_" + method[4:], params)
        return {"error_code": UNKNOWN_METHOD}

    def _device_reboot(self, params: dict[str, Any]) -> dict[str, Any]:
        delay = float(params.get("delay", 1))
        self._timers.add(asyncio.get_running_loop().call_later(delay, self.reboot))
        return {"error_code": 0}

    def _set_setting(self, getter: str, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict):
            return {"error_code": PARAMS_ERROR}
        self._settings[getter].update(params)
        return {"error_code": 0}

    def _set_device_info(self, params: dict[str, Any]) -> dict[str, Any]:
        if "device_on" in params:
            if not isinstance(params["device_on"], bool):
                return {"error_code": PARAMS_ERROR}
            self.set_on(params["device_on"])
        if "nickname" in params:
            self.alias = base64.b64decode(params["nickname"]).decode()
        return {"error_code": 0}

    def _getters(self) -> dict[str, Callable[[], dict[str, Any]]]:
        settings = {name: self._settings_getter(name) for name in self._settings}
        return settings | {
            "component_nego": self.component_nego,
            "get_device_info": self.device_info,
            "get_device_usage": self._device_usage,
            "get_energy_usage": self._energy_usage,
            "get_current_power": lambda: {
                "current_power": round(self.current_power_mw / 1000)
            },
            "get_emeter_data": self._emeter_data,
            "get_emeter_vgain_igain": lambda: {"igain": 11190, "vgain": 124652},
            "get_device_time": lambda: {
                "region": REGION,
                "time_diff": TIME_DIFF,
                "timestamp": int(self._now()),
            },
            "get_connect_cloud_state": lambda: {"status": 0},
            "get_latest_fw": lambda: {
                "fw_size": 0,
                "fw_ver": self.fw_ver,
                "hw_id": "",
                "need_to_upgrade": False,
                "oem_id": "",
                "release_date": "",
                "release_note": "",
                "type": 0,
            },
            "get_fw_download_state": lambda: {
                "auto_upgrade": False,
                "download_progress": 0,
                "reboot_time": 5,
                "status": 0,
                "upgrade_time": 5,
            },
            "get_countdown_rules": lambda: {
                "countdown_rule_max_count": 1,
                "enable": False,
                "rule_list": [],
            },
            "get_schedule_rules": lambda: {
                "enable": False,
                "rule_list": [],
                "schedule_rule_max_count": 32,
                "start_index": 0,
                "sum": 0,
            },
            "get_next_event": dict,
            "get_antitheft_rules": lambda: {
                "antitheft_rule_max_count": 1,
                "enable": False,
                "rule_list": [],
            },
            "get_max_power": lambda: {
                "max_power": 3680 if self.model == "P110" else 3450
            },
        }

    def _settings_getter(self, name: str) -> Callable[[], dict[str, Any]]:
        return lambda: copy.deepcopy(self._settings[name])

    def component_nego(self) -> dict[str, Any]:
        """The component list of a P110/P115 on 1.2.x or (with voltage) 1.3.x."""
        components = {
            "device": 2,
            "firmware": 2,
            "quick_setup": 3,
            "time": 1,
            "wireless": 1,
            "schedule": 2,
            "countdown": 2,
            "antitheft": 1,
            "account": 1,
            "synchronize": 1,
            "sunrise_sunset": 1,
            "led": 1,
            "cloud_connect": 1,
            "iot_cloud": 1,
            "device_local_time": 1,
            "default_states": 1,
            "auto_off": 2,
            "localSmart": 1,
            "energy_monitoring": 2,
            "power_protection": 1,
        }
        if self.with_voltage:
            components |= {"charging_protection": 2, "current_protection": 1}
            if self.model == "P115":
                components["overheat_protection"] = 1
        return {
            "component_list": [
                {"id": name, "ver_code": version}
                for name, version in components.items()
            ]
        }

    def device_info(self) -> dict[str, Any]:
        """``get_device_info`` as the firmware answers it."""
        info: dict[str, Any] = {
            "auto_off_remain_time": 0,
            "auto_off_status": "off",
            "avatar": "plug",
            "default_states": {"state": {}, "type": "last_states"},
            "device_id": self.device_id,
            "device_on": self.is_on,
            "fw_id": _hex_id(f"fw:{self.fw_ver}", 32),
            "fw_ver": self.fw_ver,
            "has_set_location_info": False,
            "hw_id": _hex_id(f"hw:{self.model}:{self.hw_ver}", 32),
            "hw_ver": self.hw_ver,
            "ip": self.host,
            "lang": "de_DE",
            "latitude": 0,
            "longitude": 0,
            "mac": self.mac,
            "model": self.model,
            "nickname": _b64(self.alias),
            "oem_id": _hex_id(f"oem:{self.model}", 32),
            "on_time": int(self._now() - self._on_at) if self.is_on else 0,
            "power_protection_status": "normal",
            "region": REGION,
            "rssi": -48,
            "signal_level": 3,
            "specs": "",
            "ssid": _b64("BaluNet"),
            "time_diff": TIME_DIFF,
            "type": "SMART.TAPOPLUG",
        }
        if self.with_voltage:
            info |= {
                "charging_status": "normal",
                "overcurrent_status": "normal",
                "overheat_status": "normal",
            }
        else:
            info["overheated"] = False
        return dict(sorted(info.items()))

    def _device_usage(self) -> dict[str, Any]:
        today_min = int(self.today_runtime_s // 60)
        month_min = int(self.month_runtime_s // 60)
        return {
            "power_usage": {
                "past30": int(self.month_wh),
                "past7": int(self.month_wh),
                "today": int(self.today_wh),
            },
            "saved_power": {"past30": 0, "past7": 0, "today": 0},
            "time_usage": {"past30": month_min, "past7": month_min, "today": today_min},
        }

    def _energy_usage(self) -> dict[str, Any]:
        local = datetime.fromtimestamp(self._now(), _TZ)
        return {
            "current_power": self.current_power_mw,
            "electricity_charge": [0, 0, 0],
            "local_time": local.strftime("%Y-%m-%d %H:%M:%S"),
            "month_energy": int(self.month_wh),
            "month_runtime": int(self.month_runtime_s // 60),
            "today_energy": int(self.today_wh),
            "today_runtime": int(self.today_runtime_s // 60),
        }

    def _emeter_data(self) -> dict[str, Any]:
        data = {"energy_wh": int(self.boot_wh), "power_mw": self.current_power_mw}
        if self.with_voltage:
            # A few mA of standby current flow even with the relay off.
            current_ma = round(self.current_power_mw / self.voltage_v) + 9
            data |= {
                "current_ma": current_ma,
                "voltage_mv": round(self.voltage_v * 1000),
            }
        return dict(sorted(data.items()))

    def discovery_result(self) -> dict[str, Any]:
        """The JSON a plug answers python-kasa's UDP 20002 probe with."""
        encrypt_type = "TPAP" if self.refuse_login == "third_party_off" else "KLAP"
        return {
            "error_code": 0,
            "result": {
                "device_id": _hex_id(f"cloud:{self.device_id}", 32),
                "device_model": f"{self.model}(EU)",
                "device_type": "SMART.TAPOPLUG",
                "factory_default": False,
                "ip": self.host,
                "is_support_iot_cloud": True,
                "mac": self.mac,
                "mgt_encrypt_schm": {
                    "encrypt_type": encrypt_type,
                    "http_port": self.port,
                    "is_support_https": False,
                    "lv": 2,
                },
                "obd_src": "tplink",
                "owner": hashlib.md5(self.username.encode()).hexdigest().upper(),  # noqa: S324
                "protocol_version": 1,
            },
        }


async def _serve(args: argparse.Namespace) -> None:
    plugs: list[FakeTapoPlug] = []
    for index in range(args.count):
        plug = FakeTapoPlug(
            model="P110" if index % 2 == 0 else "P115",
            mac=f"30:DE:4B:00:00:{index + 1:02X}",
            alias=f"Tapo Plug {index + 1}",
            username=args.username,
            password=args.password,
            with_voltage=index % 3 != 2,
            host=f"127.0.0.{index + 1}" if args.distinct_hosts else "127.0.0.1",
            port=args.base_port + (0 if args.distinct_hosts else index),
            power_w=round(3.5 + 47.25 * index, 2),
            realtime=True,
        )
        await plug.start(discovery_port=args.discovery_port)
        plugs.append(plug)
        print(
            json.dumps(
                {
                    "host": plug.host,
                    "port": plug.port,
                    "mac": plug.mac.replace("-", ":"),
                    "model": plug.model,
                    "alias": plug.alias,
                    "power_w": plug.power_w,
                    "with_voltage": plug.with_voltage,
                    "discovery_port": plug.discovery_port,
                    "username": plug.username,
                }
            ),
            flush=True,
        )
    try:
        await asyncio.Event().wait()
    finally:
        for plug in plugs:
            await plug.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Run fake Tapo P110/P115 plugs (KLAP) until interrupted."
    )
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--base-port", type=int, default=9100)
    parser.add_argument("--username", default="user@example.com")
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument(
        "--discovery-port",
        type=int,
        default=None,
        help="answer python-kasa discovery on this UDP port (real plugs: 20002)",
    )
    parser.add_argument(
        "--distinct-hosts",
        action="store_true",
        help="plug i on 127.0.0.(i+1), all on --base-port (one per IP, like a LAN)",
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()

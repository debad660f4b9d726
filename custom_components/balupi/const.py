"""Constants for BaluPi."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "balupi"

# The config entry's version; 1.2: the health path is gone (liveness is a TCP
# connect to the URL's port).
ENTRY_VERSION: Final = 1
ENTRY_MINOR_VERSION: Final = 2
# Stored by entries of version 1.1 only (removed by the migration to 1.2).
CONF_HEALTH_PATH: Final = "health_path"
CONF_SECRET: Final = "secret"  # noqa: S105 (a config key, not a secret)
CONF_SCAN_INTERVAL: Final = "scan_interval"
CONF_FAST_INTERVAL: Final = "fast_interval"
CONF_OFFLINE_INTERVAL: Final = "offline_interval"
CONF_FAILURE_THRESHOLD: Final = "failure_threshold"
CONF_BOOT_TIMEOUT: Final = "boot_timeout"

DEFAULT_NAME: Final = "BaluHost"
DEFAULT_BROADCAST_ADDRESS: Final = "255.255.255.255"
DEFAULT_BROADCAST_PORT: Final = 9
# Where Linux keeps the MAC of each LAN address it talked to: a discovered NAS
# announces no MAC, and the entry (and Wake-on-LAN) needs it.
NEIGHBOUR_TABLE: Final = "/proc/net/arp"

# The NAS enforces at least 32 characters; a generated secret is 48 URL-safe ones.
MIN_SECRET_LENGTH: Final = 32
GENERATED_SECRET_BYTES: Final = 36

# Heartbeat defaults (seconds). Worst case to detect a dead NAS:
# 5 + 2 + 3 * (1 + 2) = 16 s, inside the 20 s promise; 4 failures in a row are
# needed, so a lost reply among good ones (even at 5 % loss) does not count.
DEFAULT_SCAN_INTERVAL: Final = 5
DEFAULT_FAST_INTERVAL: Final = 1
DEFAULT_OFFLINE_INTERVAL: Final = 30
DEFAULT_FAILURE_THRESHOLD: Final = 4
DEFAULT_BOOT_TIMEOUT: Final = 300
# How long a liveness probe (a TCP connect) may take.
HEALTH_TIMEOUT: Final = 2.0

EVENT_NAS_STATE_CHANGED: Final = "balupi_nas_state_changed"

SUBENTRY_PIHOLE: Final = "pihole"
CONF_HOSTNAME: Final = "hostname"
CONF_PI_IP: Final = "pi_ip"
DEFAULT_HOSTNAME: Final = "baluhost.local"

SUBENTRY_PLUG: Final = "plug"
CONF_ROLE: Final = "role"
ROLE_NAS: Final = "nas"
ROLE_GENERIC: Final = "generic"
# The NAS entry a plug found by DHCP is added to (when there are several).
CONF_ENTRY: Final = "entry"
CONF_CONNECTION: Final = "connection"
CONF_TPLINK_USERNAME: Final = "tplink_username"
CONF_TPLINK_PASSWORD: Final = "tplink_password"  # noqa: S105 (a config key)
CONF_PLUG_INTERVAL: Final = "plug_interval"
# A reauthentication's data: which credential, and for TP-Link the plug that
# refused it (its sub-entry id).
REAUTH: Final = "reauth"
REAUTH_TPLINK: Final = "tplink"
REAUTH_PLUG: Final = "plug"
REAUTH_API_KEY: Final = "api_key"
CONF_PRICE: Final = "price"
CONF_PRICE_ENTITY: Final = "price_entity"
CONF_TOU_START: Final = "tou_start"
CONF_TOU_END: Final = "tou_end"
CONF_TOU_PRICE: Final = "tou_price"
CONF_POWER_OFF: Final = "power_off"
CONF_POWER_STANDBY: Final = "power_standby"
CONF_POWER_RUNNING: Final = "power_running"

DEFAULT_PLUG_INTERVAL: Final = 30
DEFAULT_PRICE: Final = 0.32
# NAS power thresholds (W): below "off" nothing runs; up to "standby" it sleeps
# (Wake-on-LAN standby); above "running" it is on. In between nothing is said.
DEFAULT_POWER_OFF: Final = 2.0
DEFAULT_POWER_STANDBY: Final = 15.0
DEFAULT_POWER_RUNNING: Final = 30.0
PLUG_TIMEOUT: Final = 5

SERVICE_SWITCH_DNS: Final = "switch_dns"
ATTR_TARGET: Final = "target"

ISSUE_PIHOLE_AUTH: Final = "pihole_auth"
ISSUE_PIHOLE_READ_ONLY: Final = "pihole_read_only"
ISSUE_PIHOLE_SEATS: Final = "pihole_seats"
ISSUE_PIHOLE_UNREACHABLE: Final = "pihole_unreachable"

SERVICE_WAKE_NAS: Final = "wake_nas"

ISSUE_NAS_DID_NOT_WAKE: Final = "nas_did_not_wake"
ISSUE_NAS_UNRESPONSIVE: Final = "nas_unresponsive"
ISSUE_NAS_CERTIFICATE: Final = "nas_invalid_certificate"
ISSUE_UNKNOWN_SNAPSHOT: Final = "unknown_snapshot_version"

EVENT_NAS_GOING_OFFLINE: Final = "balupi_nas_going_offline"
EVENT_NAS_COMING_ONLINE: Final = "balupi_nas_coming_online"

# The NAS waits 10 s for the going-offline reply; DNS gets at most this long.
DNS_REPLY_BUDGET: Final = 5.0
# Senders (and reasons) whose refused handshakes are remembered, so each is
# logged once; a home network has a handful.
MAX_LOGGED_REJECTIONS: Final = 256

STORAGE_VERSION: Final = 1
# 1.2: the DNS store keeps the target (nas, pi, an address), not its address.
DNS_STORAGE_MINOR_VERSION: Final = 2

# Inbox flush (options). The host defaults to the NAS's IP address.
CONF_INBOX_PATH: Final = "inbox_path"
CONF_SSH_HOST: Final = "ssh_host"
CONF_SSH_PORT: Final = "ssh_port"
CONF_SSH_USER: Final = "ssh_user"
CONF_REMOTE_PATH: Final = "remote_path"
CONF_KEY_PATH: Final = "key_path"
CONF_HOST_KEY: Final = "host_key"
DEFAULT_SSH_PORT: Final = 22
INBOX_SCAN_INTERVAL: Final = 60
# Files modified this recently may still be copied in over SMB: next time.
INBOX_SETTLE_SECONDS: Final = 10

SERVICE_FLUSH_INBOX: Final = "flush_inbox"
EVENT_INBOX_FLUSHED: Final = "balupi_inbox_flushed"

ISSUE_INBOX_HOST_KEY: Final = "inbox_host_key_mismatch"
ISSUE_INBOX_AUTH: Final = "inbox_auth_failed"
ISSUE_INBOX_KEY: Final = "inbox_key_unusable"
ISSUE_INBOX_NO_TRANSPORT: Final = "inbox_no_transport"
ISSUE_INBOX_FILES_STUCK: Final = "inbox_files_stuck"

# Energy insights (options of the energy step).
CONF_BASELINE_WATTS: Final = "baseline_watts"
CONF_PI_POWER_ENTITY: Final = "pi_power_entity"
CONF_PI_WATTS: Final = "pi_watts"
# Awake time and the month roll-over are published this often (s); NAS state
# changes at once. Every minute would add a state row a minute to the recorder.
INSIGHTS_INTERVAL: Final = 300
INSIGHTS_SAVE_DELAY: Final = 60

SERVICE_ENERGY_REPORT: Final = "energy_report"
ATTR_YEAR: Final = "year"
ATTR_MONTH: Final = "month"

# Sleep-aware heartbeat (BaluHost soft sleep and suspend).
CONF_API_KEY: Final = "api_key"
# The sleep state is read once a minute and the sleep schedule every quarter
# hour (whitelisted reads); with the TCP liveness probe, which the NAS never
# counts, that is about one counted request a minute.
SLEEP_STATUS_INTERVAL: Final = 60
SLEEP_SCHEDULE_INTERVAL: Final = 900
# Silence this soon after BaluPi asked the NAS to suspend is that suspend.
SUSPEND_GRACE: Final = 120
SLEEP_READ_TIMEOUT: Final = 5.0
HTTP_PORT: Final = 80
HTTPS_PORT: Final = 443
# Presence heartbeats: at the interval the NAS answers (45 s in BaluHost
# 1.38), never more often than this; after a failure, again this soon.
PRESENCE_MIN_INTERVAL: Final = 15
PRESENCE_RETRY: Final = 30
# Why BaluPi keeps the NAS from suspending.
KEEP_AWAKE_SWITCH: Final = "switch"
KEEP_AWAKE_INBOX: Final = "inbox"
SERVICE_SLEEP_NAS: Final = "sleep_nas"
ATTR_MODE: Final = "mode"

# Live figures of the awake NAS (whitelisted reads: system info and the current
# network sample, two counted requests a cycle, 0.4 a minute). Read only while
# the NAS is online; asleep, the last ones stay, dated.
DEVICE_LIVE_INTERVAL: Final = 300
DEVICE_LIVE_REQUESTS: Final = 2
# Stored figures are written at most this often (the Pi's SD card) and when
# Home Assistant stops.
DEVICE_SAVE_DELAY: Final = 900
# A boot time that moved by less than this is the same boot (uptime and the
# moment of reading do not tick together).
UP_SINCE_TOLERANCE: Final = 60
ATTR_MEASURED_AT: Final = "measured_at"
# The NAS's software: checked four times a day, only while it is online (one
# awake-only read); an update BaluPi started is followed this often.
UPDATE_CHECK_INTERVAL: Final = 6 * 3600
UPDATE_PROGRESS_INTERVAL: Final = 5
# The NAS's reasons for refusing an update, as shown: this many, this long.
MAX_UPDATE_BLOCKERS: Final = 3
MAX_UPDATE_REASON: Final = 300
# The NAS's scheduled jobs (backup): hourly, only while it is online (one
# awake-only read from its database).
JOBS_INTERVAL: Final = 3600
BACKUP_SCHEDULER: Final = "backup"
# The NAS's notifications: listed every 10 minutes while it is online (one
# awake-only read of those changed since the last one); each new one fires this
# event, and the ones that need a person raise a repair issue until the NAS
# says they are over.
EVENTS_INTERVAL: Final = 600
EVENT_NAS_EVENT: Final = "balupi_nas_event"
ISSUE_NAS_RAID_DEGRADED: Final = "nas_raid_degraded"
ISSUE_NAS_DISK_FAILING: Final = "nas_disk_failing"
ISSUE_NAS_BACKUP_FAILED: Final = "nas_backup_failed"
# Event messages and repair texts are cut to this many characters.
MAX_EVENT_MESSAGE: Final = 500

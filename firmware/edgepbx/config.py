"""The box's configuration: one TOML file, typed, validated before anything starts.

Every error names the section and key. Unknown sections and keys are errors: a typo
must not silently fall back to a default.
"""
from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from edgepbx.central.hours import parse_window
from edgepbx.sip.admission import UNTRUSTED_POLICIES, parse_rate, parse_trusted
from edgepbx.sip.uri import is_tls, srtp_for, transport_param

LANGUAGES = ("zh", "en")
TEMPLATES = ("ecommerce", "repair", "finance", "medical")
SYSTEM_FLOWS = ("outage", "wait", "callback_call", "csat")  # built in, not business choices: survivable mode, peak-load wait
LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_CALL_LEGS = 64  # PJSUA_MAX_CALLS in firmware/pjsua2/config_site.h


class ConfigError(ValueError):
    """A config file that cannot run the box; the message names the key (every key, one line
    each, when several are wrong; `.errors` lists them without the file name)."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors if errors is not None else [message]


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class BoxSection:
    name: str = "edgepbx"
    country_code: str = "86"    # "+86 138..." and "138..." are one caller (directory lookups)
    trunk_prefix: str = "0"     # "010 1234 5678" and "+86 10 1234 5678" too


@dataclass(frozen=True)
class SipSection:
    listen: HostPort = HostPort("127.0.0.1", 5060)
    rtp_port: int = 4000
    max_calls: int = 64     # call legs: an E1's 30 calls, half of them forwarded (45), and call-backs
    tcp: bool = True        # also SIP over TCP on the same address (RFC 3261 18: UDP and TCP)
    auth_user: str = ""     # digest credentials for a peer that challenges the box's INVITEs
    auth_password: str = field(default="", repr=False)   # (central's SBC, the backup line, the
                                                          # call-back gateway), any realm
    trusted: tuple[str, ...] = field(default=(), metadata={"kind": tuple})   # who may call: addresses,
                                    # CIDR ranges, host names; central's hosts always; empty on a
                                    # loopback listen: 127.0.0.0/8
    untrusted: str = "reject"       # everyone else: "reject" (403) or "drop" (no answer)
    invite_rate: str = "10/s burst 30"   # new INVITEs per trusted source (central's hosts: no limit)
    calls_per_source: int = 30      # call legs one source may hold at once
    block_s: float = 60.0           # a flooding source (or one that never ACKs) is refused this long
    confirm_timeout_s: float = 4.0  # a call whose 200 OK is not ACKed in this time is hung up
    strict_rtp: bool = True         # RTP from any host but the one the SDP names is dropped
    tcp_per_source: int = 16        # SIP-over-TCP connections one source may hold
    tls_listen: HostPort | None = field(default=None, metadata={"kind": HostPort})   # SIP over TLS here
    tls_cert: Path | None = field(default=None, metadata={"kind": Path})   # the box's certificate (PEM),
    tls_key: Path | None = field(default=None, metadata={"kind": Path})    # also shown to a peer that asks
    tls_ca: Path | None = field(default=None, metadata={"kind": Path})     # CAs a peer's certificate must
                                                                            # chain to (unset: the system's)
    srtp: str = "off"               # trunk side: "off", "optional" or "mandatory" (SDES, RFC 4568)


@dataclass(frozen=True)
class StoreSection:
    path: Path = Path("var/edgepbx.db")
    min_free_mb: int = 200


@dataclass(frozen=True)
class CentralSection:
    uri: str = ""
    answer_timeout_s: float = 20.0
    backup_uri: str = ""
    probe_interval_s: float = 1.0
    outage_flow: str = "outage"
    announce_wait_over_s: float = 120.0
    callback_uri: str = ""          # e.g. "sip:{number}@10.0.0.9": how the box calls callers back
    callback_attempts: int = 3
    callback_retry_s: float = 300.0
    callback_hours: str = "09:00-20:00"   # local time the box may call people back (central back at 2 a.m.)
    callback_international: bool = False  # the box's dialer calls only numbers of [box] country_code
    srtp: str = "auto"              # calls the box places (forwards, backup line, call-backs): off, optional,
                                    # mandatory; auto: mandatory to a sips: or ;transport=tls URI, else off


@dataclass(frozen=True)
class IvrSection:
    flow: str = "ecommerce"
    language: str = "zh"
    prompts: Path = Path("var/prompts")
    voice_examples: Path = Path("var/voicekeys")
    learn_voices: bool = False     # keep menu words not understood + the key then pressed, to learn callers' voices


@dataclass(frozen=True)
class ApiSection:
    listen: HostPort = HostPort("127.0.0.1", 8080)
    tls_cert: Path | None = field(default=None, metadata={"kind": Path})
    tls_key: Path | None = field(default=None, metadata={"kind": Path})
    metrics_listen: HostPort | None = field(default=None, metadata={"kind": HostPort})  # GET /metrics with no
                                    # token here (a management network); none: only on the API, with a read token


@dataclass(frozen=True)
class PanelSection:
    pins: Path | None = field(default=None, metadata={"kind": Path})  # a pin map from hardware/; none: no panel
    pin_factory: str = ""     # gpiozero pin factory ("lgpio", "rpigpio", "mock"); empty: gpiozero's choice


@dataclass(frozen=True)
class AccessSection:
    """Elderly and visually-impaired callers."""
    elderly_tempo: float = 0.75        # prompts at this tempo, same pitch (0.6..0.9)
    level_dbov: float = -26.0          # active speech level of every prompt (ITU-T P.56)
    elderly_level_dbov: float = -20.0  # ... and of the elderly versions
    pause_s: float = 2.0               # visually-impaired: silence after each option
    csat: bool = True                  # ask for a 1-5 score when central hangs up first


@dataclass(frozen=True)
class ConsoleSection:
    """The technician's serial console."""
    port: str = "auto"        # a device or pyserial URL (loop://, socket://, /dev/pts/N); "auto":
                              # /dev/ttyAMA0 when it exists; "" turns the console off
    baud: int = 115200        # 8N1
    idle_s: float = 600.0     # logged out after this long without input


@dataclass(frozen=True)
class FxoSection:
    """The analog line through an FXO interface; its pins come from [panel] pins."""
    enabled: bool = False
    audio: str = "alsa:plughw:1,0"   # the interface's sound device, or "pipe:IN,OUT" (FIFOs or files)
    country: str = "cn"              # ring cadence and exchange tones: cn, eu, us, uk
    answer_after_rings: int = 2
    answer_on_caller_id: bool = True # answer once the caller ID is in, even before that many rings
    disconnect: str = "loop_current,reversal,tone"   # what the far end hanging up looks like here
    line: str = "fxo"                # the called number in call records


FXO_DISCONNECT = ("loop_current", "reversal", "tone")


@dataclass(frozen=True)
class FirmwareSection:
    """Signed firmware updates (README "Firmware updates")."""
    root: str = ""                  # releases/, current, update.json; empty: $EDGEPBX_ROOT set by the launcher
    keys: tuple[str, ...] = field(default=(), metadata={"kind": tuple})   # the fleet's Ed25519 public keys (PEM
                                    # files); a bundle signed by none of them is refused; none: no update taken
    health_timeout_s: float = 120.0  # a new release must be healthy this soon after the switch, or it is rolled back
    window: str = ""                # local time the switch may happen, e.g. "02:00-04:00"; empty: whenever idle


@dataclass(frozen=True)
class SmsSection:
    """Text messages through a cellular modem (README "Text messages")."""
    device: str = ""                # the modem's AT port (e.g. "/dev/edgepbx-modem", see hardware/udev); "": no modem
    baud: int = 115200
    command_timeout_s: float = 10.0   # a modem silent this long is closed and opened again
    retry_s: float = 30.0           # a text the network refused is tried again after this, doubling, up to an hour
    attempts: int = 6               # then it is given up (and an alarm says so)
    mobile_pattern: str = r"1[3-9]\d{9}"   # national numbers that are mobiles: confirmations go only to these
    per_number_per_day: int = 5     # automatic texts (confirmations, replies) to one number in 24 h
    alarm_to: tuple[str, ...] = field(default=(), metadata={"kind": tuple})   # technicians' mobiles for alarms
    central_down_alarm_s: float = 900.0   # central unreachable this long: an alarm by text
    texts: Path | None = field(default=None, metadata={"kind": Path})   # TOML of zh/en texts replacing the built-in ones


@dataclass(frozen=True)
class LogSection:
    level: str = "info"


@dataclass(frozen=True)
class Config:
    box: BoxSection = field(default_factory=BoxSection)
    sip: SipSection = field(default_factory=SipSection)
    store: StoreSection = field(default_factory=StoreSection)
    central: CentralSection = field(default_factory=CentralSection)
    ivr: IvrSection = field(default_factory=IvrSection)
    api: ApiSection = field(default_factory=ApiSection)
    panel: PanelSection = field(default_factory=PanelSection)
    access: AccessSection = field(default_factory=AccessSection)
    console: ConsoleSection = field(default_factory=ConsoleSection)
    fxo: FxoSection = field(default_factory=FxoSection)
    log: LogSection = field(default_factory=LogSection)
    firmware: FirmwareSection = field(default_factory=FirmwareSection)
    sms: SmsSection = field(default_factory=SmsSection)
    source: str = "<embedded default>"

    def flow_path(self) -> Path | None:
        """The flow file, or None when `[ivr] flow` names a built-in template."""
        return None if self.ivr.flow in TEMPLATES else Path(self.ivr.flow)


def _host_port(where: str, value: Any) -> HostPort:
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(f"{where}: expected \"HOST:PORT\", got {value!r}")
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: expected \"HOST:PORT\" with a port 1-65535, got {value!r}")
    return HostPort(host.strip("[]"), int(port))


SECRET_WORDS = ("password", "secret", "token", "key")


def is_secret(key: str) -> bool:
    """A config key whose value is never shown: not on the console, in errors or in logs."""
    return any(word in key.lower() for word in SECRET_WORDS)


def _check_type(where: str, value: Any, expected: type) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is Path:
        expected = str
    if expected is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return tuple(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        shown = "" if is_secret(where) else f" {value!r}"
        raise ConfigError(f"{where}: expected {expected.__name__}, got {type(value).__name__}{shown}")
    return value


def _build_section(name: str, cls: type, raw: Any, base_dir: Path, errors: list[str]) -> Any:
    """The section from its table; every bad key is added to `errors` and left at its default."""
    if not isinstance(raw, dict):
        errors.append(f"[{name}]: expected a table, got {type(raw).__name__}")
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in sorted(set(raw) - set(fields)):
        errors.append(f"[{name}] {key}: unknown key (known: {', '.join(fields)})")
    values: dict[str, Any] = {}
    hints = {f.name: f.metadata.get("kind", type(f.default)) for f in fields.values()}
    for key, value in raw.items():
        if key not in fields:
            continue
        where = f"[{name}] {key}"
        kind = hints[key]
        try:
            if kind is HostPort:
                values[key] = _host_port(where, value)
            elif issubclass(kind, Path):
                path = Path(_check_type(where, value, Path))
                values[key] = path if path.is_absolute() else base_dir / path
            else:
                values[key] = _check_type(where, value, kind)
        except ConfigError as exc:
            errors.append(str(exc))
    return cls(**values)


def _peer_uri_problem(uri: str) -> str | None:
    """Why the box cannot call `uri`, or None: sip: over UDP, TCP or TLS, or sips: (TLS)."""
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    transport = transport_param(uri)
    if scheme not in ("sip", "sips"):
        return f"must be a sip: or sips: URI or empty, got {uri!r}"
    if transport not in ("udp", "tcp", "tls"):
        return f"transport {transport!r} is not supported (udp, tcp or tls), got {uri!r}"
    if scheme == "sips" and transport != "udp" and transport != "tls":
        return f"a sips: URI goes over TLS (RFC 5630), not {transport!r}, got {uri!r}"
    return None


SRTP_MODES = ("off", "optional", "mandatory")


def central_srtp(config: "Config", uri: str | None = None) -> str:
    """The SRTP mode of the box's calls to `uri` (default: central's): [central] srtp, where
    "auto" is mandatory over TLS (keys over a secure channel, media encrypted) and off otherwise."""
    return srtp_for(config.central.srtp, config.central.uri if uri is None else uri)


def uses_tls(config: "Config") -> bool:
    """Whether the box needs its TLS transport: a TLS listener, or a TLS peer to call."""
    return config.sip.tls_listen is not None or any(
        is_tls(getattr(config.central, key)) for key in ("uri", "backup_uri", "callback_uri"))


def _validate(config: Config, errors: list[str]) -> None:
    """Adds to `errors` every value that is well-typed but out of range or inconsistent."""
    def fail(where: str, why: str) -> None:
        errors.append(f"{where}: {why}")

    if not config.box.name or not all(c.isalnum() or c in "-_." for c in config.box.name):
        fail("[box] name", f"use letters, digits, '-', '_' or '.', got {config.box.name!r}")
    if config.box.country_code and not (config.box.country_code.isdigit() and len(config.box.country_code) <= 3):
        fail("[box] country_code", f"one to three digits (86, 1, 44) or empty, got {config.box.country_code!r}")
    if config.box.trunk_prefix and not (config.box.trunk_prefix.isdigit() and len(config.box.trunk_prefix) <= 2):
        fail("[box] trunk_prefix", f"one or two digits (0, 8) or empty, got {config.box.trunk_prefix!r}")
    if ":" in config.sip.listen.host:
        fail("[sip] listen", f"SIP takes an IPv4 address (0.0.0.0 for every interface), got {config.sip.listen.host!r}")
    if bool(config.sip.auth_user) != bool(config.sip.auth_password):
        fail("[sip] auth_user" if not config.sip.auth_user else "[sip] auth_password",
             "set both auth_user and auth_password, or neither")
    if not 1 <= config.sip.max_calls <= MAX_CALL_LEGS:
        fail("[sip] max_calls", f"must be 1..{MAX_CALL_LEGS}, got {config.sip.max_calls}")
    if not 1024 <= config.sip.rtp_port <= 65000 or config.sip.rtp_port % 2:
        fail("[sip] rtp_port", f"must be an even port 1024..65000, got {config.sip.rtp_port}")
    _validate_admission(config, fail)
    _validate_sms(config, fail)
    _validate_tls(config, fail)
    for key in ("uri", "backup_uri", "callback_uri"):
        value = getattr(config.central, key)
        problem = _peer_uri_problem(value) if value else None
        if not problem and key == "callback_uri" and value and "{number}" not in value:
            problem = f"must have {{number}} in it (where the caller's number goes), got {value!r}"
        if problem:
            fail(f"[central] {key}", problem)
    try:
        parse_window(config.central.callback_hours)
    except ValueError as exc:
        fail("[central] callback_hours", str(exc))
    if config.firmware.window:
        try:
            parse_window(config.firmware.window)
        except ValueError as exc:
            fail("[firmware] window", str(exc))
    if not 10 <= config.firmware.health_timeout_s <= 3600:
        fail("[firmware] health_timeout_s", f"must be 10..3600 s, got {config.firmware.health_timeout_s}")
    if not 1 <= config.central.callback_attempts <= 10:
        fail("[central] callback_attempts", f"must be 1..10, got {config.central.callback_attempts}")
    if not 5.0 <= config.central.callback_retry_s <= 86400.0:
        fail("[central] callback_retry_s", f"must be 5..86400 seconds, got {config.central.callback_retry_s}")
    if not 0.2 <= config.central.probe_interval_s <= 30.0:
        fail("[central] probe_interval_s", f"must be 0.2..30 seconds, got {config.central.probe_interval_s}")
    if not 1.0 <= config.central.answer_timeout_s <= 120.0:
        fail("[central] answer_timeout_s", f"must be 1..120 seconds, got {config.central.answer_timeout_s}")
    if config.ivr.language not in LANGUAGES:
        fail("[ivr] language", f"must be one of {', '.join(LANGUAGES)}, got {config.ivr.language!r}")
    if not config.ivr.flow:
        fail("[ivr] flow", f"name a template ({', '.join(TEMPLATES)}) or a flow file")
    if not 10 <= config.store.min_free_mb <= 100_000:
        fail("[store] min_free_mb", f"must be 10..100000, got {config.store.min_free_mb}")
    if (config.api.tls_cert is None) != (config.api.tls_key is None):
        fail("[api] tls_cert", "give both tls_cert and tls_key, or neither")
    for where, path in (("[api] tls_cert", config.api.tls_cert), ("[api] tls_key", config.api.tls_key)):
        if path is not None and not path.is_file():
            fail(where, f"no such file: {path}")
    if config.panel.pins is not None and not config.panel.pins.is_file():
        fail("[panel] pins", f"no such file: {config.panel.pins}")
    if config.panel.pin_factory not in ("", "lgpio", "rpigpio", "pigpio", "native", "mock"):
        fail("[panel] pin_factory", f"unknown gpiozero pin factory {config.panel.pin_factory!r}")
    if not 0.6 <= config.access.elderly_tempo <= 0.9:
        fail("[access] elderly_tempo", f"must be 0.6..0.9, got {config.access.elderly_tempo}")
    for key in ("level_dbov", "elderly_level_dbov"):
        if not -40.0 <= getattr(config.access, key) <= -10.0:
            fail(f"[access] {key}", f"must be -40..-10 dBov, got {getattr(config.access, key)}")
    if not 0.5 <= config.access.pause_s <= 5.0:
        fail("[access] pause_s", f"must be 0.5..5 seconds, got {config.access.pause_s}")
    if config.console.baud not in (9600, 19200, 38400, 57600, 115200, 230400):
        fail("[console] baud", f"must be a standard rate (9600..230400), got {config.console.baud}")
    if not 5 <= config.console.idle_s <= 86400:
        fail("[console] idle_s", f"must be 5..86400 seconds, got {config.console.idle_s}")
    if config.fxo.country not in ("cn", "eu", "us", "uk"):
        fail("[fxo] country", f"must be one of cn, eu, us, uk, got {config.fxo.country!r}")
    if not 1 <= config.fxo.answer_after_rings <= 10:
        fail("[fxo] answer_after_rings", f"must be 1..10, got {config.fxo.answer_after_rings}")
    ways = [w.strip() for w in config.fxo.disconnect.split(",") if w.strip()]
    if not ways or set(ways) - set(FXO_DISCONNECT):
        fail("[fxo] disconnect", f"a comma-separated list of {', '.join(FXO_DISCONNECT)}, got {config.fxo.disconnect!r}")
    kind, _, rest = config.fxo.audio.partition(":")
    if not (kind == "alsa" and rest or kind == "pipe" and rest.count(",") == 1):
        fail("[fxo] audio", f"expected \"alsa:DEVICE\" or \"pipe:IN,OUT\", got {config.fxo.audio!r}")
    if config.fxo.enabled and config.panel.pins is None:
        fail("[fxo] enabled", "the line needs a pin map: set [panel] pins")
    if config.log.level not in LOG_LEVELS:
        fail("[log] level", f"must be one of {', '.join(LOG_LEVELS)}, got {config.log.level!r}")


def _validate_sms(config: Config, fail: Callable[[str, str], None]) -> None:
    sms = config.sms
    if sms.device == "modemmanager":
        fail("[sms] device", "ModemManager is not supported yet: give the modem's AT port (README \"Text messages\")")
    if not 1200 <= sms.baud <= 4_000_000:
        fail("[sms] baud", f"must be 1200..4000000, got {sms.baud}")
    for name in ("command_timeout_s", "retry_s", "central_down_alarm_s"):
        if not getattr(sms, name) > 0:
            fail(f"[sms] {name}", "must be > 0")
    if not 1 <= sms.attempts <= 100:
        fail("[sms] attempts", f"must be 1..100, got {sms.attempts}")
    if not 1 <= sms.per_number_per_day <= 1000:
        fail("[sms] per_number_per_day", f"must be 1..1000, got {sms.per_number_per_day}")
    try:
        re.compile(sms.mobile_pattern)
    except re.error as exc:
        fail("[sms] mobile_pattern", f"not a regular expression: {exc}")
    for number in sms.alarm_to:
        if not number.lstrip("+").isdigit():
            fail("[sms] alarm_to", f"not a telephone number: {number!r}")


def _validate_admission(config: Config, fail: Callable[[str, str], None]) -> None:
    sip = config.sip
    for entry in sip.trusted:
        try:
            parse_trusted(entry)
        except ValueError as exc:
            fail("[sip] trusted", str(exc))
    if not sip.trusted and not is_loopback(sip.listen.host):
        fail("[sip] trusted", f"the box listens on {sip.listen.host}, beyond this machine: list who may call it, "
             'e.g. trusted = ["192.168.1.0/24", "gw.example.net"] (the trunk, the gateway, the office LAN); '
             "central's hosts are trusted anyway. A box that must knowingly take calls from anyone: "
             'trusted = ["0.0.0.0/0"]')
    if sip.untrusted not in UNTRUSTED_POLICIES:
        fail("[sip] untrusted", f"must be one of {', '.join(UNTRUSTED_POLICIES)}, got {sip.untrusted!r}")
    try:
        parse_rate(sip.invite_rate)
    except ValueError as exc:
        fail("[sip] invite_rate", str(exc))
    if not 1 <= sip.calls_per_source <= MAX_CALL_LEGS:
        fail("[sip] calls_per_source", f"must be 1..{MAX_CALL_LEGS}, got {sip.calls_per_source}")
    if not 5.0 <= sip.block_s <= 86400.0:
        fail("[sip] block_s", f"must be 5..86400 seconds, got {sip.block_s}")
    if not 1 <= sip.tcp_per_source <= 256:
        fail("[sip] tcp_per_source", f"must be 1..256, got {sip.tcp_per_source}")
    if not 1.0 <= sip.confirm_timeout_s <= 32.0:
        fail("[sip] confirm_timeout_s", f"must be 1..32 seconds, got {sip.confirm_timeout_s}")


def _validate_tls(config: Config, fail: Callable[[str, str], None]) -> None:
    sip = config.sip
    if sip.srtp not in SRTP_MODES:
        fail("[sip] srtp", f"must be one of {', '.join(SRTP_MODES)}, got {sip.srtp!r}")
    if config.central.srtp not in ("auto", *SRTP_MODES):
        fail("[central] srtp", f"must be one of auto, {', '.join(SRTP_MODES)}, got {config.central.srtp!r}")
    if sip.tls_listen is not None:
        if sip.tls_cert is None or sip.tls_key is None:
            fail("[sip] tls_listen", "a TLS listener needs tls_cert and tls_key (PEM files)")
        if sip.tls_listen.host != sip.listen.host:
            fail("[sip] tls_listen", f"use the address of [sip] listen ({sip.listen.host}), got {sip.tls_listen.host!r}")
        if sip.tls_listen.port == sip.listen.port:
            fail("[sip] tls_listen", f"needs a port of its own (5061 is usual), not {sip.tls_listen.port}")
    if (sip.tls_cert is None) != (sip.tls_key is None):
        fail("[sip] tls_cert", "give both tls_cert and tls_key, or neither")
    for key in ("tls_cert", "tls_key", "tls_ca"):
        path = getattr(sip, key)
        if path is not None and not path.is_file():
            fail(f"[sip] {key}", f"no such file: {path}")


def is_loopback(host: str) -> bool:
    return host == "localhost" or host.startswith("127.")


SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "source"}


def parse_config(text: str, source: str, base_dir: Path) -> Config:
    """Parse and validate config text. A ConfigError names every offending key, one line each
    (a technician fixes them all in one go), and keeps them in `.errors`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    errors = [f"[{name}]: unknown section (known: {', '.join(SECTIONS)})" for name in sorted(set(raw) - set(SECTIONS))]
    sections = {}
    for name, type_name in SECTIONS.items():
        cls = globals()[type_name] if isinstance(type_name, str) else type_name
        sections[name] = _build_section(name, cls, raw.get(name, {}), base_dir, errors)
    config = Config(**sections, source=source)
    if config.flow_path() is not None and not config.flow_path().is_absolute():
        config = dataclasses.replace(config, ivr=dataclasses.replace(config.ivr, flow=str(base_dir / config.ivr.flow)))
    _validate(config, errors)
    if errors:
        raise ConfigError("\n".join(f"{source}: {e}" for e in errors), errors)
    return config


def default_config_text() -> str:
    return resources.files("edgepbx").joinpath("default.toml").read_text(encoding="utf-8")


def load_config(path: Path | None) -> Config:
    """Load `path`, or the embedded default when None (paths relative to the current directory)."""
    if path is None:
        return parse_config(default_config_text(), "<embedded default>", Path.cwd())
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(text, str(path), path.resolve().parent)

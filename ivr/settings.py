"""Settings: every one read from the environment here, typed, checked, with safe defaults."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict, cast
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_MENU = Path(__file__).parent / "callflow" / "menu.yaml"
DEFAULT_TWILIO_API = "https://api.twilio.com"
# Development without a Twilio account: the offline simulator (`flask simulate call`) plays
# Twilio's API and media host here, with this account SID, so its recordings can be fetched.
DEVELOPMENT_TWILIO_API = "http://127.0.0.1:8099"
DEVELOPMENT_ACCOUNT_SID = "AC" + "0" * 32

REQUIRED_IN_PRODUCTION = ("TWILIO_AUTH_TOKEN", "SECRET_KEY", "PUBLIC_BASE_URL")
# key=value pairs joined by &, as in #ct=1000&rc=3&rp=all (Twilio's connection overrides).
OVERRIDES = re.compile(r"([a-z]{1,4}=[0-9A-Za-z.,_-]{1,32}(&[a-z]{1,4}=[0-9A-Za-z.,_-]{1,32})*)?")


# A webhook SharedKey's id as Twilio names it in X-Twilio-Webhooks-Signature-Settings.
SHARED_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


class Settings(TypedDict):
    """Every setting the service reads, typed: ``app.config`` holds these keys (and any
    ``VOSK_MODEL_<LANG>``, read by the transcription registry). README lists what each means."""

    HOTLINE_ENV: str
    HOTLINE_DATA_DIR: str
    SQLALCHEMY_DATABASE_URI: str
    SECRET_KEY: str
    PUBLIC_BASE_URL: str
    HOTLINE_TRUST_PROXY: bool
    HOTLINE_SESSION_HOURS: float
    TWILIO_ACCOUNT_SID: str
    TWILIO_AUTH_TOKEN: str
    TWILIO_WEBHOOK_SHARED_KEYS: dict[str, str]
    TWILIO_API_KEY_SID: str
    TWILIO_API_KEY_SECRET: str
    TWILIO_API_BASE_URL: str
    HOTLINE_MENU: str
    ORDER_LOOKUP_URL: str
    ORDER_LOOKUP_TOKEN: str
    ORDER_LOOKUP_TIMEOUT: float
    ORDER_PAGE_URL: str
    TWILIO_CALLBACK_OVERRIDES: str
    HOTLINE_MAX_REQUEST_BYTES: int
    VOSK_MODEL: str
    HOTLINE_WORKER: str
    HOTLINE_WORKER_LEASE: float
    HOTLINE_WORKER_MAX_ATTEMPTS: int
    HOTLINE_WORKER_POLL: float
    HOTLINE_WORKER_NICE: int
    HOTLINE_MAX_RECORDING_BYTES: int
    HOTLINE_MAX_RECORDING_SECONDS: float
    HOTLINE_AUDIO_STORE: str
    HOTLINE_DELETE_FROM_TWILIO: bool
    HOTLINE_CALLER_ID: str
    HOTLINE_DIAL_PREFIXES: str
    HOTLINE_WRAPUP_SECONDS: float
    HOTLINE_ANSWER_TARGET: float
    HOTLINE_SERVICE_GOAL: float
    HOTLINE_SUPERVISOR_EMAIL: str
    HOTLINE_SMTP_HOST: str
    HOTLINE_SMTP_PORT: int
    HOTLINE_SMTP_USER: str
    HOTLINE_SMTP_PASSWORD: str
    HOTLINE_SMTP_FROM: str
    HOTLINE_SMTP_STARTTLS: bool
    HOTLINE_ALERT_WEBHOOK: str
    HOTLINE_LOG_FORMAT: str
    HOTLINE_TIMEZONE: str
    HOTLINE_QUALITY_RULES: str
    HOTLINE_KEEP_AUDIO_DAYS: int
    HOTLINE_KEEP_TRANSCRIPTS_DAYS: int
    HOTLINE_KEEP_CALLS_DAYS: int
    HOTLINE_RETENTION_SWEEP_MINUTES: float


class ConfigError(RuntimeError):
    """The environment does not describe a service that may start."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    """A number of whole days to keep something; empty or 0 keeps it for ever."""
    raw = (env.get(name) or "").strip()
    if raw == "":
        return default
    if not raw.isdigit() or len(raw) > 6:
        raise ConfigError(
            f"{name} must be a whole number of days (0 keeps for ever), e.g. 180; not {raw[:20]!r}"
        )
    return int(raw)


def shared_keys(raw: str) -> dict[str, str]:
    """TWILIO_WEBHOOK_SHARED_KEYS, ``id:secret`` pairs joined by commas, as {id: secret}.

    Two keys at once let a deployment rotate: add the new key, point Twilio's Webhook Setting at
    it, then remove the old one.
    """
    keys = {}
    for pair in filter(None, (part.strip() for part in raw.split(","))):
        key_id, _, secret = pair.partition(":")
        if not SHARED_KEY_ID.fullmatch(key_id) or not secret:
            raise ConfigError(
                "TWILIO_WEBHOOK_SHARED_KEYS must be key-id:secret pairs joined by commas, "
                f"as in KS1234:s3cret,KS5678:0ther (got a malformed pair for {key_id[:40]!r})"
            )
        keys[key_id] = secret
    return keys


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Read every setting the service knows from ``env`` (``os.environ`` by default)."""
    env = os.environ if env is None else env
    mode = (env.get("HOTLINE_ENV") or "production").strip().lower()
    if mode not in {"production", "development"}:
        raise ConfigError(f"HOTLINE_ENV must be 'production' or 'development', not {mode!r}")
    data_dir = Path(env.get("HOTLINE_DATA_DIR") or "data").resolve()
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'hotline.sqlite'}"
    # No auth token in development: nobody's real account, so Twilio is the simulator.
    simulated = mode == "development" and not env.get("TWILIO_AUTH_TOKEN")
    # Heroku-style URLs name the old driver; SQLAlchemy 2 wants an explicit one.
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")

    settings: Settings = {
        "HOTLINE_ENV": mode,
        "HOTLINE_DATA_DIR": str(data_dir),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": env.get("SECRET_KEY", ""),
        "PUBLIC_BASE_URL": (env.get("PUBLIC_BASE_URL") or "").rstrip("/"),
        "HOTLINE_TRUST_PROXY": _flag(env.get("HOTLINE_TRUST_PROXY")),
        # How long a sign-in lasts (a shift); the server refuses an older session cookie.
        "HOTLINE_SESSION_HOURS": _number(env, "HOTLINE_SESSION_HOURS", 12.0),
        "TWILIO_ACCOUNT_SID": env.get("TWILIO_ACCOUNT_SID")
        or (DEVELOPMENT_ACCOUNT_SID if simulated else ""),
        "TWILIO_AUTH_TOKEN": env.get("TWILIO_AUTH_TOKEN", ""),
        # Webhooks that a Twilio Webhook Setting signs with a SharedKey instead of the token.
        "TWILIO_WEBHOOK_SHARED_KEYS": shared_keys(env.get("TWILIO_WEBHOOK_SHARED_KEYS", "")),
        # An API key, if set, is used for REST calls and downloads instead of the auth token.
        "TWILIO_API_KEY_SID": env.get("TWILIO_API_KEY_SID", ""),
        "TWILIO_API_KEY_SECRET": env.get("TWILIO_API_KEY_SECRET", ""),
        "TWILIO_API_BASE_URL": (
            env.get("TWILIO_API_BASE_URL")
            or (DEVELOPMENT_TWILIO_API if simulated else DEFAULT_TWILIO_API)
        ).rstrip("/"),
        "HOTLINE_MENU": env.get("HOTLINE_MENU") or str(DEFAULT_MENU),
        "ORDER_LOOKUP_URL": env.get("ORDER_LOOKUP_URL", ""),
        "ORDER_LOOKUP_TOKEN": env.get("ORDER_LOOKUP_TOKEN", ""),
        "ORDER_LOOKUP_TIMEOUT": _number(env, "ORDER_LOOKUP_TIMEOUT", 3.0),
        # Where an order said in a transcript links to (the shop's page, {number} filled in);
        # unset, to the messages that mention it.
        "ORDER_PAGE_URL": env.get("ORDER_PAGE_URL", ""),
        # Twilio's connection overrides on the status callbacks the app hands out: retry a 503.
        "TWILIO_CALLBACK_OVERRIDES": env.get("TWILIO_CALLBACK_OVERRIDES", "rc=3&rp=all").strip(),
        "HOTLINE_MAX_REQUEST_BYTES": int(_number(env, "HOTLINE_MAX_REQUEST_BYTES", 64 * 1024)),
        "VOSK_MODEL": env.get("VOSK_MODEL", ""),
        # "thread": a transcription worker inside each web process (one machine);
        # "off": run `flask --app app voicemail work` processes instead.
        "HOTLINE_WORKER": (env.get("HOTLINE_WORKER") or "").strip().lower()
        or ("thread" if database_url.startswith("sqlite") else "off"),
        "HOTLINE_WORKER_LEASE": _number(env, "HOTLINE_WORKER_LEASE", 120.0),
        "HOTLINE_WORKER_MAX_ATTEMPTS": int(_number(env, "HOTLINE_WORKER_MAX_ATTEMPTS", 8)),
        "HOTLINE_WORKER_POLL": _number(env, "HOTLINE_WORKER_POLL", 1.0),
        # Transcription yields the cores to webhooks (a caller waits on those): a nicer thread.
        "HOTLINE_WORKER_NICE": int(_number(env, "HOTLINE_WORKER_NICE", 10)),
        "HOTLINE_MAX_RECORDING_BYTES": int(_number(env, "HOTLINE_MAX_RECORDING_BYTES", 64 * 2**20)),
        "HOTLINE_MAX_RECORDING_SECONDS": _number(env, "HOTLINE_MAX_RECORDING_SECONDS", 600.0),
        # "files": recordings in the data folder (one machine); "database": in the shared
        # database, so processes on several machines can all read them.
        "HOTLINE_AUDIO_STORE": (env.get("HOTLINE_AUDIO_STORE") or "files").strip().lower(),
        "HOTLINE_DELETE_FROM_TWILIO": _flag(env.get("HOTLINE_DELETE_FROM_TWILIO")),
        "HOTLINE_CALLER_ID": env.get("HOTLINE_CALLER_ID", ""),
        # Numbers an agent may call into a conversation start with one of these (toll fraud).
        "HOTLINE_DIAL_PREFIXES": env.get("HOTLINE_DIAL_PREFIXES", "+86"),
        "HOTLINE_WRAPUP_SECONDS": _number(env, "HOTLINE_WRAPUP_SECONDS", 30.0),
        "HOTLINE_ANSWER_TARGET": _number(env, "HOTLINE_ANSWER_TARGET", 20.0),
        # Percent of callers to answer within the target: the line on the figures' chart.
        "HOTLINE_SERVICE_GOAL": _number(env, "HOTLINE_SERVICE_GOAL", 80.0),
        "HOTLINE_SUPERVISOR_EMAIL": env.get("HOTLINE_SUPERVISOR_EMAIL", ""),
        "HOTLINE_SMTP_HOST": env.get("HOTLINE_SMTP_HOST", ""),
        "HOTLINE_SMTP_PORT": int(_number(env, "HOTLINE_SMTP_PORT", 25)),
        "HOTLINE_SMTP_USER": env.get("HOTLINE_SMTP_USER", ""),
        "HOTLINE_SMTP_PASSWORD": env.get("HOTLINE_SMTP_PASSWORD", ""),
        "HOTLINE_SMTP_FROM": env.get("HOTLINE_SMTP_FROM", ""),
        "HOTLINE_SMTP_STARTTLS": _flag(env.get("HOTLINE_SMTP_STARTTLS")),
        "HOTLINE_ALERT_WEBHOOK": env.get("HOTLINE_ALERT_WEBHOOK", ""),
        "HOTLINE_LOG_FORMAT": (env.get("HOTLINE_LOG_FORMAT") or "json").strip().lower(),
        # The call centre's time zone: new agents start in it (each may choose another);
        # figures count days and hours in the reader's zone.
        "HOTLINE_TIMEZONE": (env.get("HOTLINE_TIMEZONE") or "Asia/Shanghai").strip(),
        # The quality rules file; empty: the one voicemail ships (voicemail/quality.yaml).
        "HOTLINE_QUALITY_RULES": (env.get("HOTLINE_QUALITY_RULES") or "").strip(),
        # Privacy: how many days recordings' audio, transcripts and call logs are kept (0: for
        # ever). Call-back audio is kept CALLBACK_KEEP_DAYS whatever (voicemail/retention.py).
        "HOTLINE_KEEP_AUDIO_DAYS": _days(env, "HOTLINE_KEEP_AUDIO_DAYS", 180),
        "HOTLINE_KEEP_TRANSCRIPTS_DAYS": _days(env, "HOTLINE_KEEP_TRANSCRIPTS_DAYS", 365),
        "HOTLINE_KEEP_CALLS_DAYS": _days(env, "HOTLINE_KEEP_CALLS_DAYS", 730),
        "HOTLINE_RETENTION_SWEEP_MINUTES": _number(env, "HOTLINE_RETENTION_SWEEP_MINUTES", 5.0),
    }
    # One model per menu language (VOSK_MODEL_ZH, …): keys the menu decides, so not in Settings.
    models = {k: v for k, v in env.items() if k.startswith("VOSK_MODEL_")}
    return cast(Settings, {**settings, **models})


def check_settings(settings: Mapping[str, Any]) -> None:
    """Refuse a production start that would leave webhooks or sessions unprotected."""
    if settings.get("HOTLINE_WORKER", "off") not in {"thread", "off"}:
        raise ConfigError("HOTLINE_WORKER must be 'thread' or 'off'")
    if settings.get("HOTLINE_LOG_FORMAT", "json") not in {"json", "text"}:
        raise ConfigError("HOTLINE_LOG_FORMAT must be 'json' or 'text'")
    if settings.get("HOTLINE_AUDIO_STORE", "files") not in {"files", "database"}:
        raise ConfigError("HOTLINE_AUDIO_STORE must be 'files' or 'database'")
    if not 0 < settings.get("HOTLINE_SESSION_HOURS", 12.0) <= 24 * 366:
        raise ConfigError("HOTLINE_SESSION_HOURS must be a number of hours above 0, e.g. 12")
    check_retention(settings)
    try:
        ZoneInfo(settings.get("HOTLINE_TIMEZONE", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            "HOTLINE_TIMEZONE must be an IANA time zone such as Asia/Shanghai or Europe/Berlin"
        ) from None
    if not OVERRIDES.fullmatch(settings.get("TWILIO_CALLBACK_OVERRIDES", "")):
        raise ConfigError(
            "TWILIO_CALLBACK_OVERRIDES must be Twilio's connection overrides without the #, "
            "e.g. rc=3&rp=all, or empty"
        )
    api_base = urlsplit(str(settings.get("TWILIO_API_BASE_URL", DEFAULT_TWILIO_API)))
    if api_base.scheme != "https" and not (api_base.scheme == "http" and is_loopback(api_base)):
        # It receives the account's credentials with every REST call and download.
        raise ConfigError(
            "TWILIO_API_BASE_URL must be an https URL (plain http only for the offline "
            "simulator on loopback, with HOTLINE_ENV=development)"
        )
    if settings["HOTLINE_ENV"] != "production":
        return
    missing = [name for name in REQUIRED_IN_PRODUCTION if not settings.get(name)]
    if missing:
        raise ConfigError(
            "refusing to start in production without " + ", ".join(missing) + "; set them, or "
            "set HOTLINE_ENV=development to try the service locally"
        )
    if not settings["PUBLIC_BASE_URL"].startswith(("https://", "http://")):
        raise ConfigError("PUBLIC_BASE_URL must be the full URL Twilio calls, e.g. https://…")
    if api_base.scheme != "https":
        raise ConfigError(
            "TWILIO_API_BASE_URL must be https in production (plain http is for the offline "
            "simulator on loopback, with HOTLINE_ENV=development)"
        )


# China's 2020 rules on outbound calls: recordings of calls made to customers kept 30 days.
CALLBACK_KEEP_DAYS = 30


def check_retention(settings: Mapping[str, Any]) -> None:
    """Refuse retention settings that would delete what must stay, with the reason."""
    audio = settings.get("HOTLINE_KEEP_AUDIO_DAYS", 0)
    transcripts = settings.get("HOTLINE_KEEP_TRANSCRIPTS_DAYS", 0)
    calls = settings.get("HOTLINE_KEEP_CALLS_DAYS", 0)
    for name, days in (
        ("HOTLINE_KEEP_AUDIO_DAYS", audio),
        ("HOTLINE_KEEP_TRANSCRIPTS_DAYS", transcripts),
        ("HOTLINE_KEEP_CALLS_DAYS", calls),
    ):
        if not isinstance(days, int) or days < 0:
            raise ConfigError(f"{name} must be a whole number of days, 0 to keep for ever")
    # A call log is what a recording, a message and a search are found by.
    if calls and (audio == 0 or audio > calls or transcripts == 0 or transcripts > calls):
        raise ConfigError(
            "HOTLINE_KEEP_CALLS_DAYS must not be shorter than HOTLINE_KEEP_AUDIO_DAYS and "
            "HOTLINE_KEEP_TRANSCRIPTS_DAYS (0 keeps for ever): a call log would go before its "
            "recording"
        )
    if calls and calls < CALLBACK_KEEP_DAYS:
        raise ConfigError(
            f"HOTLINE_KEEP_CALLS_DAYS must be at least {CALLBACK_KEEP_DAYS} days: call-backs "
            "made to customers are kept that long (China's 2020 rules on outbound calls)"
        )
    if not 0 < settings.get("HOTLINE_RETENTION_SWEEP_MINUTES", 5.0) <= 24 * 60:
        raise ConfigError("HOTLINE_RETENTION_SWEEP_MINUTES must be minutes above 0, e.g. 5")


def is_loopback(url: SplitResult) -> bool:
    """True when ``url`` names localhost or an address of the loopback range."""
    try:
        host = url.hostname
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def development_secret(data_dir: Path) -> str:
    """A stable per-installation secret for development mode, kept in the data folder."""
    path = data_dir / "dev-secret-key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    path.write_text(key)
    path.chmod(0o600)
    return key

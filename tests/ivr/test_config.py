"""Configuration: safe defaults, and no production start without the secrets."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from app import create_app
from ivr.callflow.menu import MenuError
from ivr.settings import ConfigError, Settings, check_settings, settings_from_env


def test_defaults_for_one_machine(tmp_path: Path) -> None:
    settings = settings_from_env({"HOTLINE_DATA_DIR": str(tmp_path)})
    assert settings["HOTLINE_ENV"] == "production"
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'hotline.sqlite'}"
    assert settings["HOTLINE_MENU"].endswith("ivr/callflow/menu.yaml")


def test_every_setting_is_read_with_its_declared_type(tmp_path: Path) -> None:
    env = {
        "HOTLINE_DATA_DIR": str(tmp_path),
        "HOTLINE_TRUST_PROXY": "yes",
        "HOTLINE_SMTP_PORT": "2525",
        "HOTLINE_SESSION_HOURS": "8",
        "TWILIO_WEBHOOK_SHARED_KEYS": "KS1:a",
        "VOSK_MODEL_ZH": "off",
    }
    settings = settings_from_env(env)
    declared = typing.get_type_hints(Settings)
    assert set(settings) - {"VOSK_MODEL_ZH"} == set(declared)
    for name, kind in declared.items():
        assert isinstance(settings[name], typing.get_origin(kind) or kind), name  # type: ignore[literal-required]
    assert settings["HOTLINE_SMTP_PORT"] == 2525 and settings["HOTLINE_TRUST_PROXY"] is True
    assert settings["VOSK_MODEL_ZH"] == "off"  # type: ignore[typeddict-item]


def test_postgres_urls_get_the_psycopg_driver() -> None:
    for given in ("postgres://u@h/db", "postgresql://u@h/db"):
        assert (
            settings_from_env({"DATABASE_URL": given})["SQLALCHEMY_DATABASE_URI"]
            == "postgresql+psycopg://u@h/db"
        )


def test_production_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    settings = settings_from_env({"HOTLINE_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError) as error:
        check_settings(settings)
    for name in ("TWILIO_AUTH_TOKEN", "SECRET_KEY", "PUBLIC_BASE_URL"):
        assert name in str(error.value)
    with pytest.raises(ConfigError):
        create_app(
            {
                "HOTLINE_DATA_DIR": str(tmp_path),
                "HOTLINE_ENV": "production",
                "TWILIO_AUTH_TOKEN": "",
                "SECRET_KEY": "",
                "PUBLIC_BASE_URL": "",
            }
        )


def test_development_mode_starts_and_skips_signatures_without_a_token(tmp_path: Path) -> None:
    app = create_app(
        {
            "HOTLINE_DATA_DIR": str(tmp_path),
            "HOTLINE_ENV": "development",
            "HOTLINE_WORKER": "off",
            "TWILIO_AUTH_TOKEN": "",
            "SECRET_KEY": "",
            "PUBLIC_BASE_URL": "",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'dev.sqlite'}",
        }
    )
    assert app.config["SECRET_KEY"] == (tmp_path / "dev-secret-key").read_text()
    reply = app.test_client().post("/voice/incoming", data={"CallSid": "CA" + "2" * 32})
    # Not refused for its signature: it reaches the database (not migrated in this test → apology).
    assert reply.status_code == 200


def test_bad_mode_and_numbers_are_refused() -> None:
    with pytest.raises(ConfigError, match="HOTLINE_ENV"):
        settings_from_env({"HOTLINE_ENV": "staging"})
    with pytest.raises(ConfigError, match="ORDER_LOOKUP_TIMEOUT"):
        settings_from_env({"ORDER_LOOKUP_TIMEOUT": "soon"})


def test_callback_overrides_are_checked() -> None:
    env = {"HOTLINE_ENV": "development"}
    assert settings_from_env(env)["TWILIO_CALLBACK_OVERRIDES"] == "rc=3&rp=all"
    for good in ("", "rc=5&rp=5xx,ct", "ct=1000&rt=5000&rc=2&rp=all"):
        check_settings(settings_from_env(env | {"TWILIO_CALLBACK_OVERRIDES": good}))
    for bad in ("#rc=3", "rc=3&", "rc=3 rp=all", "rc=<script>"):
        with pytest.raises(ConfigError, match="TWILIO_CALLBACK_OVERRIDES"):
            check_settings(settings_from_env(env | {"TWILIO_CALLBACK_OVERRIDES": bad}))


def test_webhook_shared_keys_are_read_as_id_and_secret() -> None:
    env = {"TWILIO_WEBHOOK_SHARED_KEYS": " KS_new:s3cr:et , KS_old:0ther,"}
    keys = settings_from_env(env)["TWILIO_WEBHOOK_SHARED_KEYS"]
    assert keys == {"KS_new": "s3cr:et", "KS_old": "0ther"}
    assert settings_from_env({})["TWILIO_WEBHOOK_SHARED_KEYS"] == {}
    for bad in ["KS_new", "KS_new:", ":secret", "KS new:secret"]:
        with pytest.raises(ConfigError, match="TWILIO_WEBHOOK_SHARED_KEYS"):
            settings_from_env({"TWILIO_WEBHOOK_SHARED_KEYS": bad})


def test_the_call_centres_time_zone_is_checked() -> None:
    env = {"HOTLINE_ENV": "development"}
    assert settings_from_env(env)["HOTLINE_TIMEZONE"] == "Asia/Shanghai"
    check_settings(settings_from_env(env | {"HOTLINE_TIMEZONE": "Europe/Berlin"}))
    for bad in ("Mars/Olympus", "../etc/passwd", "Beijing"):
        with pytest.raises(ConfigError, match="HOTLINE_TIMEZONE"):
            check_settings(settings_from_env(env | {"HOTLINE_TIMEZONE": bad}))


def test_broken_menu_stops_start_up(tmp_path: Path) -> None:
    menu = tmp_path / "menu.yaml"
    menu.write_text("start: main\nlanguages: {}\n", encoding="utf-8")
    with pytest.raises(MenuError, match="at least one language"):
        create_app(
            {
                "HOTLINE_DATA_DIR": str(tmp_path),
                "HOTLINE_ENV": "development",
                "HOTLINE_MENU": str(menu),
            }
        )


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"HOTLINE_ENV": "staging"}, "HOTLINE_ENV must be 'production' or 'development'"),
        ({"HOTLINE_ENV": "production"}, "refusing to start in production without"),
        ({"HOTLINE_ENV": "development", "HOTLINE_MENU": "/no/menu.yaml"}, "cannot read the menu"),
        ({"HOTLINE_ENV": "development", "HOTLINE_TIMEZONE": "Mars/Base"}, "HOTLINE_TIMEZONE"),
    ],
)
def test_configuration_errors_are_one_line_without_a_traceback(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    ours = ("HOTLINE_", "TWILIO_", "VOSK_", "DATABASE_URL", "PUBLIC_BASE_URL", "SECRET_KEY")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "app", "agents", "list"],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60,
        env={**clean, "HOTLINE_DATA_DIR": str(tmp_path), **env},
    )  # fmt: skip
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: ") and said in line


def test_production_refuses_plain_http_to_twilio(tmp_path: Path) -> None:
    settings = settings_from_env({
        "HOTLINE_DATA_DIR": str(tmp_path), "TWILIO_AUTH_TOKEN": "t", "SECRET_KEY": "s",
        "PUBLIC_BASE_URL": "https://hotline.example.com",
        "TWILIO_API_BASE_URL": "http://127.0.0.1:8099",
    })  # fmt: skip
    with pytest.raises(ConfigError, match="TWILIO_API_BASE_URL must be https in production"):
        check_settings(settings)


def test_development_without_a_token_talks_to_the_simulator(tmp_path: Path) -> None:
    dev = settings_from_env({"HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_ENV": "development"})
    assert dev["TWILIO_API_BASE_URL"] == "http://127.0.0.1:8099"
    assert dev["TWILIO_ACCOUNT_SID"] == "AC" + "0" * 32
    # With a real account's token, development talks to Twilio itself.
    real = settings_from_env(
        {"HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_ENV": "development", "TWILIO_AUTH_TOKEN": "t"}
    )
    assert real["TWILIO_API_BASE_URL"] == "https://api.twilio.com"
    assert real["TWILIO_ACCOUNT_SID"] == ""


@pytest.mark.parametrize(
    ("api_base", "env", "allowed"),
    [
        ("https://api.twilio.com", "production", True),
        ("http://127.0.0.1:8099", "development", True),
        ("http://[::1]:8099", "development", True),
        ("http://twilio.internal.example", "development", False),
        ("ftp://127.0.0.1", "development", False),
    ],
)
def test_credentials_never_travel_in_clear_text_off_this_machine(
    tmp_path: Path, api_base: str, env: str, allowed: bool
) -> None:
    settings = settings_from_env({
        "HOTLINE_DATA_DIR": str(tmp_path), "HOTLINE_ENV": env, "TWILIO_AUTH_TOKEN": "t",
        "SECRET_KEY": "s", "PUBLIC_BASE_URL": "https://h.example", "TWILIO_API_BASE_URL": api_base,
    })  # fmt: skip
    if allowed:
        check_settings(settings)
    else:
        with pytest.raises(ConfigError, match="TWILIO_API_BASE_URL must be an https URL"):
            check_settings(settings)


def test_the_session_lifetime_is_a_positive_number_of_hours() -> None:
    env = {"HOTLINE_ENV": "development"}
    assert settings_from_env(env)["HOTLINE_SESSION_HOURS"] == 12
    check_settings(settings_from_env(env | {"HOTLINE_SESSION_HOURS": "8.5"}))
    for bad in ("0", "-1", "nan", "inf"):
        with pytest.raises(ConfigError, match="HOTLINE_SESSION_HOURS"):
            check_settings(settings_from_env(env | {"HOTLINE_SESSION_HOURS": bad}))

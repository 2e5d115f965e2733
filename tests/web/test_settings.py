"""An agent's own settings: the time zone their pages show times in."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from ivr.database import db
from ivr.models import Agent, Call
from tests.conftest import Twilio
from tests.factories import agent, call_params, csrf, sign_in


def test_an_agent_sets_their_time_zone_and_every_time_follows(
    app: Flask, client: FlaskClient, twilio: Twilio
) -> None:
    agent(app)
    twilio.post("/voice/incoming", call_params())
    with app.app_context():
        started = db.session.scalars(select(Call.started_at)).one()

    def shown(zone: str) -> str:
        return started.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")

    assert client.get("/me").status_code == 302  # sign-in first
    sign_in(client)
    assert shown("Asia/Shanghai") in client.get("/calls").get_data(as_text=True)
    page = client.get("/me").get_data(as_text=True)
    assert '<option selected value="Asia/Shanghai">' in page

    token = csrf(client, "/me")
    saved = client.post(
        "/me", data={"csrf_token": token, "timezone": "Europe/Berlin"}, follow_redirects=True
    )
    assert "Saved." in saved.get_data(as_text=True)
    assert shown("Europe/Berlin") in client.get("/calls").get_data(as_text=True)

    for bad in ("Mars/Olympus_Mons", "../../etc/passwd", ""):
        refused = client.post("/me", data={"csrf_token": token, "timezone": bad})
        assert refused.status_code == 200 and "Saved." not in refused.get_data(as_text=True)
    assert client.post("/me", data={"timezone": "UTC"}).status_code in (200, 400)  # no CSRF token
    with app.app_context():
        assert db.session.scalars(select(Agent.timezone)).one() == "Europe/Berlin"


OPTGROUP = re.compile(r'<optgroup label="([^"]+)">(.*?)</optgroup>', re.S)
OPTION = re.compile(r'<option[^>]*value="([^"]+)"[^>]*>([^<]*)</option>')


def zone_groups(page: str) -> dict[str, list[tuple[str, str]]]:
    """The time-zone select's groups: {group: [(zone, label)]}."""
    return {name: OPTION.findall(body) for name, body in OPTGROUP.findall(page)}


def test_the_time_zones_are_real_places_grouped_by_region_common_first(
    app: Flask, client: FlaskClient
) -> None:
    agent(app)
    sign_in(client)
    groups = zone_groups(client.get("/me").get_data(as_text=True))
    assert list(groups)[:4] == ["Common", "Asia", "Europe", "Americas"]
    assert groups["Common"][0] == (
        "Asia/Shanghai",
        "Shanghai (Beijing time) · Asia/Shanghai · UTC+08:00",
    )
    zones = [zone for choices in groups.values() for zone, _ in choices]
    assert len(zones) == len(set(zones)) and 400 < len(zones) < 430
    assert "UTC" in zones and "Europe/Berlin" in zones and "America/Argentina/Salta" in zones
    for junk in ("Factory", "localtime", "posixrules", "Etc/GMT+8", "PRC", "US/Eastern", "GMT0"):
        assert junk not in zones
    assert not [z for z in zones if z.startswith(("posix/", "right/", "Etc/", "SystemV/"))]
    asia = [label for _, label in groups["Asia"]]
    assert (
        asia == sorted(asia)
        and ("Asia/Kolkata", "Kolkata · Asia/Kolkata · UTC+05:30") in groups["Asia"]
    )

    client.get("/language/zh")
    zh = zone_groups(client.get("/me").get_data(as_text=True))
    assert list(zh)[:4] == ["常用", "亚洲", "欧洲", "美洲"]
    assert zh["常用"][0] == ("Asia/Shanghai", "上海（北京时间） · Asia/Shanghai · UTC+08:00")

    # Without scripts the search box asks the server: only matching zones, and one's own.
    found = zone_groups(client.get("/me?find=berl").get_data(as_text=True))
    assert found == {"常用": [("Asia/Shanghai", "上海（北京时间） · Asia/Shanghai · UTC+08:00"),
                             ("Europe/Berlin", "柏林 · Europe/Berlin · UTC+01:00")]}  # fmt: skip
    found = zone_groups(client.get("/me?find=buenos").get_data(as_text=True))
    assert [z for _, choices in found.items() for z, _ in choices] == [
        "Asia/Shanghai", "America/Argentina/Buenos_Aires"]  # fmt: skip
    token = csrf(client, "/me?find=buenos")
    saved = client.post("/me", data={"csrf_token": token, "timezone": "America/Argentina/Buenos_Aires"},
                        follow_redirects=True)  # fmt: skip
    assert "已保存" in saved.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Agent.timezone)).one() == "America/Argentina/Buenos_Aires"
    refused = client.post("/me", data={"csrf_token": token, "timezone": "Factory"})
    assert refused.status_code == 200 and "已保存" not in refused.get_data(as_text=True)

"""Retake the README's screenshots (docs/*.png) on a day the demo plays into a fresh data folder.

    .venv/bin/python docs/screenshots.py [--calls 300]

It needs Debian's ``chromium`` (driven by Playwright, never ``playwright install``) and the
``fonts-wqy-microhei`` fonts for the Chinese pages. The data folder is a temporary one, removed
afterwards; nothing outside ``docs/`` is written.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from app import create_app  # noqa: E402
from ivr.database import db  # noqa: E402
from ivr.models import Call  # noqa: E402
from voicemail.demo import play_the_day, served  # noqa: E402
from voicemail.models import Voicemail, VoicemailStatus  # noqa: E402

DOCS = REPO / "docs"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1100, "height": 700}


def sign_in(page: Page, base: str, name: str, password: str) -> None:
    """Sign in through the login form."""
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/inbox**")


def main() -> None:
    """Play the demo day, then photograph the inbox, a message, the board, the figures and the
    wallboard."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls in the demo day (300)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="hotline-shots-") as folder:
        app = create_app({
            "HOTLINE_ENV": "development",
            "HOTLINE_DATA_DIR": folder,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/hotline.sqlite",
            "TWILIO_AUTH_TOKEN": "",
            "PUBLIC_BASE_URL": "",
            "HOTLINE_WORKER": "off",
        })  # fmt: skip
        report = play_the_day(app, args.calls, echo=print)
        [(name, password, _)] = [s for s in report.sign_ins if s[0] == "demo"]
        with app.app_context():
            # A message read with the transcript following the audio: one with a few words.
            message = db.session.scalars(
                select(Voicemail)
                .where(Voicemail.status == VoicemailStatus.TRANSCRIBED)
                .order_by(Voicemail.created_at.desc())
            ).first()
            assert message is not None, "the demo left no transcribed message"
            message_id = message.id
            # The days the demo's calls fell on where the call centre is (two, past midnight).
            zone = ZoneInfo(app.config["HOTLINE_TIMEZONE"])
            first, last = db.session.execute(
                select(func.min(Call.started_at), func.max(Call.started_at))
            ).one()
            days = f"from={first.astimezone(zone).date()}&to={last.astimezone(zone).date()}"
        with served(app) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                      "--mute-audio"],
            )  # fmt: skip
            english = browser.new_page(locale="en-US", viewport=VIEWPORT)
            sign_in(english, base, name, password)
            english.goto(f"{base}/inbox")
            english.screenshot(path=str(DOCS / "inbox.png"))
            english.goto(f"{base}/inbox/{message_id}")
            english.wait_for_selector("#player")
            english.screenshot(path=str(DOCS / "message.png"))
            english.goto(f"{base}/figures?{days}")
            english.screenshot(path=str(DOCS / "figures.png"), full_page=True)
            wall = browser.new_page(locale="zh-CN", viewport={"width": 1920, "height": 1080})
            sign_in(wall, base, name, password)
            wall.goto(f"{base}/wallboard")
            wall.screenshot(path=str(DOCS / "wallboard.png"))
            chinese = browser.new_page(locale="zh-CN", viewport=VIEWPORT)
            sign_in(chinese, base, name, password)
            chinese.goto(f"{base}/board")
            chinese.screenshot(path=str(DOCS / "board.png"))
            browser.close()
    for shot in ("inbox", "message", "board", "figures", "wallboard"):
        path = DOCS / f"{shot}.png"
        print(f"{path.relative_to(REPO)}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()

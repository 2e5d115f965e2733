"""Telling a supervisor about an overdue message or a quality flag: e-mail over SMTP and/or a JSON
webhook."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

import requests

from ivr.clock import iso
from voicemail.models import Voicemail


class AlertError(Exception):
    """No alert could be sent; the message says why."""


def alert_channels(config: Any) -> list[str]:
    """The channels an alert would go out by: "email" (an address and an SMTP host are set)
    and/or "webhook"; empty when none is configured."""
    channels = []
    if config.get("HOTLINE_SUPERVISOR_EMAIL") and config.get("HOTLINE_SMTP_HOST"):
        channels.append("email")
    if config.get("HOTLINE_ALERT_WEBHOOK"):
        channels.append("webhook")
    return channels


def alert_text(message: Voicemail, url: str, agent: str) -> tuple[str, str]:
    """Subject and body of an overdue alert."""
    subject = f"[hotline] Case {message.case_number} is overdue ({message.category})"
    body = (
        f"{agent} asks for help with case {message.case_number}.\n\n"
        f"Caller: {message.from_number or 'unknown'}\n"
        f"Topic: {message.category}, language: {message.language or '?'}\n"
        f"Left at: {iso(message.created_at)}\n"
        f"Status: {message.case_status}\n\n"
        f"Transcript: {message.transcript or '(none yet)'}\n\n{url}\n"
    )
    return subject, body


def send_alert(config: Any, message: Voicemail, url: str, agent: str) -> list[str]:
    """Send the alert by every configured channel; return which ones went out."""
    subject, body = alert_text(message, url, agent)
    payload = {"case_number": message.case_number, "voicemail_id": message.id}
    return deliver(config, subject, body, url, payload)


def flag_alert_text(
    what: str, flags: list[str], said: list[str], caller: str, url: str
) -> tuple[str, str]:
    """Subject and body of the alert a quality flag raises (a complaint, a lawyer…)."""
    subject = f"[hotline] Flagged {', '.join(flags)}: {what}"
    body = (
        f"The quality check flagged {what} ({', '.join(flags)}).\n\n"
        f"Caller: {caller or 'unknown'}\n"
        f"Said: {' / '.join(said)}\n\n{url}\n"
    )
    return subject, body


def deliver(config: Any, subject: str, body: str, url: str, fields: dict[str, Any]) -> list[str]:
    """Send an alert by e-mail and/or the webhook (JSON: ``fields``, subject, text and url);
    return which channels it went out by."""
    sent: list[str] = []
    problems: list[str] = []
    if "email" in alert_channels(config):
        mail = EmailMessage()
        mail["Subject"] = subject
        mail["From"] = config.get("HOTLINE_SMTP_FROM") or "hotline@localhost"
        mail["To"] = config["HOTLINE_SUPERVISOR_EMAIL"]
        mail.set_content(body)
        try:
            with smtplib.SMTP(config["HOTLINE_SMTP_HOST"], int(config.get("HOTLINE_SMTP_PORT") or 25),
                              timeout=10) as smtp:  # fmt: skip
                if config.get("HOTLINE_SMTP_STARTTLS"):
                    smtp.starttls()
                if config.get("HOTLINE_SMTP_USER"):
                    smtp.login(config["HOTLINE_SMTP_USER"], config.get("HOTLINE_SMTP_PASSWORD", ""))
                smtp.send_message(mail)
            sent.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            problems.append(f"e-mail failed: {type(exc).__name__}")
    if "webhook" in alert_channels(config):
        payload = {**fields, "subject": subject, "text": body, "url": url}
        try:
            reply = requests.post(config["HOTLINE_ALERT_WEBHOOK"], json=payload, timeout=10)
            reply.raise_for_status()
            sent.append("webhook")
        except requests.RequestException as exc:
            problems.append(f"webhook failed: {type(exc).__name__}")
    if not sent:
        raise AlertError("; ".join(problems) or "no alert channel is configured")
    return sent

"""``flask simulate call``: place a simulated call against this app and print the transcript."""

from __future__ import annotations

from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import AppGroup

from ivr.settings import DEVELOPMENT_ACCOUNT_SID
from ivr.simulator.addressing import SharedKey
from ivr.simulator.caller import Caller, parse_script
from ivr.simulator.errors import SimulatorError
from ivr.simulator.media import RecordingServer
from ivr.simulator.result import CallResult
from ivr.simulator.simulator import Simulator
from ivr.simulator.transport import HttpTransport, Transport, WsgiTransport

simulate = AppGroup("simulate", help="Play Twilio against this app offline (simulated calls).")


def _report(result: CallResult) -> None:
    """Print the transcript, then errors and warnings."""
    click.echo(f"call {result.sid}")
    click.echo(result.transcript_text())
    click.echo(f"status {result.status}, {result.duration}s, {len(result.requests)} requests")
    for warning in result.warnings:
        click.echo(f"warning: {warning}")
    for error in result.errors:
        click.echo(f"error: {error}", err=True)


@simulate.command("call")
@click.option("--from", "number", default="+8613800138000", show_default=True, help="Caller ID.")
@click.option("--to", default="+864000000000", show_default=True, help="Number dialled.")
@click.option(
    "--keys",
    default="",
    help=(
        "What the caller does, one step per input the call asks for, separated by spaces: "
        "keys to press (2, 12345#), '.' for silence, 'speak:FILE' to leave a message of an "
        "audio file (any format ffmpeg reads) or 'speak:SECONDS' for a tone, 'wait:SECONDS' "
        "to hang up after waiting that long in a queue, 'hold' to wait in a queue until "
        "taken, 'hangup'. Example: \"1 9 speak:message.flac\"."
    ),
)
@click.option("--url", default=None, help="Base URL of a running app on loopback.")
@click.option(
    "--wait",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=5),
    help="Seconds to keep the recordings served for the hotline to fetch, and to follow the "
    "messages left until each is transcribed.",
)
@click.option("--replay", is_flag=True, help="Send every webhook twice, as Twilio retries.")
@click.option(
    "--shared-key",
    "key_id",
    default=None,
    help="Sign with this key of TWILIO_WEBHOOK_SHARED_KEYS (HMAC-SHA256), not the auth token.",
)
def call_command(
    number: str,
    to: str,
    keys: str,
    url: str | None,
    wait: float,
    replay: bool,
    key_id: str | None,
) -> None:
    """Place one simulated inbound call and print what the caller heard."""
    config = current_app.config
    shared_key = None
    if key_id is not None:
        secret = config["TWILIO_WEBHOOK_SHARED_KEYS"].get(key_id)
        if secret is None:
            raise click.BadParameter(f"{key_id} is not in TWILIO_WEBHOOK_SHARED_KEYS")
        shared_key = SharedKey(key_id, secret)
    try:
        script = parse_script(keys)
        transport: Transport = (
            HttpTransport(url) if url else WsgiTransport(current_app._get_current_object())  # type: ignore[attr-defined]
        )
    except (ValueError, OSError) as exc:
        raise click.BadParameter(str(exc)) from None
    account_sid = config.get("TWILIO_ACCOUNT_SID") or DEVELOPMENT_ACCOUNT_SID
    auth_token = config.get("TWILIO_AUTH_TOKEN") or ""
    media, unreachable = media_server(
        config.get("TWILIO_API_BASE_URL", ""), account_sid, auth_token
    )
    simulator = Simulator(
        transport,
        public_base_url=config.get("PUBLIC_BASE_URL") or "http://localhost",
        auth_token=auth_token,
        account_sid=account_sid,
        replay=replay,
        shared_key=shared_key,
        recording_server=media,
    )
    with media, simulator:
        try:
            result = simulator.call(Caller(number=number, to=to, script=script))
        except SimulatorError as exc:
            if exc.result is not None:
                _report(exc.result)
            click.echo(f"error: {exc}", err=True)
            click.get_current_context().exit(1)
        _report(result)
        # Only the hotline app follows messages (the simulator also plays other apps).
        follow = getattr(current_app.extensions.get("hotline"), "follow_recordings", None)
        recordings = list(dict.fromkeys(r.form["RecordingSid"] for r in result.requests
                                        if r.form.get("RecordingSid")))  # fmt: skip
        if recordings and unreachable:
            click.echo(f"warning: {unreachable}: the hotline cannot fetch the recordings", err=True)
        elif recordings and follow is not None:
            click.echo(f"following {len(recordings)} message(s) for up to {wait:g} s…")
            for line in follow(
                recordings, fetched=media.fetched, in_process=url is None, timeout=wait
            ):
                click.echo(line)
    if result.errors:
        click.get_current_context().exit(1)


def media_server(
    api_base_url: str, account_sid: str, auth_token: str
) -> tuple[RecordingServer, str]:
    """Twilio's media host and REST API, served at the app's TWILIO_API_BASE_URL when that is
    on loopback (so the app fetches the recordings it is told of); else on a free port, with
    the reason the app cannot reach it."""
    parts = urlsplit(api_base_url)
    if parts.scheme == "http" and parts.hostname == "127.0.0.1" and parts.port:
        media = RecordingServer(account_sid, auth_token, port=parts.port)
        try:
            media.start()
            return media, ""
        except OSError as exc:
            problem = f"cannot serve recordings at {api_base_url} ({exc.strerror})"
    else:
        problem = f"TWILIO_API_BASE_URL is {api_base_url}, not this simulator"
    return RecordingServer(account_sid, auth_token), problem

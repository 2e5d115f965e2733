"""``flask simulate call``: place a simulated call against this app and print the transcript."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from ivr.config import DEVELOPMENT_ACCOUNT_SID
from ivr.simulator.addressing import SharedKey
from ivr.simulator.caller import Caller, parse_script
from ivr.simulator.errors import SimulatorError
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
    help='Caller script, e.g. "2 1 . 12345# speak:3 hangup" (see parse_script).',
)
@click.option("--url", default=None, help="Base URL of a running app on loopback.")
@click.option("--replay", is_flag=True, help="Send every webhook twice, as Twilio retries.")
@click.option(
    "--shared-key",
    "key_id",
    default=None,
    help="Sign with this key of TWILIO_WEBHOOK_SHARED_KEYS (HMAC-SHA256), not the auth token.",
)
def call_command(
    number: str, to: str, keys: str, url: str | None, replay: bool, key_id: str | None
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
    simulator = Simulator(
        transport,
        public_base_url=config.get("PUBLIC_BASE_URL") or "http://localhost",
        auth_token=config.get("TWILIO_AUTH_TOKEN") or "",
        account_sid=config.get("TWILIO_ACCOUNT_SID") or DEVELOPMENT_ACCOUNT_SID,
        replay=replay,
        shared_key=shared_key,
    )
    with simulator:
        try:
            result = simulator.call(Caller(number=number, to=to, script=script))
        except SimulatorError as exc:
            if exc.result is not None:
                _report(exc.result)
            click.echo(f"error: {exc}", err=True)
            click.get_current_context().exit(1)
    _report(result)
    if result.errors:
        click.get_current_context().exit(1)

"""``flask --app app privacy …``: run the retention sweep now, erase one caller."""

from __future__ import annotations

import getpass

import click
from flask import current_app
from flask.cli import AppGroup

from ivr.database import db
from ivr.numbers import NumberError, mask
from voicemail.erasure import erase, preview
from voicemail.retention import run_sweep

privacy_cli = AppGroup("privacy", help="Callers' data: retention sweep and erasure.")


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in counts.items()) or "nothing"


@privacy_cli.command("sweep")
def sweep_command() -> None:
    """Remove what is kept longer than the HOTLINE_KEEP_* settings allow, now."""
    removed = run_sweep(db.session, current_app.config, force=True) or {}
    click.echo(f"removed {_summary(removed)}")


@privacy_cli.command("erase")
@click.argument("number")
@click.option("--yes", is_flag=True, help="Erase without asking for confirmation.")
@click.option("--by", default="", help="Who asks for it (the audit log's actor; default: you).")
def erase_command(number: str, yes: bool, by: str) -> None:
    """Erase everything about one caller NUMBER: calls, messages, recordings, notes, audio."""
    try:
        counts = preview(db.session, number)
    except NumberError as exc:
        raise click.BadParameter(str(exc), param_hint="NUMBER") from None
    if not counts:
        raise click.ClickException(f"nothing is kept about {mask(number)}")
    click.echo(f"{mask(number)}: {_summary(counts)}")
    if not yes:
        click.confirm("Erase all of it? This cannot be undone", abort=True)
    actor = f"cli:{by or getpass.getuser()}"
    removed = erase(db.session, current_app.config, number, actor=actor)
    click.echo(f"erased {_summary(removed)}")

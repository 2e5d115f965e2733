"""``flask --app app voicemail …``: run a worker, transcribe a file, check the models."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ivr.database import db
from ivr.hotline import menu_languages
from voicemail.audio import AudioError, decode
from voicemail.models import VoicemailStatus
from voicemail.quality_checks import recheck_all
from voicemail.quality_rules import QualityRulesError, load_rules
from voicemail.transcription import (
    ANY_LANGUAGE,
    ModelLoadError,
    ModelRegistry,
    NoModelError,
    transcribe,
)
from voicemail.worker import make_readable, requeue, work

voicemail_cli = AppGroup("voicemail", help="Voice messages: worker, transcription, models.")


@voicemail_cli.command("work")
@click.option("--burst", is_flag=True, help="Drain the pending messages, then exit.")
def work_command(burst: bool) -> None:
    """Transcribe pending voice messages (run as many as you like, anywhere)."""
    stop = threading.Event()

    def finish(signum: int, _frame: object) -> None:
        # Finish the message in hand; its lease covers us if we are killed harder.
        click.echo(f"signal {signum}: stopping after the current message", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    done = work(current_app._get_current_object(), burst=burst, stop=stop)  # type: ignore[attr-defined]
    click.echo(f"processed {done} message(s)")


@voicemail_cli.command("transcribe")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--lang", default=None, help="Language code of the speech (needed if several models)."
)
def transcribe_command(path: Path, lang: str | None) -> None:
    """Print the transcript of an audio file."""
    registry = current_app.extensions["hotline.models"]
    if lang is None:
        lang = only_language(registry)
    try:
        audio = decode(
            path.read_bytes(),
            max_seconds=float(current_app.config["HOTLINE_MAX_RECORDING_SECONDS"]),
        )
        model = registry.model_for(lang)
    except AudioError as exc:
        raise click.ClickException(exc.reason) from None
    except (NoModelError, ModelLoadError) as exc:
        raise click.ClickException(str(exc)) from None
    result = transcribe(audio, model, language=lang, model_name=registry.source_for(lang))
    click.echo(f"# {audio.seconds:.1f} s of audio, {result.elapsed:.1f} s with {result.model}")
    click.echo(result.text)


def only_language(registry: ModelRegistry) -> str:
    """The language of the one model there is; a usage error naming the choices otherwise."""
    usable = [
        code
        for code, _ in registry.configured(menu_languages())
        if code != ANY_LANGUAGE and registry.missing(code) is None
    ]
    if len(usable) == 1:
        return usable[0]
    if not usable:
        raise click.UsageError("no speech model is here: see `flask --app app voicemail models`")
    raise click.UsageError(f"say which model with --lang: {', '.join(usable)}")


@voicemail_cli.command("models")
@click.option(
    "--download/--no-download",
    default=True,
    help="Let vosk download models it fetches by name (--no-download: only say what is here).",
)
def models_command(download: bool) -> None:
    """List the Vosk model of each menu language and every configured one; check each loads."""
    registry = current_app.extensions["hotline.models"]
    languages = menu_languages()
    broken = 0
    for language, source in registry.configured(languages):
        if download or language == ANY_LANGUAGE:
            problem = registry.check(language)
        else:
            problem = registry.missing(language)
        broken += problem is not None
        click.echo(f"{language}\t{source}\t{'ok' if problem is None else problem}")
    for language in languages:
        if all(language != code for code, _ in registry.configured(languages)):
            broken += 1
            click.echo(f"{language}\t-\t{registry.missing(language)}")
    if broken:
        raise SystemExit(1)


@voicemail_cli.command("retry")
@click.option(
    "--failed", is_flag=True, help="Messages that failed (audio kept is not fetched again)."
)
@click.option("--untranscribed", is_flag=True, help="Messages that waited for a speech model.")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
    default=None,
    help="Only messages left since this UTC day or time (2026-12-01, 2026-12-01T08:00).",
)
def retry_command(failed: bool, untranscribed: bool, since: datetime | None) -> None:
    """Put failed and untranscribed messages back in the queue, once each (default: both)."""
    chosen = [
        status
        for status, wanted in (
            (VoicemailStatus.FAILED, failed),
            (VoicemailStatus.UNTRANSCRIBED, untranscribed),
        )
        if wanted or not (failed or untranscribed)
    ]
    count = requeue(db.session, chosen, since=since.replace(tzinfo=UTC) if since else None)
    click.echo(f"{count} message(s) queued again")


@voicemail_cli.command("recheck")
@click.option(
    "--rules",
    "rules_path",
    default=None,
    help="A rules file to check first (default: HOTLINE_QUALITY_RULES, as the service loads it).",
)
@click.option("--alert", is_flag=True, help="Alert a supervisor of flags not alerted before.")
def recheck_command(rules_path: str | None, alert: bool) -> None:
    """Apply the quality rules again to every transcribed message and conversation."""
    try:
        rules = load_rules(rules_path or current_app.config["HOTLINE_QUALITY_RULES"])
    except QualityRulesError as exc:
        raise click.ClickException(str(exc)) from None
    messages, conversations = recheck_all(db.session, rules, alert=alert)
    click.echo(f"checked {messages} message(s) and {conversations} conversation(s)")


@voicemail_cli.command("readable")
def readable_command() -> None:
    """Write messages transcribed before readable transcripts anew from their raw text."""
    click.echo(f"{make_readable(db.session)} transcript(s) rewritten")

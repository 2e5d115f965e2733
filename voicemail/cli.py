"""``flask --app app voicemail …``: run a worker, transcribe a file, check the models."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from voicemail.audio import AudioError, decode
from voicemail.transcription import ModelLoadError, NoModelError, transcribe
from voicemail.worker import work

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
@click.option("--lang", default="zh", show_default=True, help="Language code of the speech.")
def transcribe_command(path: Path, lang: str) -> None:
    """Print the transcript of an audio file."""
    registry = current_app.extensions["hotline.models"]
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


@voicemail_cli.command("models")
def models_command() -> None:
    """List the configured Vosk models and check that each one loads."""
    registry = current_app.extensions["hotline.models"]
    broken = 0
    for language, source in registry.configured():
        problem = registry.check(language)
        broken += problem is not None
        click.echo(f"{language}\t{source}\t{'ok' if problem is None else problem}")
    if broken:
        raise SystemExit(1)

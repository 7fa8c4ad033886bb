"""load_audio: every format from a path and from bytes, every bad input, long files."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import soundfile as sf

from audio_fixtures import (
    BAD_CASES,
    FORMATS,
    encode,
    id3v2_tag,
    make_bad_bytes,
    make_format_bytes,
    make_signal,
    write_bad_file,
    write_long_wav,
)
from genre_core.audio import SUPPORTED_EXTENSIONS, Audio, audio_info, load_audio
from genre_core.errors import AudioError, GenreLabError


def _check_audio(a: Audio, *, sr: int, duration: float, source_sr: int, tol: float = 0.03):
    assert isinstance(a, Audio)
    assert a.y.dtype == np.float32 and a.y.ndim == 1
    assert a.sr == sr
    assert a.y.shape[0] == pytest.approx(duration * sr, abs=tol * sr)
    assert a.duration == pytest.approx(a.y.shape[0] / sr)
    assert a.duration == pytest.approx(duration, abs=tol)
    assert a.source_sr == source_sr
    assert a.channels == 2
    assert a.clipped_to_max is False
    assert np.isfinite(a.y).all() and 0.05 < np.abs(a.y).max() <= 1.0


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_loads_from_path(audio_files, fmt, sr):
    a = load_audio(audio_files[fmt], sr=sr)
    _check_audio(a, sr=sr, duration=2.0, source_sr=FORMATS[fmt][2])
    assert a.name == audio_files[fmt].name
    assert a.source_duration == pytest.approx(2.0, abs=0.03)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_loads_from_bytes_and_file_object(audio_files, fmt, sr):
    data = audio_files[fmt].read_bytes()
    from_path = load_audio(audio_files[fmt], sr=sr)
    from_bytes = load_audio(data, sr=sr, name=f"upload{FORMATS[fmt][0]}")
    _check_audio(from_bytes, sr=sr, duration=2.0, source_sr=FORMATS[fmt][2])
    assert from_bytes.name == f"upload{FORMATS[fmt][0]}"
    np.testing.assert_array_equal(from_bytes.y, from_path.y)
    # a file object, partly consumed already (as an upload widget may leave it)
    buf = io.BytesIO(data)
    buf.read(10)
    np.testing.assert_array_equal(load_audio(buf, sr=sr).y, from_path.y)
    with open(audio_files[fmt], "rb") as fh:
        a = load_audio(fh, sr=sr)
    assert a.name == audio_files[fmt].name
    np.testing.assert_array_equal(a.y, from_path.y)


def test_nameless_bytes_are_called_upload():
    a = load_audio(make_format_bytes("wav"))
    assert a.name == "<upload>"
    with pytest.raises(AudioError) as err:
        load_audio(b"")
    assert "<upload>" in str(err.value)


@pytest.mark.parametrize("target_sr", [22050, 16000, 44100])
def test_resampling_matches_librosa_load(audio_files, target_sr):
    import librosa

    for fmt in ("wav", "opus", "mp3_vbr"):
        ref, _ = librosa.load(audio_files[fmt], sr=target_sr, mono=True)
        a = load_audio(audio_files[fmt], sr=target_sr)
        assert a.sr == target_sr
        np.testing.assert_allclose(a.y, ref, atol=1e-6, rtol=0)


def test_sr_none_keeps_native_rate(audio_files):
    a = load_audio(audio_files["opus"], sr=None)
    assert a.sr == 48000 and a.y.shape[0] == pytest.approx(96000, abs=2000)


def test_mono_file_and_mono_mix(tmp_path, sr):
    y = make_signal(2.0, sr, 1)
    p = tmp_path / "mono.wav"
    sf.write(p, y, sr, subtype="FLOAT")
    a = load_audio(p, sr=sr)
    assert a.channels == 1
    np.testing.assert_array_equal(a.y, y)
    st = make_signal(2.0, sr, 3)
    p3 = tmp_path / "three.flac"
    sf.write(p3, st, sr, subtype="PCM_24")
    a3 = load_audio(p3, sr=sr)
    assert a3.channels == 3
    np.testing.assert_allclose(a3.y, st.mean(axis=1), atol=1e-4)


def test_id3_tagged_mp3_keeps_full_length(sr):
    y = make_signal(3.0, 44100, 2)
    plain = encode(y, 44100, "wav")  # reference length
    tagged = id3v2_tag(picture_bytes=100_000) + encode(y, 44100, "mp3")[len(id3v2_tag()):]
    assert tagged.startswith(b"ID3")
    a = load_audio(tagged, sr=sr, name="tagged.mp3")
    assert a.duration == pytest.approx(load_audio(plain, sr=sr).duration, abs=0.03)
    assert a.format.startswith("MP3")


def test_vbr_mp3_48k_is_vbr_and_loads(audio_files, sr):
    tag_len = len(id3v2_tag())
    vbr, cbr = audio_files["mp3_vbr"].read_bytes(), audio_files["mp3"].read_bytes()
    assert vbr[:3] == b"ID3" and cbr[:3] == b"ID3"
    assert b"Xing" in vbr[tag_len:tag_len + 64] and b"Info" in cbr[tag_len:tag_len + 64]  # LAME VBR / CBR headers
    info = audio_info(audio_files["mp3_vbr"])
    assert info.sr == 48000 and info.channels == 2 and info.format.startswith("MP3")
    a = load_audio(audio_files["mp3_vbr"], sr=sr)
    assert a.duration == pytest.approx(2.0, abs=0.03)


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_file_raises_audio_error_with_reason_and_name(tmp_path, case):
    path, reason = write_bad_file(tmp_path, case)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    e = err.value
    assert e.reason == reason, f"{case}: got {e.reason}: {e}"
    assert path.name in e.detail and path.name in str(e)
    assert e.source == str(path)
    assert isinstance(e, GenreLabError)
    assert e.detail.endswith(".") and len(e.detail) > 30  # a sentence, not a code


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_bytes_raise_the_same_reason(case):
    data, fname, reason = make_bad_bytes(case)
    with pytest.raises(AudioError) as err:
        load_audio(data, name=fname)
    assert err.value.reason == reason
    assert fname in str(err.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioError) as err:
        load_audio(tmp_path / "nope.wav")
    assert err.value.reason == "missing" and "nope.wav" in str(err.value)
    with pytest.raises(AudioError) as err:
        load_audio(tmp_path)
    assert err.value.reason == "missing" and "folder" in str(err.value)


@pytest.mark.parametrize("fmt, encoding, says", [("wav", "latin-1", "song.wav"), ("flac", "utf-8", "text mode")])
def test_text_mode_file_object_is_refused(tmp_path, fmt, encoding, says):
    p = tmp_path / f"song.{fmt}"
    p.write_bytes(make_format_bytes(fmt))
    with open(p, "r", encoding=encoding) as fh:
        with pytest.raises(AudioError) as err:
            load_audio(fh)
    assert err.value.reason == "not_audio" and says in str(err.value)


def test_min_duration_is_configurable(audio_files):
    with pytest.raises(AudioError) as err:
        load_audio(audio_files["flac"], min_duration=5.0)
    assert err.value.reason == "too_short" and "2.00 s" in str(err.value)
    assert load_audio(make_bad_bytes("too_short")[0], min_duration=None).duration == pytest.approx(0.4, abs=0.01)


def test_quiet_but_real_audio_is_not_silent(sr):
    y = make_signal(2.0, sr, 1, amplitude=0.001)  # about -63 dBFS: quiet, not silence
    a = load_audio(encode(y, sr, "wav_float"), sr=sr)
    assert a.duration == pytest.approx(2.0)


def test_max_duration_clips_and_flags(audio_files, sr):
    a = load_audio(audio_files["ogg"], sr=sr, max_duration=1.25)
    assert a.clipped_to_max is True
    assert a.duration == pytest.approx(1.25, abs=1 / sr)
    assert a.source_duration == pytest.approx(2.0, abs=0.03)
    full = load_audio(audio_files["ogg"], sr=sr, max_duration=None)
    assert full.clipped_to_max is False and full.duration == pytest.approx(2.0, abs=0.03)
    # a limit above the length changes nothing
    assert load_audio(audio_files["ogg"], sr=sr, max_duration=10).clipped_to_max is False


def test_hour_long_file_reads_only_the_first_minutes(tmp_path, sr):
    p = write_long_wav(tmp_path / "hour.wav", 3600.0, sr=8000)
    t0 = time.perf_counter()
    a = load_audio(p, sr=sr, max_duration=60.0)
    elapsed = time.perf_counter() - t0
    assert a.clipped_to_max is True
    assert a.duration == pytest.approx(60.0, abs=1e-3)
    assert a.source_duration == pytest.approx(3600.0)
    assert a.y.nbytes == pytest.approx(60 * sr * 4, rel=1e-3)
    assert elapsed < 5.0  # decoding the whole hour (and resampling it) would take far longer


def test_truncated_mp3_within_tolerance_is_accepted(sr):
    # the last few frames missing (a small fraction) is normal MP3 estimate slop, not an error
    data = encode(make_signal(4.0, 44100, 2), 44100, "mp3")
    a = load_audio(data[: int(len(data) * 0.97)], sr=sr, name="almost.mp3")
    assert 3.5 < a.duration < 4.0


def test_supported_extensions_cover_the_formats():
    for ext in (".wav", ".flac", ".ogg", ".opus", ".mp3", ".au"):
        assert ext in SUPPORTED_EXTENSIONS
    assert all(e.startswith(".") and e == e.lower() for e in SUPPORTED_EXTENSIONS)


def test_audio_info_reads_header_only(audio_files):
    info = audio_info(audio_files["flac"])
    assert info.frames == 88200 and info.sr == 44100 and info.channels == 2
    assert info.duration == pytest.approx(2.0)
    with pytest.raises(AudioError) as err:
        audio_info(b"just text", name="x.wav")
    assert err.value.reason == "not_audio"


@pytest.mark.gtzan
def test_real_gtzan_ogg_and_flac(gtzan, sr):
    import librosa

    ogg = sorted((gtzan / "audio").glob("*/*.ogg"))
    flac = sorted((gtzan / "excerpts").glob("*/*.flac"))
    if not ogg or not flac:
        pytest.skip("GTZAN folder has no .ogg or no .flac files")
    a = load_audio(ogg[0], sr=sr)
    assert a.sr == sr and 25.0 < a.duration <= 31.0 and not a.clipped_to_max
    ref, _ = librosa.load(ogg[0], sr=sr)
    np.testing.assert_allclose(a.y, ref, atol=1e-6)
    b = load_audio(flac[0], sr=sr, min_duration=0.5)
    assert b.sr == sr and 0.5 < b.duration < 31.0
    assert b.y.dtype == np.float32


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_U8"), ("WAV", "PCM_24"), ("WAV", "PCM_32"),
                                         ("WAV", "ULAW"), ("WAV", "DOUBLE"), ("AIFF", "PCM_16"),
                                         ("FLAC", "PCM_24"), ("AU", "FLOAT")])
def test_other_encodings_load(fmt, subtype, tone, sr):
    buf = io.BytesIO()
    sf.write(buf, tone, sr, format=fmt, subtype=subtype)
    a = load_audio(buf.getvalue(), sr=sr, name=f"x.{fmt.lower()}")
    assert a.format == f"{fmt}/{subtype}"
    assert a.y.shape == tone.shape
    np.testing.assert_allclose(a.y, tone, atol=0.02)  # 8-bit and mu-law are coarse


def test_upload_like_object_uses_its_name(audio_files, sr):
    class UploadedFile(io.BytesIO):  # what Streamlit's file_uploader returns
        name = "My Song.mp3"

    up = UploadedFile(audio_files["mp3"].read_bytes())
    a = load_audio(up, sr=sr)
    assert a.name == "My Song.mp3" and a.duration == pytest.approx(2.0, abs=0.03)
    bad = UploadedFile(b"not audio at all")
    with pytest.raises(AudioError) as err:
        load_audio(bad)
    assert err.value.reason == "not_audio" and "My Song.mp3" in str(err.value)


def test_bad_arguments_are_programming_errors(audio_files):
    with pytest.raises(ValueError):
        load_audio(audio_files["wav"], sr=0)
    with pytest.raises(TypeError):
        load_audio(12345.0)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_damaged_files_never_leak_library_exceptions(fmt):
    """Random cuts, byte flips and overwritten blocks: an Audio or an AudioError, nothing else."""
    base = make_format_bytes(fmt, duration=1.5)
    rng = np.random.default_rng(sum(map(ord, fmt)))
    reasons = set()
    for i in range(8):
        b = bytearray(base)
        kind = i % 4
        if kind == 0:
            b = b[: int(rng.integers(0, len(b)))]
        elif kind == 1:
            for _ in range(int(rng.integers(1, 20))):
                b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        elif kind == 2:
            s = int(rng.integers(0, min(len(b), 200)))
            b[s:s + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
        else:
            s = int(rng.integers(0, len(b)))
            b[s:s + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
        try:
            a = load_audio(bytes(b), name=f"fuzz{FORMATS[fmt][0]}", min_duration=0.1)
            assert a.y.dtype == np.float32 and np.isfinite(a.y).all()
            reasons.add("ok")
        except AudioError as e:
            assert f"fuzz{FORMATS[fmt][0]}" in str(e)
            reasons.add(e.reason)
    assert reasons <= {"ok", "empty", "not_audio", "unsupported", "corrupt", "truncated", "silent", "too_short"}


@pytest.mark.parametrize("channels", [1, 2, 3, 6, 7, 8, 12])
def test_mixing_to_mono_equals_the_channel_mean_bit_for_bit(channels):
    from genre_core.audio import _mix_to_mono

    rng = np.random.default_rng(channels)
    block = (rng.standard_normal((4099, channels)) * rng.uniform(1e-3, 10.0, channels)).astype(np.float32)
    mono = _mix_to_mono(block)
    assert mono.dtype == np.float32 and mono.shape == (4099,)
    assert np.array_equal(mono, block.mean(axis=1, dtype=np.float32))


def test_a_decoded_stereo_file_is_the_mean_of_its_channels(tmp_path):
    sr = 22050
    t = np.arange(sr * 2) / sr
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 220 * t), 0.25 * np.sin(2 * np.pi * 330 * t)], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo.astype(np.float32), sr, subtype="FLOAT")
    a = load_audio(str(path), sr=None)
    assert a.channels == 2
    assert np.array_equal(a.y, stereo.astype(np.float32).mean(axis=1, dtype=np.float32))

"""Helpers that synthesise audio files in every supported format and every bad case.

Import from any test (``from audio_fixtures import write_format, write_bad_file``;
``tests/`` is on ``sys.path`` under pytest's default rootdir-based import mode,
and ``conftest.py`` makes sure of it). Everything is made with soundfile /
libsndfile in memory: no audio is shipped with the repo.

* :data:`FORMATS` / :func:`make_format_bytes` / :func:`write_format` -- a stereo
  test signal encoded as WAV, FLAC, OGG/Vorbis, OGG/Opus, MP3 (ID3-tagged CBR
  44.1 kHz, VBR 48 kHz) and Sun AU.
* :data:`BAD_CASES` / :func:`make_bad_bytes` / :func:`write_bad_file` -- files
  that must make :func:`genre_core.audio.load_audio` raise ``AudioError`` with a
  given reason.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

# name -> (extension, soundfile.write kwargs, native sample rate, ID3 tag?)
FORMATS: dict[str, tuple[str, dict, int, bool]] = {
    "wav": (".wav", {"format": "WAV", "subtype": "PCM_16"}, 44100, False),
    "wav_float": (".wav", {"format": "WAV", "subtype": "FLOAT"}, 22050, False),
    "flac": (".flac", {"format": "FLAC", "subtype": "PCM_16"}, 44100, False),
    "ogg": (".ogg", {"format": "OGG", "subtype": "VORBIS"}, 44100, False),
    "opus": (".opus", {"format": "OGG", "subtype": "OPUS"}, 48000, False),
    # soundfile only passes bitrate_mode on together with compression_level; CBR files carry a
    # LAME "Info" header, VBR files a "Xing" header (checked in test_audio.py)
    "mp3": (".mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III", "compression_level": 0.5,
                     "bitrate_mode": "CONSTANT"}, 44100, True),
    "mp3_vbr": (".mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III", "compression_level": 0.5,
                         "bitrate_mode": "VARIABLE"}, 48000, True),
    "au": (".au", {"format": "AU", "subtype": "PCM_16"}, 44100, False),
}


def make_signal(duration: float = 2.0, sr: int = 44100, channels: int = 2, *, amplitude: float = 0.3,
                seed: int = 0) -> np.ndarray:
    """A non-silent test signal: a different harmonic tone per channel plus a little noise.

    Returns ``(n,)`` for one channel, else ``(n, channels)``, float32.
    """
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    rng = np.random.default_rng(seed)
    cols = []
    for c in range(channels):
        f0 = 220.0 * (1.25 ** c)
        y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
        y = (y / 1.83 + 0.015 * rng.standard_normal(n)) * amplitude
        cols.append(y)
    out = np.stack(cols, axis=1) if channels > 1 else cols[0]
    return out.astype(np.float32)


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def id3v2_tag(title: str = "genre-lab test", artist: str = "nobody", *, picture_bytes: int = 20000,
              padding: int = 512) -> bytes:
    """An ID3v2.3 tag (title, artist, an embedded picture frame, padding), as music players write them."""

    def frame(fid: bytes, payload: bytes) -> bytes:
        return fid + struct.pack(">I", len(payload)) + b"\x00\x00" + payload

    body = frame(b"TIT2", b"\x00" + title.encode("latin-1"))
    body += frame(b"TPE1", b"\x00" + artist.encode("latin-1"))
    body += frame(b"APIC", b"\x00image/png\x00\x03\x00" + b"\x89PNG\r\n\x1a\n" + bytes(picture_bytes))
    body += bytes(padding)
    return b"ID3\x03\x00\x00" + _syncsafe(len(body)) + body


def encode(y: np.ndarray, sr: int, fmt: str) -> bytes:
    """Encode ``y`` at ``sr`` as format ``fmt`` (a key of :data:`FORMATS`), with its ID3 tag if any."""
    _, kwargs, _, tagged = FORMATS[fmt]
    buf = io.BytesIO()
    sf.write(buf, y, sr, **kwargs)
    data = buf.getvalue()
    return id3v2_tag() + data if tagged else data


def make_format_bytes(fmt: str, duration: float = 2.0, channels: int = 2) -> bytes:
    """A ``duration``-second signal encoded in ``fmt`` at that format's native rate."""
    _, _, sr, _ = FORMATS[fmt]
    return encode(make_signal(duration, sr, channels), sr, fmt)


def write_format(folder, fmt: str, duration: float = 2.0, channels: int = 2, stem: str | None = None) -> Path:
    """Write :func:`make_format_bytes` to ``folder/<stem or fmt><ext>`` and return the path."""
    ext = FORMATS[fmt][0]
    path = Path(folder) / f"{stem or fmt}{ext}"
    path.write_bytes(make_format_bytes(fmt, duration, channels))
    return path


# ------------------------------------------------------------------ bad files

def _wav_bytes(y, sr, subtype="PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def _png_bytes() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 8


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "not audio " * 100)
    return buf.getvalue()


def _corrupt_middle(data: bytes, start_frac: float = 0.35, length: int = 4000, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    b = bytearray(data)
    s = int(len(b) * start_frac)
    b[s:s + length] = rng.integers(0, 256, size=min(length, len(b) - s), dtype=np.uint8).tobytes()
    return bytes(b)


def _with_wav_codec(data: bytes, tag: int) -> bytes:
    b = bytearray(data)
    pos = b.find(b"fmt ")
    b[pos + 8:pos + 10] = struct.pack("<H", tag)
    return bytes(b)


def _bad_case_bytes(case: str) -> bytes:
    sig = make_signal(4.0, 44100, 2)
    if case == "empty":
        return b""
    if case == "text":
        return ("This is a text file, not a song.\n" * 200).encode()
    if case == "png":
        return _png_bytes()
    if case == "zip":
        return _zip_bytes()
    if case == "wav_is_text":
        return ("RIFF? no, just text pretending to be a WAV\n" * 50).encode()
    if case == "mp3_is_png":
        return _png_bytes()
    if case == "random":
        return np.random.default_rng(5).integers(0, 256, 30000, dtype=np.uint8).tobytes()
    if case == "m4a":
        return b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A mp42isom" + bytes(4000)
    if case == "wav_codec":
        return _with_wav_codec(_wav_bytes(sig[:44100], 44100), 0x0055)
    if case == "wav_header_only":
        return _wav_bytes(sig, 44100)[:44]
    if case == "truncated_wav":
        d = _wav_bytes(sig, 44100)
        return d[: len(d) // 2]
    if case in ("truncated_au", "truncated_flac", "truncated_mp3"):  # the first half of a good file
        d = encode(sig, 44100, case.split("_")[1])
        return d[: len(d) // 2]
    if case == "truncated_in_id3":
        d = encode(sig, 44100, "mp3")
        return d[: len(id3v2_tag()) // 2]
    if case == "corrupt_flac":
        return _corrupt_middle(encode(sig, 44100, "flac"))
    if case == "corrupt_mp3":
        return _corrupt_middle(encode(sig, 44100, "mp3"), start_frac=0.5)
    if case == "nan_wav":
        y = make_signal(2.0, 22050, 1)
        y[1000:1010] = np.nan
        return _wav_bytes(y, 22050, "FLOAT")
    if case == "inf_wav":
        y = make_signal(2.0, 22050, 1)
        y[5000] = np.inf
        return _wav_bytes(y, 22050, "FLOAT")
    if case == "silent":
        return _wav_bytes(np.zeros((44100 * 3, 2), np.float32), 44100)
    if case == "near_silent":  # 16-bit dither-level noise, about -100 dBFS
        y = np.random.default_rng(3).standard_normal(22050 * 3) * 1e-5
        return _wav_bytes(y.astype(np.float32), 22050, "FLOAT")
    if case == "too_short":
        return _wav_bytes(make_signal(0.4, 22050, 1), 22050)
    raise KeyError(case)


#: case -> (file name, expected AudioError.reason)
BAD_CASES: dict[str, tuple[str, str]] = {
    "empty": ("empty.wav", "empty"),
    "text": ("notes.txt", "not_audio"),
    "png": ("cover.png", "not_audio"),
    "zip": ("songs.zip", "not_audio"),
    "wav_is_text": ("fake.wav", "not_audio"),
    "mp3_is_png": ("picture.mp3", "not_audio"),
    "random": ("noise.bin", "not_audio"),
    "m4a": ("song.m4a", "unsupported"),
    "wav_codec": ("mp3inside.wav", "unsupported"),
    "wav_header_only": ("header_only.wav", "truncated"),
    "truncated_wav": ("cut.wav", "truncated"),
    "truncated_au": ("cut.au", "truncated"),
    "truncated_flac": ("cut.flac", "truncated"),
    "truncated_mp3": ("cut.mp3", "truncated"),
    "truncated_in_id3": ("cut_in_tag.mp3", "truncated"),
    "corrupt_flac": ("damaged.flac", "corrupt"),
    "corrupt_mp3": ("damaged.mp3", "corrupt"),
    "nan_wav": ("nan.wav", "corrupt"),
    "inf_wav": ("inf.wav", "corrupt"),
    "silent": ("silence.wav", "silent"),
    "near_silent": ("hiss.wav", "silent"),
    "too_short": ("blip.wav", "too_short"),
}


def make_bad_bytes(case: str) -> tuple[bytes, str, str]:
    """Return ``(data, file_name, expected_reason)`` for a case of :data:`BAD_CASES`."""
    fname, reason = BAD_CASES[case]
    return _bad_case_bytes(case), fname, reason


def write_bad_file(folder, case: str) -> tuple[Path, str]:
    """Write a bad case into ``folder`` and return ``(path, expected_reason)``."""
    data, fname, reason = make_bad_bytes(case)
    path = Path(folder) / fname
    path.write_bytes(data)
    return path, reason


def write_long_wav(path, seconds: float, sr: int = 8000) -> Path:
    """A long (e.g. one hour) mono 16-bit WAV written in chunks, without building it in memory."""
    path = Path(path)
    chunk = sr * 60
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, format="WAV", subtype="PCM_16") as f:
        remaining = int(seconds * sr)
        t = np.arange(chunk) / sr
        block = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        while remaining > 0:
            n = min(chunk, remaining)
            f.write(block[:n])
            remaining -= n
    return path


__all__ = [
    "FORMATS", "BAD_CASES", "make_signal", "id3v2_tag", "encode", "make_format_bytes", "write_format",
    "make_bad_bytes", "write_bad_file", "write_long_wav",
]

if __name__ == "__main__":  # pragma: no cover - quick manual check
    for name in FORMATS:
        print(name, len(make_format_bytes(name)))
    for name in BAD_CASES:
        print(name, len(make_bad_bytes(name)[0]), os.path.splitext(BAD_CASES[name][0])[1])

"""Example clips for the Predict page, made offline (nothing is downloaded).

* Synthetic clips from :mod:`genre_core.synthetic`: clearly **not music**;
  useful to see the page work and, with a model trained on the synthetic
  dataset, to see per-segment predictions change (the medley switches
  "genre" every few seconds). Models trained on GTZAN give arbitrary answers
  on them.
* When the GTZAN development audio is present (``genre_core.config.gtzan_dir()``),
  one real 30 s excerpt per genre from it.

Every example is returned as file bytes and goes through the same path as an
upload (decode, validate, predict).

Example
-------
>>> clips = list_examples()
>>> data, name, mime = clips[0].make()
>>> name, mime
('synthetic-medley.wav', 'audio/wav')
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class ExampleClip:
    """One example: ``key`` (stable), ``label`` (shown), ``synthetic`` and a maker of ``(bytes, name, mime)``."""

    key: str
    label: str
    synthetic: bool
    make: Callable[[], tuple[bytes, str, str]]


def _wav_bytes(y: np.ndarray, sr: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _synthetic_maker(genre: str | None, duration: float, name: str) -> Callable[[], tuple[bytes, str, str]]:
    def make() -> tuple[bytes, str, str]:
        from genre_core.config import SAMPLE_RATE
        from genre_core.synthetic import synth_genre_clip

        if genre is None:
            from genre_core.synthetic import synthetic_medley

            y = synthetic_medley(sr=SAMPLE_RATE)
        else:
            y = synth_genre_clip(genre, duration=duration, sr=SAMPLE_RATE, seed=11)
        return _wav_bytes(y, SAMPLE_RATE), name, "audio/wav"

    return make


def _file_maker(path) -> Callable[[], tuple[bytes, str, str]]:
    def make() -> tuple[bytes, str, str]:
        from pathlib import Path

        p = Path(path)
        return p.read_bytes(), p.name, mime_for(p.name)

    return make


def mime_for(name: str) -> str:
    """Browser MIME type for an audio file name (``audio/wav`` when unknown)."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {
        "wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg",
        "flac": "audio/flac", "au": "audio/basic", "snd": "audio/basic", "aif": "audio/aiff", "aiff": "audio/aiff",
    }.get(ext, "audio/wav")


def list_examples(*, include_gtzan: bool = True) -> list[ExampleClip]:
    """The example clips available on this machine (synthetic ones always)."""
    from genre_core.synthetic import SYNTHETIC_GENRES

    clips = [
        ExampleClip("synthetic-medley", f"Synthetic medley: {' → '.join(SYNTHETIC_GENRES)} (6 s each; not music)",
                    True, _synthetic_maker(None, 0.0, "synthetic-medley.wav")),
    ]
    for g in SYNTHETIC_GENRES:
        clips.append(ExampleClip(f"synthetic-{g}", f"Synthetic '{g}', 12 s (not music)", True,
                                 _synthetic_maker(g, 12.0, f"synthetic-{g}.wav")))
    if include_gtzan:
        clips.extend(_gtzan_examples())
    return clips


def _gtzan_examples() -> list[ExampleClip]:
    from genre_core.audio import SUPPORTED_EXTENSIONS
    from genre_core.config import gtzan_dir

    root = gtzan_dir() / "audio"
    out: list[ExampleClip] = []
    if not root.is_dir():
        return out
    try:
        genres = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return out
    for g in genres:
        try:
            files = sorted(f for f in g.iterdir() if f.is_file() and f.suffix.lower() in SUPPORTED_EXTENSIONS)
        except OSError:
            continue
        if files:
            f = files[0]
            out.append(ExampleClip(f"gtzan-{g.name}", f"GTZAN {g.name}: {f.name} (real music, local dev data)",
                                   False, _file_maker(f)))
    return out


__all__ = ["ExampleClip", "list_examples", "mime_for"]

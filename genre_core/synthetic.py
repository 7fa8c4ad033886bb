"""Audio genre-lab makes itself: small, learnable synthetic "genres".

These power the test suite and the app's "synthetic demo" dataset, so they are
cheap (numpy only, a few ms per second of audio), deterministic (a clip depends
only on ``(genre, duration, sr, seed)``), and varied enough between clips that
a model has to learn the genre rather than memorise one waveform:

``drone``
    Sustained harmonic tones (a root with a fifth and/or octave), slow vibrato
    and tremolo, random timbre (harmonic roll-off) and pitch.
``pulse``
    Drum-like percussion at a random tempo (80-170 BPM): pitched-down sine kicks,
    noise snares and hi-hats in a random 16-step pattern.
``chords``
    A progression of major/minor triads with plucked attack/decay envelopes,
    a new chord every 0.4-1.2 s, random key and timbre.
``sweep``
    Band-pass noise whose centre frequency sweeps up and down (risers/fallers)
    at a random rate, with a random bandwidth.

Every clip also gets a random gain and a low noise floor, so loudness alone
does not give the genre away.

Examples
--------
>>> from genre_core.synthetic import synth_genre_clip
>>> y = synth_genre_clip("pulse", duration=2.0, seed=1)
>>> y.dtype, y.shape
(dtype('float32'), (44100,))
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Iterable

import numpy as np

from .config import SAMPLE_RATE

__all__ = ["SYNTHETIC_GENRES", "synth_genre_clip", "synthetic_medley", "write_synthetic_dataset"]

#: The synthetic genres, in a fixed order.
SYNTHETIC_GENRES: tuple[str, ...] = ("drone", "pulse", "chords", "sweep")

_FORMATS = {
    "wav": {"format": "WAV", "subtype": "PCM_16"},
    "flac": {"format": "FLAC", "subtype": "PCM_16"},
    "ogg": {"format": "OGG", "subtype": "VORBIS"},
    "mp3": {"format": "MP3", "subtype": "MPEG_LAYER_III"},
    "au": {"format": "AU", "subtype": "PCM_16"},
}


def _rng(genre: str, seed: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(genre.encode()),
                                                         int(index)]))


def _harmonic(f0: np.ndarray | float, t: np.ndarray, n_harm: int, rolloff: float,
              phase: float = 0.0) -> np.ndarray:
    """Sum of harmonics of a (possibly time-varying) f0 with amplitude k**-rolloff."""
    sr_t = t[1] - t[0] if t.shape[0] > 1 else 1.0
    f0 = np.broadcast_to(np.asarray(f0, dtype=np.float64), t.shape)
    phi = 2 * np.pi * np.cumsum(f0) * sr_t + phase
    nyq = 0.5 / sr_t
    # sin(k*phi) by the Chebyshev recurrence: one sin and one cos for all harmonics
    s_prev, s_cur = np.zeros_like(phi), np.sin(phi)
    two_cos = 2.0 * np.cos(phi)
    out = s_cur.copy()
    for k in range(2, n_harm + 1):
        if k * float(f0.max()) >= nyq * 0.95:
            break
        s_prev, s_cur = s_cur, two_cos * s_cur - s_prev
        out += s_cur / k ** rolloff
    return out


def _drone(rng, n, sr):
    t = np.arange(n) / sr
    root = 55.0 * 2 ** rng.uniform(0.5, 2.5)  # ~78-311 Hz
    ratios = [1.0] + list(rng.choice([1.5, 2.0, 1.5 * 2, 3.0], size=rng.integers(1, 3), replace=False))
    vib = 1 + rng.uniform(0.001, 0.006) * np.sin(2 * np.pi * rng.uniform(3, 6) * t)
    y = np.zeros(n)
    for r in ratios:
        y += rng.uniform(0.5, 1.0) * _harmonic(root * r * vib, t, int(rng.integers(4, 12)),
                                               rng.uniform(0.8, 2.0), rng.uniform(0, 2 * np.pi))
    trem = 1 - rng.uniform(0.05, 0.3) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 0.6) * t
                                                           + rng.uniform(0, 2 * np.pi)))
    fade = np.minimum(1.0, t / rng.uniform(0.05, 0.5))
    return y * trem * fade


def _pulse(rng, n, sr):
    bpm = rng.uniform(80, 170)
    step = 60.0 / bpm / 4  # sixteenth notes
    pattern_kick = rng.random(16) < np.array([0.95, .1, .2, .1, .5, .1, .3, .1] * 2)
    pattern_snare = rng.random(16) < np.array([0, .05, .1, .05, .9, .1, .1, .2] * 2)
    pattern_hat = rng.random(16) < rng.uniform(0.3, 0.9)
    y = np.zeros(n)
    kick_len = int(0.25 * sr)
    tk = np.arange(kick_len) / sr
    k_f0, k_f1 = rng.uniform(90, 160), rng.uniform(40, 60)
    kick = np.sin(2 * np.pi * np.cumsum(k_f1 + (k_f0 - k_f1) * np.exp(-tk * 30)) / sr) * np.exp(-tk * rng.uniform(10, 20))
    snare_len = int(0.18 * sr)
    ts = np.arange(snare_len) / sr
    hat_len = int(0.05 * sr)
    th = np.arange(hat_len) / sr
    snare_decay, hat_decay = rng.uniform(15, 35), rng.uniform(60, 120)
    swing = rng.uniform(0, 0.15) * step
    i = 0
    pos = rng.uniform(0, step)
    while True:
        start = int((pos + (swing if i % 2 else 0)) * sr)
        if start >= n:
            break
        s = i % 16
        for hit, on, gain in ((kick, pattern_kick[s], 1.0), (None, pattern_snare[s], 0.6),
                              (None, pattern_hat[s], 0.25)):
            if not on:
                continue
            if hit is None:
                length, decay, tt = (snare_len, snare_decay, ts) if gain > 0.5 else (hat_len, hat_decay, th)
                noise = rng.standard_normal(length)
                if gain < 0.5:  # hat: crude high-pass
                    noise = np.diff(noise, prepend=0.0)
                else:  # snare body: noise + a short tone
                    noise = noise * 0.7 + np.sin(2 * np.pi * rng.uniform(160, 240) * tt) * 0.5
                hit = noise * np.exp(-tt * decay)
            seg = hit[: n - start] * gain * rng.uniform(0.7, 1.0)
            y[start:start + seg.shape[0]] += seg
        i += 1
        pos += step
    return y


_MAJOR, _MINOR = (0, 4, 7), (0, 3, 7)


def _chords(rng, n, sr):
    key = rng.integers(0, 12)
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    qualities = [_MAJOR, _MINOR, _MINOR, _MAJOR, _MAJOR, _MINOR, _MINOR]
    chord_len = rng.uniform(0.4, 1.2)
    rolloff = rng.uniform(1.0, 2.5)
    n_harm = int(rng.integers(3, 8))
    decay = rng.uniform(1.5, 5.0)
    attack = rng.uniform(0.003, 0.03)
    base = 110.0 * 2 ** (rng.uniform(0, 12) / 12)
    y = np.zeros(n)
    pos = 0.0
    degrees = rng.integers(0, 7, size=max(1, int(n / sr / chord_len) + 2))
    for deg in degrees:
        start = int(pos * sr)
        if start >= n:
            break
        length = min(n - start, int((chord_len + 0.3) * sr))
        tt = np.arange(length) / sr
        env = np.minimum(1.0, tt / attack) * np.exp(-tt * decay)
        root_semi = key + scale[deg]
        for iv in qualities[deg]:
            f = base * 2 ** ((root_semi + iv) / 12)
            y[start:start + length] += env * _harmonic(f, tt, n_harm, rolloff, rng.uniform(0, 2 * np.pi))
        pos += chord_len
    return y


def _sweep(rng, n, sr):
    frame, hop = 1024, 256
    n_frames = n // hop + 2
    noise = rng.standard_normal(n_frames * hop + frame)
    rate = rng.uniform(0.1, 0.8)  # sweeps per second
    lo, hi = rng.uniform(150, 500), rng.uniform(2000, 7000)
    width = rng.uniform(0.08, 0.3)  # octaves (std of the Gaussian band)
    t_frames = np.arange(n_frames) * hop / sr
    shape = rng.choice(["tri", "saw"])
    ph = (t_frames * rate + rng.uniform(0, 1)) % 1.0
    ramp = np.abs(2 * ph - 1) if shape == "tri" else ph
    centre = lo * (hi / lo) ** ramp
    freqs = np.fft.rfftfreq(frame, 1 / sr)
    log_f = np.log2(np.maximum(freqs, 1.0))
    window = np.hanning(frame)
    idx = np.arange(n_frames)[:, None] * hop + np.arange(frame)[None, :]
    spec = np.fft.rfft(noise[idx] * window, axis=1)
    gains = np.exp(-0.5 * ((log_f[None, :] - np.log2(centre)[:, None]) / width) ** 2)
    frames = np.fft.irfft(spec * gains, n=frame, axis=1) * window
    out = np.zeros(n_frames * hop + 2 * frame)
    step = frame // hop
    for i in range(step):  # frames i, i+step, ... tile [i*hop, ...) without overlapping: one add each
        sel = frames[i::step].ravel()
        out[i * hop: i * hop + sel.shape[0]] += sel
    return out[frame // 2: frame // 2 + n]


_GENERATORS = {"drone": _drone, "pulse": _pulse, "chords": _chords, "sweep": _sweep}


def synth_genre_clip(genre: str, *, duration: float = 6.0, sr: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """One synthetic clip of ``genre`` (float32 mono, peak 0.3-0.9).

    Parameters
    ----------
    genre : str
        One of :data:`SYNTHETIC_GENRES`.
    duration : float
        Seconds.
    sr : int
        Sample rate.
    seed : int
        Different seeds give different clips of the same genre (tempo, key,
        timbre, pattern, gain); the same seed gives the same samples.

    Returns
    -------
    np.ndarray
        ``(round(duration * sr),)`` float32.

    Examples
    --------
    >>> y = synth_genre_clip("drone", duration=1.0, sr=8000, seed=3)
    >>> y.shape, float(abs(y).max()) <= 0.9
    ((8000,), True)
    """
    if genre not in _GENERATORS:
        raise ValueError(f"unknown synthetic genre {genre!r}; choose from {', '.join(SYNTHETIC_GENRES)}")
    n = int(round(duration * sr))
    if n <= 0:
        return np.zeros(0, np.float32)
    rng = _rng(genre, seed)
    y = _GENERATORS[genre](rng, n, sr)
    peak = np.max(np.abs(y))
    if peak > 0:
        y = y / peak
    y = y + rng.uniform(0.002, 0.02) * rng.standard_normal(n)  # noise floor
    y = y / max(np.max(np.abs(y)), 1e-9) * rng.uniform(0.3, 0.9)
    return y.astype(np.float32)


def synthetic_medley(*, part: float = 6.0, sr: int = 22050, seed: int = 7) -> np.ndarray:
    """Every synthetic genre in turn, ``part`` seconds each (float32 mono, peak-normalised to 0.8)."""
    parts = [synth_genre_clip(g, duration=part, sr=sr, seed=seed + i) for i, g in enumerate(SYNTHETIC_GENRES)]
    y = np.concatenate(parts).astype(np.float32)
    peak = float(np.max(np.abs(y))) or 1.0
    return (0.8 * y / peak).astype(np.float32)


def write_synthetic_dataset(
    root,
    *,
    genres: Iterable[str] = SYNTHETIC_GENRES,
    n_per_genre: int = 8,
    duration: float = 6.0,
    sr: int = SAMPLE_RATE,
    seed: int = 0,
    fmt: str = "wav",
) -> Path:
    """Write a GTZAN-like folder ``<root>/<genre>/<genre>.NNNNN.<fmt>`` of synthetic clips.

    Clip ``i`` of every genre uses seed ``seed * 100003 + i`` so datasets with
    different ``seed`` differ and clips within one dataset differ.

    Parameters
    ----------
    root : str or Path
        Folder to write into (created if needed; existing clips are overwritten).
    genres : iterable of str
        Subset of :data:`SYNTHETIC_GENRES`.
    n_per_genre : int
        Clips per genre.
    duration : float
        Seconds per clip.
    sr : int
        Sample rate of the files.
    seed : int
        Dataset seed.
    fmt : str
        ``"wav"`` (16-bit PCM), ``"flac"``, ``"ogg"``, ``"mp3"`` or ``"au"``.

    Returns
    -------
    Path
        ``root``.

    Examples
    --------
    >>> import tempfile
    >>> root = write_synthetic_dataset(tempfile.mkdtemp(), genres=("drone", "pulse"), n_per_genre=2, duration=1.0)
    >>> sorted(p.name for p in root.glob("*/*.wav"))
    ['drone.00000.wav', 'drone.00001.wav', 'pulse.00000.wav', 'pulse.00001.wav']
    """
    import soundfile as sf

    if fmt not in _FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(_FORMATS)}")
    root = Path(root)
    genres = tuple(genres)
    for g in genres:
        if g not in _GENERATORS:
            raise ValueError(f"unknown synthetic genre {g!r}; choose from {', '.join(SYNTHETIC_GENRES)}")
    for g in genres:
        folder = root / g
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(int(n_per_genre)):
            y = synth_genre_clip(g, duration=duration, sr=sr, seed=int(seed) * 100003 + i)
            sf.write(folder / f"{g}.{i:05d}.{fmt}", y, sr, **_FORMATS[fmt])
    return root

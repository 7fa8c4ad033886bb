"""Private: every spectral quantity of one window, each computed once, lazily.

:class:`WindowAnalysis` computes the STFT of a window once (``librosa.stft``,
so it is librosa's own STFT) and derives every feature the shipped sets need
from it, following the plain recipe in :mod:`.reference` step by step:

* magnitude ``|D|`` -> spectral centroid, bandwidth, roll-off (one fused pass,
  :func:`._fast.spectral_shape`);
* power ``|D|**2`` -> chroma_stft (librosa's tuning estimate, computed only on
  the 150-4000 Hz bins piptrack actually uses, with librosa's own operations,
  so the same tuning) and the mel spectrogram (cached filter banks);
* ``power_to_db(mel)`` -> MFCC *and* the onset envelope used for the tempo
  (librosa's ``onset_strength(y)`` computes exactly this log-mel internally);
  the tempogram is librosa's, computed on contiguous frames;
* the complex STFT -> harmonic/percussive separation with the exact fast
  median (:mod:`._fast`).

RMS and zero-crossing rate are time-domain features in the public recipe
(``librosa.feature.rms(y=...)`` frames the raw signal with a rectangular window,
which ``rms(S=...)`` only approximates: with a Hann-windowed STFT it differs by
several percent), so they are computed from ``y`` with the same framing.
"""

from __future__ import annotations

from functools import cached_property, lru_cache

import librosa
import numpy as np
import scipy.fft

from . import _fast, _fast_hpss

__all__ = ["WindowAnalysis", "estimate_tuning_fast", "tempo_fast"]


@lru_cache(maxsize=16)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    basis.setflags(write=False)
    return basis


@lru_cache(maxsize=512)
def _chroma_basis(sr: int, n_fft: int, tuning: float, n_chroma: int) -> np.ndarray:
    basis = librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=n_chroma)
    basis.setflags(write=False)
    return basis


def estimate_tuning_fast(S: np.ndarray, sr: int, *, n_fft: int, bins_per_octave: int = 12,
                         fmin: float = 150.0, fmax: float = 4000.0, threshold: float = 0.1) -> float:
    """``librosa.estimate_tuning(S=S, sr=sr, bins_per_octave=...)``, fast and identical.

    ``librosa.piptrack`` only reports peaks in ``[fmin, fmax)``; its per-frame
    reference (``threshold * max``) needs the whole column, but the gradient,
    parabolic shift and local-maximum tests only need the neighbouring bins.
    :func:`._fast.piptrack_band` runs librosa's arithmetic on that band only
    (bit-identical peaks), then the median threshold and
    :func:`librosa.pitch_tuning` histogram are librosa's own. ``S`` must be
    non-negative (a magnitude or power spectrogram).

    Examples
    --------
    >>> import numpy as np, librosa
    >>> y = np.sin(2 * np.pi * 443 * np.arange(22050) / 22050).astype(np.float32)
    >>> S = np.abs(librosa.stft(y)) ** 2
    >>> bool(estimate_tuning_fast(S, 22050, n_fft=2048) == librosa.estimate_tuning(S=S, sr=22050))
    True
    """
    pitches, mags = _fast.piptrack_band(S, sr, n_fft=n_fft, fmin=fmin, fmax=fmax, threshold=threshold)
    pitch_mask = pitches > 0
    thr = np.median(mags[pitch_mask]) if pitch_mask.any() else 0.0
    sel = pitches[(mags >= thr) & pitch_mask]
    if not np.any(sel[sel > 0]):
        return 0.0
    return librosa.pitch_tuning(sel, bins_per_octave=bins_per_octave)


def tempo_fast(onset_envelope: np.ndarray, sr: int, *, hop_length: int = 512,
               start_bpm: float = 120.0, std_bpm: float = 1.0, ac_size: float = 8.0,
               max_tempo: float = 320.0) -> float:
    """``librosa.feature.tempo(onset_envelope=..., sr=...)[0]`` (mean tempogram, log-normal prior).

    Same steps as librosa (linear-ramp padding, Hann-windowed frames of
    ``ac_size`` seconds, FFT autocorrelation with the same FFT size, per-frame
    max normalisation, mean over frames, prior, arg-max), with the frames laid
    out contiguously so the FFTs run along the fast axis.

    Examples
    --------
    >>> import numpy as np, librosa
    >>> env = np.zeros(600, dtype=np.float32); env[::22] = 1.0
    >>> tempo_fast(env, 22050) == float(librosa.feature.tempo(onset_envelope=env, sr=22050)[0])
    True
    """
    win = int(librosa.time_to_frames(ac_size, sr=sr, hop_length=hop_length))
    n_pad = scipy.fft.next_fast_len(2 * win - 1, real=True)
    ac = _fast.onset_autocorrelation(onset_envelope, win, n_pad)
    tg = _fast.mean_max_normalised(ac, win)
    bpms = librosa.tempo_frequencies(win, hop_length=hop_length, sr=sr)
    with np.errstate(divide="ignore"):
        logprior = -0.5 * ((np.log2(bpms) - np.log2(start_bpm)) / std_bpm) ** 2
    max_idx = int(np.argmax(bpms < max_tempo))
    logprior[:max_idx] = -np.inf
    best = int(np.argmax(np.log1p(1e6 * tg) + logprior))
    return float(bpms[best])


class WindowAnalysis:
    """Lazy spectral analysis of one mono window (STFT computed once).

    Parameters
    ----------
    y : np.ndarray, shape (n,), float32
        The window.
    sr : int
        Sample rate.
    n_fft, hop_length : int
        STFT size and hop (librosa defaults 2048 / 512).

    Examples
    --------
    >>> import numpy as np
    >>> a = WindowAnalysis(np.random.default_rng(0).standard_normal(22050).astype(np.float32), 22050)
    >>> a.D.shape, a.mfcc(20).shape, a.chroma.shape
    ((1025, 44), (20, 44), (12, 44))
    """

    def __init__(self, y: np.ndarray, sr: int, *, n_fft: int = 2048, hop_length: int = 512):
        self.y = y
        self.sr = int(sr)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self._mfcc: dict[int, np.ndarray] = {}

    @cached_property
    def D(self) -> np.ndarray:
        """Complex STFT (librosa.stft defaults: hann, centred, zero padding)."""
        return librosa.stft(self.y, n_fft=self.n_fft, hop_length=self.hop_length)

    @cached_property
    def mag(self) -> np.ndarray:
        """``|D|`` (what ``librosa.feature.spectral_*`` use)."""
        return np.abs(self.D)

    @cached_property
    def power(self) -> np.ndarray:
        """``|D|**2`` (what chroma_stft and melspectrogram use)."""
        return self.mag ** 2

    @cached_property
    def mel(self) -> np.ndarray:
        """128-band power mel spectrogram (``melspectrogram(S=power)``)."""
        return _mel_basis(self.sr, self.n_fft, 128) @ self.power

    @cached_property
    def mel_db(self) -> np.ndarray:
        """``power_to_db(mel)`` (ref=1, top_db=80), shared by MFCC and onset strength."""
        return librosa.power_to_db(self.mel)

    def mfcc(self, n_mfcc: int) -> np.ndarray:
        """``librosa.feature.mfcc(y, sr, n_mfcc=n_mfcc)`` from the shared log-mel."""
        if n_mfcc not in self._mfcc:
            self._mfcc[n_mfcc] = librosa.feature.mfcc(S=self.mel_db, sr=self.sr, n_mfcc=n_mfcc)
        return self._mfcc[n_mfcc]

    @cached_property
    def tuning(self) -> float:
        """``librosa.estimate_tuning(S=power, bins_per_octave=12)`` (chroma_stft's tuning)."""
        return estimate_tuning_fast(self.power, self.sr, n_fft=self.n_fft, bins_per_octave=12)

    @cached_property
    def chroma(self) -> np.ndarray:
        """``librosa.feature.chroma_stft(y, sr)``."""
        basis = _chroma_basis(self.sr, self.n_fft, float(self.tuning), 12)
        return librosa.util.normalize(basis @ self.power, norm=np.inf, axis=-2)

    @cached_property
    def _shape(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _fast.spectral_shape(self.mag, self.sr, n_fft=self.n_fft)

    @property
    def centroid(self) -> np.ndarray:
        return self._shape[0]

    @property
    def bandwidth(self) -> np.ndarray:
        return self._shape[1]

    @property
    def rolloff(self) -> np.ndarray:
        return self._shape[2]

    @cached_property
    def rms(self) -> np.ndarray:
        """``librosa.feature.rms(y=y)`` (time domain, rectangular frames)."""
        return _fast.rms_frames(self.y, frame_length=self.n_fft, hop_length=self.hop_length)

    @cached_property
    def zcr(self) -> np.ndarray:
        """``librosa.feature.zero_crossing_rate(y)``."""
        return _fast.zcr_frames(self.y, frame_length=self.n_fft, hop_length=self.hop_length)

    @cached_property
    def tempo(self) -> float:
        """``librosa.beat.beat_track(y, sr)[0]``: tempo from the shared log-mel onset envelope."""
        env = librosa.onset.onset_strength(S=self.mel_db, sr=self.sr, hop_length=self.hop_length,
                                           n_fft=self.n_fft, aggregate=np.median)
        if not env.any():
            return 0.0
        return tempo_fast(env, self.sr, hop_length=self.hop_length)

    @cached_property
    def hpss(self) -> tuple[np.ndarray, np.ndarray]:
        """``librosa.effects.hpss(y)`` waveforms (exact medians, fast masks and inverse STFT)."""
        return _fast_hpss.hpss_waveforms(self.y, self.D, n_fft=self.n_fft, hop_length=self.hop_length,
                                    S=self.mag)

    @cached_property
    def tonnetz(self) -> np.ndarray:
        """``librosa.feature.tonnetz(y, sr)`` (its own constant-Q chroma, not STFT-based).

        librosa estimates the CQT's tuning from ``|stft(y)|`` with 36 bins per
        octave; that estimate is taken from the shared STFT here.
        """
        tuning = estimate_tuning_fast(self.mag, self.sr, n_fft=self.n_fft, bins_per_octave=36)
        chroma = librosa.feature.chroma_cqt(y=self.y, sr=self.sr, tuning=tuning)
        return librosa.feature.tonnetz(sr=self.sr, chroma=chroma)

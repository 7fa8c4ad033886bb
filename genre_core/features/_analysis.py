"""Private: every spectral quantity of one window, each computed once, lazily.

:class:`WindowAnalysis` computes the STFT of a window once and derives all the
features the shipped sets need from it, calling the same librosa functions the
plain recipe calls (``librosa.feature.*(S=...)`` instead of ``(y=...)``), so
the results equal the feature-by-feature reference in :mod:`.reference`:

* magnitude ``|D|`` -> spectral centroid, bandwidth, roll-off;
* power ``|D|**2`` -> chroma_stft (with librosa's tuning estimate), mel;
* ``power_to_db(mel)`` -> MFCC *and* the onset envelope used for tempo (librosa's
  ``onset_strength`` computes exactly this log-mel internally);
* the complex STFT -> harmonic/percussive separation with the exact fast median
  (:mod:`._fast`).

RMS and zero-crossing rate are time-domain features in the public recipe
(``librosa.feature.rms(y=...)`` frames the raw signal with a rectangular window,
which ``rms(S=...)`` only approximates), so they are computed from ``y`` exactly
as librosa does, by :mod:`._fast`'s kernels.
"""

from __future__ import annotations

from functools import cached_property

import librosa
import numpy as np

from . import _fast


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
        """128-band power mel spectrogram."""
        return librosa.feature.melspectrogram(S=self.power, sr=self.sr)

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
    def chroma(self) -> np.ndarray:
        """``librosa.feature.chroma_stft(y, sr)`` (tuning estimated as librosa does)."""
        return librosa.feature.chroma_stft(S=self.power, sr=self.sr, n_fft=self.n_fft)

    @cached_property
    def centroid(self) -> np.ndarray:
        return librosa.feature.spectral_centroid(S=self.mag, sr=self.sr, n_fft=self.n_fft)

    @cached_property
    def bandwidth(self) -> np.ndarray:
        return librosa.feature.spectral_bandwidth(S=self.mag, sr=self.sr, n_fft=self.n_fft,
                                                  centroid=self.centroid)

    @cached_property
    def rolloff(self) -> np.ndarray:
        return librosa.feature.spectral_rolloff(S=self.mag, sr=self.sr, n_fft=self.n_fft)

    @cached_property
    def rms(self) -> np.ndarray:
        """``librosa.feature.rms(y=y)`` (time domain, rectangular frames)."""
        return librosa.feature.rms(y=self.y, frame_length=self.n_fft, hop_length=self.hop_length)

    @cached_property
    def zcr(self) -> np.ndarray:
        """``librosa.feature.zero_crossing_rate(y)``."""
        return librosa.feature.zero_crossing_rate(self.y, frame_length=self.n_fft,
                                                  hop_length=self.hop_length)

    @cached_property
    def tempo(self) -> float:
        """``librosa.beat.beat_track(y, sr)[0]``: tempo from the shared log-mel onset envelope."""
        env = librosa.onset.onset_strength(S=self.mel_db, sr=self.sr, hop_length=self.hop_length,
                                           n_fft=self.n_fft, aggregate=np.median)
        if not env.any():
            return 0.0
        return float(librosa.feature.tempo(onset_envelope=env, sr=self.sr,
                                           hop_length=self.hop_length)[0])

    @cached_property
    def hpss(self) -> tuple[np.ndarray, np.ndarray]:
        """``librosa.effects.hpss(y)`` waveforms, with the exact fast median."""
        return _fast.hpss_waveforms(self.y, self.D, n_fft=self.n_fft, hop_length=self.hop_length)

    @cached_property
    def tonnetz(self) -> np.ndarray:
        """``librosa.feature.tonnetz(y, sr)`` (its own constant-Q chroma: not STFT-based)."""
        return librosa.feature.tonnetz(y=self.y, sr=self.sr)

"""A deterministic, music-like probe signal for the equivalence fixtures and tests."""

from __future__ import annotations

import numpy as np

__all__ = ["_probe_signal"]


def _probe_signal(duration: float = 3.0, sr: int = 22050) -> tuple[np.ndarray, int]:
    """A deterministic, music-like test signal (no random numbers): harmonic notes, a kick, a chirp hat.

    Moderate loudness (peak about 0.6). Used by the tests and to generate
    ``tests/fixtures/musicnn_expected.npz`` with the reference extractor.
    """
    t = np.arange(int(round(duration * sr)), dtype=np.float64) / sr
    y = np.zeros_like(t)
    for i, f0 in enumerate((220.0, 277.18, 329.63, 440.0, 329.63, 277.18)):
        on = (t >= 0.5 * i) & (t < 0.5 * (i + 1))
        for h in range(1, 6):
            y[on] += 0.08 / h * np.sin(2 * np.pi * f0 * h * t[on])
    beat = np.mod(t, 0.5)
    y += 0.3 * np.exp(-30 * beat) * np.sin(2 * np.pi * (60 + 100 * np.exp(-40 * beat)) * beat)
    hat = np.mod(t - 0.25, 0.5)
    y += 0.05 * np.exp(-60 * hat) * np.sin(2 * np.pi * (3000 + 4000 * hat) * hat)
    return y.astype(np.float32), sr

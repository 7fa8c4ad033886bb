"""``edm``: the EDM-classifier recipe, per-band means over frames (61 columns).

Columns: ``mfcc1_mean .. mfcc40_mean`` (``librosa.feature.mfcc(n_mfcc=40)``),
``chroma1_mean .. chroma12_mean`` (``chroma_stft``, pitch classes C..B),
``tonnetz1_mean .. tonnetz6_mean`` (``librosa.feature.tonnetz(y, sr)``, i.e. on
librosa's default constant-Q chroma), ``zero_crossing_rate_mean``,
``spectral_centroid_mean``, ``rolloff_mean``.

MFCC, chroma, centroid and roll-off share one STFT; the tonnetz needs its own
constant-Q transform (that is librosa's default and the recipe's), which makes
it the most expensive part of this set.

Examples
--------
>>> from genre_core.features import get_feature_set
>>> cols = get_feature_set("edm").columns
>>> len(cols), cols[40], cols[52], cols[-1]
(61, 'chroma1_mean', 'tonnetz1_mean', 'rolloff_mean')
"""

from __future__ import annotations

import numpy as np

from . import FeatureSet, register_feature_set

N_MFCC = 40


@register_feature_set
class EDM(FeatureSet):
    """MFCC(40) + chroma + tonnetz + ZCR + centroid + roll-off frame means (no parameters)."""

    name = "edm"
    version = "1"
    description = ("EDM-classifier recipe: means of 40 MFCCs, 12 chroma, 6 tonnetz, zero-crossing rate, "
                   "spectral centroid and roll-off.")
    default_params: dict = {}

    def _columns(self) -> list[str]:
        return ([f"mfcc{i}_mean" for i in range(1, N_MFCC + 1)]
                + [f"chroma{i}_mean" for i in range(1, 13)]
                + [f"tonnetz{i}_mean" for i in range(1, 7)]
                + ["zero_crossing_rate_mean", "spectral_centroid_mean", "rolloff_mean"])

    def _compute(self, y: np.ndarray, sr: int) -> np.ndarray:
        from ._analysis import WindowAnalysis  # heavy (librosa, numba): imported on first use

        a = WindowAnalysis(y, sr)
        parts = (a.mfcc(N_MFCC), a.chroma, a.tonnetz, a.zcr, a.centroid, a.rolloff)
        return np.concatenate([np.mean(np.atleast_2d(p), axis=1) for p in parts])

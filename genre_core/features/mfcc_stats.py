"""``mfcc_stats``: mean and variance of each MFCC over the window's frames.

Columns ``mfcc1_mean, mfcc1_var, ..., mfcc{n}_mean, mfcc{n}_var`` (the same
interleaving and names as the public table's MFCC columns). Recipe:
``librosa.feature.mfcc(y, sr, n_mfcc=n_mfcc)`` (128 Slaney mels, n_fft 2048,
hop 512, ``power_to_db`` with ``top_db=80``, orthonormal DCT-II), ``np.mean`` /
``np.var`` per coefficient. Used by the XGBoost backend.

Examples
--------
>>> import numpy as np
>>> from genre_core.features import get_feature_set
>>> fs = get_feature_set("mfcc_stats", n_mfcc=13)
>>> len(fs.columns), fs.key()
(26, 'mfcc_stats@1{"n_mfcc":13}')
"""

from __future__ import annotations

import numpy as np

from . import FeatureSet, UnknownFeatureSetError, register_feature_set


@register_feature_set
class MFCCStats(FeatureSet):
    """MFCC means and variances.

    Parameters
    ----------
    n_mfcc : int, default 20
        Number of coefficients (1 to 128).
    """

    name = "mfcc_stats"
    version = "1"
    description = "Mean and variance of each MFCC (n_mfcc coefficients, default 20)."
    default_params = {"n_mfcc": 20}

    def _validate(self, params: dict) -> dict:
        n = params["n_mfcc"]
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= 128:
            raise UnknownFeatureSetError(
                f"Feature set 'mfcc_stats' needs n_mfcc to be an integer from 1 to 128, got {n!r}.")
        return {"n_mfcc": int(n)}

    def _columns(self) -> list[str]:
        n = self.params["n_mfcc"]
        return [f"mfcc{i}_{s}" for i in range(1, n + 1) for s in ("mean", "var")]

    def _compute(self, y: np.ndarray, sr: int) -> np.ndarray:
        from ._analysis import WindowAnalysis  # heavy (librosa, numba): imported on first use

        m = WindowAnalysis(y, sr).mfcc(self.params["n_mfcc"])
        out = np.empty(2 * m.shape[0])
        out[0::2] = np.mean(m, axis=1)
        out[1::2] = np.var(m, axis=1)
        return out

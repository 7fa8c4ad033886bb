"""Plain-librosa reference recipes, feature by feature (slow on purpose).

These functions compute each feature set the way the public GTZAN feature
table and the usual notebooks compute it: one librosa call per feature, each on
the raw signal ``y`` (so each call recomputes its own STFT), with scipy's
generic median filter inside ``librosa.effects.hpss``. They are the ground
truth that the fast implementations (:mod:`.gtzan57`, :mod:`.mfcc_stats`,
:mod:`.edm`) are tested and benchmarked against; nothing else should call
them.

Recipe of the public table (``data/features_30_sec.csv``), reconstructed from
its values: librosa defaults throughout (n_fft 2048, hop 512, 128 mels, Slaney
mel filters, ``power_to_db`` with ``top_db=80`` inside ``mfcc``), statistics are
``np.mean`` / ``np.var`` (population variance) over *all* values of the
feature matrix (so ``chroma_stft_mean`` averages the 12 pitch classes too), and
``tempo`` is the first output of ``librosa.beat.beat_track`` (values such as
123.046875 = 60 * 22050 / 512 / 21 are tempogram lags).

Examples
--------
>>> import numpy as np
>>> from reference_features import reference_features
>>> y = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
>>> reference_features("mfcc_stats", y, 22050, n_mfcc=5).shape
(10,)
"""

from __future__ import annotations

import librosa
import numpy as np

__all__ = ["gtzan57_reference", "mfcc_stats_reference", "edm_reference", "reference_features"]


def _mv(x: np.ndarray) -> list[float]:
    return [float(np.mean(x)), float(np.var(x))]


def gtzan57_reference(y: np.ndarray, sr: int = 22050) -> np.ndarray:
    """The 57 public-table features of ``y``, one plain librosa call each.

    Parameters
    ----------
    y : np.ndarray, shape (n,), float32
    sr : int

    Returns
    -------
    np.ndarray, shape (57,), float64
        In the order of ``get_feature_set("gtzan57").columns``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
    >>> gtzan57_reference(y).shape
    (57,)
    """
    chroma_stft = librosa.feature.chroma_stft(y=y, sr=sr)
    rms = librosa.feature.rms(y=y)
    spec_cent = librosa.feature.spectral_centroid(y=y, sr=sr)
    spec_bw = librosa.feature.spectral_bandwidth(y=y, sr=sr)
    rolloff = librosa.feature.spectral_rolloff(y=y, sr=sr)
    zcr = librosa.feature.zero_crossing_rate(y)
    y_harm, y_perc = librosa.effects.hpss(y)
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr)
    mfcc = librosa.feature.mfcc(y=y, sr=sr)
    row: list[float] = []
    for feat in (chroma_stft, rms, spec_cent, spec_bw, rolloff, zcr, y_harm, y_perc):
        row += _mv(feat)
    row.append(float(np.atleast_1d(tempo)[0]))
    for coeff in mfcc:
        row += _mv(coeff)
    return np.asarray(row, dtype=np.float64)


def mfcc_stats_reference(y: np.ndarray, sr: int = 22050, *, n_mfcc: int = 20) -> np.ndarray:
    """MFCC mean and variance per coefficient: ``mfcc1_mean, mfcc1_var, ...``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
    >>> mfcc_stats_reference(y, n_mfcc=13).shape
    (26,)
    """
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc)
    row: list[float] = []
    for coeff in mfcc:
        row += _mv(coeff)
    return np.asarray(row, dtype=np.float64)


def edm_reference(y: np.ndarray, sr: int = 22050) -> np.ndarray:
    """The EDM-classifier recipe: per-row means over frames.

    ``mfcc(n_mfcc=40)`` (40), ``chroma_stft`` (12), ``tonnetz`` (6, librosa's
    default constant-Q chroma), ``zero_crossing_rate``, ``spectral_centroid``,
    ``spectral_rolloff`` (1 each): 61 values.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).standard_normal(3 * 22050).astype(np.float32) * 0.1
    >>> edm_reference(y).shape
    (61,)
    """
    parts = [
        librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40),
        librosa.feature.chroma_stft(y=y, sr=sr),
        librosa.feature.tonnetz(y=y, sr=sr),
        librosa.feature.zero_crossing_rate(y),
        librosa.feature.spectral_centroid(y=y, sr=sr),
        librosa.feature.spectral_rolloff(y=y, sr=sr),
    ]
    return np.concatenate([np.mean(p, axis=1) for p in parts]).astype(np.float64)


_REFERENCES = {
    "gtzan57": gtzan57_reference,
    "mfcc_stats": mfcc_stats_reference,
    "edm": edm_reference,
}


def reference_features(name: str, y: np.ndarray, sr: int = 22050, **params) -> np.ndarray:
    """Reference vector of feature set ``name`` (same column order as the fast set).

    Parameters
    ----------
    name : str
        ``"gtzan57"``, ``"mfcc_stats"`` or ``"edm"``.
    y : np.ndarray
        Mono float32 signal.
    sr : int
        Sample rate.
    **params
        The set's parameters (e.g. ``n_mfcc`` for ``mfcc_stats``).
    """
    from genre_core.features import UnknownFeatureSetError

    fn = _REFERENCES.get(name)
    if fn is None:
        raise UnknownFeatureSetError(
            f"No plain-librosa reference for feature set '{name}' (have: {', '.join(sorted(_REFERENCES))})."
        )
    return fn(np.ascontiguousarray(y, dtype=np.float32), sr, **params)

"""Named, versioned feature sets: one vector of named columns per audio window.

A feature set turns one window of audio (a 1-d float32 signal at ``sr``) into a
fixed-length float32 vector whose columns have stable names. Every set is a
:class:`FeatureSet` subclass registered under a short name; models record the
set's :meth:`FeatureSet.key` (name, version and parameters) so features used for
training and for prediction always match.

Shipped sets
------------
``gtzan57``
    The 57 columns of the public GTZAN feature table (``data/features_30_sec.csv``),
    same names, same order, same librosa recipe (see :mod:`.gtzan57`).
``mfcc_stats``
    Mean and variance of each MFCC (``n_mfcc``, default 20) (see :mod:`.mfcc_stats`).
``edm``
    Means of 40 MFCCs, chroma, tonnetz, zero-crossing rate, spectral centroid
    and roll-off: the EDM-classifier recipe (see :mod:`.edm`).

Each fast implementation computes the STFT of a window once and derives every
feature from it; :mod:`.reference` holds the plain feature-by-feature librosa
recipe the fast code is tested against (1e-4 relative on every column).

Examples
--------
>>> import numpy as np
>>> from genre_core.features import get_feature_set, list_feature_sets
>>> fs = get_feature_set("mfcc_stats", n_mfcc=13)
>>> fs.columns[:3]
['mfcc1_mean', 'mfcc1_var', 'mfcc2_mean']
>>> y = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
>>> fs.compute(y, 22050).shape
(26,)
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np

from ..errors import AudioError, DatasetError

__all__ = [
    "FeatureSet",
    "FEATURE_SETS",
    "register_feature_set",
    "get_feature_set",
    "list_feature_sets",
    "UnknownFeatureSetError",
]


class UnknownFeatureSetError(DatasetError):
    """A feature set name (or one of its parameters) is not known."""


#: Registered feature-set classes by name.
FEATURE_SETS: dict[str, type["FeatureSet"]] = {}


class FeatureSet:
    """Base class of a named, versioned feature set.

    Subclasses set the class attributes :attr:`name`, :attr:`version`,
    :attr:`description` and :attr:`default_params`, implement
    :meth:`_columns` and :meth:`_compute`, and are registered with
    :func:`register_feature_set`. Instances are immutable value objects: the
    parameters are fixed at construction.

    Parameters
    ----------
    **params
        Overrides of :attr:`default_params`; unknown names raise
        :class:`UnknownFeatureSetError`.

    Examples
    --------
    >>> from genre_core.features import get_feature_set
    >>> fs = get_feature_set("gtzan57")
    >>> len(fs.columns), fs.columns[0], fs.columns[-1]
    (57, 'chroma_stft_mean', 'mfcc20_var')
    >>> fs.key()
    'gtzan57@1{}'
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    default_params: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any):
        unknown = sorted(set(params) - set(self.default_params))
        if unknown:
            known = ", ".join(sorted(self.default_params)) or "none"
            raise UnknownFeatureSetError(
                f"Feature set '{self.name}' has no parameter(s) {', '.join(unknown)} "
                f"(its parameters: {known})."
            )
        merged = dict(self.default_params)
        merged.update(params)
        self.params: dict[str, Any] = self._validate(merged)
        self._column_cache: list[str] | None = None

    # -- to implement -------------------------------------------------
    def _validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check and normalise parameters (override to validate)."""
        return params

    def _columns(self) -> list[str]:
        raise NotImplementedError

    def _compute(self, y: np.ndarray, sr: int) -> np.ndarray:
        raise NotImplementedError

    # -- public API ---------------------------------------------------
    @property
    def columns(self) -> list[str]:
        """Column names, in output order."""
        if self._column_cache is None:
            self._column_cache = list(self._columns())
        return list(self._column_cache)

    def compute(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Feature vector of one window.

        Parameters
        ----------
        y : np.ndarray, shape (n,)
            Mono signal (converted to float32).
        sr : int
            Sample rate of ``y``.

        Returns
        -------
        np.ndarray, shape (len(columns),), float32
        """
        y = _check_signal(y, self.name)
        out = np.asarray(self._compute(y, int(sr)), dtype=np.float32)
        if out.shape != (len(self.columns),):  # pragma: no cover - programming error
            raise RuntimeError(f"{self.name} produced {out.shape}, expected {len(self.columns)}")
        return out

    def compute_batch(self, windows: np.ndarray, sr: int) -> np.ndarray:
        """Feature vectors of many equal-length windows.

        Parameters
        ----------
        windows : np.ndarray, shape (n_windows, n_samples)
            Windows, e.g. ``Segments.audio``.
        sr : int
            Sample rate.

        Returns
        -------
        np.ndarray, shape (n_windows, len(columns)), float32
            Row ``i`` equals ``compute(windows[i], sr)``.
        """
        windows = np.asarray(windows)
        if windows.ndim != 2:
            raise AudioError("<windows>", "unsupported",
                             f"compute_batch needs a 2-d array (windows, samples), got shape {windows.shape}.")
        out = np.empty((windows.shape[0], len(self.columns)), dtype=np.float32)
        for i in range(windows.shape[0]):
            out[i] = self.compute(windows[i], sr)
        return out

    def key(self) -> str:
        """Stable identifier of name, version and parameters (for caches and run files)."""
        return f"{self.name}@{self.version}{json.dumps(self.params, sort_keys=True, separators=(',', ':'))}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description: ``{"name", "version", "params", "columns"}``."""
        return {"name": self.name, "version": self.version, "params": dict(self.params),
                "columns": self.columns}

    def __repr__(self) -> str:
        return f"<FeatureSet {self.key()} ({len(self.columns)} columns)>"


def _check_signal(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise AudioError("<signal>", "unsupported",
                         f"Feature set '{name}' needs a mono 1-d signal, got shape {y.shape}.")
    if y.size == 0:
        raise AudioError("<signal>", "empty", f"Feature set '{name}' got an empty signal.")
    y = np.ascontiguousarray(y, dtype=np.float32)
    if not np.all(np.isfinite(y)):
        raise AudioError("<signal>", "corrupt",
                         f"Feature set '{name}' got a signal with NaN or infinite samples.")
    return y


def register_feature_set(cls: type[FeatureSet]) -> type[FeatureSet]:
    """Class decorator: make ``cls`` available to :func:`get_feature_set` under ``cls.name``.

    Examples
    --------
    >>> import numpy as np
    >>> from genre_core.features import FeatureSet, register_feature_set
    >>> @register_feature_set
    ... class Loudness(FeatureSet):
    ...     name = "doc_loudness"
    ...     def _columns(self):
    ...         return ["rms"]
    ...     def _compute(self, y, sr):
    ...         return [np.sqrt(np.mean(y ** 2))]
    >>> get_feature_set("doc_loudness").columns
    ['rms']
    """
    if not (isinstance(cls, type) and issubclass(cls, FeatureSet)) or not cls.name:
        raise TypeError("register_feature_set needs a FeatureSet subclass with a non-empty name")
    FEATURE_SETS[cls.name] = cls
    return cls


def get_feature_set(name: str, **params: Any) -> FeatureSet:
    """The feature set registered as ``name``, built with ``params``.

    Parameters
    ----------
    name : str
        One of :func:`list_feature_sets`.
    **params
        Set-specific parameters (e.g. ``n_mfcc`` for ``mfcc_stats``).

    Raises
    ------
    UnknownFeatureSetError
        (a :class:`~genre_core.errors.DatasetError`) for an unknown name or parameter.

    Examples
    --------
    >>> get_feature_set("mfcc_stats").params
    {'n_mfcc': 20}
    >>> get_feature_set("nope")
    Traceback (most recent call last):
    ...
    genre_core.features.UnknownFeatureSetError: Unknown feature set 'nope'; known feature sets: ...
    """
    cls = FEATURE_SETS.get(name)
    if cls is None:
        known = ", ".join(list_feature_sets())
        raise UnknownFeatureSetError(f"Unknown feature set '{name}'; known feature sets: {known}.")
    return cls(**params)


def list_feature_sets() -> list[str]:
    """Names of the registered feature sets, sorted.

    Examples
    --------
    >>> [n for n in list_feature_sets() if n in ("edm", "gtzan57", "mfcc_stats")]
    ['edm', 'gtzan57', 'mfcc_stats']
    """
    return sorted(FEATURE_SETS)


# Register the shipped sets (imported for their side effect).
from . import gtzan57, mfcc_stats, edm, musicnn  # noqa: E402,F401

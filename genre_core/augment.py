"""Reproducible audio augmentation (audiomentations) for training tracks only.

Augmentation makes extra training examples by perturbing whole tracks:
time-stretch, pitch-shift, Gaussian noise and gain, each applied with its own
probability and random strength (:class:`AugmentConfig`). It is applied to
**training tracks only, before segmenting**: :mod:`genre_core.training` asks
:func:`genre_core.extraction.compute_dataset_inputs` for ``n_augment`` copies of
the training tracks (ids ``"<track id>#aug1"`` ...), never for validation or
test tracks, and :func:`genre_core.splits.check_no_leak` refuses augmented
copies outside the training side.

Every copy is reproducible: the random draws for copy ``k`` of a track depend
only on ``(seed, track_id, k)`` (a private generator state is seeded for the
call and the global ``random``/``numpy.random`` states are restored after), so
the same copy can be recomputed, cached under :meth:`Augmenter.key` and
explained: :meth:`Augmenter.augment` returns the parameters actually applied.

Example
-------
>>> import numpy as np
>>> aug = Augmenter(AugmentConfig(), seed=0)
>>> y = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32)
>>> y2, params = aug.augment(y, 22050, track_id="blues/blues.00000", copy_index=1)
>>> sorted(params)                                            # doctest: +SKIP
['AddGaussianNoise', 'Gain', 'PitchShift', 'TimeStretch', 'copy_index', 'seed', 'track_id']
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np

from .errors import GenreLabError

__all__ = ["AugmentConfig", "Augmenter", "AUGMENT_VERSION"]

#: Bumped whenever the augmentation pipeline changes what it produces (invalidates cached copies).
AUGMENT_VERSION = "1"

# audiomentations draws from the global ``random`` and ``numpy.random`` states;
# one augmentation at a time per process, with those states saved and restored.
_RNG_LOCK = threading.Lock()


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the four augmentations.

    Attributes
    ----------
    time_stretch_p : float
        Probability of a time stretch (tempo change, same pitch).
    time_stretch_min, time_stretch_max : float
        Rate range (``1.1`` = 10 % faster). The track's length changes
        accordingly (no silence is padded in).
    pitch_shift_p : float
        Probability of a pitch shift (same tempo).
    pitch_semitones : float
        Shift drawn uniformly in ``[-pitch_semitones, +pitch_semitones]``.
    noise_p : float
        Probability of adding white Gaussian noise.
    noise_min_amplitude, noise_max_amplitude : float
        Noise standard deviation range (full scale = 1.0).
    gain_p : float
        Probability of a gain change.
    gain_min_db, gain_max_db : float
        Gain range in dB.

    Example
    -------
    >>> AugmentConfig(noise_p=0.0).to_dict()["noise_p"]
    0.0
    """

    time_stretch_p: float = 0.5
    time_stretch_min: float = 0.9
    time_stretch_max: float = 1.1
    pitch_shift_p: float = 0.5
    pitch_semitones: float = 2.0
    noise_p: float = 0.3
    noise_min_amplitude: float = 0.001
    noise_max_amplitude: float = 0.01
    gain_p: float = 0.5
    gain_min_db: float = -6.0
    gain_max_db: float = 6.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise GenreLabError(f"Augmentation setting {f.name} must be a number, not {value!r}.") from None
            if not np.isfinite(value):
                raise GenreLabError(f"Augmentation setting {f.name} must be finite, not {value}.")
            setattr(self, f.name, value)
        for name in ("time_stretch_p", "pitch_shift_p", "noise_p", "gain_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise GenreLabError(f"Augmentation probability {name} must be between 0 and 1, "
                                    f"not {getattr(self, name)}.")
        if not 0.1 <= self.time_stretch_min <= self.time_stretch_max <= 10.0:
            raise GenreLabError(
                f"Time-stretch rates must satisfy 0.1 <= min <= max <= 10 "
                f"(got {self.time_stretch_min}..{self.time_stretch_max})."
            )
        if not 0.0 <= self.pitch_semitones <= 12.0:
            raise GenreLabError(f"pitch_semitones must be between 0 and 12, not {self.pitch_semitones}.")
        if not 0.0 < self.noise_min_amplitude <= self.noise_max_amplitude:
            raise GenreLabError(
                f"Noise amplitudes must satisfy 0 < min <= max (got {self.noise_min_amplitude}.."
                f"{self.noise_max_amplitude})."
            )
        if self.gain_min_db > self.gain_max_db:
            raise GenreLabError(f"gain_min_db ({self.gain_min_db}) is above gain_max_db ({self.gain_max_db}).")

    def to_dict(self) -> dict:
        """JSON-able settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "AugmentConfig":
        """Settings from :meth:`to_dict` (unknown keys raise ``GenreLabError``)."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise GenreLabError(f"Unknown augmentation setting(s): {', '.join(unknown)}.")
        return cls(**d)


def _derive_seed(seed: int, track_id: str, copy_index: int) -> int:
    digest = hashlib.sha256(f"{int(seed)}\x00{track_id}\x00{int(copy_index)}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class Augmenter:
    """Applies :class:`AugmentConfig` to whole tracks, reproducibly.

    Parameters
    ----------
    config : AugmentConfig
        What to apply and how strongly.
    seed : int
        Base seed; with the track id and copy index it fixes every random draw.

    Notes
    -----
    The transforms run in the order TimeStretch, PitchShift, AddGaussianNoise,
    Gain (audiomentations, ``signalsmith_stretch`` method). Output is float32
    and is not clipped (features and spectrograms do not need it in [-1, 1]).
    """

    TRANSFORMS = ("TimeStretch", "PitchShift", "AddGaussianNoise", "Gain")

    def __init__(self, config: AugmentConfig | None = None, seed: int = 0):
        self.config = config if config is not None else AugmentConfig()
        if isinstance(self.config, Mapping):
            self.config = AugmentConfig.from_dict(self.config)
        self.seed = int(seed)
        self._transforms = None

    def _build(self):
        if self._transforms is None:
            from audiomentations import AddGaussianNoise, Gain, PitchShift, TimeStretch

            c = self.config
            self._transforms = [
                TimeStretch(min_rate=c.time_stretch_min, max_rate=c.time_stretch_max,
                            leave_length_unchanged=False, p=c.time_stretch_p),
                PitchShift(min_semitones=-c.pitch_semitones, max_semitones=c.pitch_semitones,
                           p=c.pitch_shift_p),
                AddGaussianNoise(min_amplitude=c.noise_min_amplitude, max_amplitude=c.noise_max_amplitude,
                                 p=c.noise_p),
                Gain(min_gain_db=c.gain_min_db, max_gain_db=c.gain_max_db, p=c.gain_p),
            ]
        return self._transforms

    def augment(self, y: np.ndarray, sr: int, *, track_id: str, copy_index: int) -> tuple[np.ndarray, dict]:
        """One augmented copy of a track.

        Parameters
        ----------
        y : np.ndarray
            Mono float signal.
        sr : int
            Its sample rate.
        track_id : str
            The track's id (part of the random seed).
        copy_index : int
            Which copy (1, 2, ...); part of the random seed.

        Returns
        -------
        y_aug : np.ndarray
            float32 augmented signal (its length changes when time-stretched).
        params : dict
            JSON-able record of what was applied: for each transform
            ``{"applied": bool, ...drawn values}``, plus ``seed``, ``track_id``
            and ``copy_index``.

        Example
        -------
        >>> y2, p = Augmenter(seed=3).augment(y, 22050, track_id="a/b", copy_index=1)  # doctest: +SKIP
        >>> p["PitchShift"]                                                            # doctest: +SKIP
        {'applied': True, 'num_semitones': -1.27}
        """
        y = np.ascontiguousarray(np.asarray(y, dtype=np.float32))
        if y.ndim != 1:
            raise ValueError(f"augment() needs a mono 1-D signal, got shape {y.shape}")
        derived = _derive_seed(self.seed, track_id, copy_index)
        params: dict[str, Any] = {"seed": self.seed, "track_id": track_id, "copy_index": int(copy_index)}
        transforms = self._build()
        with _RNG_LOCK:
            py_state = random.getstate()
            np_state = np.random.get_state()
            try:
                random.seed(derived)
                np.random.seed(derived)
                out = y
                for t in transforms:
                    out = t(out, sr)
                    applied = dict(t.parameters)
                    flag = bool(applied.pop("should_apply", False))
                    entry = {"applied": flag, **(_jsonable(applied) if flag else {})}
                    if flag and "amplitude_ratio" in entry:
                        entry["gain_db"] = 20.0 * float(np.log10(max(entry["amplitude_ratio"], 1e-12)))
                    params[type(t).__name__] = entry
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)
        out = np.ascontiguousarray(out, dtype=np.float32)
        return out, params

    def __getstate__(self) -> dict:  # sent to worker processes without the transform objects
        state = dict(self.__dict__)
        state["_transforms"] = None
        return state

    def key(self) -> str:
        """Stable string naming these settings, for cache keys and run records."""
        import audiomentations

        text = json.dumps({"config": self.config.to_dict(), "seed": self.seed,
                           "version": AUGMENT_VERSION, "audiomentations": audiomentations.__version__},
                          sort_keys=True)
        return "aug-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        """JSON-able description (settings + seed)."""
        return {"config": self.config.to_dict(), "seed": self.seed, "key": self.key()}

    def __repr__(self) -> str:
        return f"Augmenter(seed={self.seed}, config={self.config})"

"""What a model consumes: per-window features or log-mel spectrograms, for a track or a dataset.

An :class:`InputSpec` names the representation (``kind``), its parameters and
the windowing. :func:`compute_track_input` turns one signal into a
:class:`TrackInput` (one row per window); :func:`compute_dataset_inputs` does
it for a whole list of tracks: decoding with :func:`genre_core.audio.load_audio`,
in parallel (joblib), through the on-disk :class:`~genre_core.cache.FeatureCache`
(so a second run is near-instant and a changed file or parameter recomputes
only what changed), skipping unreadable files (returned as failures), and
adding augmented copies of tracks when asked (training tracks only: the
caller decides which tracks, see :mod:`genre_core.augment`).
:func:`table_inputs` reads the same kind of input from a feature-table
dataset (no audio).

Kinds
-----
``"features"``
    ``get_feature_set(spec.feature_set, **spec.params).compute_batch(windows, sr)``:
    ``X`` is ``(n_windows, n_features)``.
``"logmel"``
    :func:`genre_core.spectrogram.log_melspectrogram` per window (``spec.params``
    may set ``n_fft``, ``hop_length``, ``n_mels``): ``X`` is
    ``(n_windows, n_mels, n_frames)``.

``window=None`` means "the whole clip as one window" (like the public 30-second
feature table); otherwise windows follow :func:`genre_core.segment.segment`.

Example
-------
>>> spec = InputSpec(kind="features", feature_set="gtzan57", params={}, window=3.0)
>>> ds = open_dataset("synthetic")                                  # doctest: +SKIP
>>> inputs, failures = compute_dataset_inputs(ds.tracks, spec)      # doctest: +SKIP
>>> inputs["drone/drone.00000"].X.shape                             # doctest: +SKIP
(2, 57)
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np

from . import config
from .cache import FeatureCache, cache_key, content_hash
from .errors import AudioError, DatasetError, GenreLabError, TrainingCancelled

if TYPE_CHECKING:  # pragma: no cover
    from .augment import Augmenter
    from .dataset import Dataset, Track
    from .segment import SegmentSpec

__all__ = [
    "InputSpec",
    "TrackInput",
    "INPUT_KINDS",
    "INPUTS_VERSION",
    "compute_track_input",
    "EXTRACTION_COST_S_PER_MIN",
    "compute_dataset_inputs",
    "extraction_plan",
    "table_inputs",
    "stack_inputs",
]

#: Representations a model can ask for.
INPUT_KINDS = ("features", "logmel")
#: Sane ranges an :class:`InputSpec` must respect (seconds, Hz): a damaged or hostile run cannot make
#: prediction allocate without bound. Windows: 0.1 s .. MAX_DURATION; hops: 0.05 s .. MAX_DURATION.
WINDOW_RANGE = (0.1, config.MAX_DURATION)
HOP_RANGE = (0.05, config.MAX_DURATION)
SR_RANGE = (4000, 96000)
#: Numeric input parameters (``n_mels``, ``n_fft``, ``n_mfcc``...) must be finite and at most this large.
MAX_PARAM_VALUE = 65536
#: Bumped when windowing/loading changes what cached inputs contain.
INPUTS_VERSION = "1"
#: Version of the log-mel input (bump if spectrogram.py changes its output).
LOGMEL_VERSION = "1"


# --------------------------------------------------------------------- specs


def _in_range(name: str, value: Any, lo: float, hi: float, unit: str, *, integer: bool = False) -> float:
    """``value`` as a float within ``[lo, hi]``, else a GenreLabError naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise GenreLabError(f"input {name!r}: expected a number, not {value!r:.60}.")
    v = float(value)
    if not np.isfinite(v) or not lo <= v <= hi or (integer and v != int(v)):
        kind = "an integer" if integer else "a number"
        raise GenreLabError(f"input {name!r}: {value!r:.60} is out of range; the {name} must be > 0 and "
                            f"{kind} from {lo:g} to {hi:g} {unit}.")
    return v


def _check_param(name: str, value: Any) -> None:
    """A numeric input parameter must be finite and moderate (nested values are checked too)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        if not np.isfinite(float(value)) or abs(float(value)) > MAX_PARAM_VALUE:
            raise GenreLabError(f"input 'params.{name}': {value!r:.60} is out of range "
                                f"(at most {MAX_PARAM_VALUE} in size).")
        return
    if isinstance(value, (list, tuple)):
        if len(value) > 4096:
            raise GenreLabError(f"input 'params.{name}': a list of {len(value)} values is too long.")
        for v in value:
            _check_param(name, v)
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_param(f"{name}.{k}", v)
        return
    raise GenreLabError(f"input 'params.{name}': unsupported value {value!r:.60}.")


@dataclass(frozen=True)
class InputSpec:
    """The model input: representation, parameters and windowing.

    Parameters
    ----------
    kind : {"features", "logmel"}
        Feature vectors per window, or a log-mel spectrogram per window.
    feature_set : str or None
        Registered feature-set name (``"gtzan57"``, ``"mfcc_stats"``, ...) when
        ``kind == "features"``; ``None`` for ``"logmel"``.
    params : dict
        JSON-able parameters of the feature set, or of
        :func:`~genre_core.spectrogram.log_melspectrogram` (``n_fft``,
        ``hop_length``, ``n_mels``).
    window : float or None
        Window length in seconds; ``None`` = the whole clip as one window.
    hop : float or None
        Seconds between windows; ``None`` = ``window`` (no overlap).
    sr : int
        Sample rate audio is loaded at.

    Example
    -------
    >>> InputSpec("logmel", None, {"n_mels": 96}).to_dict()["params"]
    {'n_mels': 96}
    """

    kind: str
    feature_set: str | None = None
    params: dict = field(default_factory=dict)
    window: float | None = config.WINDOW_SECONDS
    hop: float | None = None
    sr: int = config.SAMPLE_RATE

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or self.kind not in INPUT_KINDS:
            raise GenreLabError(f"input 'kind': Unknown input kind {self.kind!r}; use one of {', '.join(INPUT_KINDS)}.")
        if self.kind == "features" and not (isinstance(self.feature_set, str) and self.feature_set):
            raise GenreLabError("input 'feature_set': an input of kind 'features' needs a feature_set name "
                                f"(e.g. 'gtzan57'), not {self.feature_set!r}.")
        if not isinstance(self.params or {}, Mapping):
            raise GenreLabError(f"input 'params': expected an object, not {type(self.params).__name__}.")
        params = dict(self.params or {})
        try:
            json.dumps(params, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as err:
            raise GenreLabError(f"input 'params': parameters must be JSON-able, finite values ({err}).") from None
        for k, v in params.items():
            _check_param(k, v)
        object.__setattr__(self, "params", params)
        if self.kind == "logmel" and self.feature_set is not None:
            object.__setattr__(self, "feature_set", None)
        if self.window is not None:
            object.__setattr__(self, "window", _in_range("window", self.window, *WINDOW_RANGE, "s"))
        if self.hop is not None:
            object.__setattr__(self, "hop", _in_range("hop", self.hop, *HOP_RANGE, "s"))
        object.__setattr__(self, "sr", int(_in_range("sr", self.sr, *SR_RANGE, "Hz", integer=True)))

    def segment_spec(self) -> "SegmentSpec | None":
        """The :class:`~genre_core.segment.SegmentSpec` for this input (``None`` for whole clips)."""
        from .segment import SegmentSpec

        if self.window is None:
            return None
        return SegmentSpec(window=self.window, hop=self.hop)

    def to_dict(self) -> dict:
        """JSON-able form (round-trips through :meth:`from_dict`)."""
        return {"kind": self.kind, "feature_set": self.feature_set, "params": dict(self.params),
                "window": self.window, "hop": self.hop, "sr": self.sr}

    @classmethod
    def from_dict(cls, d: Mapping) -> "InputSpec":
        """Rebuild from :meth:`to_dict` output (missing keys take defaults; every field is range-checked)."""
        if not isinstance(d, Mapping) or "kind" not in d:
            raise GenreLabError("An input description needs at least a 'kind'.")
        return cls(kind=d["kind"], feature_set=d.get("feature_set"), params=d.get("params") or {},
                   window=d.get("window", config.WINDOW_SECONDS), hop=d.get("hop"),
                   sr=d.get("sr", config.SAMPLE_RATE))

    def key(self) -> str:
        """Stable, readable identifier, e.g. ``features-gtzan57-w3-h3-sr22050-1a2b3c4d``."""
        digest = hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()[:10]
        win = "clip" if self.window is None else f"{self.window:g}"
        hop = "clip" if self.window is None else f"{(self.hop or self.window):g}"
        name = self.feature_set if self.kind == "features" else "logmel"
        return f"{self.kind}-{name}-w{win}-h{hop}-sr{self.sr}-{digest}"

    def __hash__(self) -> int:
        return hash(self.key())

    def describe(self) -> str:
        """One line for people: ``gtzan57 features, 3 s windows, hop 1.5 s``."""
        what = f"{self.feature_set} features" if self.kind == "features" else "log-mel spectrograms"
        if self.params:
            what += " (" + ", ".join(f"{k}={v}" for k, v in sorted(self.params.items())) + ")"
        if self.window is None:
            return f"{what}, whole clip"
        hop = f", hop {self.hop:g} s" if self.hop and self.hop != self.window else ""
        return f"{what}, {self.window:g} s windows{hop}"


@dataclass
class TrackInput:
    """Model input of one track (or one augmented copy).

    Attributes
    ----------
    track_id : str
        The track id; augmented copies are ``"<id>#aug<k>"``.
    X : np.ndarray
        float32, one row per window: ``(n, n_features)`` or ``(n, n_mels, n_frames)``.
    starts, ends : np.ndarray
        ``(n,)`` seconds of each window in the (possibly augmented) signal.
    info : dict
        Extra facts, e.g. the augmentation parameters applied (``info["augment"]``).
    """

    track_id: str
    X: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.X.shape[0])


# --------------------------------------------------------------------- one track


@lru_cache(maxsize=32)
def _feature_set_for(name: str, params_json: str):
    from .features import get_feature_set

    return get_feature_set(name, **json.loads(params_json))


def _logmel_params(params: Mapping[str, Any]) -> dict:
    from .spectrogram import log_melspectrogram

    sig = inspect.signature(log_melspectrogram)
    allowed = {n for n, p in sig.parameters.items()
               if p.kind == inspect.Parameter.KEYWORD_ONLY and n not in ("S",)}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise GenreLabError(
            f"Unknown log-mel parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}."
        )
    return dict(params)


def _extractor_key(spec: InputSpec) -> str:
    """What decides the computed values besides the windowing: the feature set's name,
    version and *resolved* parameters (so ``{}`` and the explicit defaults share cache
    entries), or the log-mel parameters with their defaults filled in."""
    if spec.kind == "features":
        fs = _feature_set_for(spec.feature_set, json.dumps(spec.params, sort_keys=True))
        return fs.key()
    from . import spectrogram

    params = _logmel_params(spec.params)
    sig = inspect.signature(spectrogram.log_melspectrogram)
    resolved = {n: p.default for n, p in sig.parameters.items()
                if p.kind == inspect.Parameter.KEYWORD_ONLY and n != "S"}
    resolved.update(params)
    return (f"logmel@{LOGMEL_VERSION}/{getattr(spectrogram, 'VERSION', '')}"
            f"{json.dumps(resolved, sort_keys=True, separators=(',', ':'))}")


def _windows(y: np.ndarray, sr: int, spec: InputSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if spec.window is None:
        n = y.shape[0]
        return y[None, :], np.zeros(1 if n else 0), np.full(1 if n else 0, n / sr)
    from .segment import segment

    segs = segment(y, sr, spec.segment_spec())
    return segs.audio, np.asarray(segs.starts, dtype=np.float64), np.asarray(segs.ends, dtype=np.float64)


def compute_track_input(y: np.ndarray, sr: int, spec: InputSpec, *, track_id: str = "") -> TrackInput:
    """Segment one signal and compute the model input of every window.

    Parameters
    ----------
    y : np.ndarray or genre_core.audio.Audio
        Mono signal (an ``Audio`` brings its own ``sr``).
    sr : int
        Sample rate of ``y``; resampled to ``spec.sr`` if different.
    spec : InputSpec
        Representation and windowing.
    track_id : str
        Recorded in the result.

    Returns
    -------
    TrackInput
        ``X`` float32 with one row per window.

    Example
    -------
    >>> import numpy as np
    >>> y = np.random.default_rng(0).standard_normal(22050 * 7).astype("float32") * 0.1
    >>> ti = compute_track_input(y, 22050, InputSpec("logmel", None, {"n_mels": 64}))  # doctest: +SKIP
    >>> ti.X.shape, ti.starts.tolist()                                                 # doctest: +SKIP
    ((2, 64, 130), [0.0, 3.0])
    """
    if hasattr(y, "y") and hasattr(y, "sr"):  # genre_core.audio.Audio
        y, sr = y.y, y.sr
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise GenreLabError(f"compute_track_input needs a mono 1-D signal, got shape {y.shape}.")
    sr = int(sr)
    if sr != spec.sr:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=spec.sr, res_type="soxr_hq").astype(np.float32)
        sr = spec.sr
    windows, starts, ends = _windows(y, sr, spec)
    if spec.kind == "features":
        fs = _feature_set_for(spec.feature_set, json.dumps(spec.params, sort_keys=True))
        if windows.shape[0]:
            X = fs.compute_batch(windows, sr)
        else:
            X = np.zeros((0, len(fs.columns)), np.float32)
    else:
        from . import spectrogram

        params = _logmel_params(spec.params)
        if windows.shape[0]:
            batch = getattr(spectrogram, "log_melspectrogram_batch", None)
            if batch is not None:
                X = batch(windows, sr, **params)
            else:
                X = np.stack([spectrogram.log_melspectrogram(w, sr, **params) for w in windows])
        else:
            n_mels = int(params.get("n_mels", 128))
            hop = int(params.get("hop_length", 512))
            n_win = int(round((spec.window or 0) * sr))
            X = np.zeros((0, n_mels, 1 + n_win // hop), np.float32)
    return TrackInput(track_id, np.ascontiguousarray(X, dtype=np.float32), starts, ends)


# --------------------------------------------------------------------- many tracks


def _resolve_jobs(n_jobs: int | None, n_tasks: int) -> int:
    cpus = os.cpu_count() or 1
    if n_jobs is None or n_jobs == 0:
        n = 1
    elif n_jobs < 0:
        n = max(1, cpus + 1 + n_jobs)
    else:
        n = int(n_jobs)
    return max(1, min(n, n_tasks))


def _entry_key(sha1: str, spec: InputSpec, extractor: str, aug_key: str | None, copy: int) -> str:
    windowing = {"window": spec.window, "hop": spec.hop, "sr": spec.sr}  # params live in `extractor`
    return cache_key(
        content=sha1,
        input=windowing,
        extractor=extractor,
        augment=aug_key if copy > 0 else None,
        copy=int(copy),
        version=INPUTS_VERSION,
        max_duration=config.MAX_DURATION,
    )


def _copy_id(track_id: str, copy: int) -> str:
    return track_id if copy == 0 else f"{track_id}#aug{copy}"


def _extract_track(track_id: str, path: str, spec: InputSpec, copies: list[int],
                   augmenter: "Augmenter | None") -> tuple[str, dict | None, str | None]:
    """Worker: load one file and compute the requested copies (0 = original).

    Returns ``(track_id, {copy: (X, starts, ends, info)}, None)`` or
    ``(track_id, None, "reason: explanation")`` for a file that cannot be used.
    """
    from .audio import load_audio

    try:
        audio = load_audio(path, sr=spec.sr, max_duration=config.MAX_DURATION)
        out = {}
        for k in copies:
            y, info = audio.y, {}
            if k > 0:
                y, params = augmenter.augment(audio.y, audio.sr, track_id=track_id, copy_index=k)
                info = {"augment": params}
            ti = compute_track_input(y, audio.sr, spec, track_id=_copy_id(track_id, k))
            if len(ti) == 0:
                raise AudioError(path, "too_short", f"{Path(path).name} yields no analysis window.")
            out[k] = (ti.X, ti.starts, ti.ends, info)
        return track_id, out, None
    except AudioError as err:
        return track_id, None, f"{err.reason}: {err.detail}"
    except GenreLabError as err:
        return track_id, None, f"error: {err}"


def _extract_on_worker(track_id: str, path: str, spec: InputSpec, copies: list[int], augmenter: "Augmenter | None",
                       cache_root: str | None, keys: dict[int, str]) -> tuple[str, dict | None, str | None]:
    """A Dask task: :func:`_extract_track`, plus the entries written to the cache when the worker
    sees the client's cache folder (shared storage; atomic writes, so concurrent writers are safe)."""
    if not Path(path).exists():
        raise _engine_error(f"A Dask worker cannot see {path}; workers need the audio at the same path "
                            "as this machine (shared storage).")
    track_id, out, error = _extract_track(track_id, path, spec, copies, augmenter)
    if out is not None and cache_root is not None and Path(cache_root).is_dir():
        shared = FeatureCache(cache_root)
        for k, (X, starts, ends, info) in out.items():
            shared.put(keys[k], _to_entry(X, starts, ends, info))
    return track_id, out, error


def _engine_error(message: str) -> GenreLabError:
    from .engine import EngineError

    return EngineError(message)


def _to_entry(X, starts, ends, info) -> dict[str, np.ndarray]:
    return {"X": X, "starts": starts, "ends": ends, "info": np.array(json.dumps(info, sort_keys=True))}


def _from_entry(track_id: str, entry: Mapping[str, np.ndarray], spec: InputSpec | None = None) -> TrackInput | None:
    """The cached input, or ``None`` when the entry is damaged (then it is recomputed and replaced).

    Damaged: missing arrays, unreadable info, non-finite values, no windows, or
    a shape that does not fit ``spec`` (feature width, spectrogram axes).
    """
    try:
        X = np.asarray(entry["X"], dtype=np.float32)
        starts = np.asarray(entry["starts"], dtype=np.float64)
        ends = np.asarray(entry["ends"], dtype=np.float64)
        info = json.loads(str(entry["info"])) if "info" in entry else {}
    except (KeyError, ValueError, TypeError):
        return None
    if X.ndim < 2 or X.shape[0] == 0 or starts.shape != (X.shape[0],) or ends.shape != (X.shape[0],):
        return None
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(starts)) and np.all(np.isfinite(ends))):
        return None
    if spec is not None:
        if spec.kind == "logmel" and X.ndim != 3:
            return None
        if spec.kind == "features" and (X.ndim != 2 or X.shape[1] != _feature_width(spec)):
            return None
    return TrackInput(track_id, X, starts, ends, info if isinstance(info, dict) else {})


def _feature_width(spec: InputSpec) -> int:
    """Number of columns the spec's feature set produces (-1 if it cannot say)."""
    try:
        return len(_feature_set_for(spec.feature_set, json.dumps(spec.params, sort_keys=True)).columns)
    except Exception:  # noqa: BLE001 - an unknown set fails later with its own message
        return -1


#: One core's seconds of extraction per minute of audio, by feature set (``logmel`` for spectrograms).
#: Measured with ``scripts/benchmark_features.py`` and ``predict --json`` timings on this project's 2-core
#: machine (GTZAN clips, decoding included); an estimate, good to a factor of about two.
EXTRACTION_COST_S_PER_MIN = {"gtzan57": 0.45, "mfcc_stats": 0.12, "edm": 0.5, "musicnn": 3.0,
                             "musicnn_pool": 3.0, "musicnn_taggram": 3.0, "logmel": 0.1}
#: Assumed length of a track whose duration is not known yet (seconds).
ASSUMED_TRACK_SECONDS = 30.0


def extraction_plan(tracks: "Iterable[Track] | Dataset", spec: InputSpec, *, n_augment: int = 0,
                    cache: FeatureCache | None = None, n_workers: int | None = None) -> dict:
    """What preparing ``spec`` inputs for ``tracks`` will cost, before any audio is decoded.

    Reads each file once to hash it (to look its entries up in the cache).

    Returns
    -------
    dict
        ``tracks`` (with audio), ``cached`` (every copy already in the cache),
        ``to_extract``, ``audio_minutes`` (of the tracks to extract, copies
        included), ``workers``, ``s_per_minute`` and ``estimate_s`` (wall
        seconds, ``None`` when the feature set has no measured cost).

    Examples
    --------
    >>> plan = extraction_plan(ds, InputSpec("features", "gtzan57"))   # doctest: +SKIP
    >>> plan["to_extract"], round(plan["estimate_s"])                  # doctest: +SKIP
    (217, 52)
    """
    track_list = [t for t in (tracks.tracks if hasattr(tracks, "tracks") else tracks) if t.path is not None]
    cache = cache if cache is not None else FeatureCache()
    extractor = _extractor_key(spec)
    copies = range(int(n_augment or 0) + 1)
    cached = 0
    minutes = 0.0
    for t in track_list:
        try:
            sha1 = content_hash(t.path)
        except OSError:
            continue
        # augmented copies depend on the augmenter's settings: count only the plain copy as cacheable
        if _entry_key(sha1, spec, extractor, None, 0) in cache and not n_augment:
            cached += 1
            continue
        dur = t.duration if getattr(t, "duration", None) else ASSUMED_TRACK_SECONDS
        minutes += min(float(dur), config.MAX_DURATION) / 60.0 * len(copies)
    name = spec.feature_set if spec.kind == "features" else "logmel"
    per_min = EXTRACTION_COST_S_PER_MIN.get(name)
    workers = max(1, n_workers or (os.cpu_count() or 1))
    return {
        "tracks": len(track_list),
        "cached": cached,
        "to_extract": len(track_list) - cached,
        "audio_minutes": round(minutes, 2),
        "workers": workers,
        "s_per_minute": per_min,
        "estimate_s": None if per_min is None else minutes * per_min / workers,
    }


def compute_dataset_inputs(
    tracks: "Iterable[Track] | Dataset",
    spec: InputSpec,
    *,
    n_jobs: int = -1,
    use_cache: bool = True,
    progress: Callable[[dict], None] | None = None,
    augmenter: "Augmenter | None" = None,
    n_augment: int = 0,
    should_stop: Callable[[], bool] | None = None,
    backend: str | None = None,
    cache: FeatureCache | None = None,
) -> tuple[dict[str, TrackInput], list[tuple[str, str]]]:
    """Inputs of many tracks: cached, parallel, failures collected.

    Parameters
    ----------
    tracks : list of Track or Dataset
        Tracks with audio files (``Track.path``).
    spec : InputSpec
        What to compute.
    n_jobs : int
        Worker processes (``-1``: all cores; ``1``: in this process).
    use_cache : bool
        Read and write the on-disk cache (``False`` recomputes everything and
        stores nothing).
    progress : callable, optional
        Receives ``{"stage": "extracting", "done": i, "total": n, "cached": c,
        "failed": f, "track_id": id}`` after each track.
    augmenter : Augmenter, optional
        With ``n_augment > 0``, adds copies ``"<id>#aug1"`` ...
        ``"<id>#aug<n_augment>"`` of **every** given track. Pass training tracks
        only.
    n_augment : int
        Augmented copies per track.
    should_stop : callable, optional
        Polled between tracks; when it returns True, extraction stops with
        :class:`~genre_core.errors.TrainingCancelled` (finished tracks stay cached).
    backend : str, optional
        joblib backend (default: joblib's current one, ``"loky"`` unless set
        with ``joblib.parallel_config``); ``"threading"`` also works.
    cache : FeatureCache, optional
        Cache to use (default ``FeatureCache()`` under ``config.cache_dir()``).

    Returns
    -------
    inputs : dict
        ``{track id (or copy id): TrackInput}`` in track order, originals
        before their copies.
    failures : list of (str, str)
        ``(track id, "reason: explanation")`` for tracks that could not be used.

    Example
    -------
    >>> inputs, failures = compute_dataset_inputs(ds.tracks, spec, n_jobs=2)  # doctest: +SKIP
    >>> failures                                                             # doctest: +SKIP
    [('rock/rock.00042', 'truncated: rock.00042.wav is truncated: ...')]
    """
    track_list = list(tracks.tracks if hasattr(tracks, "tracks") else tracks)
    n_augment = int(n_augment or 0)
    if n_augment < 0:
        raise GenreLabError(f"n_augment must be 0 or more, not {n_augment}.")
    if n_augment > 0 and augmenter is None:
        raise GenreLabError("n_augment > 0 needs an augmenter (genre_core.augment.Augmenter).")
    if cache is None:
        cache = FeatureCache(enabled=use_cache)
    elif not use_cache:
        cache = FeatureCache(cache.root, enabled=False)
    extractor = _extractor_key(spec)
    aug_key = augmenter.key() if (augmenter is not None and n_augment > 0) else None
    copies_wanted = list(range(n_augment + 1))

    total = len(track_list)
    results: dict[str, dict[int, TrackInput]] = {}
    failures: dict[str, str] = {}
    tasks: list[tuple[str, str, list[int]]] = []
    keys: dict[str, dict[int, str]] = {}
    n_cached = 0
    done = 0

    def report(track_id: str) -> None:
        if progress is not None:
            progress({"stage": "extracting", "done": done, "total": total, "cached": n_cached,
                      "failed": len(failures), "track_id": track_id})

    if progress is not None:
        progress({"stage": "extracting", "done": 0, "total": total, "cached": 0, "failed": 0})
    for t in track_list:
        if t.path is None:
            failures[t.track_id] = "no_audio: this track comes from a feature table and has no audio file."
            done += 1
            continue
        try:
            sha1 = content_hash(t.path)
        except OSError as err:
            failures[t.track_id] = f"missing: {Path(t.path).name} cannot be read ({err.strerror or err})."
            done += 1
            continue
        keys[t.track_id] = {k: _entry_key(sha1, spec, extractor, aug_key, k) for k in copies_wanted}
        got: dict[int, TrackInput] = {}
        for k in copies_wanted:
            entry = cache.get(keys[t.track_id][k])
            ti = _from_entry(_copy_id(t.track_id, k), entry, spec) if entry is not None else None
            if ti is not None:
                got[k] = ti
        results[t.track_id] = got
        missing = [k for k in copies_wanted if k not in got]
        if missing:
            tasks.append((t.track_id, str(t.path), missing))
        else:
            n_cached += 1
            done += 1
            report(t.track_id)

    def consume(track_id: str, out: dict | None, error: str | None) -> None:
        nonlocal done
        if error is not None:
            failures[track_id] = error
            results.pop(track_id, None)
        else:
            for k, (X, starts, ends, info) in out.items():
                cache.put(keys[track_id][k], _to_entry(X, starts, ends, info))
                results[track_id][k] = TrackInput(_copy_id(track_id, k), X, starts, ends, info)
        done += 1
        report(track_id)

    def stopped() -> bool:
        return should_stop is not None and bool(should_stop())

    from . import engine as _engine

    eng = _engine.current()  # --dask / GENRE_DASK: Dask workers; inside a worker: serial
    n_workers = eng.local_jobs(_resolve_jobs(n_jobs, len(tasks)))
    if tasks and eng.is_dask:
        root = str(cache.root.resolve()) if cache.enabled else None
        for res in eng.map(_extract_on_worker, [(tid, path, spec, missing, augmenter, root, keys[tid])
                                                for tid, path, missing in tasks],
                           should_stop=stopped, what="feature extraction",
                           stop_message=lambda: f"Feature extraction was stopped after {done} of {total} tracks."):
            consume(*res)
    elif tasks and n_workers <= 1:
        for track_id, path, missing in tasks:
            if stopped():
                raise TrainingCancelled(f"Feature extraction was stopped after {done} of {total} tracks.")
            consume(*_extract_track(track_id, path, spec, missing, augmenter))
    elif tasks:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=n_workers, backend=backend, return_as="generator")
        gen = parallel(delayed(_extract_track)(tid, path, spec, missing, augmenter)
                       for tid, path, missing in tasks)
        try:
            for res in gen:
                consume(*res)
                if stopped():
                    raise TrainingCancelled(
                        f"Feature extraction was stopped after {done} of {total} tracks."
                    )
        finally:
            close = getattr(gen, "close", None)
            if close is not None:
                close()

    inputs: dict[str, TrackInput] = {}
    for t in track_list:
        got = results.get(t.track_id)
        if not got:
            continue
        for k in copies_wanted:
            if k in got:
                inputs[_copy_id(t.track_id, k)] = got[k]
    failed = [(t.track_id, failures[t.track_id]) for t in track_list if t.track_id in failures]
    return inputs, failed


# --------------------------------------------------------------------- tables


def table_inputs(dataset: "Dataset", spec: InputSpec) -> dict[str, TrackInput]:
    """Inputs of a feature-table dataset: one segment per row, columns in the feature set's order.

    A 30-second table (``features_30_sec.csv``) gives one segment per track
    (start 0, end ``length / sr``); a segmented table (``features_3_sec.csv``)
    gives one segment per row, in order.

    Raises
    ------
    DatasetError
        The dataset is not a table, the spec is not a feature spec, or the
        table lacks some of the feature set's columns / has non-numeric values.

    Example
    -------
    >>> ds = open_dataset("data/features_30_sec.csv")                        # doctest: +SKIP
    >>> X = table_inputs(ds, InputSpec("features", "gtzan57", {}, window=30.0))  # doctest: +SKIP
    >>> X["blues/blues.00000"].X.shape                                        # doctest: +SKIP
    (1, 57)
    """
    if dataset.kind != "table" or dataset.table is None:
        raise DatasetError(f"Dataset {dataset.name!r} is not a feature table; compute its inputs from audio.")
    if spec.kind != "features":
        raise DatasetError(
            f"Feature table {dataset.name!r} has no audio, so it cannot give {spec.kind} inputs; "
            "use a features input (e.g. gtzan57)."
        )
    fs = _feature_set_for(spec.feature_set, json.dumps(spec.params, sort_keys=True))
    cols = fs.columns
    table = dataset.table
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise DatasetError(
            f"Feature table {dataset.name!r} lacks {len(missing)} column(s) of feature set "
            f"{spec.feature_set!r}: {', '.join(missing[:6])}{', ...' if len(missing) > 6 else ''}."
        )
    try:
        values = table[cols].to_numpy(dtype=np.float32)
    except (ValueError, TypeError):
        raise DatasetError(
            f"Feature table {dataset.name!r} has non-numeric values in the {spec.feature_set!r} columns."
        ) from None
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"Feature table {dataset.name!r}: {int(bad.sum())} row(s) have missing or infinite values, "
            f"e.g. track {table['track_id'].iloc[row]!r}."
        )
    sr = spec.sr
    if "length" in table.columns:
        seconds = table["length"].to_numpy(dtype=np.float64) / sr
    else:
        seconds = np.full(len(table), spec.window or 30.0)
    segments = table["segment"].to_numpy() if "segment" in table.columns else np.zeros(len(table), int)
    out: dict[str, TrackInput] = {}
    track_ids = table["track_id"].to_numpy()
    order = np.argsort(track_ids, kind="stable")
    boundaries = np.flatnonzero(track_ids[order][1:] != track_ids[order][:-1]) + 1
    for rows in np.split(order, boundaries):
        if rows.size == 0:
            continue
        rows = rows[np.argsort(segments[rows], kind="stable")]
        dur = seconds[rows]
        starts = segments[rows].astype(np.float64) * dur
        out[str(track_ids[rows[0]])] = TrackInput(str(track_ids[rows[0]]), values[rows].copy(),
                                                  starts, starts + dur)
    return {t.track_id: out[t.track_id] for t in dataset.tracks if t.track_id in out}


def stack_inputs(inputs: Mapping[str, TrackInput], ids: Iterable[str] | None = None, *,
                 include_augmented: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the windows of several tracks: ``(X, segment_track_ids)``.

    Parameters
    ----------
    inputs : dict
        From :func:`compute_dataset_inputs` or :func:`table_inputs`.
    ids : iterable of str, optional
        Track ids to take (e.g. ``split.train``); default all, in order.
    include_augmented : bool
        Also take the augmented copies (``id#augK``) of those tracks.

    Returns
    -------
    X : np.ndarray
        Rows of all chosen inputs.
    segment_track_ids : np.ndarray of str
        The (copy) id of each row, ready for
        :func:`genre_core.splits.check_no_leak` and track-level evaluation.

    Example
    -------
    >>> X, seg_ids = stack_inputs(inputs, split.train)   # doctest: +SKIP
    """
    if ids is None:
        keys = [k for k in inputs if include_augmented or "#" not in k]
    else:
        copies: dict[str, list[str]] = {}
        for k in inputs:
            copies.setdefault(k.split("#", 1)[0], []).append(k)
        keys = []
        for tid in ids:
            for k in copies.get(tid, []):
                if k == tid or include_augmented:
                    keys.append(k)
    chosen = [inputs[k] for k in keys]
    if not chosen:
        return np.zeros((0,), np.float32), np.zeros((0,), dtype=str)
    X = np.concatenate([ti.X for ti in chosen], axis=0)
    seg_ids = np.concatenate([np.full(len(ti), ti.track_id) for ti in chosen])
    return X, seg_ids

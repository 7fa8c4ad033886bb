"""What a model consumes: per-window features or log-mel spectrograms, for a track or a dataset.

An :class:`InputSpec` names the representation (``kind``), its parameters and
the windowing. :func:`compute_track_input` turns one signal into a
:class:`TrackInput` (one row per window); :func:`stack_windows` concatenates
several tracks' windows. Computing the inputs of a whole dataset (decoding,
cache, parallel workers, augmented copies, feature tables) is
:mod:`genre_core.extraction`.

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
>>> import numpy as np
>>> spec = InputSpec(kind="features", feature_set="mfcc_stats", params={"n_mfcc": 8}, window=1.0)
>>> y = (0.1 * np.sin(2 * np.pi * 440 * np.arange(3 * 22050) / 22050)).astype(np.float32)
>>> compute_track_input(y, 22050, spec).X.shape
(3, 16)
"""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

from . import config
from .errors import GenreLabError
from .store import register_memo

if TYPE_CHECKING:  # pragma: no cover
    from .segment import SegmentSpec

__all__ = [
    "InputSpec",
    "TrackInput",
    "INPUT_KINDS",
    "INPUTS_VERSION",
    "compute_track_input",
    "stack_inputs",
    "stack_windows",
    "spread_windows",
    "analysed_windows",
    "track_input",
    "clear_input_memo",
]

#: Dataset-level names that live in :mod:`genre_core.extraction` (importable from here too).
_EXTRACTION_NAMES = frozenset({"EXTRACTION_COST_S_PER_MIN", "compute_dataset_inputs", "extraction_plan",
                               "table_inputs"})


def __getattr__(name: str):
    if name in _EXTRACTION_NAMES:
        from . import extraction

        return getattr(extraction, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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


# --------------------------------------------------------------------- one file to predict (long-file policy)


def spread_windows(n: int, max_windows: int | None) -> np.ndarray:
    """Indices of at most ``max_windows`` of ``n`` windows, evenly spread from the first to the last.

    ``max_windows`` of ``None`` or ``0`` keeps all ``n``.

    Examples
    --------
    >>> spread_windows(10, 4).tolist()
    [0, 3, 6, 9]
    >>> spread_windows(3, 40).tolist()
    [0, 1, 2]
    """
    if not max_windows or n <= max_windows:
        return np.arange(n)
    if max_windows == 1:
        return np.array([(n - 1) // 2])
    return np.round(np.linspace(0, n - 1, int(max_windows))).astype(int)



def analysed_windows(n: int, spec, max_windows: int | None) -> np.ndarray:
    """Indices of the windows a prediction analyses: at most one per window length, at most ``max_windows``.

    The prediction policy: of a track's ``n`` windows (``spec.window`` long,
    ``spec.hop`` apart), analyse no more than fit side by side without overlap
    (overlapping windows see the same audio twice) and no more than
    ``max_windows``, spread evenly from the first to the last
    (:func:`spread_windows`). A 30 s clip cut into 3 s windows every 1.5 s
    (19 windows) is analysed through 10 non-overlapping windows that still
    cover all of it. ``max_windows`` of ``None`` or ``0`` keeps all ``n``
    (overlapping ones too).

    Examples
    --------
    >>> from genre_core.inputs import InputSpec
    >>> spec = InputSpec("features", "gtzan57", {}, 3.0, 1.5)
    >>> analysed_windows(19, spec, 40).tolist()
    [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    >>> len(analysed_windows(119, spec, 40)), len(analysed_windows(19, spec, None))
    (40, 19)
    """
    if not max_windows:
        return np.arange(n)
    hop = spec.hop if spec.hop is not None else spec.window
    if spec.window and hop and hop < spec.window and n > 1:
        max_windows = min(int(max_windows), int(np.floor((n - 1) * hop / spec.window + 1e-9)) + 1)
    return spread_windows(n, max_windows)


def _features_of(windows: np.ndarray, sr: int, spec) -> np.ndarray:
    """The model input of equal-length windows (what :func:`compute_track_input` computes)."""
    if spec.kind == "features":
        import json

        fs = _feature_set_for(spec.feature_set, json.dumps(spec.params, sort_keys=True))
        return fs.compute_batch(windows, sr)
    from . import spectrogram

    params = _logmel_params(spec.params)
    batch = getattr(spectrogram, "log_melspectrogram_batch", None)
    if batch is not None:
        return batch(windows, sr, **params)
    return np.stack([spectrogram.log_melspectrogram(w, sr, **params) for w in windows])



#: Recently computed inputs, ``(audio digest, spec, max_windows) -> (TrackInput, n)``: runs asked one at a
#: time (the Predict page caches each run's prediction on its own) still compute a shared input once.
_INPUT_MEMO: "OrderedDict[tuple, tuple]" = OrderedDict()



_INPUT_MEMO_SIZE = 16



_INPUT_MEMO_LOCK = threading.Lock()



def track_input(audio, spec, *, max_windows: int | None = None):
    """One file's input for one spec under the prediction policy: ``(TrackInput, n_windows_total)``.

    Without a limit, or when :func:`analysed_windows` keeps every window, this
    is exactly :func:`compute_track_input`. Otherwise only the windows
    :func:`analysed_windows` picks are computed: every row equals the
    corresponding row of the full computation (each window's input depends on
    that window only). The last few results are remembered (keyed by the
    audio's content), so several runs sharing an input compute it once even
    when they are asked one after another. The arrays returned are shared:
    treat them as read-only.
    """
    y = np.ascontiguousarray(audio.y, dtype=np.float32)
    key = (hashlib.sha1(y.view(np.uint8)).hexdigest(), int(audio.sr), spec.key(), max_windows or 0, audio.name)
    with _INPUT_MEMO_LOCK:
        hit = _INPUT_MEMO.get(key)
        if hit is not None:
            _INPUT_MEMO.move_to_end(key)
            return hit
    out = _track_input(audio, spec, max_windows=max_windows)
    with _INPUT_MEMO_LOCK:
        _INPUT_MEMO[key] = out
        while len(_INPUT_MEMO) > _INPUT_MEMO_SIZE:
            _INPUT_MEMO.popitem(last=False)
    return out



def clear_input_memo() -> None:
    """Forget the remembered inputs of :func:`track_input` (see also :func:`genre_core.store.clear_memos`)."""
    with _INPUT_MEMO_LOCK:
        _INPUT_MEMO.clear()


register_memo(clear_input_memo)



def _track_input(audio, spec, *, max_windows: int | None = None):
    y = np.asarray(audio.y, dtype=np.float32)
    sr = int(audio.sr)
    if sr != spec.sr or spec.window is None or not max_windows:
        ti = compute_track_input(y, sr, spec, track_id=audio.name)
        return ti, len(ti.X)
    windows, starts, ends = _windows(y, sr, spec)
    n = int(windows.shape[0])
    idx = analysed_windows(n, spec, max_windows)
    if len(idx) == n:
        ti = compute_track_input(y, sr, spec, track_id=audio.name)
        return ti, len(ti.X)
    X = _features_of(np.ascontiguousarray(windows[idx]), sr, spec)
    return TrackInput(audio.name, np.ascontiguousarray(X, dtype=np.float32), starts[idx], ends[idx]), n


# --------------------------------------------------------------------- many tracks at once


def stack_windows(inputs: Mapping[str, TrackInput], items: Iterable[str],
                  label_of: Mapping[str, str] | None = None) -> dict | None:
    """Concatenate the windows of ``items`` (track ids or augmented copies ``id#augK``).

    The one place windows of several tracks become one matrix (training,
    evaluation and :func:`stack_inputs` use it). Items missing from ``inputs``
    or with no window are skipped.

    Returns
    -------
    dict or None
        ``X`` (rows of every item), ``groups`` (the base track id of each row),
        ``items`` (the item id of each row), ``starts``/``ends`` (seconds) and,
        with ``label_of`` (base track id -> genre), ``y``; ``None`` when no item
        has a window.

    Examples
    --------
    >>> ti = TrackInput("a/x", np.ones((2, 3), np.float32), np.array([0.0, 3.0]), np.array([3.0, 6.0]))
    >>> d = stack_windows({"a/x": ti}, ["a/x"], {"a/x": "rock"})
    >>> d["X"].shape, d["y"].tolist()
    ((2, 3), ['rock', 'rock'])
    """
    chosen = [(item, inputs[item]) for item in items if item in inputs and len(inputs[item].X)]
    if not chosen:
        return None
    items_col = [item for item, ti in chosen for _ in range(len(ti.X))]
    groups = [item.split("#", 1)[0] for item in items_col]
    out = {
        "X": np.concatenate([ti.X for _, ti in chosen], axis=0),
        "groups": np.asarray(groups),
        "items": items_col,
        "starts": np.concatenate([np.asarray(ti.starts, dtype=np.float64) for _, ti in chosen]),
        "ends": np.concatenate([np.asarray(ti.ends, dtype=np.float64) for _, ti in chosen]),
    }
    if label_of is not None:
        out["y"] = np.asarray([label_of[g] for g in groups])
    return out


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
    stacked = stack_windows(inputs, keys)
    if stacked is None:
        return np.zeros((0,), np.float32), np.zeros((0,), dtype=str)
    return stacked["X"], np.asarray([inputs[k].track_id for k in stacked["items"]])

"""The one interface every model backend implements, and what they share.

A backend is a :class:`GenreModel` subclass registered under a short name
(``"mlp"``, ``"cnn"``, ``"xgb"``, ``"cnn_bag"``). The interface follows
scikit-learn's estimators (``fit`` / ``predict_proba`` / ``predict`` /
``classes_`` / ``get_params`` / ``set_params`` / ``score``) so backends are
interchangeable, and adds what a genre workbench needs: the input a model
consumes (:class:`~genre_core.inputs.InputSpec`), hyperparameter descriptions
the CLI and the Train page build their controls from (:class:`Param`), per-epoch
history, progress / cancellation callbacks, and saving to a folder in formats
that cannot execute code when loaded (JSON, ``.keras`` in safe mode, torch
``state_dict`` with ``weights_only=True``, xgboost JSON).

Heavy libraries (torch, TensorFlow, xgboost) are imported inside the backend
methods that need them, so ``import genre_core.backends`` stays fast.

Example
-------
>>> from genre_core.backends import get_backend
>>> Model = get_backend("mlp")
>>> [p.name for p in Model.param_specs()][:3]
['hidden', 'dropout', 'lr']
>>> model = Model(epochs=20, seed=1)            # default input: gtzan57 on 3 s windows
>>> model.fit(X, y, X_valid=Xv, y_valid=yv)     # doctest: +SKIP
>>> model.predict_proba(X_test).shape           # doctest: +SKIP
(n, len(model.classes_))
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping

import numpy as np

from ..errors import DatasetError, GenreLabError, RunError, TrainingCancelled

#: Name of the JSON manifest every saved model folder holds.
MODEL_MANIFEST = "model.json"
#: Value of ``"format"`` in that manifest, and its version.
MODEL_FORMAT = "genre-lab-model"
MODEL_FORMAT_VERSION = 1

ProgressFn = Callable[[dict], None]
StopFn = Callable[[], bool]

# OpenMP threads (xgboost, torch) that busy-wait make a shared or busy CPU several
# times slower (measured: xgboost 4x slower with 2 spinning threads on a loaded
# 2-core machine). The runtime reads this once, when it is first loaded, so set
# it before xgboost / torch are imported; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# --------------------------------------------------------------------------- params
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


@dataclass
class Param:
    """One hyperparameter of a backend, described well enough to build a control.

    Parameters
    ----------
    name : str
        Keyword accepted by the backend's constructor (``--name`` on the CLI,
        with ``_`` written as ``-``).
    default : Any
        Value used when the parameter is not given.
    type : type
        One of ``int``, ``float``, ``bool``, ``str`` or ``tuple`` (a tuple of
        ints such as layer sizes, written ``"512,256,128"`` on the CLI).
    help : str
        One sentence for ``--help`` and the Train page.
    choices : list or None
        Allowed values (for ``str`` parameters).
    low, high : number or None
        Inclusive bounds (for ``tuple``: bounds of every element).
    advanced : bool
        Hint for user interfaces: hide behind an "advanced" expander.

    Examples
    --------
    >>> p = Param("hidden", (512, 256), tuple, "Units per hidden layer.", low=1, high=4096)
    >>> p.coerce("128,64")
    (128, 64)
    >>> p.format((128, 64))
    '128,64'
    """

    name: str
    default: Any
    type: type
    help: str
    choices: list | None = None
    low: float | int | None = None
    high: float | int | None = None
    advanced: bool = False

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise.

        Strings (from the CLI or a form) are parsed; values already of the
        right type are returned unchanged (the same object). Raises
        :class:`~genre_core.errors.GenreLabError` with a sentence naming the
        parameter when the value cannot be used.
        """
        try:
            out = self._convert(value)
        except (TypeError, ValueError) as err:
            raise GenreLabError(
                f"Hyperparameter {self.name!r}: cannot use {value!r} as {self._type_words()} ({err})."
            ) from None
        self._check(out)
        return out

    def _type_words(self) -> str:
        return {int: "an integer", float: "a number", bool: "true/false", str: "text",
                tuple: "a comma-separated list of integers"}.get(self.type, self.type.__name__)

    def _convert(self, value: Any) -> Any:
        t = self.type
        if t is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, (int, np.integer)) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError("expected true or false")
        if t is int:
            if isinstance(value, bool):
                raise ValueError("expected an integer, got a boolean")
            if isinstance(value, int):
                return value
            if isinstance(value, np.integer):
                return int(value)
            if isinstance(value, (float, np.floating)):
                if float(value).is_integer():
                    return int(value)
                raise ValueError("not a whole number")
            if isinstance(value, str):
                f = float(value.strip())
                if not f.is_integer():
                    raise ValueError("not a whole number")
                return int(f)
            raise TypeError(f"got {type(value).__name__}")
        if t is float:
            if isinstance(value, bool):
                raise ValueError("expected a number, got a boolean")
            if isinstance(value, float):
                out = value
            elif isinstance(value, (int, np.integer, np.floating, str)):
                out = float(value.strip() if isinstance(value, str) else value)
            else:
                raise TypeError(f"got {type(value).__name__}")
            if not math.isfinite(out):
                raise ValueError("not a finite number")
            return out
        if t is str:
            if isinstance(value, str):
                return value
            raise TypeError(f"got {type(value).__name__}")
        if t is tuple:
            if isinstance(value, str):
                parts = [p for p in value.replace(" ", "").strip("()[]").split(",") if p != ""]
                return tuple(int(p) for p in parts)
            if isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                return value
            if isinstance(value, (list, tuple, np.ndarray)):
                out = []
                for v in value:
                    if isinstance(v, bool) or not float(v).is_integer():
                        raise ValueError(f"{v!r} is not a whole number")
                    out.append(int(v))
                return tuple(out)
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                return (int(value),)
            raise TypeError(f"got {type(value).__name__}")
        raise TypeError(f"unsupported parameter type {t!r}")

    def _check(self, value: Any) -> None:
        if self.choices is not None and value not in self.choices:
            raise GenreLabError(
                f"Hyperparameter {self.name!r}: {value!r} is not one of {', '.join(map(str, self.choices))}."
            )
        items = value if self.type is tuple else (value,)
        if self.type is tuple and len(items) == 0:
            raise GenreLabError(f"Hyperparameter {self.name!r}: give at least one value.")
        if self.type in (int, float, tuple):
            for v in items:
                if self.low is not None and v < self.low:
                    raise GenreLabError(f"Hyperparameter {self.name!r}: {v!r} is below the minimum {self.low}.")
                if self.high is not None and v > self.high:
                    raise GenreLabError(f"Hyperparameter {self.name!r}: {v!r} is above the maximum {self.high}.")

    def format(self, value: Any) -> str:
        """The value written the way :meth:`coerce` reads it back (CLI / text field)."""
        if self.type is tuple:
            return ",".join(str(v) for v in value)
        if self.type is bool:
            return "true" if value else "false"
        return str(value)

    def to_dict(self) -> dict:
        """JSON-able description (type written as its name)."""
        d = {
            "name": self.name,
            "default": list(self.default) if isinstance(self.default, tuple) else self.default,
            "type": self.type.__name__,
            "help": self.help,
        }
        for key in ("choices", "low", "high"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.advanced:
            d["advanced"] = True
        return d


def _json_param(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# --------------------------------------------------------------------------- helpers
def n_threads(default: int | None = None) -> int:
    """Threads a backend may use: ``GENRE_THREADS`` if set, else ``default``, else the CPU count.

    Small models (the MLP) pass ``default=1``: on a busy machine extra threads
    of a tiny matrix product mostly wait for each other.
    """
    env = os.environ.get("GENRE_THREADS", "").strip()
    if env:
        try:
            n = int(env)
            if n >= 1:
                return n
        except ValueError:
            pass
    if default is not None:
        return max(1, int(default))
    return max(1, os.cpu_count() or 1)


def seed_everything(seed: int) -> None:
    """Seed Python's and NumPy's global generators (backends seed their own library too)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))


def balanced_class_weights(y_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """Weights ``n / (n_present * count_c)`` per class index (0 for absent classes).

    Same as scikit-learn's ``class_weight="balanced"`` over the classes present.

    Examples
    --------
    >>> balanced_class_weights(np.array([0, 0, 0, 1]), 2)
    array([0.66666667, 2.        ])
    """
    counts = np.bincount(np.asarray(y_idx, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes, dtype=np.float64)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def training_weights(y_idx: np.ndarray, n_classes: int, class_weight: str,
                     sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Per-sample weights = class weight x ``sample_weight``, scaled to mean 1.

    ``class_weight`` is ``"balanced"`` or ``"none"``.
    """
    n = len(y_idx)
    w = np.ones(n, dtype=np.float64)
    if class_weight == "balanced":
        w *= balanced_class_weights(y_idx, n_classes)[y_idx]
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if sw.shape[0] != n:
            raise DatasetError(f"sample_weight has {sw.shape[0]} values for {n} training examples.")
        if not np.all(np.isfinite(sw)) or np.any(sw < 0):
            raise DatasetError("sample_weight must be finite and non-negative.")
        w *= sw
    total = w.sum()
    if total <= 0:
        raise DatasetError("All training examples have zero weight.")
    return w * (n / total)


class StandardScaler:
    """Per-column standardisation stored as JSON (``mean``, ``scale``).

    Columns with (near) zero variance get scale 1, so constant features stay 0
    instead of exploding. ``X`` may have any trailing shape; statistics are
    taken over the first axis (``axis=0``) or, with ``axis=None``, over all
    values (one global mean/scale).

    Examples
    --------
    >>> s = StandardScaler().fit(np.array([[0., 10.], [2., 10.]]))
    >>> s.transform(np.array([[1., 10.]]))
    array([[0., 0.]], dtype=float32)
    >>> StandardScaler.from_dict(s.to_dict()).mean_.tolist()
    [1.0, 10.0]
    """

    def __init__(self, *, axis: int | None | tuple = 0):
        self.axis = axis
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> "StandardScaler":
        X = np.asarray(X)
        axis = self.axis
        mean = np.mean(X, axis=axis, dtype=np.float64)
        std = np.std(X, axis=axis, dtype=np.float64)
        std = np.where(std < 1e-8 * np.maximum(1.0, np.abs(mean)), 1.0, std)
        self.mean_ = np.asarray(mean, dtype=np.float64)
        self.scale_ = np.asarray(std, dtype=np.float64)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.mean_ is None:
            raise RunError("The scaler has not been fitted.")
        X = np.asarray(X, dtype=np.float32)
        if self.mean_.ndim and X.shape[1:1 + self.mean_.ndim] != self.mean_.shape:
            raise RunError(f"The scaler expects columns of shape {self.mean_.shape}, got {X.shape[1:]}.")
        mean = self.mean_.astype(np.float32)
        scale = self.scale_.astype(np.float32)
        if self.mean_.ndim:  # broadcast over the trailing axes not covered
            extra = X.ndim - 1 - self.mean_.ndim
            mean = mean.reshape(mean.shape + (1,) * extra)
            scale = scale.reshape(scale.shape + (1,) * extra)
        return ((X - mean) / scale).astype(np.float32, copy=False)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def to_dict(self) -> dict:
        return {
            "kind": "standard",
            "axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis,
            "mean": np.asarray(self.mean_).tolist(),
            "scale": np.asarray(self.scale_).tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping, *, source: str = "scaler") -> "StandardScaler":
        try:
            axis = d.get("axis", 0)
            s = cls(axis=tuple(axis) if isinstance(axis, list) else axis)
            s.mean_ = np.asarray(d["mean"], dtype=np.float64)
            s.scale_ = np.asarray(d["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise RunError(f"{source}: the scaler is not readable ({err}).") from None
        if s.mean_.shape != s.scale_.shape or not np.all(np.isfinite(s.mean_)) \
                or not np.all(np.isfinite(s.scale_)) or np.any(s.scale_ <= 0):
            raise RunError(f"{source}: the scaler's mean/scale are inconsistent (shape or values).")
        return s

    def save(self, path: Path) -> Path:
        write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> "StandardScaler":
        return cls.from_dict(read_json(path, what="scaler"), source=str(path))


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented UTF-8 JSON (NaN refused)."""
    path = Path(path)
    path.write_text(json.dumps(obj, indent=2, allow_nan=False, default=_json_default) + "\n", encoding="utf-8")
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def read_json(path: Path, *, what: str = "file") -> Any:
    """Read JSON, turning a missing or unreadable file into :class:`RunError`."""
    from ..jsonio import read_json as _read

    return _read(path, f"model {what}")


def require_finite(arrays: Iterable[tuple[str, Any]], path: Path, what: str = "weights") -> None:
    """Refuse a model whose parameters hold NaN or infinity (:class:`RunError` naming the tensor)."""
    for name, a in arrays:
        arr = np.asarray(a)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            raise RunError(f"{path}: the model {what} hold non-finite values (NaN or infinity) in {name}; "
                           f"the run is damaged and refused.")


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a non-empty file, else raise :class:`RunError`."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: the model {what} is missing.")
    if path.stat().st_size == 0:
        raise RunError(f"{path}: the model {what} is empty (corrupt).")
    return path


def finite_or_none(x: Any) -> float | None:
    """``float(x)`` if finite, else ``None`` (for JSON history values)."""
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def check_cancel(should_stop: StopFn | None, where: str) -> None:
    """Raise :class:`TrainingCancelled` if ``should_stop()`` says so."""
    if should_stop is not None and should_stop():
        raise TrainingCancelled(f"Training was cancelled {where}.")


class EpochReporter:
    """Builds the per-epoch progress dict and its ETA for a ``progress`` callback.

    The dict is ``{"stage": "training", "done": epoch, "total": epochs, "epoch",
    "epochs", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "eta_s"}``
    plus any ``extra`` keys (``member``/``members`` for bagged models). ETA is
    the mean epoch time times the epochs left (an upper bound with early stopping)
    plus ``eta_offset(seconds_per_epoch)`` (work after this fit, e.g. more bag
    members). ``done``/``total`` count epochs overall: ``done_offset + epoch`` of
    ``total`` (default ``epochs``).
    """

    def __init__(self, progress: ProgressFn | None, epochs: int, *, stage: str = "training",
                 extra: Mapping | None = None, eta_offset: Callable[[float], float] | None = None,
                 done_offset: int = 0, total: int | None = None):
        self.progress = progress
        self.epochs = int(epochs)
        self.stage = stage
        self.extra = dict(extra or {})
        self.eta_offset = eta_offset
        self.done_offset = int(done_offset)
        self.total = int(total) if total is not None else self.epochs
        self.t0 = time.perf_counter()

    def start(self) -> None:
        self.t0 = time.perf_counter()
        if self.progress is not None:
            self.progress({"stage": self.stage, "done": self.done_offset, "total": self.total, "epoch": 0,
                           "epochs": self.epochs, "eta_s": None, **self.extra})

    def report(self, epoch: int, metrics: Mapping[str, Any]) -> dict:
        elapsed = time.perf_counter() - self.t0
        per_epoch = elapsed / max(epoch, 1)
        eta = per_epoch * max(self.epochs - epoch, 0)
        if self.eta_offset is not None:
            eta += self.eta_offset(per_epoch)
        msg = {"stage": self.stage, "done": self.done_offset + int(epoch), "total": self.total,
               "epoch": int(epoch), "epochs": self.epochs}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            msg[key] = finite_or_none(metrics.get(key))
        msg["eta_s"] = round(eta, 2)
        msg.update(self.extra)
        if self.progress is not None:
            self.progress(msg)
        return msg


class BestTracker:
    """Early-stopping bookkeeping: is this epoch the best so far, and is patience out?"""

    def __init__(self, monitor: str, patience: int, *, min_delta: float = 1e-4):
        self.monitor = monitor
        self.mode = "max" if monitor.endswith("accuracy") else "min"
        self.patience = int(patience)
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0

    def update(self, epoch: int, value: float | None) -> bool:
        """Record ``value`` for ``epoch``; return True if it is the new best."""
        if value is None or not math.isfinite(value):
            self.wait += 1
            return False
        better = (self.best is None or
                  (value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta))
        if better:
            self.best, self.best_epoch, self.wait = float(value), int(epoch), 0
            return True
        self.wait += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.wait >= self.patience


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (rows sum to 1)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def normalise_rows(p: np.ndarray) -> np.ndarray:
    """Clip tiny negatives and renormalise rows to sum exactly 1 (float64)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, None)
    s = p.sum(axis=1, keepdims=True)
    s[s == 0] = 1.0
    return p / s


def library_versions(*names: str) -> dict[str, str]:
    """Versions of the named, already-importable libraries (for manifests)."""
    import importlib.metadata as md

    out = {}
    for name in ("numpy", *names):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


# --------------------------------------------------------------------------- registry
_REGISTRY: dict[str, type["GenreModel"]] = {}
#: Other names accepted by :func:`get_backend` (the CLI's ``--model ensemble``).
ALIASES: dict[str, str] = {"ensemble": "cnn_bag"}


def register_backend(cls: type["GenreModel"]) -> type["GenreModel"]:
    """Class decorator: make ``cls`` available as ``get_backend(cls.name)``."""
    name = getattr(cls, "name", None)
    if not name or not isinstance(name, str):
        raise TypeError(f"{cls.__name__} needs a class attribute 'name' to be registered.")
    existing = _REGISTRY.get(name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"A backend named {name!r} is already registered ({existing.__qualname__}).")
    _REGISTRY[name] = cls
    return cls


def get_backend(name: str) -> type["GenreModel"]:
    """The backend class registered as ``name`` (aliases such as ``"ensemble"`` accepted).

    Raises :class:`~genre_core.errors.GenreLabError` naming the known backends.
    """
    key = ALIASES.get(name, name)
    try:
        return _REGISTRY[key]
    except KeyError:
        raise GenreLabError(
            f"Unknown model backend {name!r}; choose one of: {', '.join(list_backends())}."
        ) from None


def list_backends() -> list[str]:
    """Names of the registered backends, in registration order."""
    return list(_REGISTRY)


# --------------------------------------------------------------------------- input spec
def _input_spec_cls():
    from ..inputs import InputSpec  # lazy: inputs.py pulls in feature code

    return InputSpec


def make_input_spec(kind: str, feature_set: str | None = None, params: dict | None = None, *,
                    window: float = 3.0, hop: float | None = None, sr: int = 22050):
    """Build an :class:`~genre_core.inputs.InputSpec` (imported lazily)."""
    return _input_spec_cls()(kind=kind, feature_set=feature_set, params=dict(params or {}),
                             window=window, hop=hop, sr=sr)


def input_spec_to_dict(spec) -> dict:
    return spec.to_dict()


def input_spec_from_dict(d: Mapping):
    return _input_spec_cls().from_dict(dict(d))


# --------------------------------------------------------------------------- the interface
class GenreModel:
    """Base class of every backend: a probabilistic classifier of windows.

    Parameters
    ----------
    input_spec : InputSpec or None
        What the model consumes (feature set or log-mel, window, hop). ``None``
        means the backend's :meth:`default_input`.
    **params
        Hyperparameters, see :meth:`param_specs`. Unknown names or bad values
        raise :class:`~genre_core.errors.GenreLabError`. Every backend has a
        ``seed``.

    Attributes
    ----------
    classes_ : np.ndarray of str
        Labels, in the column order of :meth:`predict_proba` (set by ``fit``).
    history : list of dict
        One dict per epoch / boosting round: ``epoch, loss, accuracy, val_loss,
        val_accuracy, lr, time_s`` (``val_*`` are ``None`` without validation).
    best_epoch_ : int
        Epoch whose weights were kept (early stopping restores it).
    input_shape_ : tuple
        Shape of one example (``X.shape[1:]``) seen in ``fit``.

    Notes
    -----
    ``fit`` takes ``X`` as an array ``(n, ...)`` of float32 windows and ``y`` as
    labels (strings). ``classes=`` fixes the label list (and column order);
    labels absent from the training set then keep a column. Probabilities are
    returned as float64 rows summing to 1.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: What one step of the training history is called ("epoch"; "boosting round" for xgboost).
    progress_unit: ClassVar[str] = "epoch"
    #: InputSpec kinds this backend can consume.
    input_kinds: ClassVar[tuple[str, ...]] = ("features",)
    #: Libraries whose versions go in the saved manifest.
    libraries: ClassVar[tuple[str, ...]] = ()
    _estimator_type = "classifier"  # scikit-learn < 1.6

    def __init__(self, input_spec=None, **params):
        specs = {p.name: p for p in self.param_specs()}
        unknown = sorted(set(params) - set(specs))
        if unknown:
            raise GenreLabError(
                f"The {self.name} model has no hyperparameter {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(specs)}."
            )
        self.params: dict[str, Any] = {}
        for pname, spec in specs.items():
            self.params[pname] = spec.coerce(params[pname]) if pname in params else spec.default
        if isinstance(input_spec, Mapping):
            input_spec = input_spec_from_dict(input_spec)
        self.input_spec = input_spec if input_spec is not None else self.default_input()
        kind = getattr(self.input_spec, "kind", None)
        if kind not in self.input_kinds:
            raise GenreLabError(
                f"The {self.name} model consumes {' or '.join(self.input_kinds)} inputs, not {kind!r}."
            )
        self.history: list[dict] = []
        self.best_epoch_: int | None = None
        self.input_shape_: tuple | None = None
        self.fit_time_s_: float | None = None

    # ---- description -------------------------------------------------------
    @classmethod
    def param_specs(cls) -> list[Param]:
        """Every hyperparameter with default, type, help and range."""
        raise NotImplementedError

    @classmethod
    def default_input(cls):
        """The :class:`~genre_core.inputs.InputSpec` used when none is given."""
        raise NotImplementedError

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """``{name: default}`` of every hyperparameter."""
        return {p.name: p.default for p in cls.param_specs()}

    @property
    def seed(self) -> int:
        return int(self.params.get("seed", 0))

    # ---- scikit-learn estimator protocol -----------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters plus ``input_spec`` (scikit-learn's ``clone`` works)."""
        return {"input_spec": self.input_spec, **self.params}

    def set_params(self, **params) -> "GenreModel":
        """Change hyperparameters (validated); returns ``self``."""
        if "input_spec" in params:
            self.input_spec = params.pop("input_spec") or self.default_input()
        specs = {p.name: p for p in self.param_specs()}
        for pname, value in params.items():
            if pname not in specs:
                raise GenreLabError(f"The {self.name} model has no hyperparameter {pname!r}.")
            self.params[pname] = specs[pname].coerce(value)
        return self

    def __sklearn_tags__(self):  # scikit-learn >= 1.6; imported only when sklearn asks
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags())

    def __sklearn_is_fitted__(self) -> bool:
        return self.is_fitted

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.params.items() if v != self.defaults().get(k)}
        inner = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({inner})"

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "classes_")

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise RunError(f"The {self.name} model has not been fitted yet; call fit() or load a run first.")

    # ---- the work ----------------------------------------------------------
    def fit(self, X, y, *, X_valid=None, y_valid=None, classes=None, sample_weight=None,
            progress: ProgressFn | None = None, should_stop: StopFn | None = None, groups=None) -> "GenreModel":
        """Train on windows ``X`` with labels ``y``; returns ``self``.

        Parameters
        ----------
        X : np.ndarray, shape (n, ...)
        y : array of str, shape (n,)
        X_valid, y_valid : optional validation windows (split by track!) used for
            early stopping, LR reduction and the validation curves.
        classes : list of str, optional
            Full label list; defaults to the sorted labels of ``y``.
        sample_weight : np.ndarray, optional
            Multiplied with the class weights.
        progress : callable, optional
            Called with one dict per epoch (see :class:`EpochReporter`).
        should_stop : callable, optional
            Polled every batch / epoch; when it returns True training stops and
            :class:`~genre_core.errors.TrainingCancelled` is raised.
        groups : array of str, optional
            Track id of every window (used by bagging to resample tracks).
        """
        raise NotImplementedError

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities, shape ``(n, len(classes_))``, rows summing to 1."""
        raise NotImplementedError

    def predict(self, X) -> np.ndarray:
        """Most probable label of every window."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def score(self, X, y) -> float:
        """Window accuracy (scikit-learn's ``score``)."""
        return float(np.mean(self.predict(X) == np.asarray(y).astype(str)))

    def describe(self) -> dict:
        """Facts for reports: backend, parameter count, best epoch, epochs run."""
        return {"backend": self.name, "n_parameters": self.n_parameters(),
                "best_epoch": self.best_epoch_, "epochs_run": len(self.history),
                "fit_time_s": self.fit_time_s_}

    def n_parameters(self) -> int | None:
        """Trainable size of the model (weights, or tree nodes for boosting)."""
        return None

    # ---- shared fit plumbing -----------------------------------------------
    def _prepare_fit(self, X, y, X_valid, y_valid, classes, *, ndim: int | None = None):
        """Validate arrays, encode labels; returns ``(X, y_idx, Xv, yv_idx)``."""
        X = as_windows(X, "X", ndim=ndim)
        y = np.asarray(y).astype(str).reshape(-1)
        if len(y) != len(X):
            raise DatasetError(f"X has {len(X)} windows but y has {len(y)} labels.")
        if len(X) < 2:
            raise DatasetError("At least two training windows are needed.")
        if classes is None:
            classes = np.unique(y)
        classes = np.asarray([str(c) for c in classes])
        if len(set(classes.tolist())) != len(classes):
            raise DatasetError("The class list contains duplicates.")
        if len(classes) < 2:
            raise DatasetError(f"At least two classes are needed to train a classifier, got {classes.tolist()}.")
        self.classes_ = classes
        y_idx = self._encode(y, "y")
        Xv = yv_idx = None
        if X_valid is not None and y_valid is not None and len(X_valid) > 0:
            Xv = as_windows(X_valid, "X_valid", ndim=ndim)
            if Xv.shape[1:] != X.shape[1:]:
                raise DatasetError(f"X_valid windows have shape {Xv.shape[1:]}, training windows {X.shape[1:]}.")
            yv = np.asarray(y_valid).astype(str).reshape(-1)
            if len(yv) != len(Xv):
                raise DatasetError(f"X_valid has {len(Xv)} windows but y_valid has {len(yv)} labels.")
            yv_idx = self._encode(yv, "y_valid")
        self.input_shape_ = tuple(int(s) for s in X.shape[1:])
        self.history = []
        self.best_epoch_ = None
        self.chosen_params_ = {}  # hyperparameters a fit chose on its validation windows (e.g. linear's C)
        return X, y_idx, Xv, yv_idx

    def _encode(self, y: np.ndarray, what: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        unknown = sorted(set(y.tolist()) - set(index))
        if unknown:
            raise DatasetError(
                f"{what} contains labels outside the class list: {', '.join(unknown[:10])}"
                f" (classes: {', '.join(self.classes_.tolist())})."
            )
        return np.fromiter((index[v] for v in y.tolist()), dtype=np.int64, count=len(y))

    def _check_predict_input(self, X, *, ndim: int | None = None) -> np.ndarray:
        self._require_fitted()
        X = as_windows(X, "X", ndim=ndim, allow_empty=True)
        if self.input_shape_ is not None and tuple(X.shape[1:]) != tuple(self.input_shape_):
            raise RunError(
                f"The {self.name} model expects windows of shape {tuple(self.input_shape_)}, got {tuple(X.shape[1:])}; "
                f"compute inputs with the model's input spec ({self._spec_words()})."
            )
        return X

    def _spec_words(self) -> str:
        s = self.input_spec
        fs = getattr(s, "feature_set", None)
        return f"{getattr(s, 'kind', '?')}{'/' + fs if fs else ''}, {getattr(s, 'window', '?')} s windows"

    # ---- persistence -------------------------------------------------------
    def save(self, folder: Path) -> list[Path]:
        """Write the model to ``folder`` (created); returns the files written.

        Always writes ``model.json`` (backend, hyperparameters, input spec,
        labels, input shape, history) plus the backend's artifacts.
        """
        self._require_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        artifacts = self._save_artifacts(folder)
        manifest = {
            "format": MODEL_FORMAT,
            "format_version": MODEL_FORMAT_VERSION,
            "backend": self.name,
            "params": {k: _json_param(v) for k, v in self.params.items()},
            "input_spec": input_spec_to_dict(self.input_spec),
            "classes": self.classes_.tolist(),
            "input_shape": list(self.input_shape_ or ()),
            "best_epoch": self.best_epoch_,
            "fit_time_s": self.fit_time_s_,
            "history": self.history,
            "artifacts": [p.relative_to(folder).as_posix() for p in artifacts],
            "libraries": library_versions(*self.libraries),
            "state": self._manifest_state(),
        }
        path = write_json(folder / MODEL_MANIFEST, manifest)
        return [path, *artifacts]

    @classmethod
    def load(cls, folder: Path) -> "GenreModel":
        """Load a model saved with :meth:`save`. Never executes code from the folder.

        Called on :class:`GenreModel` itself, the backend is read from
        ``model.json``; on a backend class, the folder must hold that backend.
        Raises :class:`~genre_core.errors.RunError` for a missing, corrupt or
        inconsistent folder.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise RunError(f"{folder}: the model folder does not exist.")
        m = read_json(folder / MODEL_MANIFEST, what="manifest")
        where = folder / MODEL_MANIFEST
        if not isinstance(m, dict) or m.get("format") != MODEL_FORMAT:
            raise RunError(f"{where}: not a genre-lab model manifest.")
        fv = m.get("format_version")
        if isinstance(fv, bool) or not isinstance(fv, int) or not 1 <= fv <= MODEL_FORMAT_VERSION:
            raise RunError(f"{where}: field 'format_version' {str(fv)[:40]!r} is not a model format this "
                           f"genre-lab reads (1 to {MODEL_FORMAT_VERSION}).")
        from ..run_record import check_model_manifest

        check_model_manifest(m, str(where))
        backend = m.get("backend")
        try:
            target = get_backend(backend) if isinstance(backend, str) else None
        except GenreLabError:
            target = None
        if target is None:
            raise RunError(f"{where}: unknown model backend {backend!r}.")
        if cls is not GenreModel and target is not cls:
            raise RunError(f"{where}: holds a {backend!r} model, not {cls.name!r}.")
        try:
            spec = input_spec_from_dict(m["input_spec"])
            params = dict(m["params"])
            classes = [str(c) for c in m["classes"]]
            input_shape = tuple(int(s) for s in m["input_shape"])
        except GenreLabError as err:
            raise RunError(f"{where}: {err}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise RunError(f"{where}: the manifest is incomplete or malformed ({type(err).__name__}: {err}).") from None
        known = {p.name for p in target.param_specs()}
        params = {k: v for k, v in params.items() if k in known}  # forward compatible: drop retired params
        try:
            model = target(spec, **params)
        except GenreLabError as err:
            raise RunError(f"{where}: {err}") from None
        if len(classes) < 2 or len(set(classes)) != len(classes):
            raise RunError(f"{where}: the label list is invalid ({classes}).")
        model.classes_ = np.asarray(classes)
        model.input_shape_ = input_shape
        model.history = list(m.get("history") or [])
        model.best_epoch_ = m.get("best_epoch")
        model.fit_time_s_ = m.get("fit_time_s")
        state = m.get("state") or {}
        try:
            model._load_artifacts(folder, state)
        except RunError:
            raise
        except GenreLabError as err:
            raise RunError(f"{folder}: {err}") from None
        return model

    # backend hooks
    def _save_artifacts(self, folder: Path) -> list[Path]:
        raise NotImplementedError

    def _manifest_state(self) -> dict:
        return {}

    def _load_artifacts(self, folder: Path, state: dict) -> None:
        raise NotImplementedError


def progress_unit(backend: str | None) -> str:
    """What a backend's training steps are called (``"epoch"`` when unknown).

    Examples
    --------
    >>> progress_unit("xgb"), progress_unit("mlp"), progress_unit(None)
    ('boosting round', 'epoch', 'epoch')
    """
    try:
        return get_backend(backend).progress_unit if isinstance(backend, str) else "epoch"
    except GenreLabError:
        return "epoch"


def load_model(folder: Path) -> GenreModel:
    """Load any saved model folder (dispatches on ``model.json``'s backend)."""
    return GenreModel.load(folder)


def as_windows(X, what: str = "X", *, ndim: int | None = None, allow_empty: bool = False) -> np.ndarray:
    """``X`` as a C-contiguous float32 array of windows, validated.

    ``ndim`` is the number of axes of one window (1 for feature vectors, 2 for
    spectrograms); ``None`` accepts any. Non-finite values raise
    :class:`~genre_core.errors.DatasetError`.
    """
    try:
        X = np.ascontiguousarray(X, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{what} is not a numeric array ({err}).") from None
    if X.ndim < 2:
        raise DatasetError(f"{what} must be an array of windows (n, ...), got shape {X.shape}.")
    if ndim is not None and X.ndim - 1 != ndim:
        words = {1: "feature vectors (n, n_features)", 2: "spectrograms (n, n_mels, frames)"}
        raise DatasetError(f"{what} must hold {words.get(ndim, f'{ndim}-d windows')}, got shape {X.shape}.")
    if len(X) == 0 and not allow_empty:
        raise DatasetError(f"{what} is empty.")
    if X.size and not np.isfinite(X).all():
        bad = int((~np.isfinite(X.reshape(len(X), -1))).any(axis=1).sum())
        raise DatasetError(f"{what} has {bad} window(s) with NaN or infinite values.")
    return X


def iter_batches(n: int, batch_size: int, rng: np.random.Generator | None = None, *,
                 min_last: int = 1) -> Iterable[np.ndarray]:
    """Index batches over ``range(n)`` (shuffled with ``rng``); a last batch
    smaller than ``min_last`` is merged into the previous one (batch norm needs 2)."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < min_last:
        starts.pop()
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else n
        yield order[s:e]


__all__ = [
    "ALIASES", "BestTracker", "EpochReporter", "GenreModel", "MODEL_MANIFEST", "Param", "StandardScaler",
    "as_windows", "balanced_class_weights", "check_cancel", "finite_or_none", "get_backend", "iter_batches",
    "library_versions", "list_backends", "load_model", "make_input_spec", "n_threads", "normalise_rows",
    "progress_unit",
    "read_json", "register_backend", "require_file", "require_finite", "seed_everything", "softmax", "training_weights",
    "write_json",
]

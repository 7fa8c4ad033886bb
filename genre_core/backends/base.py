"""The one interface every model backend implements, and the registry of backends.

A backend is a :class:`GenreModel` subclass registered under a short name
(``"mlp"``, ``"cnn"``, ``"xgb"``, ``"cnn_bag"``, ``"linear"``, ``"cnn_musicnn"``). The interface follows
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

from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from ..errors import DatasetError, GenreLabError, RunError
from ..jsonio import read_json, write_json
from ..store import library_versions
from .fitting import (
    BestTracker,
    EpochReporter,
    ProgressFn,
    StandardScaler,
    StopFn,
    as_windows,
    balanced_class_weights,
    check_cancel,
    finite_or_none,
    iter_batches,
    n_threads,
    normalise_rows,
    require_file,
    require_finite,
    seed_everything,
    softmax,
    training_weights,
)
from .params import Param, _json_param

#: Name of the JSON manifest every saved model folder holds.
MODEL_MANIFEST = "model.json"
#: Value of ``"format"`` in that manifest, and its version.
MODEL_FORMAT = "genre-lab-model"
MODEL_FORMAT_VERSION = 1


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
    #: A few words naming the kind of model, for lists of backends (the Train page's).
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: What one step of the training history is called ("epoch"; "boosting round" for xgboost).
    progress_unit: ClassVar[str] = "epoch"
    #: InputSpec kinds this backend can consume.
    input_kinds: ClassVar[tuple[str, ...]] = ("features",)
    #: Libraries whose versions go in the saved manifest.
    libraries: ClassVar[tuple[str, ...]] = ()
    #: Keyword arguments of :func:`make_input_spec` for :meth:`default_input` (kind, feature set, window...).
    default_input_spec: ClassVar[dict] = {}
    #: True when the input's feature set is part of the model (a fine-tuned network's frozen layers):
    #: no other feature set is offered for it (:func:`genre_core.plan.feature_choices`).
    fixed_feature_set: ClassVar[bool] = False
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
        """The :class:`~genre_core.inputs.InputSpec` used when none is given (from :attr:`default_input_spec`)."""
        if not cls.default_input_spec:
            raise NotImplementedError(f"{cls.__name__} declares no default input")
        return make_input_spec(**cls.default_input_spec)

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
        m = read_json(folder / MODEL_MANIFEST, "model manifest")
        where = folder / MODEL_MANIFEST
        if not isinstance(m, dict) or m.get("format") != MODEL_FORMAT:
            raise RunError(f"{where}: not a genre-lab model manifest.")
        fv = m.get("format_version")
        if isinstance(fv, bool) or not isinstance(fv, int) or not 1 <= fv <= MODEL_FORMAT_VERSION:
            raise RunError(f"{where}: field 'format_version' {str(fv)[:40]!r} is not a model format this "
                           f"genre-lab reads (1 to {MODEL_FORMAT_VERSION}).")
        from ..runs.fields import check_model_manifest

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


__all__ = [
    "ALIASES", "BestTracker", "EpochReporter", "GenreModel", "MODEL_MANIFEST", "Param", "StandardScaler",
    "as_windows", "balanced_class_weights", "check_cancel", "finite_or_none", "get_backend", "iter_batches",
    "list_backends", "load_model", "make_input_spec", "n_threads", "normalise_rows",
    "progress_unit", "register_backend", "require_file", "require_finite", "seed_everything", "softmax",
    "training_weights",
]

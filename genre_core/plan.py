"""A training plan: :class:`TrainConfig` (the one place every training default lives) and pre-flight checks.

The CLI's options, the Train page's controls, the job queue, sweeps and
:func:`genre_core.training.train` all take their defaults from
:data:`DEFAULTS` (a ``TrainConfig()``), and a plan coming from outside (a job
file, a form) is checked once, by :meth:`TrainConfig.from_mapping`.

Pre-flight checks answer, before any audio is decoded, what a dataset allows:
:func:`backend_options` (which backends can train on it), :func:`split_options`
(which protocols) and :func:`split_preview` (tracks per genre on each side).

Examples
--------
>>> from genre_core.plan import DEFAULTS, TrainConfig
>>> DEFAULTS.split, DEFAULTS.test_size, DEFAULTS.k
('track', 0.2, 5)
>>> cfg = TrainConfig.from_mapping({"dataset": "synthetic", "backend": "xgb", "params": {"n_estimators": "50"}})
>>> cfg.backend, cfg.params
('xgb', {'n_estimators': 50})
>>> sorted(cfg.train_kwargs())[:3]
['augment', 'backend', 'group']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import GenreLabError, RunExistsError

__all__ = ["DEFAULTS", "GROUPS", "SPLIT_CHOICES", "SPLIT_PROTOCOLS", "TrainConfig", "TrainConfigError",
           "backend_options", "feature_choices", "split_options", "split_preview", "with_feature_set",
           "FEATURE_CHOICES"]

#: Split protocols :func:`genre_core.training.make_split` knows.
SPLIT_PROTOCOLS = ("track", "artist", "ff", "gtzan_filtered", "kfold")
#: What k-fold cross-validation keeps together: a track (and its duplicates) or an artist.
GROUPS = ("track", "artist")


class TrainConfigError(GenreLabError):
    """A training setting is unknown or out of range."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run is asked to do, with its defaults.

    Attributes
    ----------
    dataset : str or list of str
        A genre folder, several folders, a feature-table CSV or ``"synthetic[:...]"``.
    backend : str
        A registered backend (``mlp``, ``cnn``, ``xgb``, ``cnn_bag``, ``linear``, ``cnn_musicnn``).
    params : dict
        Hyperparameters (see the backend's ``param_specs()``).
    input_spec : dict or None
        What the model consumes; ``None`` for the backend's default.
    split : str
        One of :data:`SPLIT_PROTOCOLS`.
    seed : int
        Seeds the split and (unless ``params["seed"]``) the model.
    test_size, valid_size : float
        Fractions of tracks for the test and validation sides.
    k : int
        Folds of ``split="kfold"``.
    group : str
        ``"track"`` or ``"artist"``: what the folds keep together.
    refit : bool
        With ``kfold``: also fit the saved model on every track.
    augment : dict or None
        An :class:`~genre_core.augment.AugmentConfig` as a dict.
    n_augment : int
        Augmented copies of each training track.
    name : str or None
        Run name (``None``: a fresh one).
    overwrite : bool
        Replace a genre-lab run of that name.
    n_jobs : int
        Processes for feature extraction (``-1``: all cores).
    use_cache : bool
        Read and write the feature cache.
    """

    dataset: Any = None
    backend: str = "mlp"
    params: Mapping[str, Any] = field(default_factory=dict)
    input_spec: Any = None
    split: str = "track"
    seed: int = 0
    test_size: float = 0.2
    valid_size: float = 0.1
    k: int = 5
    group: str = "track"
    refit: bool = False
    augment: Any = None
    n_augment: int = 0
    name: str | None = None
    overwrite: bool = False
    n_jobs: int = -1
    use_cache: bool = True

    # ------------------------------------------------------------------ building
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The setting names, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any], *, check_name: bool = True) -> "TrainConfig":
        """A checked plan from a mapping of settings (missing ones take their defaults).

        Coerces hyperparameters through the backend's :class:`~genre_core.backends.Param`
        specs and numbers from text; with ``check_name``, a given run name must be
        valid and free in the user's runs folder (or ``overwrite`` set).

        Raises
        ------
        TrainConfigError
            An unknown setting, backend or hyperparameter, or a bad value.
        RunExistsError
            A run of that name exists and ``overwrite`` is not set.
        """
        from .backends import get_backend

        unknown = sorted(set(cfg) - set(cls.keys()))
        if unknown:
            raise TrainConfigError(f"Unknown job setting(s): {', '.join(unknown)}; known: {', '.join(cls.keys())}.")
        out = {**dataclasses.asdict(DEFAULTS), **dict(cfg)}
        ds = out["dataset"]
        if ds is None or (isinstance(ds, str) and not ds.strip()) or (isinstance(ds, (list, tuple)) and not ds):
            raise TrainConfigError("A training job needs a dataset (a genre folder, a feature table or 'synthetic').")
        out["dataset"] = [str(d) for d in ds] if isinstance(ds, (list, tuple)) else str(ds)
        model_cls = get_backend(str(out["backend"]))
        out["backend"] = model_cls.name
        specs = {p.name: p for p in model_cls.param_specs()}
        params = {}
        for key, value in dict(out["params"] or {}).items():
            if key not in specs:
                raise TrainConfigError(f"The {model_cls.name} model has no hyperparameter {key!r}; "
                                       f"known: {', '.join(specs)}.")
            v = specs[key].coerce(value)
            params[key] = list(v) if isinstance(v, tuple) else v
        out["params"] = params
        if out["split"] not in SPLIT_PROTOCOLS:
            raise TrainConfigError(f"Unknown split {out['split']!r}; use one of: {', '.join(SPLIT_PROTOCOLS)}.")
        for key, typ in (("seed", int), ("k", int), ("n_augment", int), ("n_jobs", int),
                         ("test_size", float), ("valid_size", float)):
            try:
                out[key] = typ(out[key])
            except (TypeError, ValueError):
                raise TrainConfigError(f"Job setting {key} must be {'an integer' if typ is int else 'a number'}, "
                                       f"not {out[key]!r}.") from None
        if out["n_augment"] < 0:
            raise TrainConfigError(f"n_augment must be 0 or more, not {out['n_augment']}.")
        if out["augment"] is not None:
            from .augment import AugmentConfig

            a = out["augment"]
            out["augment"] = (a if isinstance(a, AugmentConfig) else AugmentConfig.from_dict(dict(a))).to_dict()
        if out["input_spec"] is not None and not isinstance(out["input_spec"], Mapping):
            out["input_spec"] = out["input_spec"].to_dict()
        for key in ("overwrite", "use_cache", "refit"):
            out[key] = bool(out[key])
        if out["group"] not in GROUPS:
            raise TrainConfigError(f"Job setting group must be 'track' or 'artist', not {out['group']!r}.")
        if out["refit"] and out["split"] != "kfold":
            raise TrainConfigError("refit needs the k-fold split: the folds give the figures, "
                                   "the refit model uses every track.")
        name = out["name"]
        out["name"] = _checked_name(str(name).strip(), out["overwrite"], check_name) \
            if name is not None and str(name).strip() else None
        return cls(**out)

    # ------------------------------------------------------------------ using
    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-able settings (what a job file stores)."""
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in dataclasses.asdict(self).items()}

    def train_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`genre_core.training.train` (``dataset`` apart, ``name`` as ``out``)."""
        d = self.to_dict()
        d.pop("dataset")
        d["out"] = d.pop("name")
        return d

    def split_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`genre_core.training.make_split` besides the dataset and protocol."""
        return {"seed": self.seed, "test_size": self.test_size, "valid_size": self.valid_size, "k": self.k,
                "group": self.group}


def _checked_name(name: str, overwrite: bool, check_free: bool) -> str:
    from . import config
    from .runs import check_run_name, check_target

    name = check_run_name(name)
    if check_free:
        try:
            check_target(config.user_runs_dir(), name, overwrite=overwrite)
        except RunExistsError:
            raise RunExistsError(f"A run named {name!r} already exists in {config.user_runs_dir()}; "
                                 "choose another name or tick 'overwrite'.") from None
    return name



#: The defaults of every training setting.
DEFAULTS = TrainConfig()


# --------------------------------------------------------------------------- pre-flight checks


#: Split protocols offered by :func:`split_options`, with the words shown to people.
SPLIT_CHOICES = {
    "track": "Track-level stratified train / valid / test",
    "artist": "Artist-level (no artist on two sides)",
    "kfold": "k-fold cross-validation (by track or artist)",
    "ff": "GTZAN fault-filtered partition",
}


def backend_options(dataset) -> list[dict]:
    """Which registered backends can train on ``dataset``, and on what input.

    A feature table has no audio: only backends consuming feature vectors whose
    feature set's columns are all in the table qualify (e.g. ``gtzan57`` on
    ``features_30_sec.csv``).

    Returns
    -------
    list of dict
        ``{"name", "label" (the kind of model, a few words), "description", "ok", "input" (one line),
        "reason" (why not)}`` for every backend in registration order.
    """
    from .backends import get_backend, list_backends
    from .training import resolve_input_spec

    out = []
    for name in list_backends():
        cls = get_backend(name)
        row = {"name": name, "label": cls.label, "description": cls.description, "ok": True, "input": None,
               "reason": None}
        try:
            spec = resolve_input_spec(cls, None, dataset)
            if not dataset.has_audio:
                from .features import get_feature_set

                cols = get_feature_set(spec.feature_set, **spec.params).columns
                missing = [c for c in cols if c not in dataset.table.columns]
                if missing:
                    raise GenreLabError(
                        f"The {name} model uses {spec.feature_set} features; the table lacks {len(missing)} of "
                        f"their columns (e.g. {missing[0]}).")
            row["input"] = spec.describe()
        except GenreLabError as err:
            row.update({"ok": False, "reason": str(err)})
        out.append(row)
    return out


#: Feature sets offered as a feature model's input on audio (pretrained embeddings first, then classic ones).
FEATURE_CHOICES = ("musicnn", "musicnn_concat", "musicnn_vgg", "gtzan57", "mfcc_stats", "edm")


def with_feature_set(spec, feature_set: str | None):
    """``spec`` (a feature model's :class:`~genre_core.inputs.InputSpec`) on another feature set, its default
    parameters; ``None`` or the same set keeps ``spec``.

    Raises :class:`TrainConfigError` for a non-feature input or an unknown set.
    """
    import dataclasses

    from .features import list_feature_sets

    if not feature_set or feature_set == spec.feature_set:
        return spec
    if spec.kind != "features":
        raise TrainConfigError(f"A feature set applies to feature models; this model uses {spec.kind} inputs.")
    if feature_set not in list_feature_sets():
        raise TrainConfigError(f"Unknown feature set {feature_set!r}; known: {', '.join(list_feature_sets())}.")
    return dataclasses.replace(spec, feature_set=feature_set, params={})


def feature_choices(backend: str, dataset) -> list[str]:
    """Feature sets a feature backend can train on with ``dataset`` (its default first); empty for a
    spectrogram backend, a backend whose feature set is part of the model (``fixed_feature_set``: a
    fine-tuned network's frozen layers) or a feature table (a table's columns fix the input)."""
    from .backends import get_backend

    cls = get_backend(backend)
    spec = cls.default_input()
    if spec.kind != "features" or cls.fixed_feature_set or not dataset.has_audio:
        return []
    return [spec.feature_set, *[f for f in FEATURE_CHOICES if f != spec.feature_set]]


def split_options(dataset) -> list[dict]:
    """Split protocols for ``dataset``: ``{"protocol", "label", "ok", "reason"}``.

    ``artist`` needs artist names (``artists.csv``); ``ff`` needs GTZAN track
    names that appear in the fault-filtered lists (see
    :func:`~genre_core.splits.gtzan_filtered_split`).
    """
    from .splits import gtzan_filtered_split

    out = []
    for proto, label in SPLIT_CHOICES.items():
        ok, reason = True, None
        if proto == "artist" and not any(t.artist for t in dataset.tracks):
            ok, reason = False, "no artist names are known for this dataset (add an artists.csv)"
        if proto == "ff":
            try:
                sp = gtzan_filtered_split(dataset)
                if not sp.test:
                    reason = (f"none of its test tracks is in this dataset: the run will be evaluated on the "
                              f"{len(sp.valid)} validation tracks")
            except GenreLabError as err:
                ok, reason = False, str(err)
        out.append({"protocol": proto, "label": label, "ok": ok, "reason": reason})
    return out


def split_preview(dataset, protocol: str = DEFAULTS.split, *, seed: int = DEFAULTS.seed,
                  test_size: float = DEFAULTS.test_size, valid_size: float = DEFAULTS.valid_size,
                  k: int = DEFAULTS.k, group: str = DEFAULTS.group):
    """Tracks per genre on each side of the split a job would use (before any audio is decoded).

    Returns
    -------
    (DataFrame, list of str)
        Genres x ``train, valid, test`` counts (for k-fold: the first fold,
        where ``test`` is that fold) and notes.

    Raises
    ------
    DatasetError
        The split is impossible, e.g. a genre with too few tracks for the sides asked for.
    """
    from .training import make_split

    sp = make_split(dataset, protocol, seed=seed, test_size=test_size, valid_size=valid_size, k=k, group=group)
    notes = []
    if isinstance(sp, list):
        notes.append(f"{len(sp)} folds: every track is tested exactly once; the table shows fold 1.")
        sp = sp[0]
    if not sp.test:
        notes.append("The test side is empty: the run will be evaluated on its validation tracks "
                     "(which also steer early stopping, so the figures are mildly optimistic).")
    unlisted = (sp.details or {}).get("unlisted")
    if unlisted:
        notes.append(f"{unlisted} track(s) of the dataset are in none of the lists (GTZAN's faulty excerpts) "
                     "and are left out.")
    return sp.counts(dataset), notes



"""The one training entry point, shared by the CLI and the Train page.

:func:`train` runs the whole honest pipeline and records it as a run::

    dataset -> track-level split (leak-checked) -> segments -> cached features /
    log-mels -> augmented copies of TRAINING tracks only -> fit (validation set
    split by track; class weights in the backend) -> evaluate on the test
    tracks -> run folder (model, run.json, predictions, history)

Protocols (``split=``)
----------------------
``"track"``
    Stratified random train/valid/test split of tracks
    (:func:`~genre_core.splits.track_split`, ``test_size``/``valid_size``).
``"artist"``
    The same, keeping each artist on one side (needs ``artists.csv``).
``"ff"`` (or ``"gtzan_filtered"``)
    GTZAN's fault-filtered partition
    (:func:`~genre_core.splits.gtzan_filtered_split`). When the dataset holds
    none of its test tracks (the shared GTZAN development audio has only
    train/valid tracks), :func:`~genre_core.splits.gtzan_dev_split` makes the
    filtered valid tracks the test side and holds a stratified validation part
    out of the filtered train tracks (protocol ``"gtzan_filtered_dev"``). Only
    when there are too few tracks for that hold-out is the run evaluated on
    the validation tracks, and it says so: ``metrics["evaluated_on"] ==
    "valid"`` (mildly optimistic: those tracks also steer early stopping).
``"kfold"``
    ``k``-fold cross-validation by track
    (:func:`~genre_core.splits.kfold_splits`): ``k`` models are fitted, each
    tested on its held-out fold; the metrics are computed on the pooled
    out-of-fold predictions (every track tested exactly once,
    ``metrics["evaluated_on"] == "kfold"``, per-fold figures in
    ``metrics["folds"]``, ``fold_<metric>_mean`` / ``_std`` beside them).
    ``group="artist"`` keeps each artist's tracks in one fold. With
    ``refit=True`` the saved model is fitted on every track afterwards (see
    :func:`refit_overrides`); otherwise it is the **last fold's** model. Either
    way the metrics estimate the procedure, not that exact model; the run says
    so in its ``notes``.
a :class:`~genre_core.splits.Split`
    Used as given (after the leak check).

Feature tables (dataset kind ``"table"``, e.g. ``features_30_sec.csv``) are
trained on their rows (:func:`~genre_core.extraction.table_inputs`): such models
record the table's window (30 s for the public table) in their input spec, so
prediction later cuts audio into windows of that length.

Progress
--------
``progress`` receives dicts ``{"stage", "done", "total", ...}`` with stages
``"scanning"``, ``"splitting"``, ``"extracting"`` (tracks done/total),
``"training"`` (epoch/epochs with loss, accuracy, val_loss, val_accuracy,
eta_s; ``fold``/``folds`` for k-fold), ``"evaluating"``, ``"saving"`` and
finally ``"done"`` (with ``run_id``). The same dicts go to the run's
``status.json``. ``should_stop()`` returning True stops at the next check
(between stages, every batch inside ``fit``) and the run is recorded as
``cancelled`` (:class:`~genre_core.errors.TrainingCancelled` is raised).

:func:`train_voting` builds a soft-voting run over existing runs.

Example
-------
>>> from genre_core.training import train
>>> run = train("synthetic", "mlp", {"epochs": 20}, seed=0)      # doctest: +SKIP
>>> run.metrics["track_accuracy"], run.id                         # doctest: +SKIP
(1.0, 'user/mlp-synthetic-20250101-120000')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import DatasetError, GenreLabError
from .metrics import (
    evaluate_predictions,
    prediction_tables,
)
from .inputs import stack_windows
from .dataset import dataset_label
from .plan import DEFAULTS, SPLIT_PROTOCOLS
from .progress import ProgressFn, Reporter, StopFn
from .runs import (
    Run,
    RunWriter,
    resolve_out,
)
from .voting import train_voting  # noqa: F401  (part of this module's public API)

#: Split protocol names accepted by :func:`train` (and the CLI's ``--split``).

__all__ = ["SPLIT_PROTOCOLS", "train", "train_voting", "make_split", "resolve_input_spec"]


# --------------------------------------------------------------------------- helpers


def _dataset_record(ds, spec: Any) -> dict:
    d = ds.to_dict() if hasattr(ds, "to_dict") else {"name": ds.name, "kind": ds.kind}
    if isinstance(spec, (list, tuple)):
        d["spec"] = [str(s) for s in spec]
    elif isinstance(spec, (str, Path)):
        d["spec"] = str(spec)
    d["fingerprint"] = ds.fingerprint
    return d


def resolve_input_spec(backend_cls, input_spec=None, dataset=None):
    """The input spec a model will use: given, or the backend default; adapted to feature tables.

    For a feature-table dataset the spec keeps the backend's feature set but
    takes the table's window (30 s for ``features_30_sec.csv``, 3 s for a
    segmented table); a spectrogram model cannot train on a table.
    """
    from .inputs import InputSpec

    if isinstance(input_spec, Mapping):
        input_spec = InputSpec.from_dict(dict(input_spec))
    spec = input_spec if input_spec is not None else backend_cls.default_input()
    if dataset is not None and not dataset.has_audio:
        if spec.kind != "features":
            raise DatasetError(
                f"The {backend_cls.name} model consumes {spec.kind} inputs computed from audio; "
                f"the feature table {dataset.name} has no audio. Use a feature model (mlp, xgb) or an audio folder."
            )
        window = _table_window(dataset)
        spec = dataclasses.replace(spec, window=window, hop=None)
    return spec


def _table_window(dataset) -> float:
    """Seconds per table row: 3 s for segmented tables (``.<k>.wav`` rows), else the track length (30 s)."""
    details = getattr(dataset, "details", {}) or {}
    if details.get("segmented"):
        return 3.0
    durs = [t.duration for t in dataset.tracks if t.duration]
    if durs:
        return float(round(float(np.median(durs))))
    return 30.0


def make_split(dataset, split: Any = DEFAULTS.split, *, seed: int = DEFAULTS.seed,
               test_size: float = DEFAULTS.test_size, valid_size: float = DEFAULTS.valid_size, k: int = DEFAULTS.k,
               group: str = DEFAULTS.group):
    """A :class:`~genre_core.splits.Split` (or a list of k folds for ``"kfold"``), leak-checked.

    Raises :class:`~genre_core.errors.SplitLeakError` for a given split that
    puts a track (or a duplicate/artist group) on two sides, and
    :class:`~genre_core.errors.DatasetError` for ids not in the dataset.
    """
    from .splits import (
        Split,
        check_no_leak,
        gtzan_filtered_split,
        kfold_splits,
        track_split,
    )

    if isinstance(split, Mapping):
        split = Split.from_dict(split)
    if isinstance(split, Split):
        known = {t.track_id for t in dataset.tracks}
        for side in ("train", "valid", "test"):
            unknown = [t for t in getattr(split, side) if t.split("#", 1)[0] not in known]
            if unknown:
                raise DatasetError(
                    f"The given split's {side} side names {len(unknown)} track(s) not in dataset "
                    f"{dataset.name!r}, e.g. {unknown[0]!r}."
                )
        check_no_leak(split)
        return split
    if not isinstance(split, str) or split not in SPLIT_PROTOCOLS:
        raise GenreLabError(f"Unknown split {split!r}; use one of: track, artist, ff, kfold (or a Split).")
    if group not in ("track", "artist"):
        raise GenreLabError(f"Unknown grouping {group!r}; use 'track' or 'artist'.")
    if split in ("track", "artist"):
        return track_split(dataset, test_size=test_size, valid_size=valid_size, seed=seed,
                           group="artist" if "artist" in (split, group) else "track")
    if split in ("ff", "gtzan_filtered"):
        # Without GTZAN's test tracks, evaluate on the filtered valid tracks and hold the validation
        # part out of the filtered train tracks (gtzan_dev_split), so early stopping never sees the
        # evaluated tracks. Too few tracks for that hold-out: the plain lists, evaluated on valid.
        from .splits import gtzan_dev_split

        try:
            return gtzan_dev_split(dataset, valid_size=max(valid_size, 0.15), seed=seed)
        except DatasetError as err:
            if "stratified" not in str(err) and "groups" not in str(err):
                raise
            return gtzan_filtered_split(dataset)
    return kfold_splits(dataset, k=k, seed=seed, valid_size=valid_size, group=group)


#: Headline metrics reported as mean ± std over cross-validation folds.
FOLD_METRICS = ("track_accuracy", "balanced_accuracy", "macro_f1", "segment_accuracy")


def fold_spread(fold_metrics: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """``fold_<metric>_mean`` / ``fold_<metric>_std`` (sample std) for every :data:`FOLD_METRICS`.

    Examples
    --------
    >>> fold_spread([{"track_accuracy": 0.5}, {"track_accuracy": 0.7}])["fold_track_accuracy_mean"]
    0.6
    """
    out: dict[str, float] = {}
    for key in FOLD_METRICS:
        vals = [float(f[key]) for f in fold_metrics if f.get(key) is not None]
        if vals:
            out[f"fold_{key}_mean"] = round(float(np.mean(vals)), 6)
            out[f"fold_{key}_std"] = round(float(np.std(vals, ddof=1)), 6) if len(vals) > 1 else 0.0
    return out


def refit_overrides(model_cls, best_steps: Sequence[Any],
                    chosen: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Hyperparameters for the refit on all tracks: what the folds' models chose, on their validation tracks.

    The training length is the median of the folds' best epoch (networks) or
    boosting round (xgboost); without a validation side early stopping has
    nothing to watch, so it is switched off. A value a fit chose itself (e.g.
    linear's ``C`` from ``C_grid``) takes the folds' median (geometric for
    positive values) and the search is switched off.

    Examples
    --------
    >>> from genre_core.backends import get_backend
    >>> refit_overrides(get_backend("linear"), [1, 1, 1], [{"C": 0.01}, {"C": 0.1}, {"C": 1.0}])
    {'C': 0.1, 'C_grid': ''}
    """
    names = {p.name for p in model_cls.param_specs()}
    out: dict[str, Any] = {}
    keys = sorted({k for c in chosen for k in c})
    for key in keys:
        vals = [float(c[key]) for c in chosen if isinstance(c.get(key), (int, float))]
        if vals and key in names:
            med = float(np.exp(np.median(np.log(vals)))) if min(vals) > 0 else float(np.median(vals))
            out[key] = float(f"{med:.6g}")
            if f"{key}_grid" in names:
                out[f"{key}_grid"] = ""
    steps = [int(b) for b in best_steps if isinstance(b, (int, np.integer)) and b > 0]
    n = max(1, int(round(float(np.median(steps))))) if steps else None
    if n is not None and "n_estimators" in names:
        out.update({"n_estimators": n, "early_stopping": 0})
    elif n is not None and "epochs" in names:
        out.update({"epochs": n, "patience": 0})
    return out


def _compute_inputs(ds, spec, split_sides: dict[str, list[str]], *, augmenter, n_augment: int, n_jobs: int,
                    use_cache: bool, rep: Reporter) -> tuple[dict, list, float]:
    """Inputs for every track in the split (+ augmented copies of the training tracks)."""
    t0 = time.perf_counter()
    if not ds.has_audio:
        rep.stage("extracting", 0, len(ds.tracks))
        inputs, _ = ds.compute_inputs(spec)
        rep.stage("extracting", len(ds.tracks), len(ds.tracks))
        return inputs, [], time.perf_counter() - t0
    by_id = ds.by_id()
    train_ids = [t for t in split_sides["train"] if t in by_id]
    other_ids = [t for side in ("valid", "test") for t in split_sides[side] if t in by_id]
    n_total = len(train_ids) + len(other_ids)
    offset = {"n": 0}

    def prog(msg: Mapping) -> None:
        rep.check("while extracting inputs")
        done = int(msg.get("done", 0)) + offset["n"]
        rep({**dict(msg), "stage": "extracting", "done": done, "total": n_total})

    inputs: dict = {}
    failures: list = []
    rep.stage("extracting", 0, n_total)
    if other_ids:
        got, bad = ds.compute_inputs(spec, [by_id[t] for t in other_ids], n_jobs=n_jobs, use_cache=use_cache,
                                     progress=prog, should_stop=rep.should_stop)
        inputs.update(got)
        failures.extend(bad)
        offset["n"] += len(other_ids)
    rep.check("while extracting inputs")
    if train_ids:
        kw = {"augmenter": augmenter, "n_augment": n_augment} if augmenter is not None and n_augment > 0 else {}
        got, bad = ds.compute_inputs(spec, [by_id[t] for t in train_ids], n_jobs=n_jobs, use_cache=use_cache,
                                     progress=prog, should_stop=rep.should_stop, **kw)
        inputs.update(got)
        failures.extend(bad)
    rep.check("after extracting inputs")
    return inputs, [tuple(f) for f in failures], time.perf_counter() - t0


def _class_weights(train_ids: Iterable[str], label_of: Mapping[str, str], labels: Sequence[str]) -> dict:
    counts = {lab: 0 for lab in labels}
    for t in train_ids:
        counts[label_of[t]] += 1
    present = [c for c in counts.values() if c > 0]
    total = sum(present)
    return {
        lab: (round(total / (len(present) * c), 4) if c else 0.0) for lab, c in counts.items()
    }, counts


def _fit(model_cls, spec, params, train_data, valid_data, labels, rep: Reporter, should_stop):
    model = model_cls(spec, **params)
    rep.stage("training", 0, int(params.get("epochs", 0) or 0))
    t0 = time.perf_counter()
    model.fit(
        train_data["X"],
        train_data["y"],
        X_valid=None if valid_data is None else valid_data["X"],
        y_valid=None if valid_data is None else valid_data["y"],
        classes=list(labels),
        progress=rep,
        should_stop=should_stop,
        groups=train_data["groups"],
    )
    return model, time.perf_counter() - t0


def _predict(model, data) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    proba = model.predict_proba(data["X"])
    return np.asarray(proba, dtype=np.float64), time.perf_counter() - t0


# --------------------------------------------------------------------------- train



def _augmenter(ds, augment, n_augment: int, seed: int):
    """The :class:`~genre_core.augment.Augmenter` for ``n_augment`` copies of training tracks (``None`` for 0)."""
    if n_augment <= 0:
        return None
    if not ds.has_audio:
        raise DatasetError(f"Augmentation needs audio; the feature table {ds.name} has none.")
    from .augment import AugmentConfig, Augmenter

    if isinstance(augment, AugmentConfig):
        cfg = augment
    elif isinstance(augment, Mapping):
        cfg = AugmentConfig.from_dict(augment)
    else:
        cfg = AugmentConfig()
    return Augmenter(cfg, seed=seed)


@dataclass
class _Fitted:
    """What fitting every fold (or the one split) left: the last model, held-out predictions, per-fold figures."""

    model: Any = None
    oof: list = field(default_factory=list)  # (eval_data, proba, fold index, side)
    fold_metrics: list = field(default_factory=list)
    n_windows: dict = field(default_factory=dict)
    t_train: float = 0.0
    t_infer: float = 0.0


def _cross_fit(model_cls, spec, params, splits, inputs, label_of, labels, *, n_augment: int, rep: Reporter,
               should_stop, cross_validated: bool, refit: bool = False) -> _Fitted:
    """Fit one model per split (early stopping on its validation tracks) and predict its held-out tracks.

    With ``refit`` (cross-validation whose saved model is refit on every
    track), each fold does what the refit does, inside the fold: after the fit
    that chooses on the fold's validation tracks (best epoch / boosting round,
    C), a second fit on its training + validation tracks with those choices
    predicts the fold's test tracks. The out-of-fold figures then estimate the
    procedure that made the saved model, and no fold leaves a validation
    artist out of training (with a few artists per genre, that costs a genre
    a third of its artists).
    """
    from .splits import check_no_leak

    out = _Fitted()
    for i, sp in enumerate(splits):
        if cross_validated:
            rep.extra = {"fold": i + 1, "folds": len(splits), "refit_fold": False}
        aug_items = [f"{t}#aug{j}" for t in sp.train for j in range(1, n_augment + 1)]
        train_items = list(sp.train) + [a for a in aug_items if a in inputs]
        check_no_leak(sp, segment_track_ids={"train": [x for x in train_items if x in inputs],
                                             "valid": [x for x in sp.valid if x in inputs],
                                             "test": [x for x in sp.test if x in inputs]})
        train_data = stack_windows(inputs, train_items, label_of)
        if train_data is None:
            raise DatasetError("No training windows: every training track failed or is empty.")
        valid_data = stack_windows(inputs, sp.valid, label_of)
        out.n_windows = {"train": len(train_data["X"]), "valid": 0 if valid_data is None else len(valid_data["X"]),
                         "train_augmented": sum(1 for x in train_data["items"] if "#" in x)}
        rep.check("before training")
        out.model, dt = _fit(model_cls, spec, params, train_data, valid_data, labels, rep, should_stop)
        out.t_train += dt
        rep.check("after training")
        chooser = out.model
        if refit and valid_data is not None:
            overrides = refit_overrides(model_cls, [chooser.best_epoch_], [getattr(chooser, "chosen_params_", {}) or {}])
            aug_valid = [f"{t}#aug{j}" for t in sp.valid for j in range(1, n_augment + 1)]
            both = stack_windows(inputs, train_items + list(sp.valid) + [a for a in aug_valid if a in inputs], label_of)
            rep.extra = {**rep.extra, "refit_fold": True}
            out.model, dt = _fit(model_cls, spec, {**params, **overrides}, both, None, labels, rep, should_stop)
            rep.extra = {**rep.extra, "refit_fold": False}
            out.t_train += dt
            rep.check("after training")
        eval_side, eval_data = "test", stack_windows(inputs, sp.test, label_of)
        if eval_data is None:
            eval_side, eval_data = "valid", valid_data
        rep.stage("evaluating", 0, 1)
        if eval_data is None:
            continue
        proba, dt = _predict(out.model, eval_data)
        out.t_infer += dt
        out.oof.append((eval_data, proba, i, eval_side))
        if cross_validated:
            m = evaluate_predictions(proba, eval_data["groups"], {t: label_of[t] for t in set(eval_data["groups"])},
                                     labels)
            out.fold_metrics.append({"fold": i + 1, "n_tracks": m["n_tracks"], "track_accuracy": m["track_accuracy"],
                                     "balanced_accuracy": m["balanced_accuracy"], "macro_f1": m["macro_f1"],
                                     "segment_accuracy": m["segment_accuracy"], "best_epoch": chooser.best_epoch_,
                                     "epochs_run": len(chooser.history),
                                     "chosen": dict(getattr(chooser, "chosen_params_", {}) or {}),
                                     "refit_on_train_and_valid": chooser is not out.model})
    rep.extra = {}
    rep.stage("evaluating", 1, 1)
    return out


def _refit(model_cls, spec, params, folds, fold_metrics, inputs, label_of, labels, *, n_augment: int,
           rep: Reporter, should_stop) -> tuple:
    """``(model, refit record, seconds)``: one model on every track of the folds, trained with what the folds
    chose on their validation tracks (median best epoch / boosting round, C)."""
    overrides = refit_overrides(model_cls, [f["best_epoch"] for f in fold_metrics],
                                [f.get("chosen") or {} for f in fold_metrics])
    all_ids = sorted({t for f in folds for t in (*f.train, *f.valid, *f.test)} & set(inputs))
    aug_all = [f"{t}#aug{j}" for t in all_ids for j in range(1, n_augment + 1)]
    everything = stack_windows(inputs, all_ids + [a for a in aug_all if a in inputs], label_of)
    rep.extra = {"refit": True}
    model, dt = _fit(model_cls, spec, {**params, **overrides}, everything, None, labels, rep, should_stop)
    rep.extra = {}
    record = {"n_tracks": len(all_ids), "overrides": overrides,
              "chosen_from": "median over the folds of what each chose on its validation tracks "
                             "(best epoch / boosting round, C)"}
    return model, record, dt


def _pooled_metrics(oof, label_of, labels, folds, fold_metrics, group, refit_record, notes: list) -> tuple:
    """``(metrics, tracks table, segments table)`` of the pooled held-out predictions; appends to ``notes``."""
    if not oof:
        notes.append("No held-out tracks (test and validation are empty): nothing was evaluated.")
        return {"evaluated_on": None, "labels": labels}, None, None
    proba = np.concatenate([p for _, p, _, _ in oof])
    groups = np.concatenate([d["groups"] for d, _, _, _ in oof])
    starts = np.concatenate([d["starts"] for d, _, _, _ in oof])
    ends = np.concatenate([d["ends"] for d, _, _, _ in oof])
    truth = {t: label_of[t] for t in set(groups.tolist())}
    metrics = evaluate_predictions(proba, groups, truth, labels)
    tracks_df, segments_df = prediction_tables(proba, groups, truth, labels, starts=starts, ends=ends)
    if not folds:
        metrics["evaluated_on"] = oof[0][3]
        if oof[0][3] == "valid":
            notes.append("The test side of this split is empty, so the run is evaluated on its validation tracks "
                         "(which also steered early stopping: mildly optimistic).")
        return metrics, tracks_df, segments_df
    fold_of = {t: f + 1 for d, _, f, _ in oof for t in d["groups"]}
    tracks_df.insert(1, "fold", [fold_of[t] for t in tracks_df["track_id"]])
    metrics["evaluated_on"] = "kfold"
    metrics["folds"] = fold_metrics
    metrics.update(fold_spread(fold_metrics))
    metrics["cv"] = {"k": len(folds), "group": group, "refit": bool(refit_record)}
    kept = (f"the saved model was refit on all {refit_record['n_tracks']} tracks "
            f"({', '.join(f'{k_}={v}' for k_, v in refit_record['overrides'].items()) or 'same settings'}"
            f"); the figures are its cross-validated estimates" if refit_record
            else "the saved model is the last fold's")
    how = ("each refit on its fold's training + validation tracks with what it chose on its validation tracks, "
           if any(f.get("refit_on_train_and_valid") for f in fold_metrics) else "")
    notes.append(f"{len(folds)}-fold cross-validation grouped by {group}: metrics pool the out-of-fold "
                 f"predictions of {len(folds)} models ({how}every track tested once), with mean ± std over "
                 f"folds; {kept}.")
    return metrics, tracks_df, segments_df


def train(
    dataset,
    backend: str = DEFAULTS.backend,
    params: Mapping[str, Any] | None = None,
    *,
    input_spec=DEFAULTS.input_spec,
    split: Any = DEFAULTS.split,
    seed: int = DEFAULTS.seed,
    test_size: float = DEFAULTS.test_size,
    valid_size: float = DEFAULTS.valid_size,
    k: int = DEFAULTS.k,
    group: str = DEFAULTS.group,
    refit: bool = DEFAULTS.refit,
    augment=DEFAULTS.augment,
    n_augment: int = DEFAULTS.n_augment,
    out: str | Path | None = DEFAULTS.name,
    overwrite: bool = DEFAULTS.overwrite,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    n_jobs: int = DEFAULTS.n_jobs,
    use_cache: bool = DEFAULTS.use_cache,
    info: Mapping[str, Any] | None = None,
) -> Run:
    """Train a model on a dataset, evaluate it honestly and save it as a run.

    Parameters
    ----------
    dataset : str, Path, list or Dataset
        Anything :func:`~genre_core.dataset.open_dataset` accepts (genre
        folder(s), a feature-table CSV, ``"synthetic"``) or a ``Dataset``.
    backend : str
        A registered backend (``mlp``, ``cnn``, ``xgb``, ``cnn_bag``; the alias
        ``ensemble`` means ``cnn_bag``). Soft voting over runs is
        :func:`train_voting`.
    params : dict, optional
        Hyperparameters (see the backend's ``param_specs()``); strings are
        parsed. ``seed`` defaults to ``seed``.
    input_spec : InputSpec or dict, optional
        What the model consumes; default the backend's ``default_input()``.
    split : {"track", "artist", "ff", "kfold"} or Split
        See the module docstring.
    seed : int
        Seeds the split and (unless ``params["seed"]`` is given) the model.
    test_size, valid_size : float
        Fractions of tracks for ``"track"``/``"artist"`` (``valid_size`` also
        for ``"kfold"``).
    k : int
        Folds for ``"kfold"``.
    group : {"track", "artist"}
        What the folds keep together (``"artist"``: all tracks of an artist in
        one fold; needs ``artists.csv``). ``split="artist"`` implies it.
    refit : bool
        With ``"kfold"``: after cross-validation, fit the saved model on every
        development track, training as long as the folds' models did (median of
        their best epoch / boosting round, chosen on the folds' validation
        tracks, never on a test fold). The run's figures stay the
        cross-validated estimates. Without ``refit`` the last fold's model is saved.
    augment : AugmentConfig, dict or None
        Augmentation of training tracks; used when ``n_augment > 0``
        (``None`` then means the default :class:`~genre_core.augment.AugmentConfig`).
    n_augment : int
        Augmented copies per training track.
    out : str or Path, optional
        Run name / location (see :func:`genre_core.runs.resolve_out`); default a
        fresh name in the user runs.
    overwrite : bool
        Replace an existing complete run of that name.
    progress, should_stop : callables, optional
        See the module docstring.
    n_jobs, use_cache : passed to :func:`~genre_core.extraction.compute_dataset_inputs`.
    info : dict, optional
        Extra facts recorded in ``run.json`` (e.g. ``{"command": ...}``).

    Returns
    -------
    Run
        The complete run (model loaded).

    Raises
    ------
    GenreLabError
        Bad dataset, unknown backend/parameter, leaking split
        (:class:`~genre_core.errors.SplitLeakError`), name taken; these are
        raised before any input is computed, and leave no run folder behind.
    TrainingCancelled
        ``should_stop()`` said so; the run folder is kept with status ``cancelled``.
    """
    from .backends import get_backend
    from .dataset import open_dataset

    rep = Reporter(progress, should_stop)
    t_start = time.perf_counter()
    model_cls = get_backend(backend)
    params = dict(params or {})
    spec_names = {p.name for p in model_cls.param_specs()}
    if "seed" in spec_names and "seed" not in params:
        params["seed"] = int(seed)
    model_cls(None, **params)  # validate hyperparameters before any work
    if n_augment and int(n_augment) < 0:
        raise GenreLabError(f"n_augment must be >= 0, not {n_augment}.")
    n_augment = int(n_augment or 0)

    root, name = resolve_out(out, backend=model_cls.name, dataset_name=dataset_label(dataset))
    writer = RunWriter(name, root=root, overwrite=overwrite,
                       meta={"backend": model_cls.name, "dataset": dataset_label(dataset), "seed": int(seed)})
    rep.writer = writer

    # ---- data, split: any error here is the user's input; leave no run folder behind
    try:
        rep.stage("scanning")
        ds = open_dataset(dataset, n_jobs=n_jobs, progress=rep) if not hasattr(dataset, "tracks") else dataset
        rep.check("while scanning the dataset")
        if len(ds.labels) < 2:
            raise DatasetError(f"Dataset {ds.name!r} has {len(ds.labels)} genre(s); a classifier needs at least two.")
        if not ds.tracks:
            raise DatasetError(f"Dataset {ds.name!r} has no usable tracks.")
        spec = resolve_input_spec(model_cls, input_spec, ds)
        model_cls(spec, **params)  # the backend accepts this input kind
        augmenter = _augmenter(ds, augment, n_augment, seed)
        rep.stage("splitting")
        if refit and split != "kfold":
            raise GenreLabError("refit needs --split kfold: the folds' out-of-fold predictions give the "
                                "figures, the refit model is trained on every track.")
        splits = make_split(ds, split, seed=seed, test_size=test_size, valid_size=valid_size, k=k, group=group)
        rep.check("before extracting inputs")
    except BaseException:
        writer.abandon()
        raise
    folds = splits if isinstance(splits, list) else None
    main_split = folds[-1] if folds else splits
    label_of = {t.track_id: t.label for t in ds.tracks}
    labels = list(ds.labels)
    notes: list[str] = []
    record: dict[str, Any] = {
        "backend": model_cls.name,
        "description": model_cls.description,
        "params": {},
        "input_spec": spec.to_dict(),
        "labels": labels,
        "dataset": _dataset_record(ds, dataset),
        "seed": int(seed),
        "augment": augmenter.config.to_dict() if augmenter is not None else None,
        "n_augment": n_augment,
        **dict(info or {}),
    }
    try:
        # ---- inputs
        sides = {"train": [], "valid": [], "test": []}
        for sp in folds or [main_split]:
            for side in sides:
                sides[side] = sorted(set(sides[side]) | set(getattr(sp, side)))
        if folds:  # every track is train in some fold and test in one: extract train-style for all
            sides = {"train": sorted(set().union(*[set(f.train) | set(f.valid) | set(f.test) for f in folds])),
                     "valid": [], "test": []}
        inputs, failures, t_extract = _compute_inputs(ds, spec, sides, augmenter=augmenter, n_augment=n_augment,
                                                      n_jobs=n_jobs, use_cache=use_cache, rep=rep)
        if failures:
            notes.append(f"{len(failures)} track(s) could not be analysed and were left out "
                         f"(e.g. {failures[0][0]}: {failures[0][1]}).")
        record["failures"] = [list(f) for f in failures]

        # ---- fit + evaluate, fold by fold
        fitted = _cross_fit(model_cls, spec, params, folds or [main_split], inputs, label_of, labels,
                            n_augment=n_augment if augmenter else 0, rep=rep, should_stop=should_stop,
                            cross_validated=bool(folds), refit=bool(folds) and refit)
        model, oof, fold_metrics, n_windows = fitted.model, fitted.oof, fitted.fold_metrics, fitted.n_windows
        t_train, t_infer = fitted.t_train, fitted.t_infer
        refit_record = None
        if folds and refit:  # ---- the saved model: fit on every track, as long as the folds chose
            model, refit_record, dt = _refit(model_cls, spec, params, folds, fold_metrics, inputs, label_of,
                                             labels, n_augment=n_augment if augmenter else 0, rep=rep,
                                             should_stop=should_stop)
            t_train += dt

        # ---- metrics on the held-out (out-of-fold) predictions
        metrics, tracks_df, segments_df = _pooled_metrics(oof, label_of, labels, folds, fold_metrics, group,
                                                          refit_record, notes)
        n_eval = metrics.get("n_tracks") or 0

        # ---- save
        rep.stage("saving", 0, 1)
        rep.check("before saving")
        writer.save_model(model)
        writer.write_history(model.history)
        writer.write_predictions(tracks_df, segments_df)
        split_record = main_split.to_dict() if not folds else {
            "protocol": "kfold", "seed": seed, "k": len(folds), "group": group, "refit": bool(refit_record),
            "folds": [f.to_dict() for f in folds],
            "train": main_split.train, "valid": main_split.valid, "test": main_split.test,
        }
        if refit_record:
            record["refit"] = refit_record
        n_tracks_extracted = sum(1 for key in inputs if "#" not in key)
        record.update(
            {
                "params": {k_: (list(v) if isinstance(v, tuple) else v) for k_, v in model.params.items()},
                "input_spec": model.input_spec.to_dict(),
                "split": split_record,
                "class_weights": dict(zip(("weights", "train_counts"),
                                          _class_weights(main_split.train, label_of, labels))),
                "metrics": metrics,
                "model": model.describe(),
                "timings": {
                    "extraction_s": round(t_extract, 3),
                    "extraction_s_per_track": round(t_extract / max(1, len(inputs)), 5),
                    "training_s": round(t_train, 3),
                    "inference_s": round(t_infer, 4),
                    "inference_s_per_track": round(t_infer / max(1, n_eval), 6) if n_eval else None,
                    "total_s": round(time.perf_counter() - t_start, 3),
                },
                "n_tracks_extracted": n_tracks_extracted,
                "n_windows": {**n_windows, "evaluated": int(metrics.get("n_segments") or 0)},
                "notes": notes,
            }
        )
        run = writer.finish(record)
    except BaseException as err:
        writer.fail(err, info=record)
        raise
    run.model = model
    rep.stage("done", 1, 1, run_id=run.id)
    return run


# --------------------------------------------------------------------------- voting



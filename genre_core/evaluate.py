"""Evaluate a saved run on a labelled dataset where every track is test data (``python -m genre_core evaluate``).

The run's own inputs are computed for every track (through the feature cache),
its window probabilities averaged per track (:mod:`genre_core.metrics`, the
same rule training uses), a voting run combined with its weights
(:func:`genre_core.voting.vote_track_probabilities`). A dataset that shares
track ids with the run's training or validation tracks is flagged: the report
counts the overlap, warns in ``notes`` and gives the accuracy on the other
tracks beside it.

Example
-------
>>> report = evaluate_run("shipped/linear-musicnn", "path/to/genre/folders")   # doctest: +SKIP
>>> report["track_accuracy"], report["overlap_with_training"]                   # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .errors import DatasetError
from .inputs import stack_windows
from .metrics import (
    aggregate_tracks,
    evaluate_predictions,
    evaluate_track_probabilities,
    prediction_tables,
)
from .predict import _as_runs, _leaves
from .progress import ProgressFn
from .voting import align_labels, vote_track_probabilities

__all__ = ["evaluate_run"]


def evaluate_run(
    run,
    dataset,
    *,
    n_jobs: int = -1,
    use_cache: bool = True,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """Evaluate a saved run on a labelled dataset where **every** track is test data.

    Parameters
    ----------
    run : Run or run reference
    dataset : anything :func:`~genre_core.dataset.open_dataset` accepts, or a Dataset
        Its genres must be among the run's labels (a subset is fine).

    Returns
    -------
    dict
        The :func:`~genre_core.evaluation.evaluate_predictions` report plus
        ``run``, ``dataset`` (name, fingerprint), ``evaluated_on: "dataset"``,
        ``failures`` (tracks that could not be analysed), ``timings`` and
        ``tracks``: per-track predictions (``track_id, true, predicted,
        correct, confidence, probabilities``). If the dataset overlaps the
        run's own training tracks (same ids), ``overlap_with_training`` counts
        them and ``notes`` warns: the figures are then optimistic.

    Raises
    ------
    DatasetError
        The dataset has genres the run does not know (label-set mismatch), or no usable track.
    """
    from .dataset import open_dataset

    (run,) = _as_runs([run])
    ds = open_dataset(dataset, n_jobs=n_jobs, progress=progress) if not hasattr(dataset, "tracks") else dataset
    labels = run.labels
    unknown = sorted(set(ds.labels) - set(labels))
    if unknown:
        raise DatasetError(
            f"Label-set mismatch: dataset {ds.name!r} has genre(s) {', '.join(unknown)} that run {run.id} "
            f"does not know (it predicts {', '.join(labels)})."
        )
    if not ds.tracks:
        raise DatasetError(f"Dataset {ds.name!r} has no usable tracks.")
    label_of = {t.track_id: t.label for t in ds.tracks}
    leaves = _leaves([run])
    t_feat = t_inf = 0.0
    failures: list = []
    track_proba: dict[str, dict[str, np.ndarray]] = {}
    seg_data: dict[str, tuple] = {}
    cache_inputs: dict[str, tuple] = {}
    for rid, leaf in leaves.items():
        model = leaf.load_model()
        spec = model.input_spec
        key = spec.key()
        if key not in cache_inputs:
            t0 = time.perf_counter()
            if not ds.has_audio and spec.kind != "features":
                raise DatasetError(f"Run {rid} needs audio ({spec.kind} inputs); feature table {ds.name!r} has none.")
            inputs, bad = ds.compute_inputs(spec, n_jobs=n_jobs, use_cache=use_cache, progress=progress,
                                            should_stop=should_stop)
            cache_inputs[key] = (inputs, bad)
            t_feat += time.perf_counter() - t0
        inputs, bad = cache_inputs[key]
        failures.extend(b for b in bad if tuple(b) not in {tuple(f) for f in failures})
        ids = [t.track_id for t in ds.tracks if t.track_id in inputs and len(inputs[t.track_id].X)]
        if not ids:
            raise DatasetError(f"No track of dataset {ds.name!r} could be analysed for run {rid}.")
        stacked = stack_windows(inputs, ids)
        X, groups, starts, ends = stacked["X"], stacked["groups"], stacked["starts"], stacked["ends"]
        if progress is not None:
            progress({"stage": "evaluating", "done": 0, "total": 1, "run": rid})
        t0 = time.perf_counter()
        proba = align_labels(np.asarray(model.predict_proba(X), dtype=np.float64), [str(c) for c in model.classes_], labels)
        t_inf += time.perf_counter() - t0
        seg_data[rid] = (proba, groups, starts, ends)
        tids, mean, _, _ = aggregate_tracks(proba, groups)
        track_proba[rid] = dict(zip(tids, mean))

    notes: list[str] = []
    if run.is_voting:
        common, mix = vote_track_probabilities(run, track_proba, labels)
        report = evaluate_track_probabilities(mix, [label_of[t] for t in common], labels)
        lab = np.asarray(labels, dtype=object)
        tracks = [
            {"track_id": t, "true": label_of[t], "predicted": str(lab[row.argmax()]),
             "correct": label_of[t] == str(lab[row.argmax()]), "confidence": float(row.max()),
             "probabilities": {l_: float(v) for l_, v in zip(labels, row)}}
            for t, row in zip(common, mix)
        ]
    else:
        proba, groups, starts, ends = seg_data[run.id]
        truth = {t: label_of[t] for t in set(groups.tolist())}
        report = evaluate_predictions(proba, groups, truth, labels)
        tdf, _ = prediction_tables(proba, groups, truth, labels, starts=starts, ends=ends)
        tracks = [
            {"track_id": r["track_id"], "true": r["true"], "predicted": r["predicted"], "correct": bool(r["correct"]),
             "confidence": float(r["confidence"]), "vote": r["vote"], "n_segments": int(r["n_segments"]),
             "probabilities": {lab: float(r[f"p_{lab}"]) for lab in labels}}
            for r in tdf.to_dict("records")
        ]
    trained_on = set()
    for leaf in leaves.values():
        sp = leaf.info.get("split") or {}
        trained_on |= set(sp.get("train") or []) | set(sp.get("valid") or [])
        for f in sp.get("folds") or []:
            trained_on |= set(f.get("train") or []) | set(f.get("valid") or [])
            if sp.get("refit"):  # the refit model was trained on every fold's tracks
                trained_on |= set(f.get("test") or [])
    overlap = len(trained_on & set(label_of))
    clean = [t for t in tracks if t["track_id"] not in trained_on]
    if overlap:
        notes.append(f"{overlap} track(s) of this dataset have the same ids as tracks the run was trained or "
                     f"validated on; if they are the same recordings, these figures are optimistic.")
    if failures:
        notes.append(f"{len(failures)} track(s) could not be analysed and are not counted.")
    n_eval = report.get("n_tracks") or 0
    report.update({
        "run": run.id,
        "dataset": {"name": ds.name, "kind": ds.kind, "fingerprint": ds.fingerprint, "n_tracks": len(ds.tracks)},
        "evaluated_on": "dataset",
        "overlap_with_training": overlap,
        # the honest figure beside the optimistic one: only tracks the run never trained or validated on
        "non_overlapping": {"n_tracks": len(clean),
                            "track_accuracy": (sum(t["correct"] for t in clean) / len(clean)) if clean else None},
        "failures": [list(f) for f in failures],
        "timings": {"extraction_s": round(t_feat, 3), "inference_s": round(t_inf, 4),
                    "inference_s_per_track": round(t_inf / n_eval, 6) if n_eval else None},
        "notes": notes,
        "tracks": tracks,
    })
    return report

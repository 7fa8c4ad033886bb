"""Metrics from predicted probabilities, at segment level and at track level.

A model scores fixed windows (segments) of a track; what a user cares about is
the label of the *track*. :func:`evaluate_predictions` therefore takes the
per-segment probabilities together with the track each segment came from and
reports both levels:

* **track level** (the headline): a track's probabilities are the mean of its
  segments' probabilities (soft voting); ``track_accuracy`` with a 95 % Wilson
  confidence interval, ``balanced_accuracy``, ``macro_f1``, ``per_class``
  precision/recall/F1, ``confusion_matrix``, ``top2_accuracy`` and
  ``log_loss`` are all computed on these track probabilities.
  ``track_vote_accuracy`` is the majority vote of the segments' arg-max labels
  instead (ties broken by the mean probability).
* **segment level**: ``segment_accuracy``, ``segment_balanced_accuracy``,
  ``segment_macro_f1``, ``segment_top2_accuracy``, ``segment_log_loss`` and
  ``segment_confusion_matrix``, every segment counted once. Segment figures
  weight long tracks more and, on a split that is not by track, leak; quote the
  track figures.

Everything returned is plain JSON (floats, ints, lists, dicts of str), so it goes
straight into ``run.json`` and ``--json`` output. Confusion matrices are counts,
rows = true label, columns = predicted label, both in the order of ``labels``.

:func:`mcnemar_test` compares two runs' track-level correctness on the same test
tracks (exact binomial test for small discordant counts, continuity-corrected
chi-square otherwise); :func:`wilson_interval` is the binomial CI used for
accuracy.

Example
-------
>>> import numpy as np
>>> proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
>>> m = evaluate_predictions(proba, ["a/1", "a/1", "b/2"], ["a", "a", "b"], ["a", "b"])
>>> m["segment_accuracy"], m["track_accuracy"]
(0.6666666666666666, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from .errors import DatasetError

#: Probabilities are clipped to ``[LOG_LOSS_EPS, 1]`` before taking logs.
LOG_LOSS_EPS = 1e-7
#: z for a two-sided 95 % interval.
Z_95 = 1.959963984540054

__all__ = [
    "LOG_LOSS_EPS",
    "aggregate_tracks",
    "classification_metrics",
    "confusion_matrix",
    "evaluate_predictions",
    "evaluate_track_probabilities",
    "log_loss",
    "majority_vote",
    "mcnemar_test",
    "mcnemar_tracks",
    "prediction_tables",
    "top_k_accuracy",
    "wilson_interval",
]


# --------------------------------------------------------------------------- basic metrics


def wilson_interval(k: int, n: int, *, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k / n``.

    Better behaved than the normal ("Wald") interval for small ``n`` and for
    proportions near 0 or 1, which is the usual situation for a test set of a
    few dozen tracks.

    Parameters
    ----------
    k : int
        Successes (e.g. correctly classified tracks).
    n : int
        Trials (tracks). ``n == 0`` gives ``(0.0, 1.0)``: nothing is known.
    z : float
        Normal quantile; the default gives a two-sided 95 % interval.

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> lo, hi = wilson_interval(8, 10)
    >>> round(lo, 4), round(hi, 4)
    (0.4902, 0.9433)
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of items with true class ``i`` predicted as ``j``.

    Examples
    --------
    >>> confusion_matrix([0, 0, 1], [0, 1, 1], 2).tolist()
    [[1, 1], [0, 1]]
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def normalise_rows(m: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (float64; tiny negatives clipped to 0; an all-zero row stays 0).

    Turns scores into probabilities that sum exactly to 1, and a confusion matrix
    into recall per true genre.

    Examples
    --------
    >>> normalise_rows(np.array([[3, 1], [0, 0]])).tolist()
    [[0.75, 0.25], [0.0, 0.0]]
    """
    m = np.clip(np.asarray(m, dtype=np.float64), 0.0, None)
    sums = m.sum(axis=-1, keepdims=True)
    return np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)


def class_rates(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall, F1, support and predicted counts of one confusion matrix ``(K, K)``
    or a stack of them ``(..., K, K)`` (rows: true class); a zero denominator gives 0."""
    cm = np.asarray(cm)
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(np.float64)
    support = cm.sum(axis=-1).astype(np.float64)
    predicted = cm.sum(axis=-2).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    return precision, recall, f1, support, predicted


def balanced_accuracy_macro_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Balanced accuracy and macro F1 of one confusion matrix or a stack ``(..., K, K)`` (NaN where undefined).

    Conventions as in :func:`classification_metrics`. Vectorised, so bootstrap
    resamples are scored in one call.

    Examples
    --------
    >>> bal, mf1 = balanced_accuracy_macro_f1(np.array([[2, 0], [1, 1]]))
    >>> round(float(bal), 3), round(float(mf1), 3)
    (0.75, 0.733)
    """
    _, recall, f1, support, predicted = class_rates(cm)
    present = support > 0
    seen = present | (predicted > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bal = np.where(present.any(axis=-1), (recall * present).sum(axis=-1) / np.maximum(present.sum(axis=-1), 1),
                       np.nan)
        mf1 = np.where(seen.any(axis=-1), (f1 * seen).sum(axis=-1) / np.maximum(seen.sum(axis=-1), 1), np.nan)
    return bal, mf1


def classification_metrics(cm: np.ndarray, labels: Sequence[str]) -> dict:
    """Accuracy, balanced accuracy, macro F1 and per-class figures from a confusion matrix.

    Conventions (those of scikit-learn's defaults):

    * ``balanced_accuracy`` is the mean recall over the classes that occur in
      the true labels;
    * ``macro_f1`` is the mean F1 over the classes that occur in the true
      labels *or* in the predictions (a class never seen and never predicted
      does not count; a class predicted but absent from the truth counts with
      F1 = 0);
    * a precision/recall with a zero denominator is 0.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1`` and ``per_class``:
        ``{label: {"precision", "recall", "f1", "support", "predicted"}}``.
    """
    cm = np.asarray(cm, dtype=np.int64)
    precision, recall, f1, support, predicted = class_rates(cm)
    tp = np.diag(cm).astype(float)
    n = int(cm.sum())
    balanced, macro_f1 = balanced_accuracy_macro_f1(cm)
    per_class = {
        str(lab): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "predicted": int(predicted[i]),
        }
        for i, lab in enumerate(labels)
    }
    return {
        "accuracy": float(tp.sum() / n) if n else float("nan"),
        "balanced_accuracy": float(balanced),
        "macro_f1": float(macro_f1),
        "per_class": per_class,
    }


def top_k_accuracy(proba: np.ndarray, y_true: Sequence[int], k: int = 2) -> float:
    """Share of rows whose true class is among the ``k`` most probable.

    The rank of the true class is the number of classes with a strictly
    higher probability, so an exact tie at the k-th place counts as a hit.

    Examples
    --------
    >>> top_k_accuracy(np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]]), [1, 2], k=2)
    0.5
    """
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)
    if len(y_true) == 0:
        return float("nan")
    k = min(k, proba.shape[1])
    # rank of the true class = number of classes with strictly higher probability
    p_true = proba[np.arange(len(y_true)), y_true]
    rank = (proba > p_true[:, None]).sum(axis=1)
    return float((rank < k).mean())


def log_loss(proba: np.ndarray, y_true: Sequence[int], *, eps: float = LOG_LOSS_EPS) -> float:
    """Mean negative log probability of the true class, clipped to ``[eps, 1]``.

    Examples
    --------
    >>> round(log_loss(np.array([[0.5, 0.5], [0.0, 1.0]]), [0, 1]), 4)
    0.3466
    """
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)
    if len(y_true) == 0:
        return float("nan")
    p_true = np.clip(proba[np.arange(len(y_true)), y_true], eps, 1.0)
    return float(-np.log(p_true).mean())


# --------------------------------------------------------------------------- segments -> tracks


def aggregate_tracks(proba: np.ndarray, track_ids: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Group segment probabilities by track.

    Parameters
    ----------
    proba : ndarray, shape (n_segments, n_classes)
    track_ids : sequence of str, length n_segments

    Returns
    -------
    ids : list of str
        Distinct track ids in order of first appearance.
    mean_proba : ndarray, shape (n_tracks, n_classes)
        Mean of each track's segment probabilities (soft vote).
    votes : ndarray of int, shape (n_tracks, n_classes)
        How many of each track's segments have each class as arg-max.
    n_segments : ndarray of int, shape (n_tracks,)

    Examples
    --------
    >>> ids, p, votes, n = aggregate_tracks(np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8]]), ["x", "x", "y"])
    >>> ids, p.tolist(), votes.tolist(), n.tolist()
    (['x', 'y'], [[0.5, 0.5], [0.2, 0.8]], [[1, 1], [0, 1]], [2, 1])
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"proba must be 2-D (n_segments, n_classes), got shape {proba.shape}")
    if len(track_ids) != len(proba):
        raise ValueError(f"{len(track_ids)} track ids for {len(proba)} segments")
    ids: list[str] = []
    index: dict[str, int] = {}
    inv = np.empty(len(proba), dtype=np.int64)
    for i, t in enumerate(track_ids):
        t = str(t)
        j = index.get(t)
        if j is None:
            j = index[t] = len(ids)
            ids.append(t)
        inv[i] = j
    n_tracks, n_classes = len(ids), proba.shape[1]
    sums = np.zeros((n_tracks, n_classes))
    np.add.at(sums, inv, proba)
    counts = np.bincount(inv, minlength=n_tracks)
    votes = np.zeros((n_tracks, n_classes), dtype=np.int64)
    if len(proba):
        np.add.at(votes, (inv, proba.argmax(axis=1)), 1)
    mean = sums / np.maximum(counts, 1)[:, None]
    return ids, mean, votes, counts


def majority_vote(votes: np.ndarray, mean_proba: np.ndarray) -> np.ndarray:
    """Arg-max of segment votes per track; ties broken by the higher mean probability.

    Examples
    --------
    >>> majority_vote(np.array([[1, 1, 0]]), np.array([[0.3, 0.5, 0.2]])).tolist()
    [1]
    """
    votes = np.asarray(votes)
    mean_proba = np.asarray(mean_proba, dtype=np.float64)
    top = votes.max(axis=1, keepdims=True)
    masked = np.where(votes == top, mean_proba, -np.inf)
    return masked.argmax(axis=1)


# --------------------------------------------------------------------------- the report


def _label_indices(y: Sequence[str], labels: list[str], what: str) -> np.ndarray:
    index = {lab: i for i, lab in enumerate(labels)}
    unknown = sorted({str(v) for v in y} - set(index))
    if unknown:
        raise DatasetError(
            f"The {what} contain label(s) {', '.join(repr(u) for u in unknown)} that the model does not know "
            f"(it predicts {', '.join(labels)}); label-set mismatch."
        )
    return np.fromiter((index[str(v)] for v in y), dtype=np.int64, count=len(y))


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def evaluate_track_probabilities(track_proba: np.ndarray, y_true: Sequence[str], labels: Sequence[str]) -> dict:
    """Track-level report from one probability row per track.

    Used directly by soft-voting ensembles (which combine runs at track
    level) and by :func:`evaluate_predictions`.

    Returns
    -------
    dict
        ``labels``, ``n_tracks``, ``track_accuracy``, ``track_accuracy_ci``,
        ``balanced_accuracy``, ``macro_f1``, ``per_class``,
        ``confusion_matrix``, ``top2_accuracy``, ``log_loss``; the
        segment-level keys of :func:`evaluate_predictions` are present and
        ``None``, so every report has the same keys.
    """
    labels = [str(v) for v in labels]
    track_proba = np.asarray(track_proba, dtype=np.float64)
    if track_proba.ndim != 2 or track_proba.shape[1] != len(labels):
        raise ValueError(f"track probabilities of shape {track_proba.shape} do not match {len(labels)} labels")
    yt = _label_indices(list(y_true), labels, "true labels")
    pred = track_proba.argmax(axis=1) if len(yt) else np.zeros(0, dtype=np.int64)
    cm = confusion_matrix(yt, pred, len(labels))
    cls = classification_metrics(cm, labels)
    n = len(yt)
    k = int((pred == yt).sum())
    lo, hi = wilson_interval(k, n)
    return {
        "labels": labels,
        "n_tracks": n,
        "track_accuracy": _finite(cls["accuracy"]),
        "track_accuracy_ci": [lo, hi],
        "n_tracks_correct": k,
        "balanced_accuracy": _finite(cls["balanced_accuracy"]),
        "macro_f1": _finite(cls["macro_f1"]),
        "per_class": cls["per_class"],
        "confusion_matrix": cm.tolist(),
        "top2_accuracy": _finite(top_k_accuracy(track_proba, yt, 2)),
        "log_loss": _finite(log_loss(track_proba, yt)),
        # filled by evaluate_predictions; None when only track probabilities exist (soft voting)
        "track_vote_accuracy": None,
        "track_vote_balanced_accuracy": None,
        "n_segments": None,
        "segment_accuracy": None,
        "segment_balanced_accuracy": None,
        "segment_macro_f1": None,
        "segment_top2_accuracy": None,
        "segment_log_loss": None,
        "segment_confusion_matrix": None,
        "segments_per_track": None,
    }


def evaluate_predictions(
    proba: np.ndarray,
    track_ids: Sequence[str],
    y_true: Sequence[str] | Mapping[str, str],
    labels: Sequence[str],
) -> dict:
    """Full evaluation report from per-segment probabilities.

    Parameters
    ----------
    proba : ndarray, shape (n_segments, n_classes)
        Per-segment class probabilities, columns in the order of ``labels``.
    track_ids : sequence of str, length n_segments
        The track each segment belongs to.
    y_true : sequence of str (one per segment) or mapping track id -> label
        The true labels.
    labels : sequence of str
        The model's classes (column order of ``proba``). A true label outside
        this list raises :class:`~genre_core.errors.DatasetError`
        (label-set mismatch).

    Returns
    -------
    dict (JSON-able)
        Track level (mean of segment probabilities): ``track_accuracy``,
        ``track_accuracy_ci`` ([low, high], 95 % Wilson), ``n_tracks_correct``,
        ``balanced_accuracy``, ``macro_f1``, ``per_class``,
        ``confusion_matrix``, ``top2_accuracy``, ``log_loss``;
        ``track_vote_accuracy`` (majority vote of segment arg-maxes) and
        ``track_vote_balanced_accuracy``; segment level: ``segment_accuracy``,
        ``segment_balanced_accuracy``, ``segment_macro_f1``,
        ``segment_top2_accuracy``, ``segment_log_loss``,
        ``segment_confusion_matrix``; and ``labels``, ``n_tracks``,
        ``n_segments``. Undefined figures (no data) are ``None``.

    Examples
    --------
    >>> proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]])
    >>> m = evaluate_predictions(proba, ["a/1", "a/1", "b/2"], {"a/1": "a", "b/2": "b"}, ["a", "b"])
    >>> m["n_tracks"], m["n_segments"], m["segment_confusion_matrix"]
    (2, 3, [[1, 1], [0, 1]])
    """
    labels = [str(v) for v in labels]
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(labels):
        raise ValueError(f"probabilities of shape {proba.shape} do not match {len(labels)} labels")
    track_ids = [str(t) for t in track_ids]
    if isinstance(y_true, Mapping):
        missing = sorted({t for t in track_ids if t not in y_true})
        if missing:
            raise ValueError(f"no true label for track(s) {missing[:5]}")
        seg_true = [str(y_true[t]) for t in track_ids]
    else:
        seg_true = [str(v) for v in y_true]
        if len(seg_true) != len(track_ids):
            raise ValueError(f"{len(seg_true)} labels for {len(track_ids)} segments")
    ys = _label_indices(seg_true, labels, "true labels")

    ids, mean, votes, counts = aggregate_tracks(proba, track_ids)
    first_label: dict[str, int] = {}
    for t, y in zip(track_ids, ys):
        if first_label.setdefault(t, int(y)) != int(y):
            raise ValueError(f"track {t!r} has segments with different true labels")
    yt = np.array([first_label[t] for t in ids], dtype=np.int64)

    report = evaluate_track_probabilities(mean, [labels[i] for i in yt], labels)

    vote_pred = majority_vote(votes, mean) if len(ids) else np.zeros(0, dtype=np.int64)
    vote_cls = classification_metrics(confusion_matrix(yt, vote_pred, len(labels)), labels)
    report["track_vote_accuracy"] = _finite(vote_cls["accuracy"])
    report["track_vote_balanced_accuracy"] = _finite(vote_cls["balanced_accuracy"])

    seg_pred = proba.argmax(axis=1) if len(ys) else np.zeros(0, dtype=np.int64)
    seg_cm = confusion_matrix(ys, seg_pred, len(labels))
    seg_cls = classification_metrics(seg_cm, labels)
    report.update(
        {
            "n_segments": int(len(ys)),
            "segment_accuracy": _finite(seg_cls["accuracy"]),
            "segment_balanced_accuracy": _finite(seg_cls["balanced_accuracy"]),
            "segment_macro_f1": _finite(seg_cls["macro_f1"]),
            "segment_top2_accuracy": _finite(top_k_accuracy(proba, ys, 2)),
            "segment_log_loss": _finite(log_loss(proba, ys)),
            "segment_confusion_matrix": seg_cm.tolist(),
            "segments_per_track": float(counts.mean()) if len(counts) else None,
        }
    )
    return report


# --------------------------------------------------------------------------- paired comparison


def mcnemar_test(correct_a: Sequence[bool], correct_b: Sequence[bool], *, exact: bool | None = None) -> dict:
    """McNemar's test: do two classifiers differ in accuracy on the same items?

    Only the discordant items matter: ``b`` = A right and B wrong, ``c`` = A
    wrong and B right. With ``exact`` (the default when ``b + c < 25``) the
    two-sided p-value is the exact binomial ``P = min(1, 2 * P(X <= min(b, c)))``
    with ``X ~ Binomial(b + c, 1/2)``; otherwise the continuity-corrected
    chi-square ``(|b - c| - 1)^2 / (b + c)`` with one degree of freedom.

    Parameters
    ----------
    correct_a, correct_b : sequence of bool
        Per-item correctness of the two runs, aligned (same tracks, same order);
        see :func:`mcnemar_tracks` to align by track id.
    exact : bool, optional
        Force the exact (True) or chi-square (False) version.

    Returns
    -------
    dict
        ``n``, ``both_correct``, ``a_only`` (b), ``b_only`` (c), ``both_wrong``,
        ``statistic`` (chi-square value, or ``min(b, c)`` for the exact test),
        ``p_value``, ``method`` ("exact binomial" | "chi-square (continuity corrected)").

    Examples
    --------
    >>> r = mcnemar_test([1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 1, 0])
    >>> r["a_only"], r["b_only"], r["p_value"]
    (4, 0, 0.125)
    """
    a = np.asarray(correct_a, dtype=bool)
    b_ = np.asarray(correct_b, dtype=bool)
    if a.shape != b_.shape:
        raise ValueError(f"correctness arrays differ in length ({a.size} vs {b_.size})")
    b = int((a & ~b_).sum())
    c = int((~a & b_).sum())
    n_disc = b + c
    if exact is None:
        exact = n_disc < 25
    if n_disc == 0:
        stat, p = 0.0, 1.0
    elif exact:
        from scipy.stats import binom

        stat = float(min(b, c))
        p = float(min(1.0, 2.0 * binom.cdf(min(b, c), n_disc, 0.5)))
    else:
        from scipy.stats import chi2

        stat = (abs(b - c) - 1.0) ** 2 / n_disc
        p = float(chi2.sf(stat, 1))
    return {
        "n": int(a.size),
        "both_correct": int((a & b_).sum()),
        "a_only": b,
        "b_only": c,
        "both_wrong": int((~a & ~b_).sum()),
        "statistic": float(stat),
        "p_value": p,
        "method": "exact binomial" if exact else "chi-square (continuity corrected)",
    }


def mcnemar_tracks(correct_a: Mapping[str, bool], correct_b: Mapping[str, bool]) -> dict:
    """:func:`mcnemar_test` on the tracks two runs were both tested on.

    Parameters
    ----------
    correct_a, correct_b : mapping track id -> bool
        Track-level correctness of each run (e.g. from their
        ``predictions_tracks.csv``).

    Returns
    -------
    dict
        The :func:`mcnemar_test` result plus ``n_only_a`` / ``n_only_b``
        (tracks tested by one run only, left out) and ``comparable``
        (False when the two test sets differ or do not overlap; then
        ``note`` says so: the runs are "not directly comparable").
    """
    common = sorted(set(correct_a) & set(correct_b))
    res = mcnemar_test([bool(correct_a[t]) for t in common], [bool(correct_b[t]) for t in common])
    only_a = len(set(correct_a) - set(correct_b))
    only_b = len(set(correct_b) - set(correct_a))
    res.update({"n_only_a": only_a, "n_only_b": only_b, "comparable": bool(common) and not (only_a or only_b)})
    if not common:
        res["note"] = "The two runs share no test tracks: not directly comparable."
    elif only_a or only_b:
        res["note"] = (
            f"The runs were tested on different tracks ({only_a} only in A, {only_b} only in B); "
            f"the test uses the {len(common)} shared tracks; headline metrics are not directly comparable."
        )
    return res


# --------------------------------------------------------------------------- tables for drill-down


def prediction_tables(
    proba: np.ndarray,
    track_ids: Sequence[str],
    truth: Mapping[str, str],
    labels: Sequence[str],
    *,
    starts: Sequence[float] | None = None,
    ends: Sequence[float] | None = None,
):
    """Per-track and per-segment prediction tables (pandas DataFrames).

    Returns
    -------
    tracks : DataFrame
        ``track_id, true, predicted, correct, confidence, vote, n_segments,
        p_<label>...`` (``predicted`` from the mean probabilities, ``vote`` the
        majority vote of segments).
    segments : DataFrame
        ``track_id, segment, start, end, true, predicted, confidence,
        p_<label>...`` in input order (``segment`` = index within its track).

    Examples
    --------
    >>> proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    >>> t, s = prediction_tables(proba, ["a/1"] * 3, {"a/1": "a"}, ["a", "b"])
    >>> t[["track_id", "predicted", "vote", "n_segments"]].values.tolist()
    [['a/1', 'a', 'b', 3]]
    """
    import pandas as pd

    labels = [str(v) for v in labels]
    proba = np.asarray(proba, dtype=np.float64).reshape(len(track_ids), len(labels))
    track_ids = [str(t) for t in track_ids]
    ids, mean, votes, counts = aggregate_tracks(proba, track_ids)
    lab = np.asarray(labels, dtype=object)
    pred = mean.argmax(axis=1) if len(ids) else np.zeros(0, dtype=np.int64)
    vote = majority_vote(votes, mean) if len(ids) else np.zeros(0, dtype=np.int64)
    true_t = [str(truth[t]) for t in ids]
    tracks = pd.DataFrame(
        {
            "track_id": ids,
            "true": true_t,
            "predicted": lab[pred] if len(ids) else [],
            "correct": [str(t) == str(p) for t, p in zip(true_t, lab[pred])] if len(ids) else [],
            "confidence": mean.max(axis=1) if len(ids) else [],
            "vote": lab[vote] if len(ids) else [],
            "n_segments": counts,
        }
    )
    for j, name in enumerate(labels):
        tracks[f"p_{name}"] = mean[:, j] if len(ids) else []
    seg_index = np.zeros(len(track_ids), dtype=np.int64)
    seen: dict[str, int] = {}
    for i, t in enumerate(track_ids):
        seg_index[i] = seen.get(t, 0)
        seen[t] = seg_index[i] + 1
    seg_pred = proba.argmax(axis=1) if len(proba) else np.zeros(0, dtype=np.int64)
    segments = pd.DataFrame(
        {
            "track_id": track_ids,
            "segment": seg_index,
            "start": np.asarray(starts, dtype=np.float64) if starts is not None else np.full(len(track_ids), np.nan),
            "end": np.asarray(ends, dtype=np.float64) if ends is not None else np.full(len(track_ids), np.nan),
            "true": [str(truth[t]) for t in track_ids],
            "predicted": lab[seg_pred] if len(proba) else [],
            "confidence": proba.max(axis=1) if len(proba) else [],
        }
    )
    for j, name in enumerate(labels):
        segments[f"p_{name}"] = proba[:, j]
    return tracks, segments

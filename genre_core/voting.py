"""Soft voting: the one place where several runs' probabilities become one.

* :class:`SoftVoter` combines the probability matrices of runs that share a
  label set (a weighted mean; member ids and weights recorded).
* :func:`fit_vote_weights` chooses the weights on out-of-fold predictions.
* :func:`train_voting` builds and evaluates a voting run over existing runs.
* :func:`combine_predictions` (one file, from the members' predictions) and
  :func:`vote_track_probabilities` (a labelled dataset) serve prediction and
  evaluation with a voting run.
* :func:`align_labels` reorders a probability matrix to another label order.

Examples
--------
>>> import numpy as np
>>> v = SoftVoter(["a", "b"], [["jazz", "rock"], ["jazz", "rock"]], weights=[3, 1])
>>> v.combine([np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])]).tolist()
[[0.75, 0.25]]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import RunError
from .metrics import evaluate_track_probabilities, normalise_rows
from .progress import ProgressFn, Reporter
from .runs import (
    RUN_FILE,
    VOTING_BACKEND,
    Run,
    RunWriter,
    file_sha256,
    load_run,
    resolve_out,
)

if TYPE_CHECKING:
    from .predict import TrackPrediction

__all__ = ["SoftVoter", "align_labels", "combine_predictions", "fit_vote_weights", "train_voting",
           "vote_track_probabilities"]


def fit_vote_weights(probas: Sequence[np.ndarray], y: Sequence[int], *, ridge: float = 1e-3) -> np.ndarray:
    """Non-negative weights (summing to 1) that minimise the log loss of the weighted mean probability.

    ``probas[i]`` is member ``i``'s ``(n_tracks, n_classes)`` matrix (same
    columns and rows for every member), ``y`` the true class index per track.
    Fit on out-of-fold predictions only. A weight can reach ~0: the member is
    effectively dropped. A small pull towards equal weights (``ridge``) keeps
    ties stable.

    Examples
    --------
    >>> good = np.array([[0.9, 0.1], [0.2, 0.8]]); bad = np.array([[0.5, 0.5], [0.6, 0.4]])
    >>> w = fit_vote_weights([good, bad], [0, 1]); bool(w[0] > w[1])
    True
    """
    from scipy.optimize import minimize

    P = np.stack([np.asarray(p, dtype=np.float64) for p in probas])  # (m, n, c)
    y = np.asarray(y, dtype=np.int64)
    picked = P[:, np.arange(P.shape[1]), y]  # (m, n): each member's probability of the truth
    m = len(P)

    def loss(z):
        w = np.exp(z - z.max())
        w /= w.sum()
        mix = np.clip(w @ picked, 1e-12, 1.0)
        return float(-np.mean(np.log(mix)) + ridge * np.sum((w - 1.0 / m) ** 2))

    res = minimize(loss, np.zeros(m), method="L-BFGS-B")
    z = res.x if np.all(np.isfinite(res.x)) else np.zeros(m)
    w = np.exp(z - z.max())
    return w / w.sum()



class SoftVoter:
    """Weighted mean of probability matrices from models that share a label set.

    Parameters
    ----------
    member_ids : sequence of str
        Names of the member models / runs (recorded, must be unique).
    classes : sequence of label lists
        Each member's column order. All must hold the same labels (order may
        differ: columns are re-ordered to the first member's order); otherwise
        :class:`~genre_core.errors.RunError` names the differing labels.
    weights : sequence or mapping of float, optional
        Non-negative weight per member (by position or by id); default equal.
        Normalised to sum to 1.

    Examples
    --------
    >>> v = SoftVoter(["a", "b"], [["jazz", "rock"], ["rock", "jazz"]], weights={"a": 3, "b": 1})
    >>> v.combine([np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]])])
    array([[0.75, 0.25]])
    >>> v.to_dict()["weights"]
    {'a': 0.75, 'b': 0.25}
    """

    def __init__(self, member_ids: Sequence[str], classes: Sequence[Sequence[str]],
                 weights: Sequence[float] | Mapping[str, float] | None = None):
        self.member_ids = [str(m) for m in member_ids]
        if not self.member_ids:
            raise RunError("Soft voting needs at least one member run.")
        if len(set(self.member_ids)) != len(self.member_ids):
            dup = sorted({m for m in self.member_ids if self.member_ids.count(m) > 1})
            raise RunError(f"Soft voting members must be distinct; repeated: {', '.join(dup)}.")
        if len(classes) != len(self.member_ids):
            raise RunError(f"{len(self.member_ids)} members but {len(classes)} label lists.")
        ref = [str(c) for c in classes[0]]
        ref_set = set(ref)
        problems = []
        self._orders = []
        for mid, cl in zip(self.member_ids, classes):
            cl = [str(c) for c in cl]
            if len(set(cl)) != len(cl):
                raise RunError(f"Run {mid!r} lists a label twice: {cl}.")
            missing, extra = sorted(ref_set - set(cl)), sorted(set(cl) - ref_set)
            if missing or extra:
                parts = []
                if missing:
                    parts.append(f"lacks {', '.join(missing)}")
                if extra:
                    parts.append(f"has extra {', '.join(extra)}")
                problems.append(f"run {mid!r} {' and '.join(parts)}")
                continue
            pos = {c: i for i, c in enumerate(cl)}
            self._orders.append(np.array([pos[c] for c in ref]))
        if problems:
            raise RunError(f"Cannot combine runs with different label sets (compared with run "
                           f"{self.member_ids[0]!r}): {'; '.join(problems)}.")
        self.classes_ = np.asarray(ref)
        self.weights = self._normalise_weights(weights)

    def _normalise_weights(self, weights) -> np.ndarray:
        n = len(self.member_ids)
        if weights is None:
            w = np.ones(n)
        elif isinstance(weights, Mapping):
            unknown = sorted(set(map(str, weights)) - set(self.member_ids))
            if unknown:
                raise RunError(f"Weights given for runs that are not members: {', '.join(unknown)}.")
            w = np.array([float(weights.get(m, 1.0)) for m in self.member_ids])
        else:
            w = np.asarray(list(weights), dtype=np.float64)
            if w.shape != (n,):
                raise RunError(f"{n} member runs but {w.size} weights.")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise RunError(f"Voting weights must be non-negative numbers, not all zero; got {w.tolist()}.")
        return w / w.sum()

    def combine(self, probas: Sequence[np.ndarray], track_ids: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """Weighted mean probability, columns in :attr:`classes_` order.

        ``probas[i]`` is member ``i``'s ``(n_tracks, n_classes)`` matrix in its
        own column order. With ``track_ids`` (one id list per member), rows are
        aligned to the first member's order; differing id sets raise
        :class:`~genre_core.errors.RunError`.
        """
        if len(probas) != len(self.member_ids):
            raise RunError(f"{len(self.member_ids)} member runs but {len(probas)} probability matrices.")
        mats = []
        ref_ids = None
        for k, (mid, P, order) in enumerate(zip(self.member_ids, probas, self._orders)):
            P = np.asarray(P, dtype=np.float64)
            if P.ndim != 2 or P.shape[1] != len(self.classes_):
                raise RunError(f"Run {mid!r}: probabilities have shape {P.shape}, expected (n, {len(self.classes_)}).")
            P = P[:, order]
            if track_ids is not None:
                ids = [str(t) for t in track_ids[k]]
                if len(ids) != len(P):
                    raise RunError(f"Run {mid!r}: {len(P)} probability rows but {len(ids)} track ids.")
                if ref_ids is None:
                    ref_ids = ids
                else:
                    pos = {t: i for i, t in enumerate(ids)}
                    missing = [t for t in ref_ids if t not in pos]
                    extra = sorted(set(ids) - set(ref_ids))
                    if missing or extra:
                        raise RunError(f"Run {mid!r} predicted other tracks than run {self.member_ids[0]!r}: "
                                       f"missing {missing[:5]}, extra {extra[:5]}.")
                    P = P[[pos[t] for t in ref_ids]]
            if mats and len(P) != len(mats[0]):
                raise RunError(f"Run {mid!r} has {len(P)} rows, run {self.member_ids[0]!r} {len(mats[0])}.")
            mats.append(P)
        combined = np.tensordot(self.weights, np.stack(mats), axes=1)
        return normalise_rows(combined)

    def predict(self, probas: Sequence[np.ndarray], track_ids: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """Label with the highest combined probability, per row."""
        return self.classes_[np.argmax(self.combine(probas, track_ids), axis=1)]

    def to_dict(self) -> dict:
        """``{"members": [...], "weights": {id: w}, "classes": [...]}`` for a run manifest."""
        return {"members": list(self.member_ids),
                "weights": {m: float(w) for m, w in zip(self.member_ids, self.weights)},
                "classes": self.classes_.tolist()}

    @classmethod
    def from_dict(cls, d: Mapping) -> "SoftVoter":
        try:
            members = list(d["members"])
            return cls(members, [d["classes"]] * len(members), weights=d.get("weights"))
        except (KeyError, TypeError) as err:
            raise RunError(f"The voting record is incomplete ({err}).") from None


def align_labels(proba: np.ndarray, labels: Sequence[str], target: Sequence[str]) -> np.ndarray:
    """``proba``'s last axis reordered from ``labels`` to ``target`` (the same genres).

    Examples
    --------
    >>> align_labels(np.array([[0.2, 0.8]]), ["rock", "jazz"], ["jazz", "rock"]).tolist()
    [[0.8, 0.2]]
    """
    if list(labels) == list(target):
        return proba
    idx = [list(labels).index(lab) for lab in target]
    return proba[..., idx]



def combine_predictions(run, preds: Mapping[str, "TrackPrediction"]) -> "TrackPrediction":
    """A voting run's prediction from its members' predictions.

    Its ``timings`` are its own: ``combine_s`` (the weighted average), also
    given as ``inference_s``, and ``features_s`` 0: the members' work is in
    their own predictions (``members``).
    """
    from .predict import TrackPrediction

    t0 = time.perf_counter()
    members = [preds[m.id] for m, _ in run.members]
    voter = SoftVoter([p.run_id for p in members], [p.labels for p in members], [w for _, w in run.members])
    labels = voter.classes_.tolist()
    weights = voter.weights
    proba = voter.combine([p.proba[None, :] for p in members])[0]
    first = members[0]
    same_cut = all(len(p.starts) == len(first.starts) and np.allclose(p.starts, first.starts)
                   and np.allclose(p.ends, first.ends) for p in members)
    if same_cut and len(first.starts):
        seg = voter.combine([p.segment_proba for p in members])
        starts, ends = first.starts, first.ends
    else:
        seg = np.zeros((0, len(labels)))
        starts = ends = np.zeros(0)
    notes = [] if same_cut else ["Members analyse different windows, so the ensemble has no per-segment view."]
    t_comb = round(time.perf_counter() - t0, 6)
    return TrackPrediction(
        run_id=run.id, backend=run.backend, labels=list(labels), starts=starts, ends=ends, segment_proba=seg,
        proba=np.asarray(proba, dtype=np.float64), name=first.name, duration=first.duration,
        source_duration=first.source_duration, clipped_to_max=first.clipped_to_max,
        window=first.window if same_cut else None, hop=first.hop if same_cut else None,
        timings={"features_s": 0.0, "inference_s": t_comb, "combine_s": t_comb},
        notes=notes, members=members, weights=weights.tolist(),
        n_windows_total=first.n_windows_total if same_cut else 0,
        max_windows=first.max_windows,
    )


def vote_track_probabilities(run, track_proba: Mapping[str, Mapping[str, np.ndarray]],
                             labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """A voting run's track probabilities from its members' (``{member id: {track id: proba}}``).

    Returns the tracks every member analysed, sorted, and their weighted-mean
    probabilities (one row per track, columns in ``labels`` order; every member's
    probabilities must already be in that order).
    """
    common = sorted(set.intersection(*(set(track_proba[m.id]) for m, _ in run.members)))
    voter = SoftVoter([m.id for m, _ in run.members], [list(labels)] * len(run.members), [w for _, w in run.members])
    mix = voter.combine([np.stack([track_proba[m.id][t] for t in common]) for m, _ in run.members])
    return common, mix


def _track_table(run: Run):
    df = run.track_predictions()
    cols = [f"p_{lab}" for lab in run.labels]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise RunError(f"Run {run.id}: predictions_tracks.csv lacks the columns {missing}.")
    return df



def train_voting(
    run_ids: Sequence[Any],
    weights: Sequence[float] | None = None,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    info: Mapping[str, Any] | None = None,
) -> Run:
    """A soft-voting run over existing complete runs that share a label set.

    The ensemble's track probabilities are the weighted mean of its members'
    track probabilities (each member averages its own segments first, so
    members with different windows or inputs combine cleanly). It is
    evaluated on the tracks **every** member was tested on (the intersection
    of their test sets): no member has trained on those. When the members'
    test sets differ, or do not overlap at all, ``notes`` says the numbers
    are "not directly comparable" with the members' own.

    Parameters
    ----------
    run_ids : sequence of run references (at least two)
    weights : sequence of float, "fit" or None
        One non-negative weight per member (normalised to sum 1); default
        equal. ``"fit"``: weights that minimise the log loss of the members'
        out-of-fold predictions on their shared tracks (see
        :func:`fit_vote_weights`); the
        ensemble's figures are then nested: each fold's tracks are scored
        with weights fitted on the other folds only.
    out : run name / location (see :func:`genre_core.runs.resolve_out`).

    Raises
    ------
    RunError
        Fewer than two members, a member missing or incomplete, a label-set
        mismatch, or bad weights.
    """
    rep = Reporter(progress, None)
    rep.stage("loading", 0, len(run_ids))
    refs = list(dict.fromkeys(str(r.id) if isinstance(r, Run) else str(r) for r in run_ids))
    if len(refs) < 2:
        raise RunError("A voting ensemble needs at least two different member runs.")
    members = [load_run(r, load_model=False) for r in refs]  # verified; the models are not needed here
    for m in members:
        if m.is_voting:
            raise RunError(f"Run {m.id} is itself a voting ensemble; list its members instead.")
    labels = members[0].labels
    for m in members[1:]:
        if sorted(m.labels) != sorted(labels):
            raise RunError(
                f"Label-set mismatch: {members[0].id} predicts {labels} but {m.id} predicts {m.labels}; "
                f"only runs with the same genres can vote together."
            )
    fit = isinstance(weights, str)
    if fit and weights != "fit":
        raise RunError(f"Voting weights must be numbers or 'fit', not {weights!r}.")
    voter = SoftVoter([m.id for m in members], [m.labels for m in members], None if fit else weights)
    w = voter.weights
    labels = voter.classes_.tolist()

    tables = [_track_table(m) for m in members]
    test_sets = [set(t["track_id"]) for t in tables]
    common = sorted(set.intersection(*test_sets)) if test_sets else []
    notes: list[str] = []
    if not common:
        notes.append("The member runs share no test tracks, so the ensemble cannot be evaluated: "
                     "its numbers are not directly comparable with anything.")
    elif any(s != set(common) for s in test_sets):
        notes.append(f"The member runs were tested on different tracks; the ensemble is evaluated on the "
                     f"{len(common)} tracks they share, so its figures are not directly comparable with the members'.")
    evaluated_on = {str(m.metrics.get("evaluated_on")) for m in members}
    if len(evaluated_on) > 1:
        notes.append(f"Members were evaluated on different sides ({', '.join(sorted(evaluated_on))}).")
    datasets = {(m.info.get("dataset") or {}).get("fingerprint") for m in members}
    if len(datasets) > 1:
        notes.append("Members were trained on different datasets.")

    metrics: dict[str, Any] = {"evaluated_on": None, "labels": labels}
    tracks_df = None
    if common:
        import pandas as pd

        truth = None
        mats = []
        for m, t in zip(members, tables):
            t = t.set_index("track_id").loc[common]
            mats.append(t[[f"p_{lab}" for lab in m.labels]].to_numpy(dtype=np.float64))
            if truth is None:
                truth = t["true"].astype(str).tolist()
            elif truth != t["true"].astype(str).tolist():
                raise RunError(f"Run {m.id} disagrees with {members[0].id} about the true labels of shared tracks.")
        if fit:
            y = np.array([labels.index(t) for t in truth])
            aligned = [P[:, order] for P, order in zip(mats, voter._orders)]
            folds = _shared_folds(tables, common, len(common))
            mix = np.zeros((len(common), len(labels)))
            fold_weights = []
            for f in sorted(set(folds)):  # nested: fold f scored with weights fitted on the other folds
                inside, outside = folds == f, folds != f
                wf = fit_vote_weights([P[outside] for P in aligned], y[outside])
                fold_weights.append([round(float(x), 4) for x in wf])
                mix[inside] = np.tensordot(wf, np.stack([P[inside] for P in aligned]), axes=1)
            w = fit_vote_weights(aligned, y)
            voter = SoftVoter(voter.member_ids, [m.labels for m in members], w)
            notes.append(f"Weights fitted on the members' out-of-fold predictions of {len(common)} tracks "
                         f"(log loss): {', '.join(f'{m.id} {x:.2f}' for m, x in zip(members, w))}. The figures "
                         f"are nested: each of the {len(set(folds))} folds is scored with weights fitted on the "
                         "others, so no track helped choose the weights it is scored with.")
        else:
            mix = voter.combine(mats)
        metrics = evaluate_track_probabilities(mix, truth, labels)
        if fit:
            metrics["fold_weights"] = fold_weights
        metrics["evaluated_on"] = evaluated_on.pop() if len(evaluated_on) == 1 else "mixed"
        metrics["member_track_accuracy"] = {}
        for m, t in zip(members, tables):
            t = t.set_index("track_id").loc[common]
            metrics["member_track_accuracy"][m.id] = float((t["true"].astype(str) == t["predicted"].astype(str)).mean())
        lab = np.asarray(labels, dtype=object)
        pred = mix.argmax(axis=1)
        tracks_df = pd.DataFrame({"track_id": common, "true": truth, "predicted": lab[pred],
                                  "correct": [a == b for a, b in zip(truth, lab[pred])],
                                  "confidence": mix.max(axis=1)})
        for j, name in enumerate(labels):
            tracks_df[f"p_{name}"] = mix[:, j]

    root, name = resolve_out(out, backend="voting", dataset_name=(members[0].info.get("dataset") or {}).get("name", ""))
    with RunWriter(name, root=root, overwrite=overwrite, meta={"backend": VOTING_BACKEND}) as writer:
        rep.writer = writer
        rep.stage("saving", 0, 1)
        writer.write_predictions(tracks_df, None)
        writer.write_history([])
        record = {
            "backend": VOTING_BACKEND,
            "description": "Soft voting: weighted mean of the member runs' track probabilities.",
            "params": {"weights": w.tolist()},
            "input_spec": None,
            "labels": labels,
            "members": [{"id": m.id, "weight": float(wi), "run_json_sha256": file_sha256(m.path / RUN_FILE),
                         "backend": m.backend} for m, wi in zip(members, w)],
            "dataset": members[0].info.get("dataset"),
            "split": {"protocol": "voting", "test": common, "train": [], "valid": []},
            "seed": None,
            "metrics": metrics,
            "timings": {"extraction_s": None, "training_s": 0.0,
                        "inference_s_per_track": _sum_or_none(m.info.get("timings", {}).get("inference_s_per_track")
                                                              for m in members)},
            "notes": notes,
            **dict(info or {}),
        }
        run = writer.finish(record)
    run.members = [(m, float(wi)) for m, wi in zip(members, w)]
    rep.stage("done", 1, 1, run_id=run.id)
    return run



def _shared_folds(tables, common: Sequence[str], n: int, k: int = 5) -> np.ndarray:
    """Fold number of each shared track: the members' own k-fold assignment when they agree, else k stratum-free
    folds in track order (deterministic)."""
    folds = None
    if all("fold" in t.columns for t in tables):
        cols = [t.set_index("track_id").loc[list(common), "fold"].to_numpy() for t in tables]
        if all(np.array_equal(cols[0], c) for c in cols[1:]) and len(set(cols[0].tolist())) > 1:
            folds = np.asarray(cols[0], dtype=np.int64)
    if folds is None:
        folds = np.arange(n) % max(2, min(k, n))
    return folds



def _sum_or_none(values: Iterable[Any]) -> float | None:
    vals = list(values)
    if any(v is None for v in vals):
        return None
    return float(sum(vals))

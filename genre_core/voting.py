"""Soft voting: the one place where several runs' probabilities become one.

* :class:`SoftVoter` combines the probability matrices of runs that share a
  label set (a weighted mean; member ids and weights recorded).
* :func:`fit_vote_weights` chooses the weights on out-of-fold predictions
  (log loss, continuous); :func:`select_vote_counts` chooses members and
  weights by greedy ensemble selection on them (Caruana et al. 2004);
  :func:`choose_vote_weights` applies either, :func:`nested_vote_mix` scores
  it honestly (each fold with weights chosen on the other folds).
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
from .metrics import evaluate_track_probabilities, log_loss, normalise_rows
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

__all__ = ["SELECT_OBJECTIVES", "SELECT_ROUNDS", "WEIGHT_METHODS", "SoftVoter", "align_labels",
           "choose_vote_weights", "combine_predictions", "fit_vote_weights", "nested_vote_mix",
           "select_vote_counts", "train_voting", "vote_track_probabilities"]

#: The named ways :func:`train_voting` chooses weights on out-of-fold predictions.
WEIGHT_METHODS = ("fit", "select")
#: Rounds of greedy selection (each adds one copy of a member; the best prefix is kept).
SELECT_ROUNDS = 25
#: What greedy selection optimises: ``"log_loss"``, or ``"accuracy"`` with log loss breaking ties.
SELECT_OBJECTIVES = ("log_loss", "accuracy")


def _stack_members(probas: Sequence[np.ndarray], y: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Members' probability matrices as one float64 ``(m, n, c)`` array, and ``y`` as int64 class indices."""
    P = np.stack([np.asarray(p, dtype=np.float64) for p in probas])
    return P, np.asarray(y, dtype=np.int64)


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

    P, y = _stack_members(probas, y)  # (m, n, c)
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


def _selection_score(mix: np.ndarray, y: np.ndarray, objective: str) -> tuple[float, ...]:
    """How good a mixed probability matrix is (larger is better; tuples compare left to right).

    Rounded to 12 decimals, so the last-bit noise of a mean (adding one more
    copy of the only member) neither counts as progress nor splits a tie.
    """
    neg_loss = round(-log_loss(mix, y), 12)
    if objective == "accuracy":
        return round(float(np.mean(mix.argmax(axis=1) == y)), 12), neg_loss
    return (neg_loss,)


def select_vote_counts(probas: Sequence[np.ndarray], y: Sequence[int], *, rounds: int = SELECT_ROUNDS,
                       objective: str = "log_loss") -> np.ndarray:
    """How many times greedy ensemble selection picks each member (Caruana et al. 2004).

    Forward selection with replacement: start from the best single member,
    then each round add one more copy of whichever member makes the equal-
    weight mean of the copies score best (ties go to the earlier member),
    whether or not that improves on the round before. After ``rounds`` copies
    the best prefix is kept (the earliest one among equals), so on the data
    it is chosen on the result never scores worse than the best member.
    The weights are ``counts / counts.sum()``; a member never picked has
    weight 0 and can be left out. Deterministic. Use out-of-fold predictions
    only.

    Parameters
    ----------
    probas : sequence of ndarray
        Member ``i``'s ``(n_tracks, n_classes)`` probabilities (same rows and
        columns for every member).
    y : sequence of int
        True class index per track.
    rounds : int
        Most copies in the ensemble (at least 1: the best member alone).
    objective : {"log_loss", "accuracy"}
        ``"accuracy"`` breaks ties by log loss. On the shipped GTZAN runs'
        out-of-fold predictions (nested) log loss kept the calibration of the
        best member and picked only strong members; accuracy was noisier,
        pulled in weak members and lost ~0.09 in log loss for at most a track
        or two of accuracy.

    Returns
    -------
    ndarray of int
        Copies of each member, summing to between 1 and ``rounds``.

    Examples
    --------
    >>> good = np.array([[0.9, 0.1], [0.4, 0.6]]); other = np.array([[0.6, 0.4], [0.1, 0.9]])
    >>> select_vote_counts([good, other], [0, 1]).tolist()
    [1, 1]
    >>> select_vote_counts([good, np.full((2, 2), 0.5)], [0, 1]).tolist()
    [1, 0]
    """
    if objective not in SELECT_OBJECTIVES:
        raise RunError(f"Ensemble selection optimises one of {', '.join(SELECT_OBJECTIVES)}, not {objective!r}.")
    P, y = _stack_members(probas, y)
    scores = [_selection_score(p, y, objective) for p in P]
    counts = np.zeros(len(P), dtype=np.int64)
    first = max(range(len(P)), key=scores.__getitem__)  # the first of equals
    counts[first] = 1
    total = P[first].copy()
    best_score, best = scores[first], counts.copy()
    for n in range(2, max(1, int(rounds)) + 1):
        trial = [_selection_score((total + p) / n, y, objective) for p in P]
        j = max(range(len(P)), key=trial.__getitem__)
        counts[j] += 1
        total += P[j]
        if trial[j] > best_score:
            best_score, best = trial[j], counts.copy()
    return best


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
    weights: Sequence[float] | str | None = None,
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
        The members, or with ``weights="select"`` the candidates.
    weights : sequence of float, "fit", "select" or None
        One non-negative weight per member (normalised to sum 1); default
        equal. ``"fit"``: weights that minimise the log loss of the members'
        out-of-fold predictions on their shared tracks (see
        :func:`fit_vote_weights`). ``"select"``: greedy ensemble selection on
        those predictions (:func:`select_vote_counts`, log loss,
        :data:`SELECT_ROUNDS` rounds); the weights are the selection counts
        and the candidates never picked are left out of the run (``metrics
        ["selection"]`` and ``notes`` name them and why). With either, the
        ensemble's figures are nested: each fold's tracks are scored with
        weights chosen on the other folds only (``metrics["fold_weights"]``,
        and for ``"select"`` ``metrics["fold_selections"]``).
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
    method = _weight_method(weights)
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
    voter = SoftVoter([m.id for m in members], [m.labels for m in members], None if method else weights)
    w = voter.weights
    labels = voter.classes_.tolist()

    tables = [_track_table(m) for m in members]
    test_sets = [set(t["track_id"]) for t in tables]
    common = sorted(set.intersection(*test_sets)) if test_sets else []
    notes = _member_notes(members, test_sets, common)
    evaluated_on = {str(m.metrics.get("evaluated_on")) for m in members}

    metrics: dict[str, Any] = {"evaluated_on": None, "labels": labels}
    tracks_df = None
    if method and not common:
        raise RunError(f"Weights {method!r} are chosen on the members' shared out-of-fold tracks, "
                       "but these runs share none.")
    if common:
        import pandas as pd

        mats, truth = _shared_matrices(members, tables, common)
        aligned = [P[:, order] for P, order in zip(mats, voter._orders)]
        chosen: dict[str, Any] = {}
        if method:
            y = np.array([labels.index(t) for t in truth])
            folds = _shared_folds(tables, common, len(common))
            mix, chosen = nested_vote_mix(aligned, y, folds, method)
            w, counts = choose_vote_weights(aligned, y, method)
            notes.append(_choice_note(method, members, w, len(common), len(set(folds))))
            if counts is not None:
                chosen["selection"] = _selection_record(members, counts, aligned, y)
                notes.extend(_dropped_notes(chosen["selection"]))
        else:
            mix = voter.combine(mats)
        metrics = evaluate_track_probabilities(mix, truth, labels)
        metrics.update(chosen)
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
    keep = (np.asarray(w) > 0) | (method != "select")  # "select" leaves out the candidates it never picked
    members, w = [m for m, k in zip(members, keep) if k], np.asarray(w)[keep]

    root, name = resolve_out(out, backend="voting", dataset_name=(members[0].info.get("dataset") or {}).get("name", ""))
    with RunWriter(name, root=root, overwrite=overwrite, meta={"backend": VOTING_BACKEND}) as writer:
        rep.writer = writer
        rep.stage("saving", 0, 1)
        writer.write_predictions(tracks_df, None)
        writer.write_history([])
        record = {
            "backend": VOTING_BACKEND,
            "description": "Soft voting: weighted mean of the member runs' track probabilities.",
            "params": {"weights": w.tolist(), **({"weight_method": method} if method else {})},
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


def _weight_method(weights) -> str | None:
    """``"fit"`` or ``"select"`` when the weights are to be chosen on out-of-fold predictions, else None."""
    if not isinstance(weights, str):
        return None
    if weights not in WEIGHT_METHODS:
        raise RunError(f"Voting weights must be numbers or 'fit' or 'select', not {weights!r}.")
    return weights


def _member_notes(members: Sequence[Run], test_sets: Sequence[set], common: Sequence[str]) -> list[str]:
    """What a reader must know before comparing the ensemble's figures with its members'."""
    notes = []
    if not common:
        notes.append("The member runs share no test tracks, so the ensemble cannot be evaluated: "
                     "its numbers are not directly comparable with anything.")
    elif any(s != set(common) for s in test_sets):
        notes.append(f"The member runs were tested on different tracks; the ensemble is evaluated on the "
                     f"{len(common)} tracks they share, so its figures are not directly comparable with the members'.")
    evaluated_on = {str(m.metrics.get("evaluated_on")) for m in members}
    if len(evaluated_on) > 1:
        notes.append(f"Members were evaluated on different sides ({', '.join(sorted(evaluated_on))}).")
    if len({(m.info.get("dataset") or {}).get("fingerprint") for m in members}) > 1:
        notes.append("Members were trained on different datasets.")
    return notes


def _shared_matrices(members: Sequence[Run], tables, common: Sequence[str]) -> tuple[list[np.ndarray], list[str]]:
    """Each member's probabilities of the shared tracks (its own column order) and their true labels."""
    truth = None
    mats = []
    for m, t in zip(members, tables):
        t = t.set_index("track_id").loc[common]
        mats.append(t[[f"p_{lab}" for lab in m.labels]].to_numpy(dtype=np.float64))
        if truth is None:
            truth = t["true"].astype(str).tolist()
        elif truth != t["true"].astype(str).tolist():
            raise RunError(f"Run {m.id} disagrees with {members[0].id} about the true labels of shared tracks.")
    return mats, truth


def choose_vote_weights(probas: Sequence[np.ndarray], y: Sequence[int],
                        method: str = "select") -> tuple[np.ndarray, np.ndarray | None]:
    """Weights (summing to 1) chosen by ``method`` on out-of-fold predictions, and the counts behind them.

    ``method`` is one of :data:`WEIGHT_METHODS`: ``"fit"``
    (:func:`fit_vote_weights`; counts None) or ``"select"``
    (:func:`select_vote_counts`; weights = counts / their sum).

    Examples
    --------
    >>> good = np.array([[0.9, 0.1], [0.2, 0.8]]); flat = np.full((2, 2), 0.5)
    >>> w, counts = choose_vote_weights([good, flat], [0, 1]); w.tolist(), counts.tolist()
    ([1.0, 0.0], [1, 0])
    """
    if _weight_method(str(method)) == "select":
        counts = select_vote_counts(probas, y)
        return counts / counts.sum(), counts
    return fit_vote_weights(probas, y), None


def nested_vote_mix(probas: Sequence[np.ndarray], y: Sequence[int], folds: Sequence[int],
                    method: str = "select") -> tuple[np.ndarray, dict[str, Any]]:
    """Honest mixed probabilities: each fold's rows use weights chosen on the other folds only.

    Parameters
    ----------
    probas : sequence of ndarray
        Each member's ``(n_tracks, n_classes)`` out-of-fold probabilities
        (same rows and columns for every member).
    y : sequence of int
        True class index per track.
    folds : sequence of int
        Fold of each track (at least two folds).
    method : {"fit", "select"}
        See :func:`choose_vote_weights`.

    Returns
    -------
    mix : ndarray
        ``(n_tracks, n_classes)`` weighted-mean probabilities.
    chosen : dict
        ``fold_weights`` (one weight list per fold, in sorted fold order) and,
        for ``"select"``, ``fold_selections`` (the counts).
    """
    P, y = _stack_members(probas, y)
    folds = np.asarray(folds)
    if len(set(folds.tolist())) < 2:
        raise RunError("Nested weights need at least two folds.")
    mix = np.zeros(P.shape[1:])
    chosen: dict[str, Any] = {"fold_weights": []}
    for f in sorted(set(folds.tolist())):
        inside, outside = folds == f, folds != f
        wf, counts = choose_vote_weights([p[outside] for p in P], y[outside], method)
        chosen["fold_weights"].append([round(float(x), 4) for x in wf])
        if counts is not None:
            chosen.setdefault("fold_selections", []).append(counts.tolist())
        mix[inside] = np.tensordot(wf, P[:, inside], axes=1)
    return mix, chosen


def _choice_note(method: str, members: Sequence[Run], w: np.ndarray, n_tracks: int, n_folds: int) -> str:
    how = ("greedy ensemble selection with replacement on log loss, Caruana et al. 2004; a weight is the share of "
           "picks" if method == "select" else "log loss")
    chosen = ", ".join(f"{m.id} {x:.2f}" for m, x in zip(members, w) if x > 0 or method == "fit")
    return (f"Weights chosen on the members' out-of-fold predictions of {n_tracks} tracks ({how}): "
            f"{chosen}. The figures are nested: each of the "
            f"{n_folds} folds is scored with weights chosen on the others, so no track helped choose the weights "
            "it is scored with.")


def _selection_record(candidates: Sequence[Run], counts: np.ndarray, probas: Sequence[np.ndarray],
                      y: np.ndarray) -> dict[str, Any]:
    """``metrics["selection"]``: the candidates, how often each was picked, and why the others were left out."""
    dropped = {}
    for m, c, p in zip(candidates, counts, probas):
        if not c:
            acc, neg_loss = _selection_score(p, y, "accuracy")
            dropped[m.id] = (f"never picked: another member always lowered the ensemble's out-of-fold log loss "
                             f"more (its own: accuracy {acc:.3f}, log loss {-neg_loss:.3f})")
    return {"method": "greedy forward selection with replacement (Caruana et al. 2004)", "objective": "log_loss",
            "rounds": SELECT_ROUNDS, "candidates": [m.id for m in candidates],
            "counts": {m.id: int(c) for m, c in zip(candidates, counts)}, "dropped": dropped}


def _dropped_notes(selection: Mapping[str, Any]) -> list[str]:
    dropped = selection["dropped"]
    kept = [m for m in selection["candidates"] if m not in dropped]
    notes = []
    if dropped:
        notes.append(f"Left out of the ensemble ({len(dropped)} of {len(selection['candidates'])} candidates): "
                     + "; ".join(f"{mid}: {why}" for mid, why in dropped.items()) + ".")
    if len(kept) == 1:
        notes.append(f"Selection kept one run, {kept[0]}: the ensemble predicts as it does.")
    return notes


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

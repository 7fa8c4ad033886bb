"""Ensembles: bagged CNNs (backend ``cnn_bag``) and soft voting over trained runs.

(a) :class:`CNNBagModel` -- the N-network recipe: N CNNs (see
:mod:`genre_core.backends.cnn`), each trained on a bootstrap sample, predicting
the mean of their probabilities. With ``groups=`` (the track id of every
window) the bootstrap resamples *tracks* within each class, so a member never
sees half of a track's windows and the class balance is kept; without it,
windows are resampled. Members differ in bootstrap sample and seed.
Saved as ``model.json``, ``scaler.json`` and ``members/0.keras``,
``members/1.keras``, ... (safe mode).

(b) :class:`SoftVoter` -- combines the probability matrices of several trained
models (runs) that share a label set: a weighted mean, with the member ids and
weights recorded so a combination can be written to a run manifest.

Example
-------
>>> bag = get_backend("cnn_bag")(n_members=5, epochs=20)            # doctest: +SKIP
>>> bag.fit(S, y, X_valid=Sv, y_valid=yv, groups=track_ids)          # doctest: +SKIP
>>> bag.member_predict_proba(S_test).shape                          # doctest: +SKIP
(5, n_windows, n_classes)
>>> voter = SoftVoter(["mlp-1", "cnn-2"], [labels, labels], weights=[1, 2])
>>> P = voter.combine([P_mlp, P_cnn])                                # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import DatasetError, RunError
from .base import (
    GenreModel,
    Param,
    StandardScaler,
    normalise_rows,
    register_backend,
    training_weights,
)
from .cnn import CNNModel, _fit_scaler, _load_cnn_scaler, _Prep, fit_keras_cnn, keras_predict, load_keras, \
    save_keras


def member_seed(seed: int, i: int) -> int:
    """Independent, reproducible seed of bag member ``i``."""
    return int(np.random.SeedSequence([int(seed), int(i)]).generate_state(1)[0] % (2**31 - 1))


def bootstrap_indices(y_idx: np.ndarray, *, rng: np.random.Generator, groups: np.ndarray | None = None,
                      fraction: float = 1.0) -> np.ndarray:
    """Rows of one bootstrap sample, stratified by class.

    With ``groups`` (a track id per row), whole tracks are drawn with
    replacement within each class and all their rows kept; otherwise rows are
    drawn. Each class contributes ``round(fraction * its count)`` draws (at least 1).

    Examples
    --------
    >>> y = np.array([0, 0, 0, 0, 1, 1]); g = np.array(["a", "a", "b", "b", "c", "c"])
    >>> idx = bootstrap_indices(y, rng=np.random.default_rng(0), groups=g)
    >>> sorted(set(g[idx]) & {"c"})
    ['c']
    """
    out = []
    for c in np.unique(y_idx):
        rows = np.flatnonzero(y_idx == c)
        if groups is None:
            k = max(1, int(round(fraction * len(rows))))
            out.append(rng.choice(rows, size=k, replace=True))
            continue
        tracks, inverse = np.unique(groups[rows], return_inverse=True)
        k = max(1, int(round(fraction * len(tracks))))
        picks = rng.integers(0, len(tracks), size=k)
        members = [rows[inverse == t] for t in range(len(tracks))]
        out.extend(members[t] for t in picks)
    return np.concatenate(out).astype(np.int64)


@register_backend
class CNNBagModel(GenreModel):
    """N CNNs on bootstrap samples (by track when ``groups`` is given); prediction = mean probability."""

    name = "cnn_bag"
    description = ("Bagging of N Keras CNNs (the N-network ensemble recipe): each member trains on a bootstrap "
                   "sample of tracks; the prediction is the mean of the members' probabilities.")
    input_kinds = ("logmel",)
    libraries = ("tensorflow", "keras")

    @classmethod
    def default_input(cls):
        return CNNModel.default_input()

    @classmethod
    def param_specs(cls) -> list[Param]:
        return [
            Param("n_members", 5, int, "Number of CNNs in the bag.", low=1, high=100),
            Param("bootstrap", "track", str, "Resample whole tracks (needs groups=) or single windows.",
                  choices=["track", "window"]),
            Param("sample_fraction", 1.0, float, "Bootstrap size as a fraction of the tracks (windows) per class.",
                  low=0.05, high=2.0, advanced=True),
            *CNNModel.param_specs(),
        ]

    def __init__(self, input_spec=None, **params):
        super().__init__(input_spec, **params)
        self.members_: list = []
        self.scaler_: StandardScaler | None = None
        self.member_best_epochs_: list[int] = []
        self.bootstrap_used_: str | None = None

    def _prep(self) -> _Prep:
        return _Prep(self.scaler_, self.params["freq_aware"])

    def fit(self, X, y, *, X_valid=None, y_valid=None, classes=None, sample_weight=None,
            progress=None, should_stop=None, groups=None) -> "CNNBagModel":
        t0 = time.perf_counter()
        X, y_idx, Xv, yv_idx = self._prepare_fit(X, y, X_valid, y_valid, classes, ndim=2)
        p = self.params
        n, n_members, epochs = len(X), p["n_members"], p["epochs"]
        if groups is not None:
            groups = np.asarray(groups).astype(str).reshape(-1)
            if len(groups) != n:
                raise DatasetError(f"groups has {len(groups)} track ids for {n} training windows.")
        use_groups = groups if p["bootstrap"] == "track" else None
        self.bootstrap_used_ = "track" if use_groups is not None else "window"
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        self.scaler_ = _fit_scaler(X, p["normalize"])
        self.members_, self.member_best_epochs_ = [], []
        member_times: list[float] = []
        for i in range(n_members):
            t_member = time.perf_counter()
            seed_i = member_seed(self.seed, i)
            rows = bootstrap_indices(y_idx, rng=np.random.default_rng(seed_i), groups=use_groups,
                                     fraction=p["sample_fraction"])
            w = training_weights(y_idx[rows], len(self.classes_), p["class_weight"],
                                 None if sw is None else sw[rows])
            left = n_members - i - 1

            def eta_offset(per_epoch: float, left=left) -> float:
                mean_member = np.mean(member_times) if member_times else per_epoch * epochs
                return left * mean_member

            hist: list[dict] = []
            model, _, best = fit_keras_cnn(
                X, y_idx[rows], len(self.classes_), w, Xv, yv_idx, p, seed=seed_i, progress=progress,
                should_stop=should_stop, index=rows, scaler=self.scaler_, history=hist,
                reporter_kwargs={"extra": {"member": i + 1, "members": n_members}, "eta_offset": eta_offset,
                                 "done_offset": i * epochs, "total": n_members * epochs})
            self.members_.append(model)
            self.member_best_epochs_.append(int(best))
            self.history.extend({"member": i + 1, **h} for h in hist)
            member_times.append(time.perf_counter() - t_member)
        self.best_epoch_ = None  # one per member: member_best_epochs_
        self.fit_time_s_ = round(time.perf_counter() - t0, 3)
        return self

    def member_predict_proba(self, X) -> np.ndarray:
        """Per-member probabilities, shape ``(n_members, n, n_classes)``."""
        X = self._check_predict_input(X, ndim=2)
        if not self.members_ or self.scaler_ is None:
            raise RunError("The cnn_bag model has no members; fit or load it first.")
        if len(X) == 0:
            return np.zeros((len(self.members_), 0, len(self.classes_)))
        prep = self._prep()
        return np.stack([keras_predict(m, prep, X) for m in self.members_])

    def predict_proba(self, X) -> np.ndarray:
        return normalise_rows(self.member_predict_proba(X).mean(axis=0))

    def n_parameters(self) -> int | None:
        return int(sum(m.count_params() for m in self.members_)) if self.members_ else None

    def describe(self) -> dict:
        d = super().describe()
        d.update(n_members=len(self.members_), member_best_epochs=self.member_best_epochs_,
                 bootstrap=self.bootstrap_used_)
        return d

    def _manifest_state(self) -> dict:
        return {"n_members": len(self.members_), "member_best_epochs": self.member_best_epochs_,
                "bootstrap": self.bootstrap_used_}

    def _save_artifacts(self, folder: Path) -> list[Path]:
        (folder / "members").mkdir(parents=True, exist_ok=True)
        paths = [self.scaler_.save(folder / "scaler.json")]
        paths += [save_keras(m, folder / "members" / f"{i}.keras") for i, m in enumerate(self.members_)]
        return paths

    def _load_artifacts(self, folder: Path, state: dict) -> None:
        if len(self.input_shape_ or ()) != 2:
            raise RunError(f"{folder / 'model.json'}: the input shape {self.input_shape_} is not (n_mels, frames).")
        n_members = state.get("n_members", self.params["n_members"])
        if not isinstance(n_members, int) or n_members < 1:
            raise RunError(f"{folder / 'model.json'}: invalid member count {n_members!r}.")
        self.scaler_ = _load_cnn_scaler(folder / "scaler.json", self.input_shape_[0])
        shape = (*self.input_shape_, 2 if self.params["freq_aware"] else 1)
        self.members_ = [load_keras(folder / "members" / f"{i}.keras", input_shape=shape,
                                    n_classes=len(self.classes_), what=f"bag member {i} network")
                         for i in range(n_members)]
        self.member_best_epochs_ = list(state.get("member_best_epochs") or [])
        self.bootstrap_used_ = state.get("bootstrap")


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


__all__ = ["CNNBagModel", "SoftVoter", "bootstrap_indices", "member_seed"]

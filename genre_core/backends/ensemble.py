"""Bagged CNNs (backend ``cnn_bag``): an ensemble inside one model.

:class:`CNNBagModel` is the N-network recipe: N CNNs (see
:mod:`genre_core.backends.cnn`), each trained on a bootstrap sample, predicting
the mean of their probabilities. With ``groups=`` (the track id of every
window) the bootstrap resamples *tracks* within each class, so a member never
sees half of a track's windows and the class balance is kept; without it,
windows are resampled. Members differ in bootstrap sample and seed.
Saved as ``model.json``, ``scaler.json`` and ``members/0.keras``,
``members/1.keras``, ... (safe mode).

Soft voting over several trained *runs* is :mod:`genre_core.voting`.

Example
-------
>>> bag = get_backend("cnn_bag")(n_members=5, epochs=20)            # doctest: +SKIP
>>> bag.fit(S, y, X_valid=Sv, y_valid=yv, groups=track_ids)          # doctest: +SKIP
>>> bag.member_predict_proba(S_test).shape                          # doctest: +SKIP
(5, n_windows, n_classes)
"""

from __future__ import annotations

import time
from pathlib import Path

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
from .cnn import (
    CNNModel,
    _fit_scaler,
    _load_cnn_scaler,
    _Prep,
    fit_keras_cnn,
    keras_predict,
    load_network,
    save_keras,
)


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
    label = "bag of CNNs trained from scratch"
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
        self.members_ = [load_network(folder / "members" / f"{i}.keras", input_shape=shape,
                                      n_classes=len(self.classes_), what=f"bag member {i} network")
                         for i in range(n_members)]
        self.member_best_epochs_ = list(state.get("member_best_epochs") or [])
        self.bootstrap_used_ = state.get("bootstrap")


__all__ = ["CNNBagModel", "bootstrap_indices", "member_seed"]

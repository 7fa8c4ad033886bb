"""``linear``: a light multinomial logistic-regression head on a feature vector.

The head for pretrained embeddings (default input: ``musicnn``, the 200-d
penultimate layer of musicnn pretrained on the Million Song Dataset, on 3 s
windows with 1.5 s hop). On small datasets such a head on a good embedding
beats networks trained from scratch by a wide margin; it trains in seconds.

The fit uses scikit-learn's ``LogisticRegression`` (L2, lbfgs) on
standardised features (scaler fit on training windows only); the saved model is
plain JSON (``linear.json``: scaler, coefficients, intercepts) and prediction
is a numpy softmax, so loading runs no code and needs no pickle.

Example
-------
>>> from genre_core.backends import get_backend
>>> head = get_backend("linear")(C=0.5)               # default input: musicnn on 3 s windows
>>> head.fit(X, y, X_valid=Xv, y_valid=yv)            # doctest: +SKIP
>>> head.predict_proba(X_test).shape                  # doctest: +SKIP
(n, len(head.classes_))
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from ..errors import RunError
from ..jsonio import read_json, write_json
from .base import (
    EpochReporter,
    GenreModel,
    Param,
    StandardScaler,
    check_cancel,
    register_backend,
    require_file,
    softmax,
    training_weights,
)


@register_backend
class LinearModel(GenreModel):
    """Multinomial logistic regression on standardised feature vectors."""

    name = "linear"
    label = "logistic regression"
    description = ("Logistic-regression head (L2) on a feature vector per window; default input: pretrained "
                   "musicnn embeddings on 3 s windows. Trains in seconds; the strongest choice on small datasets.")
    input_kinds = ("features",)
    default_input_spec = {"kind": "features", "feature_set": "musicnn", "window": 3.0, "hop": 1.5}
    libraries = ("sklearn",)

    @classmethod
    def param_specs(cls) -> list[Param]:
        return [
            Param("C", 0.1, float, "Inverse L2 regularisation strength (smaller = stronger).", low=1e-6, high=1e6),
            Param("C_grid", "", str, "Comma-separated C values tried on the validation windows; the one with the "
                  "lowest validation log loss is kept (empty: use C as given).", advanced=True),
            Param("max_iter", 2000, int, "Maximum lbfgs iterations.", low=10, high=100000),
            Param("class_weight", "balanced", str, "Weight classes inversely to their frequency.",
                  choices=["balanced", "none"]),
            Param("seed", 0, int, "Random seed (kept for symmetry; lbfgs is deterministic).", low=0,
                  high=2**31 - 1),
        ]

    def __init__(self, input_spec=None, **params):
        super().__init__(input_spec, **params)
        self._scaler: StandardScaler | None = None
        self._coef: np.ndarray | None = None
        self._intercept: np.ndarray | None = None

    def fit(self, X, y, *, X_valid=None, y_valid=None, classes=None, sample_weight=None,
            progress=None, should_stop=None, groups=None) -> "LinearModel":

        t0 = time.perf_counter()
        X, y_idx, Xv, yv_idx = self._prepare_fit(X, y, X_valid, y_valid, classes)
        check_cancel(should_stop, "before fitting")
        n_classes = len(self.classes_)
        X2 = X.reshape(len(X), -1).astype(np.float64)
        self._scaler = StandardScaler().fit(X2)
        Xs = self._scaler.transform(X2)
        w = training_weights(y_idx, n_classes, self.params["class_weight"], sample_weight)
        reporter = EpochReporter(progress, 1)
        reporter.start()
        grid = _parse_grid(self.params["C_grid"])
        if grid and Xv is not None and len(Xv):
            # choose C on the validation windows only (never a test side), then keep that fit
            Xvs = self._scaler.transform(Xv.reshape(len(Xv), -1).astype(np.float64))
            scores = {}
            for c in grid:
                check_cancel(should_stop, f"while trying C={c:g}")
                cand = self._fit_lbfgs(Xs, y_idx, w, c)
                p = cand.predict_proba(Xvs)
                cols = {k: j for j, k in enumerate(cand.classes_)}
                pv = np.array([p[i, cols[t]] if t in cols else 1e-12 for i, t in enumerate(yv_idx)])
                scores[c] = float(-np.mean(np.log(np.clip(pv, 1e-12, 1.0))))
            best = min(grid, key=lambda c: (scores[c], -c))
            self.params = {**self.params, "C": best}
            self.chosen_params_ = {"C": best}
            self.selection_ = {"C": {f"{c:g}": round(v, 5) for c, v in scores.items()}}
        clf = self._fit_lbfgs(Xs, y_idx, w, self.params["C"])
        # Columns for every class, also those absent from the training windows.
        coef = np.zeros((n_classes, Xs.shape[1]))
        intercept = np.full(n_classes, -1e9 if len(clf.classes_) < n_classes else 0.0)
        if len(clf.classes_) == 2 and clf.coef_.shape[0] == 1:  # binary: sklearn keeps one row
            coef[clf.classes_[1]] = clf.coef_[0]
            intercept[clf.classes_[0]] = 0.0
            intercept[clf.classes_[1]] = clf.intercept_[0]
        else:
            coef[clf.classes_] = clf.coef_
            intercept[clf.classes_] = clf.intercept_
        self._coef, self._intercept = coef, intercept
        metrics = self._epoch_metrics(Xs, y_idx, Xv, yv_idx)
        self.history = [{"epoch": 1, **metrics, "lr": None, "time_s": round(time.perf_counter() - t0, 4)}]
        reporter.report(1, metrics)
        self.best_epoch_ = 1
        self.fit_time_s_ = round(time.perf_counter() - t0, 3)
        return self

    def _fit_lbfgs(self, Xs, y_idx, w, C: float):
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=C, max_iter=self.params["max_iter"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(Xs, y_idx, sample_weight=w)
        return clf

    def _proba_scaled(self, Xs: np.ndarray) -> np.ndarray:
        return softmax(Xs @ self._coef.T + self._intercept)

    def _epoch_metrics(self, Xs, y_idx, Xv, yv_idx) -> dict:
        def loss_acc(Z, yi):
            p = self._proba_scaled(Z)
            loss = float(-np.mean(np.log(np.clip(p[np.arange(len(yi)), yi], 1e-12, 1.0))))
            return loss, float(np.mean(np.argmax(p, axis=1) == yi))

        loss, acc = loss_acc(Xs, y_idx)
        out = {"loss": loss, "accuracy": acc, "val_loss": None, "val_accuracy": None}
        if Xv is not None:
            vl, va = loss_acc(self._scaler.transform(Xv.reshape(len(Xv), -1).astype(np.float64)), yv_idx)
            out.update(val_loss=vl, val_accuracy=va)
        return out

    def predict_proba(self, X) -> np.ndarray:
        X = self._check_predict_input(X)
        if self._coef is None:
            raise RunError("The linear model has no coefficients; fit or load it first.")
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float64)
        Xs = self._scaler.transform(X.reshape(len(X), -1).astype(np.float64))
        return self._proba_scaled(Xs)

    def n_parameters(self) -> int | None:
        return None if self._coef is None else int(self._coef.size + self._intercept.size)

    def _save_artifacts(self, folder: Path) -> list[Path]:
        path = write_json(folder / "linear.json", {
            "scaler": self._scaler.to_dict(),
            "coef": self._coef.tolist(),
            "intercept": self._intercept.tolist(),
        })
        return [path]

    def _load_artifacts(self, folder: Path, state: dict) -> None:
        path = require_file(folder / "linear.json", "coefficients file (linear.json)")
        d = read_json(path, "model coefficients file")
        try:
            scaler = StandardScaler.from_dict(d["scaler"], source=str(path))
            coef = np.asarray(d["coef"], dtype=np.float64)
            intercept = np.asarray(d["intercept"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as err:
            raise RunError(f"{path}: the coefficients file is malformed ({type(err).__name__}: {err}).") from None
        n_features = int(np.prod(self.input_shape_)) if self.input_shape_ else -1
        if coef.shape != (len(self.classes_), n_features) or intercept.shape != (len(self.classes_),) \
                or not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
            raise RunError(f"{path}: coefficients of shape {coef.shape} do not fit {len(self.classes_)} classes x "
                           f"{n_features} features, or are not finite.")
        self._scaler, self._coef, self._intercept = scaler, coef, intercept


def _parse_grid(text: str) -> list[float]:
    """``"0.01, 0.1,1"`` -> ``[0.01, 0.1, 1.0]`` (positive values only; GenreLabError otherwise)."""
    from ..errors import GenreLabError

    out = []
    for part in str(text or "").replace(";", ",").split(","):
        if part.strip():
            try:
                v = float(part)
            except ValueError:
                raise GenreLabError(f"C_grid: {part.strip()!r} is not a number.") from None
            if not (v > 0 and np.isfinite(v)):
                raise GenreLabError(f"C_grid: every C must be a positive number, not {part.strip()}.")
            out.append(v)
    return sorted(set(out))

"""``mlp``: a PyTorch multi-layer perceptron on a feature vector per window.

Architecture: ``[Linear -> BatchNorm1d -> ReLU -> Dropout] x len(hidden) -> Linear``,
trained with Adam (L2 through ``weight_decay``), class-weighted cross-entropy,
``ReduceLROnPlateau`` and early stopping that restores the best epoch's weights.
Inputs are standardised with a :class:`~genre_core.backends.base.StandardScaler`
fit on the training windows only and saved as JSON.

Saved files: ``model.json``, ``scaler.json``, ``weights.pt`` (a ``state_dict``,
loaded with ``torch.load(..., weights_only=True)``).

Example
-------
>>> from genre_core.backends import get_backend
>>> model = get_backend("mlp")(hidden=(64, 32), epochs=30, seed=0)
>>> model.fit(X_train, y_train, X_valid=X_valid, y_valid=y_valid)   # doctest: +SKIP
>>> model.save("models/user/my-run/model")                          # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import RunError
from .base import (
    GenreModel,
    Param,
    StandardScaler,
    register_backend,
    seed_everything,
    softmax,
    training_weights,
)
from .fitting import (
    load_torch_state,
    save_torch_state,
    torch_epoch_loop,
    torch_logits,
    torch_threads,
)
from .params import epoch_loop_params


def _torch():
    import torch

    return torch


def build_mlp(n_features: int, n_classes: int, hidden: tuple[int, ...], dropout: float):
    """The network as a plain ``torch.nn.Sequential`` (no custom module code)."""
    torch = _torch()
    nn = torch.nn
    layers: list = []
    width = n_features
    for units in hidden:
        layers += [nn.Linear(width, units), nn.BatchNorm1d(units), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = units
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


@register_backend
class MLPModel(GenreModel):
    """Feature-vector MLP (PyTorch) with batch norm, dropout, L2 and early stopping."""

    name = "mlp"
    label = "multi-layer perceptron"
    description = ("PyTorch MLP on a feature vector per window (default: the 57 GTZAN features on 3 s "
                   "windows): batch norm, dropout, L2, Adam, class weights, early stopping, LR reduction.")
    input_kinds = ("features",)
    default_input_spec = {"kind": "features", "feature_set": "gtzan57", "window": 3.0}
    libraries = ("torch",)

    @classmethod
    def param_specs(cls) -> list[Param]:
        return [
            Param("hidden", (512, 256, 128), tuple, "Units of each hidden layer (comma-separated).", low=1, high=4096),
            Param("dropout", 0.3, float, "Dropout after every hidden layer.", low=0.0, high=0.9),
            Param("lr", 1e-3, float, "Adam learning rate.", low=1e-6, high=1.0),
            Param("weight_decay", 1e-4, float, "L2 penalty (Adam weight decay).", low=0.0, high=1.0),
            *epoch_loop_params(epochs=100, batch_size=64, max_batch=65536, patience=12, lr_patience=5, min_lr=1e-6),
            Param("label_smoothing", 0.0, float, "Cross-entropy label smoothing.", low=0.0, high=0.5,
                  advanced=True),
            Param("class_weight", "balanced", str, "Weight classes inversely to their frequency.",
                  choices=["balanced", "none"]),
            Param("seed", 0, int, "Random seed (weights init, shuffling, dropout).", low=0, high=2**31 - 1),
        ]

    def __init__(self, input_spec=None, **params):
        super().__init__(input_spec, **params)
        self.scaler_: StandardScaler | None = None
        self._net = None

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, *, X_valid=None, y_valid=None, classes=None, sample_weight=None,
            progress=None, should_stop=None, groups=None) -> "MLPModel":
        with torch_threads():
            return self._fit(X, y, X_valid=X_valid, y_valid=y_valid, classes=classes,
                             sample_weight=sample_weight, progress=progress, should_stop=should_stop)

    def _fit(self, X, y, *, X_valid, y_valid, classes, sample_weight, progress, should_stop) -> "MLPModel":
        t_start = time.perf_counter()
        X, y_idx, Xv, yv_idx = self._prepare_fit(X, y, X_valid, y_valid, classes)
        X = X.reshape(len(X), -1)
        p = self.params
        n_classes = len(self.classes_)
        w = training_weights(y_idx, n_classes, p["class_weight"], sample_weight)
        torch = _torch()
        seed_everything(p["seed"])
        torch.manual_seed(p["seed"])
        rng = np.random.default_rng(p["seed"])

        self.scaler_ = StandardScaler().fit(X)
        Xt = torch.from_numpy(self.scaler_.transform(X))
        yt = torch.from_numpy(y_idx)
        wt = torch.from_numpy(w.astype(np.float32))
        has_valid = Xv is not None
        if has_valid:
            Xvt = torch.from_numpy(self.scaler_.transform(Xv.reshape(len(Xv), -1)))
            yvt = torch.from_numpy(yv_idx)

        net = build_mlp(X.shape[1], n_classes, p["hidden"], p["dropout"])
        opt = torch.optim.Adam(net.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        self._net = net

        def batch_loss(xb, yb, wb, ce, epoch):
            logits = net(xb)
            per = ce(logits, yb)
            return logits, per, wb, (per * wb).sum() / wb.sum().clamp_min(1e-12)

        torch_epoch_loop(self, net, opt, (Xt, yt, wt), (Xvt, yvt) if has_valid else None, p, rng,
                         batch_loss=batch_loss, progress=progress, should_stop=should_stop)
        self.fit_time_s_ = round(time.perf_counter() - t_start, 3)
        return self

    # ------------------------------------------------------------------ predict
    def predict_proba(self, X) -> np.ndarray:
        X = self._check_predict_input(X)
        if self._net is None or self.scaler_ is None:
            raise RunError("The mlp model has no weights; fit or load it first.")
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float64)
        with torch_threads() as torch:
            logits = torch_logits(self._net, torch.from_numpy(self.scaler_.transform(X.reshape(len(X), -1))))
        return softmax(logits)

    def n_parameters(self) -> int | None:
        if self._net is None:
            return None
        return int(sum(p.numel() for p in self._net.parameters()))

    # ------------------------------------------------------------------ save / load
    def _save_artifacts(self, folder: Path) -> list[Path]:
        weights = save_torch_state(self._net, folder / "weights.pt")
        scaler = self.scaler_.save(folder / "scaler.json")
        return [weights, scaler]

    def _load_artifacts(self, folder: Path, state: dict) -> None:
        n_features = int(np.prod(self.input_shape_)) if self.input_shape_ else 0
        if n_features <= 0:
            raise RunError(f"{folder / 'model.json'}: the input shape is missing.")
        scaler = StandardScaler.load(folder / "scaler.json")
        if scaler.mean_.shape != (n_features,):
            raise RunError(f"{folder / 'scaler.json'}: scaler has {scaler.mean_.shape} columns, "
                           f"the model expects {n_features} features.")
        net = build_mlp(n_features, len(self.classes_), self.params["hidden"], self.params["dropout"])
        load_torch_state(net, folder / "weights.pt")
        self._net = net
        self.scaler_ = scaler

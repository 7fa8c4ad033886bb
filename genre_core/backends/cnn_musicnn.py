"""``cnn_musicnn``: musicnn's pretrained CNN, fine-tuned on the user's genres.

musicnn (MSD- or MTT-pretrained) is a CNN: a front-end of musically motivated
convolutions, a mid-end of three residual convolutions, temporal max and mean
pooling, then a back-end of two dense layers. This backend keeps the
front-end and mid-end frozen and trains the rest:

    pooled maps (1506) -> [pretrained back-end: pool BN -> dense 200 -> ReLU -> BN]
                       -> dropout -> new dense layer (one unit per genre)

The frozen part's output for a 3 s window is exactly the ``musicnn_pool``
feature set with ``pooling="both"``, so it is computed once per track and
cached like any feature set (an epoch then costs a fraction of a second, not
minutes of convolutions), and at prediction time it shares the musicnn pass
of every other musicnn run on the same windows. The back-end is the network's
own implementation (:func:`~genre_core.features.musicnn.net_musicnn.back_end`),
initialised from the checkpoint: before training its penultimate layer equals
the ``musicnn`` embedding.

Training: Adam on the new layer at ``lr`` and on the pretrained layers at
``lr * pretrained_lr`` (optionally frozen for the first ``freeze_epochs``),
L2 towards zero for the new layer and towards the pretrained values for the
others (``weight_decay``, "L2-SP"), class-weighted cross-entropy, optional
mixup, LR reduction and early stopping on the validation windows that restores
the best epoch's weights. The defaults (``lr=1e-3``, ``pretrained_lr=0.03``,
dropout 0.5) were chosen by the shipped protocol's cross-validation on the
GTZAN development pool (``scripts/train_shipped.py``, mean of 3 seeds): the
pretrained layers learn 30x slower than the new one. Training every layer at
one rate (``lr=1e-4`` or ``3e-4``) cost about 0.015 of track accuracy; keeping
the pretrained layers frozen did as well as the defaults, within the spread
between seeds.

Saved files: ``model.json`` and ``weights.pt`` (a ``state_dict`` of the whole
head, loaded with ``torch.load(..., weights_only=True)``); loading needs no
checkpoint.

Example
-------
>>> from genre_core.backends import get_backend
>>> model = get_backend("cnn_musicnn")(epochs=40, seed=0)   # input: musicnn_pool (both), 3 s, hop 1.5 s
>>> model.input_spec.describe()
'musicnn_pool features (pooling=both), 3 s windows, hop 1.5 s'
>>> model.fit(X_train, y_train, X_valid=X_valid, y_valid=y_valid)   # doctest: +SKIP
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from ..errors import DatasetError, GenreLabError, RunError
from .base import (
    GenreModel,
    Param,
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

#: The feature set holding the frozen layers' output, and the parameter that makes it the back-end's input.
FEATURE_SET = "musicnn_pool"
POOLING = "both"


def build_head(n_classes: int, weights: str | None, dropout: float, pool_dropout: float):
    """The trained network: musicnn's back-end (from checkpoint ``weights``; ``None``: zeros, to load a
    saved ``state_dict``), dropout and a new ``Linear(200, n_classes)``.

    A ``torch.nn.Module`` with children ``back_end`` and ``classifier``; its
    input is a ``musicnn_pool`` row (pooling both), its output logits.
    """
    return _head_class()(n_classes, weights, dropout, pool_dropout)


@functools.cache
def _head_class():
    import torch

    from ..features.musicnn.net_musicnn import pretrained_back_end
    from ..features.musicnn.weights import DENSE

    class FineTunedMusicnn(torch.nn.Module):
        """See :func:`build_head`."""

        def __init__(self, n_classes, weights, dropout, pool_dropout):
            super().__init__()
            self.back_end = pretrained_back_end(weights)
            self.pool_dropout = torch.nn.Dropout(pool_dropout)
            self.dropout = torch.nn.Dropout(dropout)
            self.classifier = torch.nn.Linear(DENSE, n_classes)

        def forward(self, x):
            return self.classifier(self.dropout(self.back_end(x, dropout=self.pool_dropout)))

    return FineTunedMusicnn


@register_backend
class MusicnnFineTuneModel(GenreModel):
    """musicnn's CNN fine-tuned: frozen, cached front-end and mid-end; pretrained back-end and a new layer trained."""

    name = "cnn_musicnn"
    label = "CNN fine-tuned from pretrained musicnn"
    description = ("CNN fine-tuned from pretrained musicnn (MSD): front-end and mid-end frozen and cached "
                   "(musicnn_pool features), back-end (dense 200 + batch norms) trained from the checkpoint "
                   "with a new output layer; early stopping on validation tracks.")
    input_kinds = ("features",)
    fixed_feature_set = True
    default_input_spec = {"kind": "features", "feature_set": FEATURE_SET, "params": {"pooling": POOLING},
                          "window": 3.0, "hop": 1.5}
    libraries = ("torch",)

    @classmethod
    def param_specs(cls) -> list[Param]:
        return [
            Param("lr", 1e-3, float, "Adam learning rate of the new output layer.", low=1e-6, high=1.0),
            Param("pretrained_lr", 0.03, float, "Learning rate of the pretrained layers, as a multiple of lr "
                  "(0 = frozen: only the new layer trains).", low=0.0, high=10.0),
            Param("freeze_epochs", 0, int, "First epochs in which only the new layer trains (warm-up).",
                  low=0, high=10000),
            Param("dropout", 0.5, float, "Dropout on the 200-d penultimate layer, before the new layer.",
                  low=0.0, high=0.9),
            Param("pool_dropout", 0.0, float, "Dropout on the pooled maps, before the pretrained dense layer "
                  "(musicnn itself was trained with 0.5).", low=0.0, high=0.9, advanced=True),
            Param("weight_decay", 1e-4, float, "L2 penalty: the new layer towards zero, the pretrained layers "
                  "towards their pretrained values.", low=0.0, high=1.0),
            Param("mixup", 0.0, float, "Mixup alpha on the pooled maps (0 = off).", low=0.0, high=10.0,
                  advanced=True),
            *epoch_loop_params(epochs=60, batch_size=64, max_batch=65536, patience=10, lr_patience=4,
                               min_lr=1e-6),
            Param("label_smoothing", 0.0, float, "Cross-entropy label smoothing.", low=0.0, high=0.5,
                  advanced=True),
            Param("class_weight", "balanced", str, "Weight classes inversely to their frequency.",
                  choices=["balanced", "none"]),
            Param("seed", 0, int, "Random seed (new layer's init, shuffling, dropout, mixup).", low=0,
                  high=2**31 - 1),
        ]

    def __init__(self, input_spec=None, **params):
        super().__init__(input_spec, **params)
        self.pretrained_weights = _pretrained_weights(self.input_spec)
        self._net = None

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, *, X_valid=None, y_valid=None, classes=None, sample_weight=None,
            progress=None, should_stop=None, groups=None) -> MusicnnFineTuneModel:
        with torch_threads():
            return self._fit(X, y, X_valid=X_valid, y_valid=y_valid, classes=classes,
                             sample_weight=sample_weight, progress=progress, should_stop=should_stop)

    def _fit(self, X, y, *, X_valid, y_valid, classes, sample_weight, progress, should_stop):
        import torch

        t_start = time.perf_counter()
        X, y_idx, Xv, yv_idx = self._prepare_fit(X, y, X_valid, y_valid, classes, ndim=1)
        _check_width(X.shape[1])
        p = self.params
        n_classes = len(self.classes_)
        w = torch.from_numpy(training_weights(y_idx, n_classes, p["class_weight"], sample_weight).astype(np.float32))
        seed_everything(p["seed"])
        torch.manual_seed(p["seed"])
        rng = np.random.default_rng(p["seed"])
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y_idx)
        has_valid = Xv is not None
        if has_valid:
            Xvt, yvt = torch.from_numpy(Xv), torch.from_numpy(yv_idx)

        net = build_head(n_classes, self.pretrained_weights, p["dropout"], p["pool_dropout"])
        pretrained = list(net.back_end.parameters())
        anchor = [t.detach().clone() for t in pretrained]
        tune = p["pretrained_lr"] > 0
        groups_ = [{"params": list(net.classifier.parameters()), "lr": p["lr"], "weight_decay": p["weight_decay"]}]
        if tune:
            groups_.append({"params": pretrained, "lr": p["lr"] * p["pretrained_lr"], "weight_decay": 0.0})
        opt = torch.optim.Adam(groups_)
        self._net = net
        state = {"training_back_end": False}

        def before_epoch(epoch):
            state["training_back_end"] = tune and epoch > p["freeze_epochs"]
            net.back_end.requires_grad_(state["training_back_end"])

        def batch_loss(xb, yb, wb, ce, epoch):
            if p["mixup"] > 0:
                lam = rng.beta(p["mixup"], p["mixup"], size=len(xb)).astype(np.float32)
                lam = torch.from_numpy(np.maximum(lam, 1.0 - lam))  # the first example dominates
                perm = torch.from_numpy(rng.permutation(len(xb)))
                xb = lam[:, None] * xb + (1 - lam[:, None]) * xb[perm]
                logits = net(xb)
                per = lam * ce(logits, yb) + (1 - lam) * ce(logits, yb[perm])
                wb = lam * wb + (1 - lam) * wb[perm]
            else:
                logits = net(xb)
                per = ce(logits, yb)
            loss = (per * wb).sum() / wb.sum().clamp_min(1e-12)
            if state["training_back_end"] and p["weight_decay"] > 0:  # L2-SP: stay near the pretrained values
                drift = sum(((t - a) ** 2).sum() for t, a in zip(pretrained, anchor))
                loss = loss + 0.5 * p["weight_decay"] * drift
            return logits, per, wb, loss

        torch_epoch_loop(self, net, opt, (Xt, yt, w), (Xvt, yvt) if has_valid else None, p, rng,
                         batch_loss=batch_loss, before_epoch=before_epoch, progress=progress,
                         should_stop=should_stop)
        net.requires_grad_(False)
        self.fit_time_s_ = round(time.perf_counter() - t_start, 3)
        return self

    # ------------------------------------------------------------------ predict
    def predict_proba(self, X) -> np.ndarray:
        X = self._check_predict_input(X, ndim=1)
        if self._net is None:
            raise RunError("The cnn_musicnn model has no weights; fit or load it first.")
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float64)
        with torch_threads() as torch:
            return softmax(torch_logits(self._net, torch.from_numpy(X)))

    def n_parameters(self) -> int | None:
        return None if self._net is None else int(sum(t.numel() for t in self._net.parameters()))

    # ------------------------------------------------------------------ save / load
    def _save_artifacts(self, folder: Path) -> list[Path]:
        return [save_torch_state(self._net, folder / "weights.pt")]

    def _load_artifacts(self, folder: Path, state: dict) -> None:
        width = int(np.prod(self.input_shape_)) if self.input_shape_ else 0
        try:
            _check_width(width)
        except DatasetError as err:
            raise RunError(f"{folder / 'model.json'}: {err}") from None
        with torch_threads():
            net = build_head(len(self.classes_), None, self.params["dropout"], self.params["pool_dropout"])
            load_torch_state(net, folder / "weights.pt")
        net.requires_grad_(False)
        self._net = net


def _pretrained_weights(spec) -> str:
    """The musicnn checkpoint of a ``musicnn_pool`` (pooling both) input spec; GenreLabError for any other input."""
    from ..features import get_feature_set

    params = {}
    if spec.feature_set == FEATURE_SET:
        params = get_feature_set(FEATURE_SET, **spec.params).params
    if params.get("pooling") != POOLING:
        raise GenreLabError(
            f"The cnn_musicnn model fine-tunes musicnn's back-end, whose input is the {FEATURE_SET} feature set "
            f"with pooling={POOLING!r} (the frozen layers' output), not {spec.describe()}; it takes no other "
            "feature set.")
    return params["weights"]


def _check_width(width: int) -> None:
    from ..features.musicnn.weights import POOL_DIM

    if width != 2 * POOL_DIM:
        raise DatasetError(f"The cnn_musicnn model takes {2 * POOL_DIM} columns per window ({FEATURE_SET} with "
                           f"pooling={POOLING!r}), got {width}.")

"""What the backends share while fitting: threads, seeding, class weights, scaling, batches, early stopping.

These are the small, backend-independent pieces of a training loop, and the
few the PyTorch backends share (threads, evaluation, safe saving and loading
of a ``state_dict``); the interface itself is in :mod:`genre_core.backends.base`.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..errors import DatasetError, RunError, TrainingCancelled
from ..jsonio import read_json, write_json
from ..metrics import normalise_rows  # noqa: F401  (the backends' import of it)
from ..progress import ProgressFn, StopFn

# OpenMP threads (xgboost, torch) that busy-wait make a shared or busy CPU several
# times slower (measured: xgboost 4x slower with 2 spinning threads on a loaded
# 2-core machine). The runtime reads this once, when it is first loaded, so set
# it before xgboost / torch are imported; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")



def n_threads(default: int | None = None) -> int:
    """Threads a backend may use: ``GENRE_THREADS`` if set, else ``default``, else the CPU count.

    Small models (the MLP) pass ``default=1``: on a busy machine extra threads
    of a tiny matrix product mostly wait for each other.
    """
    env = os.environ.get("GENRE_THREADS", "").strip()
    if env:
        try:
            n = int(env)
            if n >= 1:
                return n
        except ValueError:
            pass
    if default is not None:
        return max(1, int(default))
    return max(1, os.cpu_count() or 1)



def seed_everything(seed: int) -> None:
    """Seed Python's and NumPy's global generators (backends seed their own library too)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))



def balanced_class_weights(y_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """Weights ``n / (n_present * count_c)`` per class index (0 for absent classes).

    Same as scikit-learn's ``class_weight="balanced"`` over the classes present.

    Examples
    --------
    >>> balanced_class_weights(np.array([0, 0, 0, 1]), 2)
    array([0.66666667, 2.        ])
    """
    counts = np.bincount(np.asarray(y_idx, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes, dtype=np.float64)
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w



def training_weights(y_idx: np.ndarray, n_classes: int, class_weight: str,
                     sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Per-sample weights = class weight x ``sample_weight``, scaled to mean 1.

    ``class_weight`` is ``"balanced"`` or ``"none"``.
    """
    n = len(y_idx)
    w = np.ones(n, dtype=np.float64)
    if class_weight == "balanced":
        w *= balanced_class_weights(y_idx, n_classes)[y_idx]
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if sw.shape[0] != n:
            raise DatasetError(f"sample_weight has {sw.shape[0]} values for {n} training examples.")
        if not np.all(np.isfinite(sw)) or np.any(sw < 0):
            raise DatasetError("sample_weight must be finite and non-negative.")
        w *= sw
    total = w.sum()
    if total <= 0:
        raise DatasetError("All training examples have zero weight.")
    return w * (n / total)



class StandardScaler:
    """Per-column standardisation stored as JSON (``mean``, ``scale``).

    Columns with (near) zero variance get scale 1, so constant features stay 0
    instead of exploding. ``X`` may have any trailing shape; statistics are
    taken over the first axis (``axis=0``) or, with ``axis=None``, over all
    values (one global mean/scale).

    Examples
    --------
    >>> s = StandardScaler().fit(np.array([[0., 10.], [2., 10.]]))
    >>> s.transform(np.array([[1., 10.]]))
    array([[0., 0.]], dtype=float32)
    >>> StandardScaler.from_dict(s.to_dict()).mean_.tolist()
    [1.0, 10.0]
    """

    def __init__(self, *, axis: int | None | tuple = 0):
        self.axis = axis
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> "StandardScaler":
        X = np.asarray(X)
        axis = self.axis
        mean = np.mean(X, axis=axis, dtype=np.float64)
        std = np.std(X, axis=axis, dtype=np.float64)
        std = np.where(std < 1e-8 * np.maximum(1.0, np.abs(mean)), 1.0, std)
        self.mean_ = np.asarray(mean, dtype=np.float64)
        self.scale_ = np.asarray(std, dtype=np.float64)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.mean_ is None:
            raise RunError("The scaler has not been fitted.")
        X = np.asarray(X, dtype=np.float32)
        if self.mean_.ndim and X.shape[1:1 + self.mean_.ndim] != self.mean_.shape:
            raise RunError(f"The scaler expects columns of shape {self.mean_.shape}, got {X.shape[1:]}.")
        mean = self.mean_.astype(np.float32)
        scale = self.scale_.astype(np.float32)
        if self.mean_.ndim:  # broadcast over the trailing axes not covered
            extra = X.ndim - 1 - self.mean_.ndim
            mean = mean.reshape(mean.shape + (1,) * extra)
            scale = scale.reshape(scale.shape + (1,) * extra)
        return ((X - mean) / scale).astype(np.float32, copy=False)

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def to_dict(self) -> dict:
        return {
            "kind": "standard",
            "axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis,
            "mean": np.asarray(self.mean_).tolist(),
            "scale": np.asarray(self.scale_).tolist(),
        }

    @classmethod
    def from_dict(cls, d: Mapping, *, source: str = "scaler") -> "StandardScaler":
        try:
            axis = d.get("axis", 0)
            s = cls(axis=tuple(axis) if isinstance(axis, list) else axis)
            s.mean_ = np.asarray(d["mean"], dtype=np.float64)
            s.scale_ = np.asarray(d["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise RunError(f"{source}: the scaler is not readable ({err}).") from None
        if s.mean_.shape != s.scale_.shape or not np.all(np.isfinite(s.mean_)) \
                or not np.all(np.isfinite(s.scale_)) or np.any(s.scale_ <= 0):
            raise RunError(f"{source}: the scaler's mean/scale are inconsistent (shape or values).")
        return s

    def save(self, path: Path) -> Path:
        write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: Path) -> "StandardScaler":
        return cls.from_dict(read_json(path, "model scaler"), source=str(path))



def require_finite(arrays: Iterable[tuple[str, Any]], path: Path, what: str = "weights") -> None:
    """Refuse a model whose parameters hold NaN or infinity (:class:`RunError` naming the tensor)."""
    for name, a in arrays:
        arr = np.asarray(a)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            raise RunError(f"{path}: the model {what} hold non-finite values (NaN or infinity) in {name}; "
                           f"the run is damaged and refused.")



def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a non-empty file, else raise :class:`RunError`."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: the model {what} is missing.")
    if path.stat().st_size == 0:
        raise RunError(f"{path}: the model {what} is empty (corrupt).")
    return path



def finite_or_none(x: Any) -> float | None:
    """``float(x)`` if finite, else ``None`` (for JSON history values)."""
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None



def check_cancel(should_stop: StopFn | None, where: str) -> None:
    """Raise :class:`TrainingCancelled` if ``should_stop()`` says so."""
    if should_stop is not None and should_stop():
        raise TrainingCancelled(f"Training was cancelled {where}.")



class EpochReporter:
    """Builds the per-epoch progress dict and its ETA for a ``progress`` callback.

    The dict is ``{"stage": "training", "done": epoch, "total": epochs, "epoch",
    "epochs", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "eta_s"}``
    plus any ``extra`` keys (``member``/``members`` for bagged models). ETA is
    the mean epoch time times the epochs left (an upper bound with early stopping)
    plus ``eta_offset(seconds_per_epoch)`` (work after this fit, e.g. more bag
    members). ``done``/``total`` count epochs overall: ``done_offset + epoch`` of
    ``total`` (default ``epochs``).
    """

    def __init__(self, progress: ProgressFn | None, epochs: int, *, stage: str = "training",
                 extra: Mapping | None = None, eta_offset: Callable[[float], float] | None = None,
                 done_offset: int = 0, total: int | None = None):
        self.progress = progress
        self.epochs = int(epochs)
        self.stage = stage
        self.extra = dict(extra or {})
        self.eta_offset = eta_offset
        self.done_offset = int(done_offset)
        self.total = int(total) if total is not None else self.epochs
        self.t0 = time.perf_counter()

    def start(self) -> None:
        self.t0 = time.perf_counter()
        if self.progress is not None:
            self.progress({"stage": self.stage, "done": self.done_offset, "total": self.total, "epoch": 0,
                           "epochs": self.epochs, "eta_s": None, **self.extra})

    def report(self, epoch: int, metrics: Mapping[str, Any]) -> dict:
        elapsed = time.perf_counter() - self.t0
        per_epoch = elapsed / max(epoch, 1)
        eta = per_epoch * max(self.epochs - epoch, 0)
        if self.eta_offset is not None:
            eta += self.eta_offset(per_epoch)
        msg = {"stage": self.stage, "done": self.done_offset + int(epoch), "total": self.total,
               "epoch": int(epoch), "epochs": self.epochs}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            msg[key] = finite_or_none(metrics.get(key))
        msg["eta_s"] = round(eta, 2)
        msg.update(self.extra)
        if self.progress is not None:
            self.progress(msg)
        return msg



class BestTracker:
    """Early-stopping bookkeeping: is this epoch the best so far, and is patience out?"""

    def __init__(self, monitor: str, patience: int, *, min_delta: float = 1e-4):
        self.monitor = monitor
        self.mode = "max" if monitor.endswith("accuracy") else "min"
        self.patience = int(patience)
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0

    def update(self, epoch: int, value: float | None) -> bool:
        """Record ``value`` for ``epoch``; return True if it is the new best."""
        if value is None or not math.isfinite(value):
            self.wait += 1
            return False
        better = (self.best is None or
                  (value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta))
        if better:
            self.best, self.best_epoch, self.wait = float(value), int(epoch), 0
            return True
        self.wait += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.wait >= self.patience



def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (rows sum to 1)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)



def as_windows(X, what: str = "X", *, ndim: int | None = None, allow_empty: bool = False) -> np.ndarray:
    """``X`` as a C-contiguous float32 array of windows, validated.

    ``ndim`` is the number of axes of one window (1 for feature vectors, 2 for
    spectrograms); ``None`` accepts any. Non-finite values raise
    :class:`~genre_core.errors.DatasetError`.
    """
    try:
        X = np.ascontiguousarray(X, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{what} is not a numeric array ({err}).") from None
    if X.ndim < 2:
        raise DatasetError(f"{what} must be an array of windows (n, ...), got shape {X.shape}.")
    if ndim is not None and X.ndim - 1 != ndim:
        words = {1: "feature vectors (n, n_features)", 2: "spectrograms (n, n_mels, frames)"}
        raise DatasetError(f"{what} must hold {words.get(ndim, f'{ndim}-d windows')}, got shape {X.shape}.")
    if len(X) == 0 and not allow_empty:
        raise DatasetError(f"{what} is empty.")
    if X.size and not np.isfinite(X).all():
        bad = int((~np.isfinite(X.reshape(len(X), -1))).any(axis=1).sum())
        raise DatasetError(f"{what} has {bad} window(s) with NaN or infinite values.")
    return X



def iter_batches(n: int, batch_size: int, rng: np.random.Generator | None = None, *,
                 min_last: int = 1) -> Iterable[np.ndarray]:
    """Index batches over ``range(n)`` (shuffled with ``rng``); a last batch
    smaller than ``min_last`` is merged into the previous one (batch norm needs 2)."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < min_last:
        starts.pop()
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else n
        yield order[s:e]



# --------------------------------------------------------------------------- PyTorch backends (torch imported lazily)
#: Windows per forward pass when a torch backend evaluates or predicts.
TORCH_PREDICT_BATCH = 8192


@contextlib.contextmanager
def torch_threads():
    """Run with ``n_threads(default=1)`` torch threads, restoring the caller's setting after; yields ``torch``."""
    import torch

    before = torch.get_num_threads()
    want = n_threads(default=1)
    if want != before:
        torch.set_num_threads(want)
    try:
        yield torch
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def torch_logits(net, Xt) -> np.ndarray:
    """``net``'s outputs for ``Xt`` in eval mode, in batches of :data:`TORCH_PREDICT_BATCH` (float32 numpy)."""
    import torch

    net.eval()
    with torch.no_grad():
        parts = [net(Xt[s:s + TORCH_PREDICT_BATCH]).numpy() for s in range(0, len(Xt), TORCH_PREDICT_BATCH)]
    return np.concatenate(parts, axis=0)


def torch_loss_accuracy(net, Xt, yt) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``net`` on ``Xt`` / ``yt`` (eval mode, unweighted)."""
    import torch

    net.eval()
    losses, correct = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(Xt), TORCH_PREDICT_BATCH):
            logits = net(Xt[s:s + TORCH_PREDICT_BATCH])
            yb = yt[s:s + TORCH_PREDICT_BATCH]
            losses += float(torch.nn.functional.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    return losses / len(Xt), correct / len(Xt)


def save_torch_state(net, path: Path) -> Path:
    """Write ``net``'s ``state_dict`` (plain CPU tensors, nothing else) to ``path``."""
    import torch

    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, path)
    return Path(path)


def load_torch_state(net, path: Path) -> None:
    """Load a :func:`save_torch_state` file into ``net`` (same architecture), refusing anything else.

    ``torch.load(..., weights_only=True)`` never unpickles code; a missing,
    empty, truncated or hostile file, non-finite values or a ``state_dict``
    of another architecture raise :class:`RunError` naming the file.
    """
    import torch

    path = require_file(path, "weights file (weights.pt)")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling refused, truncated zip, ...
        raise RunError(f"{path}: the model weights are corrupt or not a plain state_dict "
                       f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}).") from None
    if not isinstance(state_dict, dict):
        raise RunError(f"{path}: expected a state_dict of tensors, got {type(state_dict).__name__}.")
    require_finite(((str(k), v.float().numpy()) for k, v in state_dict.items()
                    if isinstance(v, torch.Tensor) and v.is_floating_point()), path)
    try:
        net.load_state_dict(state_dict, strict=True)
    except (RuntimeError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()
        raise RunError(f"{path}: the weights do not match the saved architecture "
                       f"({first[0] if first else type(err).__name__}).") from None
    net.eval()


def torch_epoch_loop(model, net, opt, train, valid, p: Mapping[str, Any], rng: np.random.Generator, *,
                     batch_loss: Callable, progress: ProgressFn | None = None, should_stop: StopFn | None = None,
                     before_epoch: Callable[[int], None] | None = None) -> None:
    """The epoch loop the torch backends share; leaves ``net`` with its best epoch's weights, in eval mode.

    ``train`` is ``(X, y, w)`` as tensors, ``valid`` ``(X, y)`` or ``None``.
    Per epoch: ``before_epoch(epoch)``, then shuffled batches (``iter_batches``)
    through ``batch_loss(xb, yb, wb, ce, epoch) -> (logits, per-example
    loss, weights, loss)`` and an optimiser step; the weighted training loss
    and accuracy, the validation ones (``torch_loss_accuracy``), the
    ``ReduceLROnPlateau`` step and :class:`BestTracker` on ``p["monitor"]``
    (``"loss"`` without a validation side); appends to ``model.history``,
    reports each epoch, honours ``should_stop`` and early stopping, and sets
    ``model.best_epoch_``. ``p`` holds :func:`~.params.epoch_loop_params`.
    """
    import copy

    import torch

    Xt, yt, wt = train
    monitor = p["monitor"] if valid is not None else "loss"
    tracker = BestTracker(monitor, p["patience"])
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode=tracker.mode, factor=p["lr_factor"], patience=p["lr_patience"], min_lr=p["min_lr"])
    ce = torch.nn.CrossEntropyLoss(reduction="none", label_smoothing=p["label_smoothing"])
    reporter = EpochReporter(progress, p["epochs"])
    reporter.start()
    best_state = copy.deepcopy(net.state_dict())
    prev_det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        for epoch in range(1, p["epochs"] + 1):
            t_epoch = time.perf_counter()
            if before_epoch is not None:
                before_epoch(epoch)
            net.train()
            tot_loss = tot_w = 0.0
            correct = 0
            for idx in iter_batches(len(Xt), p["batch_size"], rng, min_last=2):
                check_cancel(should_stop, f"during epoch {epoch} of {p['epochs']}")
                it = torch.from_numpy(idx)
                logits, per, wb, loss = batch_loss(Xt[it], yt[it], wt[it], ce, epoch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot_loss += float((per.detach() * wb).sum())
                tot_w += float(wb.sum())
                correct += int((logits.detach().argmax(1) == yt[it]).sum())
            metrics = {"loss": tot_loss / max(tot_w, 1e-12), "accuracy": correct / len(Xt),
                       "val_loss": None, "val_accuracy": None, "lr": opt.param_groups[0]["lr"]}
            if valid is not None:
                metrics["val_loss"], metrics["val_accuracy"] = torch_loss_accuracy(net, *valid)
            watched = metrics[monitor]
            if tracker.update(epoch, watched):
                best_state = copy.deepcopy(net.state_dict())
            sched.step(watched if watched is not None else float("inf"))
            model.history.append({"epoch": epoch, **metrics, "time_s": round(time.perf_counter() - t_epoch, 4)})
            reporter.report(epoch, metrics)
            check_cancel(should_stop, f"after epoch {epoch} of {p['epochs']}")
            if tracker.should_stop:
                break
    finally:
        torch.use_deterministic_algorithms(prev_det)
    net.load_state_dict(best_state)
    net.eval()
    model.best_epoch_ = tracker.best_epoch or len(model.history)

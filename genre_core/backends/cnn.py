"""``cnn``: a Keras 3 (TensorFlow, CPU) convolutional net on log-mel windows.

Input: one ``(n_mels, frames)`` log-mel spectrogram per window (default 3 s
windows with a 1.5 s hop, so windows overlap). The default network is the
GenreGenie-style 3-block CNN, kept small so it trains in minutes on 2 CPU cores::

    [Conv 3x3 -> MaxPool 2x2 -> BatchNorm -> ReLU -> Dropout] x 3 (16, 32, 64 filters)
    -> GlobalAveragePooling -> Dense 64 -> Dropout -> Dense softmax

(pooling before batch norm is the classic conv-BN-ReLU-pool block with the
pooling moved first: ReLU and max-pooling commute, and normalising the pooled
map halves the CPU time per epoch; ``pool_before_bn=False`` restores the
classic order.)

Options: more / wider blocks (``filters``), two or three convolutions per block
(``convs_per_block``, VGG-style), a "musical" first block with parallel square,
tall (timbre) and wide (temporal) kernels (``kernel="musical"``),
frequency-aware input (``freq_aware``: an extra channel holding the mel-band
position, as in Koutini et al.'s frequency-aware CNNs), global average / max
pooling, time-average (frequency axis kept) or flatten heads, mixup,
SpecAugment-style masking, label smoothing, class weights, early stopping that
restores the best epoch and LR reduction on plateaus. Audio augmentation
happens upstream (training pipeline).

Inputs are standardised with statistics of the training windows (one global
mean/scale by default, or per mel band), stored in ``scaler.json``.

Saved files: ``model.json``, ``scaler.json``, ``model.keras`` (the network
holds only built-in layers, no Lambda).

Prediction does not need TensorFlow: a loaded run's ``model.keras`` is read
(JSON config + HDF5 weights) and run in PyTorch by
:mod:`~genre_core.backends.cnn_torch`, whose probabilities equal Keras's within
1e-5. A file it does not support (or a damaged one) is loaded by Keras with
``safe_mode=True`` instead, as is every file when ``GENRE_CNN_KERAS=1`` is set
(for comparisons and benchmarks). Training uses Keras; TensorFlow is imported
only inside the functions that need it.

Example
-------
>>> from genre_core.backends import get_backend
>>> cnn = get_backend("cnn")(epochs=20, mixup=0.2, seed=0)
>>> cnn.fit(S_train, y_train, X_valid=S_valid, y_valid=y_valid)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

import numpy as np

from ..errors import RunError
from .base import (
    BestTracker,
    EpochReporter,
    GenreModel,
    Param,
    StandardScaler,
    check_cancel,
    finite_or_none,
    make_input_spec,
    n_threads,
    normalise_rows,
    register_backend,
    require_file,
    require_finite,
    seed_everything,
    training_weights,
)
from .cnn_torch import TorchNetwork, UnsupportedNetwork, load_torch_network
from .params import epoch_loop_params

_PREDICT_BATCH = 256
#: Set to 1 to load cnn networks with Keras (TensorFlow) instead of the PyTorch interpreter.
FORCE_KERAS_ENV = "GENRE_CNN_KERAS"
_log = logging.getLogger(__name__)
_TF_CONFIGURED = False


@contextlib.contextmanager
def _native_stderr_silenced():
    """While TensorFlow's native libraries load, send file descriptor 2 to /dev/null.

    Only the first import is silenced (later ones load nothing); ``GENRE_DEBUG=1``
    keeps everything.
    """
    import sys

    if "tensorflow" in sys.modules or os.environ.get("GENRE_DEBUG", "").strip() not in ("", "0"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _keras():
    """Import Keras on TensorFlow (once), quiet, with the thread count set."""
    global _TF_CONFIGURED
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _native_stderr_silenced():  # TF's C++ start-up lines (oneDNN, absl) ignore TF_CPP_MIN_LOG_LEVEL
        import tensorflow as tf

    if not _TF_CONFIGURED:
        _TF_CONFIGURED = True
        n = n_threads()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(min(n, 2))
        except RuntimeError:  # TF already initialised by someone else: keep its setting
            pass
        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # pragma: no cover - very old / exotic TF
            pass
    import keras

    return keras


def cnn_param_specs() -> list[Param]:
    """The CNN hyperparameters (shared with the bagged CNN backend)."""
    return [
        Param("filters", (16, 32, 64), tuple, "Filters of each conv block; the number of values is the "
              "number of blocks.", low=1, high=1024),
        Param("convs_per_block", 1, int, "Convolutions per block (2 or 3 = deeper, VGG-style).", low=1, high=3),
        Param("kernel", "square", str, "'square': 3x3 kernels; 'musical': first block mixes square, tall "
              "(timbre) and wide (temporal) kernels.", choices=["square", "musical"]),
        Param("pool_before_bn", True, bool, "Block order conv -> max-pool -> BN -> ReLU (about 2x faster on CPU, "
              "same convolutions) instead of the classic conv -> BN -> ReLU -> max-pool.", advanced=True),
        Param("input_pool", 1, int, "Average-pool the log-mel input by this factor in time and frequency "
              "first (2 = about 4x faster, coarser input).", low=1, high=4, advanced=True),
        Param("freq_aware", False, bool, "Add a channel with each mel band's position (frequency-aware CNN)."),
        Param("head", "gap", str, "Pooling before the classifier: global average (gap), global max (gmp), "
              "average over time keeping the frequency axis (time_avg), or flatten.",
              choices=["gap", "gmp", "time_avg", "flatten"]),
        Param("dense", 64, int, "Units of the dense layer before the output (0 = none).", low=0, high=4096),
        Param("dropout", 0.2, float, "Dropout after each conv block.", low=0.0, high=0.9),
        Param("head_dropout", 0.4, float, "Dropout before the output layer.", low=0.0, high=0.9),
        Param("l2", 1e-4, float, "L2 penalty on conv and dense kernels.", low=0.0, high=1.0),
        Param("lr", 1e-3, float, "Adam learning rate.", low=1e-6, high=1.0),
        *epoch_loop_params(epochs=30, batch_size=32, max_batch=4096, patience=6, lr_patience=3, min_lr=1e-5),
        Param("mixup", 0.0, float, "Mixup alpha (0 = off; 0.2-0.4 typical).", low=0.0, high=10.0),
        Param("freq_mask", 0, int, "SpecAugment: widest frequency mask in mel bands (0 = off).", low=0,
              high=512),
        Param("time_mask", 0, int, "SpecAugment: widest time mask in frames (0 = off).", low=0, high=4096),
        Param("n_masks", 1, int, "SpecAugment: masks of each kind per window.", low=1, high=8, advanced=True),
        Param("label_smoothing", 0.0, float, "Cross-entropy label smoothing.", low=0.0, high=0.5, advanced=True),
        Param("normalize", "global", str, "Standardise log-mels with one global mean/scale, per mel band, or not.",
              choices=["global", "band", "none"], advanced=True),
        Param("class_weight", "balanced", str, "Weight classes inversely to their frequency.",
              choices=["balanced", "none"]),
        Param("seed", 0, int, "Random seed (init, shuffling, dropout, mixup, masks).", low=0, high=2**31 - 1),
    ]


def build_cnn(input_shape: tuple[int, int, int], n_classes: int, p: dict):
    """The Keras functional model for hyperparameters ``p`` (built-in layers only)."""
    keras = _keras()
    L = keras.layers
    reg = keras.regularizers.L2(p["l2"]) if p["l2"] > 0 else None
    n_mels = input_shape[0]

    def conv(x, f, k):
        return L.Conv2D(f, k, padding="same", use_bias=False, kernel_regularizer=reg)(x)

    inp = keras.Input(shape=input_shape, name="logmel")
    x = inp
    if p["input_pool"] > 1:
        k = p["input_pool"]
        x = L.AveragePooling2D((k, k), padding="same")(x)
        n_mels = int(x.shape[1])
    for b, f in enumerate(p["filters"]):
        for c in range(p["convs_per_block"]):
            if b == 0 and c == 0 and p["kernel"] == "musical":
                tall = max(3, min(n_mels // 4, 24))
                f_sq = max(1, f // 2)
                f_tall = max(1, (f - f_sq) // 2)
                f_wide = max(1, f - f_sq - f_tall)
                x = L.Concatenate(axis=-1)([conv(x, f_sq, (3, 3)), conv(x, f_tall, (tall, 1)),
                                            conv(x, f_wide, (1, 9))])
            else:
                x = conv(x, f, (3, 3))
            last = c == p["convs_per_block"] - 1
            if last and p["pool_before_bn"]:
                # max-pool commutes with ReLU; normalising the pooled map is 4x cheaper
                x = L.MaxPooling2D((2, 2), padding="same")(x)
            x = L.BatchNormalization()(x)
            x = L.ReLU()(x)
        if not p["pool_before_bn"]:
            x = L.MaxPooling2D((2, 2), padding="same")(x)
        if p["dropout"] > 0:
            x = L.Dropout(p["dropout"])(x)
    if p["head"] == "gap":
        x = L.GlobalAveragePooling2D()(x)
    elif p["head"] == "gmp":
        x = L.GlobalMaxPooling2D()(x)
    elif p["head"] == "time_avg":  # mean over frames, frequency position kept
        x = L.AveragePooling2D(pool_size=(1, int(x.shape[2])))(x)
        x = L.Flatten()(x)
    else:
        x = L.Flatten()(x)
    if p["dense"] > 0:
        x = L.Dense(p["dense"], activation="relu", kernel_regularizer=reg)(x)
    if p["head_dropout"] > 0:
        x = L.Dropout(p["head_dropout"])(x)
    out = L.Dense(n_classes, activation="softmax", name="genre")(x)
    return keras.Model(inp, out, name="genre_cnn")


def _fit_scaler(X: np.ndarray, mode: str) -> StandardScaler:
    """Global / per-band statistics of ``X`` (n, n_mels, frames), in float64, chunked."""
    s = StandardScaler(axis=None if mode == "global" else (0, 2))
    if mode == "none":
        s.mean_, s.scale_ = np.asarray(0.0), np.asarray(1.0)
        return s
    n_mels = X.shape[1]
    tot = np.zeros(n_mels)
    tot2 = np.zeros(n_mels)
    for i in range(0, len(X), 512):
        chunk = X[i:i + 512].astype(np.float64)
        tot += chunk.sum(axis=(0, 2))
        tot2 += (chunk * chunk).sum(axis=(0, 2))
    count = X.shape[0] * X.shape[2]
    if mode == "global":
        mean = tot.sum() / (count * n_mels)
        var = tot2.sum() / (count * n_mels) - mean**2
    else:
        mean = tot / count
        var = tot2 / count - mean**2
    std = np.sqrt(np.maximum(var, 0.0))
    std = np.where(std < 1e-6, 1.0, std)
    s.mean_, s.scale_ = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    return s


class _Prep:
    """Turns raw windows into network input batches (normalise, channels, augmentation)."""

    def __init__(self, scaler: StandardScaler, freq_aware: bool):
        self.scaler = scaler
        self.freq_aware = freq_aware

    @property
    def channels(self) -> int:
        return 2 if self.freq_aware else 1

    def __call__(self, xb: np.ndarray) -> np.ndarray:
        x = self.scaler.transform(xb)[..., None]
        if self.freq_aware:
            n, m, t, _ = x.shape
            ramp = np.linspace(-1.0, 1.0, m, dtype=np.float32)[None, :, None, None]
            x = np.concatenate([x, np.broadcast_to(ramp, (n, m, t, 1))], axis=-1)
        return np.ascontiguousarray(x, dtype=np.float32)


def _spec_augment(x: np.ndarray, rng: np.random.Generator, freq_mask: int, time_mask: int, n_masks: int) -> None:
    """Zero random mel-band and frame ranges of channel 0, in place (0 = the training mean)."""
    n, m, t = x.shape[:3]
    for i in range(n):
        for _ in range(n_masks):
            if freq_mask > 0:
                w = int(rng.integers(0, min(freq_mask, m) + 1))
                f0 = int(rng.integers(0, m - w + 1))
                x[i, f0:f0 + w, :, 0] = 0.0
            if time_mask > 0:
                w = int(rng.integers(0, min(time_mask, t) + 1))
                t0 = int(rng.integers(0, t - w + 1))
                x[i, :, t0:t0 + w, 0] = 0.0


def _make_train_sequence(keras, X, Y, w, prep: _Prep, p: dict, seed: int, index: np.ndarray):
    """A PyDataset yielding shuffled, augmented ``(x, y_soft, weight)`` batches, reproducible per epoch.

    ``index`` lists the rows of ``X`` (repeats allowed: bootstrap samples) one epoch visits;
    ``Y`` and ``w`` are aligned with ``index``. Every batch has the same size (the
    ``n % batch_size`` windows left over change every epoch), so TensorFlow traces
    the training step once instead of twice.
    """
    n = len(index)
    bs = min(p["batch_size"], n)
    n_batches = max(1, n // bs)

    class TrainBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self._shuffle()

        def _shuffle(self):
            self.order = np.random.default_rng([seed, 1, self.epoch]).permutation(n)

        def __len__(self):
            return n_batches

        def __getitem__(self, i):
            idx = np.sort(self.order[i * bs:(i + 1) * bs])
            rng = np.random.default_rng([seed, 2, self.epoch, i])
            xb = prep(X[index[idx]])
            yb = Y[idx].copy()
            wb = w[idx].copy()
            if p["freq_mask"] > 0 or p["time_mask"] > 0:
                _spec_augment(xb, rng, p["freq_mask"], p["time_mask"], p["n_masks"])
            if p["mixup"] > 0:
                lam = rng.beta(p["mixup"], p["mixup"], size=len(idx)).astype(np.float32)
                lam = np.maximum(lam, 1.0 - lam)  # the first example dominates its label
                perm = rng.permutation(len(idx))
                xb = lam[:, None, None, None] * xb + (1 - lam[:, None, None, None]) * xb[perm]
                yb = lam[:, None] * yb + (1 - lam[:, None]) * yb[perm]
                wb = lam * wb + (1 - lam) * wb[perm]
            return xb, yb, wb

        def on_epoch_end(self):
            self.epoch += 1
            self._shuffle()

    return TrainBatches()


class _Plateau:
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement."""

    def __init__(self, monitor: str, patience: int, factor: float, min_lr: float):
        self.tracker = BestTracker(monitor, patience)
        self.factor, self.min_lr = factor, min_lr

    def step(self, value: float | None, lr: float) -> float:
        self.tracker.update(0, value)
        if self.tracker.should_stop:
            self.tracker.wait = 0
            return max(lr * self.factor, self.min_lr)
        return lr


def fit_keras_cnn(X, y_idx, n_classes, w, Xv, yv_idx, p: dict, *, seed: int, progress=None, should_stop=None,
                  index: np.ndarray | None = None, scaler: StandardScaler | None = None,
                  reporter_kwargs: dict | None = None, history: list | None = None):
    """Train one CNN; returns ``(keras_model, scaler, best_epoch)`` and fills ``history``.

    Shared by :class:`CNNModel` and the bagged CNNs. ``index`` (rows of ``X``,
    repeats allowed) selects the training sample without copying ``X``;
    ``y_idx`` and ``w`` are then aligned with ``index``. ``scaler`` defaults
    to statistics of ``X``. Validation runs eagerly after each epoch (no second
    traced function); its loss is the plain, unweighted cross-entropy.
    """
    keras = _keras()
    seed_everything(seed)
    keras.utils.set_random_seed(seed)
    if index is None:
        index = np.arange(len(X))
    if scaler is None:
        scaler = _fit_scaler(X, p["normalize"])
    prep = _Prep(scaler, p["freq_aware"])
    Y = np.eye(n_classes, dtype=np.float32)[y_idx]
    model = build_cnn((X.shape[1], X.shape[2], prep.channels), n_classes, p)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=p["lr"]),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=p["label_smoothing"]),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    train_seq = _make_train_sequence(keras, X, Y, w.astype(np.float32), prep, p, seed, index)
    has_valid = Xv is not None
    monitor = p["monitor"] if has_valid else "loss"
    tracker = BestTracker(monitor, p["patience"])
    plateau = _Plateau(monitor, p["lr_patience"], p["lr_factor"], p["min_lr"])
    reporter = EpochReporter(progress, p["epochs"], **(reporter_kwargs or {}))
    hist = history if history is not None else []
    state = {"best_weights": None, "t_epoch": time.perf_counter()}

    class Watch(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            reporter.start()

        def on_epoch_begin(self, epoch, logs=None):
            state["t_epoch"] = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            check_cancel(should_stop, f"during epoch {len(hist) + 1} of {p['epochs']}")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            opt_lr = self.model.optimizer.learning_rate
            lr = float(keras.ops.convert_to_numpy(opt_lr))
            metrics = {"loss": finite_or_none(logs.get("loss")), "accuracy": finite_or_none(logs.get("accuracy")),
                       "val_loss": None, "val_accuracy": None, "lr": lr}
            if has_valid:
                pv = keras_predict(self.model, prep, Xv)
                metrics["val_loss"] = float(-np.mean(np.log(np.clip(pv[np.arange(len(yv_idx)), yv_idx],
                                                                    1e-7, 1.0))))
                metrics["val_accuracy"] = float(np.mean(pv.argmax(axis=1) == yv_idx))
            e = epoch + 1
            if tracker.update(e, metrics[monitor]):
                state["best_weights"] = self.model.get_weights()
            new_lr = plateau.step(metrics[monitor], lr)
            if new_lr != lr:
                opt_lr.assign(new_lr)
            hist.append({"epoch": e, **metrics, "time_s": round(time.perf_counter() - state["t_epoch"], 4)})
            reporter.report(e, metrics)
            check_cancel(should_stop, f"after epoch {e} of {p['epochs']}")
            if tracker.should_stop:
                self.model.stop_training = True

    model.fit(train_seq, epochs=p["epochs"], callbacks=[Watch()], verbose=0)
    if state["best_weights"] is not None:
        model.set_weights(state["best_weights"])
    return model, scaler, tracker.best_epoch or len(hist)


def keras_predict(model, prep: _Prep, X: np.ndarray, batch_size: int = _PREDICT_BATCH) -> np.ndarray:
    """Class probabilities of raw windows ``X`` (rows renormalised, float64).

    ``model`` is a Keras model or a :class:`~genre_core.backends.cnn_torch.TorchNetwork`.
    A Keras model runs eagerly (``model(x, training=False)``): no graph tracing,
    so the first prediction after loading a run is as fast as the next.
    """
    out = []
    for s in range(0, len(X), batch_size):
        xb = prep(X[s:s + batch_size])
        out.append(np.asarray(model(xb, training=False), dtype=np.float64))
    return normalise_rows(np.concatenate(out, axis=0))


def save_keras(model, path: Path) -> Path:
    model.save(path)
    return path


def load_keras(path: Path, *, input_shape: tuple, n_classes: int, what: str = "network file"):
    """Load a ``.keras`` file in safe mode and check its input/output shapes; RunError otherwise."""
    require_file(path, f"{what} ({path.name})")
    keras = _keras()
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # zip / h5 / config errors all mean "unusable file"
        msg = str(err).strip().splitlines()
        raise RunError(f"{path}: the {what} is corrupt or unsafe "
                       f"({type(err).__name__}: {msg[0][:200] if msg else ''}).") from None
    require_finite(((w.path if hasattr(w, "path") else str(i), w.numpy())
                    for i, w in enumerate(model.weights)), path)
    _check_io_shapes(model, path, input_shape, n_classes)
    return model


def _check_io_shapes(model, path: Path, input_shape: tuple, n_classes: int) -> None:
    """RunError unless the network maps ``input_shape`` windows to ``n_classes`` outputs."""
    got_in = tuple(model.input_shape[1:]) if hasattr(model, "input_shape") else None
    got_out = model.output_shape[-1] if hasattr(model, "output_shape") else None
    if got_in != tuple(input_shape) or got_out != n_classes:
        raise RunError(f"{path}: the network takes {got_in} -> {got_out} classes, but the manifest says "
                       f"{tuple(input_shape)} -> {n_classes}.")


def keras_forced() -> bool:
    """Whether ``GENRE_CNN_KERAS`` asks for networks to be loaded with Keras."""
    return os.environ.get(FORCE_KERAS_ENV, "").strip().lower() not in ("", "0", "false", "no")


def load_network(path: Path, *, input_shape: tuple, n_classes: int, what: str = "network file",
                 use_keras: bool | None = None):
    """Load a ``.keras`` file for prediction, without TensorFlow when possible.

    Parameters
    ----------
    path, input_shape, n_classes, what
        As :func:`load_keras`; the same checks and the same :class:`RunError` messages.
    use_keras
        ``True``: load with Keras. ``False`` / ``None`` (default: ``GENRE_CNN_KERAS``
        decides): run the network in PyTorch (:mod:`~genre_core.backends.cnn_torch`),
        falling back to Keras for a file it does not support or cannot read.

    Returns
    -------
    A :class:`~genre_core.backends.cnn_torch.TorchNetwork` or a Keras model;
    both are called as ``net(x, training=False)`` (see :func:`keras_predict`).
    """
    path = Path(path)
    require_file(path, f"{what} ({path.name})")
    if use_keras is None:
        use_keras = keras_forced()
    if not use_keras:
        try:
            net = load_torch_network(path)
        except UnsupportedNetwork as why:
            _log.info("%s: loading with Keras (%s)", path, why)
        else:
            _check_io_shapes(net, path, input_shape, n_classes)
            return net
    return load_keras(path, input_shape=input_shape, n_classes=n_classes, what=what)


@register_backend
class CNNModel(GenreModel):
    """Keras CNN on log-mel windows (GenreGenie-style 3 conv blocks by default)."""

    name = "cnn"
    label = "CNN trained from scratch on log-mels"
    description = ("Keras CNN on 3 s log-mel windows (1.5 s hop): conv blocks with batch norm, pooling and "
                   "dropout, global pooling head; options for deeper nets, musical/frequency-aware kernels, "
                   "mixup and SpecAugment.")
    input_kinds = ("logmel",)
    libraries = ("tensorflow", "keras")

    @classmethod
    def default_input(cls):
        return make_input_spec("logmel", None, {"n_mels": 128, "n_fft": 2048, "hop_length": 512},
                               window=3.0, hop=1.5)

    @classmethod
    def param_specs(cls) -> list[Param]:
        return cnn_param_specs()

    def __init__(self, input_spec=None, **params):
        super().__init__(input_spec, **params)
        self._net = None  # a Keras model (fit, or GENRE_CNN_KERAS) or a TorchNetwork (loaded)
        self.scaler_: StandardScaler | None = None

    def _prep(self) -> _Prep:
        return _Prep(self.scaler_, self.params["freq_aware"])

    def fit(self, X, y, *, X_valid=None, y_valid=None, classes=None, sample_weight=None,
            progress=None, should_stop=None, groups=None) -> "CNNModel":
        t0 = time.perf_counter()
        X, y_idx, Xv, yv_idx = self._prepare_fit(X, y, X_valid, y_valid, classes, ndim=2)
        w = training_weights(y_idx, len(self.classes_), self.params["class_weight"], sample_weight)
        self._net = None
        self._net, self.scaler_, self.best_epoch_ = fit_keras_cnn(
            X, y_idx, len(self.classes_), w, Xv, yv_idx, self.params, seed=self.seed,
            progress=progress, should_stop=should_stop, history=self.history)
        self.fit_time_s_ = round(time.perf_counter() - t0, 3)
        return self

    def predict_proba(self, X) -> np.ndarray:
        X = self._check_predict_input(X, ndim=2)
        if self._net is None or self.scaler_ is None:
            raise RunError("The cnn model has no weights; fit or load it first.")
        if len(X) == 0:
            return np.zeros((0, len(self.classes_)), dtype=np.float64)
        return keras_predict(self._net, self._prep(), X)

    @property
    def network_runtime_(self) -> str | None:
        """What runs the network: ``"torch"`` (a loaded run), ``"keras"`` or ``None`` (no weights yet)."""
        if self._net is None:
            return None
        return "torch" if isinstance(self._net, TorchNetwork) else "keras"

    def n_parameters(self) -> int | None:
        return None if self._net is None else int(self._net.count_params())

    def _network_input_shape(self) -> tuple:
        return (*self.input_shape_, 2 if self.params["freq_aware"] else 1)

    def _save_artifacts(self, folder: Path) -> list[Path]:
        return [save_keras(self._net, folder / "model.keras"), self.scaler_.save(folder / "scaler.json")]

    def _load_artifacts(self, folder: Path, state: dict) -> None:
        if len(self.input_shape_ or ()) != 2:
            raise RunError(f"{folder / 'model.json'}: the input shape {self.input_shape_} is not (n_mels, frames).")
        self.scaler_ = _load_cnn_scaler(folder / "scaler.json", self.input_shape_[0])
        self._net = load_network(folder / "model.keras", input_shape=self._network_input_shape(),
                                 n_classes=len(self.classes_))


def _load_cnn_scaler(path: Path, n_mels: int) -> StandardScaler:
    scaler = StandardScaler.load(path)
    if scaler.mean_.shape not in ((), (n_mels,)):
        raise RunError(f"{path}: scaler shape {scaler.mean_.shape} does not fit {n_mels} mel bands.")
    return scaler


__all__ = ["CNNModel", "FORCE_KERAS_ENV", "build_cnn", "cnn_param_specs", "fit_keras_cnn", "keras_forced",
           "keras_predict", "load_keras", "load_network"]

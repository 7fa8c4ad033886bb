"""Interchangeable model backends behind one interface (:class:`GenreModel`).

=========== ============================================================ =======================
name        model                                                        default input
=========== ============================================================ =======================
mlp         PyTorch MLP (batch norm, dropout, L2, early stopping)        gtzan57, 3 s windows
cnn         Keras CNN on log-mel windows (conv blocks, GAP head)         logmel, 3 s, hop 1.5 s
xgb         xgboost gradient boosting (hist) with early stopping         mfcc_stats, 3 s
cnn_bag     N bagged CNNs on bootstrap samples of tracks ("ensemble")    logmel, 3 s, hop 1.5 s
linear      logistic-regression head on pretrained embeddings            musicnn, 3 s, hop 1.5 s
cnn_musicnn musicnn's CNN fine-tuned: front-end and mid-end frozen and   musicnn_pool (both),
            cached, pretrained back-end and a new output layer trained   3 s, hop 1.5 s
=========== ============================================================ =======================

Soft voting over several trained runs is :mod:`genre_core.voting`.

Importing this package is cheap: torch, TensorFlow and xgboost are imported
only by the backend methods that need them.

Example
-------
>>> from genre_core.backends import list_backends, get_backend
>>> list_backends()
['mlp', 'cnn', 'xgb', 'cnn_bag', 'linear', 'cnn_musicnn']
>>> get_backend("ensemble").name
'cnn_bag'
"""

from __future__ import annotations

# isort: off
from . import mlp, cnn, xgb, ensemble, linear, cnn_musicnn  # noqa: F401  (registration order = list_backends() order)
# isort: on
from .base import (  # noqa: F401
    ALIASES,
    GenreModel,
    Param,
    StandardScaler,
    balanced_class_weights,
    get_backend,
    list_backends,
    load_model,
    n_threads,
    progress_unit,
    register_backend,
    seed_everything,
)
from .cnn import CNNModel  # noqa: F401
from .cnn_musicnn import MusicnnFineTuneModel  # noqa: F401
from .ensemble import CNNBagModel  # noqa: F401
from .linear import LinearModel  # noqa: F401
from .mlp import MLPModel  # noqa: F401
from .xgb import XGBModel  # noqa: F401

__all__ = [
    "ALIASES", "CNNBagModel", "CNNModel", "GenreModel", "LinearModel", "MLPModel", "MusicnnFineTuneModel", "Param",
    "StandardScaler", "XGBModel", "balanced_class_weights", "get_backend", "list_backends", "load_model", "n_threads",
    "progress_unit", "register_backend", "seed_everything",
]

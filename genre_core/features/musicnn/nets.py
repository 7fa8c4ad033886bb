"""The PyTorch forward passes: lazy torch import, the shared checkpoint plumbing, one cached net per model.

Built lazily: importing :mod:`genre_core.features` must not import torch. The
networks themselves are in :mod:`.net_musicnn` and :mod:`.net_vgg`; both are
inference-only re-implementations (batch norm with the trained moving
statistics, no dropout) that take ``(batch, frames, 96)`` log-mel patches.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .catalog import BN_EPSILON, architecture
from .weights import MusicnnWeightsError, layout, load_weights

__all__ = ["musicnn_net"]

_NETS: dict[tuple[str, str | None], Any] = {}
_NETS_LOCK = threading.Lock()


def _import_torch():
    """``import torch``, after :mod:`genre_core.backends.base` has made OpenMP threads wait passively.

    torch's OpenMP runtime reads ``OMP_WAIT_POLICY`` once, when torch loads.
    When musicnn was the first to load torch (feature extraction, prediction
    before any model), its threads spun: measured on the shared 2-core
    machine, 20 windows from the main thread took 3.5-18 s instead of 1.6 s.
    """
    import torch

    from ...backends import base  # noqa: F401  (sets the OpenMP default, see there)

    return torch


@functools.cache
def checkpoint_module():
    """Base ``torch.nn.Module`` that takes its buffers from converted TF1 checkpoint tensors.

    Subclasses call :meth:`_load` with their layout; every tensor must be
    used exactly once (a structural invariant on top of :func:`load_weights`).
    Batch norms become a per-channel ``scale`` / ``shift`` pair, computed as
    TF's inference batch norm does (``gamma * rsqrt(var + eps)``).
    """
    torch = _import_torch()

    class CheckpointModule(torch.nn.Module):
        def __init__(self, tensors: dict[str, np.ndarray], model_layout):
            super().__init__()
            self._load(tensors, model_layout)

        def _load(self, tensors: dict[str, np.ndarray], model_layout) -> None:
            self._used: set[str] = set()
            for prefix, layer, kind, _ in model_layout:
                if kind == "bn":
                    self._add_bn(layer, prefix, tensors)
                else:
                    kernel = self._take(tensors, f"{prefix}/kernel")
                    self.register_buffer(f"{layer}_weight", self._torch_weight(layer, kind, kernel))
                    self.register_buffer(f"{layer}_bias", self._take(tensors, f"{prefix}/bias"))
            unused = sorted(set(tensors) - self._used)
            if unused:  # load_weights already refuses this; kept as a structural invariant
                raise MusicnnWeightsError(f"{type(self).__name__} left tensors unused: {', '.join(unused)}.")
            self.eval()

        def _take(self, tensors, name):
            self._used.add(name)
            return torch.from_numpy(np.ascontiguousarray(tensors[name], dtype=np.float32))

        def _add_bn(self, layer, prefix, tensors):
            gamma = self._take(tensors, f"{prefix}/gamma")
            beta = self._take(tensors, f"{prefix}/beta")
            mean = self._take(tensors, f"{prefix}/moving_mean")
            var = self._take(tensors, f"{prefix}/moving_variance")
            scale = gamma * torch.rsqrt(var + BN_EPSILON)  # as TF's inference batch norm
            self.register_buffer(f"{layer}_scale", scale)
            self.register_buffer(f"{layer}_shift", beta - mean * scale)

        def _torch_weight(self, layer, kind, kernel):
            """TF kernel -> torch layout; dense ``(in, out)`` -> ``(out, in)``, the rest per network."""
            if kind == "dense":
                return kernel.T.contiguous()
            raise NotImplementedError

        def _bn(self, x, layer, dim=1):
            shape = [1] * x.dim()
            shape[dim] = -1
            return x * getattr(self, f"{layer}_scale").view(shape) + getattr(self, f"{layer}_shift").view(shape)

    return CheckpointModule


@functools.cache
def _net_class(arch: str):
    if arch == "vgg":
        from .net_vgg import build_vgg_class

        return build_vgg_class()
    from .net_musicnn import build_musicnn_class

    return build_musicnn_class()


def musicnn_net(model: str = "MSD_musicnn", *, path: str | Path | None = None):
    """The PyTorch forward pass of one model, weights verified and loaded (cached per process).

    ``MSD_musicnn`` / ``MTT_musicnn`` give a ``MusicnnNet``, ``MSD_vgg`` /
    ``MTT_vgg`` a ``VggNet`` (see their docstrings for the outputs).

    Examples
    --------
    >>> import torch
    >>> net = musicnn_net("MSD_musicnn")
    >>> out = net(torch.zeros(1, 187, 96))
    >>> sorted(out), tuple(out["penultimate"].shape)
    (['max_pool', 'mean_pool', 'penultimate', 'taggram'], (1, 200))
    >>> tuple(musicnn_net("MSD_vgg")(torch.zeros(1, 187, 96))["pool5_mean"].shape)
    (1, 128)
    """
    key = (model, None if path is None else str(Path(path).resolve()))
    with _NETS_LOCK:
        if key not in _NETS:
            tensors = load_weights(model, path=path)
            _NETS[key] = _net_class(architecture(model))(tensors, layout(model))
        return _NETS[key]
